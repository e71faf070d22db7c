// Which theft ended a session, across instances (issue 14 item 3): two instances on one Redis
// (sessions, revocation feed) and one PostgreSQL. The theft is detected on A; the victim's tabs
// then ask B, which never saw the session end and knows only what the feed told it. B must name
// the same kind as A: dpop_key_mismatch for a copy used without the key, refresh_token_reused for
// an older token replayed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, type Res, type Tokens } from '../helpers/http.js';
import { claimsOf, DpopKey } from '../helpers/dpop.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { startFleet, type Fleet } from './cluster-env.js';

const PUBLIC = 'http://latchkey.test';

let redis: RedisProcess;
let db: TestDatabase;
let fleet: Fleet;
let a: string, b: string;
before(async () => {
  await ensurePostgres();
  redis = await startRedis();
  db = await createTestDatabase();
  fleet = await startFleet(2, { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_PUBLIC_URL: PUBLIC, LATCHKEY_REUSE_GRACE: '0' });
  [a, b] = fleet.instances.map((s) => s.url) as [string, string];
});
after(async () => {
  await fleet?.stop();
  await redis?.stop();
  await db?.drop();
});

type TokenRes = Res<Tokens & { reason?: string; error?: string }>;

/** A POST to one instance with a proof naming the public URL, following one nonce challenge. */
async function post(key: DpopKey, base: string, path: string, json: unknown): Promise<TokenRes> {
  const send = () => call(base, 'POST', path, { json, headers: { dpop: key.proof(PUBLIC + path, 'POST') } });
  let r = await send();
  key.learn(PUBLIC, r);
  if (r.status === 400 && r.body?.error === 'use_dpop_nonce') {
    r = await send();
    key.learn(PUBLIC, r);
  }
  return r;
}
const refreshBody = (rt: string) => ({ grant_type: 'refresh_token', refresh_token: rt });
const bare = (base: string, rt: string): Promise<TokenRes> => call(base, 'POST', '/auth/token', { json: refreshBody(rt) });
const boundRefresh = (key: DpopKey, base: string, rt: string) => post(key, base, '/auth/token', refreshBody(rt));

function refused(r: TokenRes, reason: string, who: string): void {
  assert.equal(r.status, 400, `${who}: ${r.text}`);
  assert.equal(r.body.reason, reason, who);
}

/** Waits until B has heard the revocation (its access token refused there), so B answers from the feed. */
async function heardOnB(accessToken: string, key?: DpopKey): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = key
      ? await key.resource(b, 'GET', '/auth/me', accessToken, { htu: `${PUBLIC}/auth/me` })
      : await call(b, 'GET', '/auth/me', { token: accessToken });
    if (r.status === 401) return;
    if (Date.now() > deadline) throw new Error('B never heard the revocation');
    await new Promise((res) => setTimeout(res, 10));
  }
}

describe('the kind of theft, heard on the other instance', () => {
  it('a copy used without the key on A: the victim and a second tab asking B hear dpop_key_mismatch', async () => {
    const key = new DpopKey();
    const s = await post(key, a, '/auth/signup', { email: `kinds-${Date.now()}@example.com`, password: 'correct horse battery' });
    assert.equal(s.body.token_type, 'DPoP', s.text);
    const rotated = await boundRefresh(key, b, s.body.refresh_token);
    assert.equal(rotated.status, 200, rotated.text);
    refused(await bare(a, rotated.body.refresh_token), 'dpop_key_mismatch', 'the copy on A');
    await heardOnB(rotated.body.access_token, key);
    refused(await boundRefresh(key, b, rotated.body.refresh_token), 'dpop_key_mismatch', 'the victim on B');
    refused(await boundRefresh(key, b, s.body.refresh_token), 'dpop_key_mismatch', 'a second tab (one behind) on B');
    refused(await bare(b, rotated.body.refresh_token), 'dpop_key_mismatch', 'the thief again, on B');
  });

  it('an older token replayed on A (Bearer): the victim and a second tab asking B hear refresh_token_reused', async () => {
    const s = await call(a, 'POST', '/auth/signup', { json: { email: `kinds-b-${Date.now()}@example.com`, password: 'correct horse battery' } });
    assert.equal(s.status, 201, s.text);
    const next = await bare(b, s.body.refresh_token);
    assert.equal(next.status, 200, next.text);
    refused(await bare(a, s.body.refresh_token), 'refresh_token_reused', 'the replay on A');
    await heardOnB(next.body.access_token);
    refused(await bare(b, next.body.refresh_token), 'refresh_token_reused', 'the victim on B');
    refused(await bare(b, s.body.refresh_token), 'refresh_token_reused', 'a second tab on B');
  });

  it('an older token of a key-bound session replayed with the key on A: B says refresh_token_reused', async () => {
    const key = new DpopKey();
    const s = await post(key, a, '/auth/signup', { email: `kinds-c-${Date.now()}@example.com`, password: 'correct horse battery' });
    const g1 = await boundRefresh(key, a, s.body.refresh_token);
    const g2 = await boundRefresh(key, a, g1.body.refresh_token);
    assert.equal(g2.status, 200, g2.text);
    assert.equal(claimsOf(g2.body.access_token).cnf?.jkt, key.jkt);
    refused(await boundRefresh(key, a, s.body.refresh_token), 'refresh_token_reused', 'the replay on A');
    await heardOnB(g2.body.access_token, key);
    refused(await boundRefresh(key, b, g2.body.refresh_token), 'refresh_token_reused', 'the victim on B');
  });
});
