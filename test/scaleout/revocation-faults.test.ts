// Issue 12 item 2: a session that ends always has its revocation published. Redis is stalled
// (CLIENT PAUSE WRITE, which queues every write, script or not, and runs it once the pause ends:
// the command times out on the server's side after the script has been accepted) in the middle of
// each ending path. Afterwards the invariant must hold for the ended session: either it still
// exists (nothing ended; the client got a 503 and may retry), or its access token is refused on
// the other instance and by an external @latchkey/verify verifier following the Redis feed.
// The old code broke it on every path: the deletion ran after the 503, and nothing was published.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { call, refresh, signup } from '../helpers/http.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { startFleet, type Fleet } from './cluster-env.js';
import { createVerifier, VerifyError, type Verifier } from '../../packages/verify/src/index.js';
import { redisRevocationSource } from '../../packages/verify/src/redis.js';
import { StoreUnavailableError } from '../../packages/server/src/domain/errors.js';
import { newUserId } from '../../packages/server/src/domain/ids.js';
import { sampleSession } from '../../packages/server/src/store/contract.js';
import { openRedisStores } from '../../packages/server/src/store/redis/open.js';
import { mergeTheft, type Theft } from '../../packages/core/src/index.js';

const policy = { graceMs: 0, idleMs: 86_400_000 };
/** Follows the Redis feed the way a verifier does; calls back with each revoked session id. */
function verifierFeed(onSid: (sid: string) => void): () => Promise<void> {
  const source = redisRevocationSource({ url: redis.url });
  const stop = source.subscribe((r) => onSid(r.sessionId), () => {});
  return async () => {
    stop();
    await source.close?.();
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PAUSE_MS = 2000;

let redis: RedisProcess;
let db: TestDatabase;
let fleet: Fleet;
let admin: Redis;
let verifier: Verifier;
let A: string;
let B: string;

const sidOf = (access: string): string => JSON.parse(Buffer.from(access.split('.')[1]!, 'base64url').toString()).sid;
const sessionExists = async (sid: string) => (await admin.hexists(`lk:s{${sid.slice(0, 4)}}`, sid.slice(4))) === 1;

before(async () => {
  await ensurePostgres();
  redis = await startRedis({ args: ['--enable-debug-command', 'local'] });
  db = await createTestDatabase();
  // A cap of 3 so that a fourth login evicts; the rest of the paths need two sessions a user.
  fleet = await startFleet(2, { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_MAX_SESSIONS: '3', LATCHKEY_REUSE_GRACE: '0' });
  [A, B] = fleet.instances.map((s) => s.url) as [string, string];
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const viaA = (input: RequestInfo | URL, init?: RequestInit) => fetch(String(input).replace('http://latchkey.test', A), init);
  verifier = createVerifier({ issuer: 'http://latchkey.test', audience: 'http://latchkey.test', fetch: viaA, revocations: redisRevocationSource({ url: redis.url }) });
});
after(async () => {
  await verifier?.close();
  admin?.disconnect();
  await fleet?.stop();
  await redis?.stop();
  await db?.drop();
});

async function login(u: { email: string; password: string }) {
  const r = await call(A, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
  assert.equal(r.status, 200, r.text);
  return { access: r.body.access_token as string, refresh: r.body.refresh_token as string };
}

/** Stalls Redis writes while `request` runs on instance A; returns its status once the pause is over. */
async function duringPause(request: () => Promise<{ status: number }>): Promise<number> {
  const t0 = Date.now();
  await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
  const r = await request();
  await sleep(Math.max(0, PAUSE_MS - (Date.now() - t0)) + 200);
  return r.status;
}

/** The invariant, given a few seconds for the feed: the session exists, or its token is refused everywhere. */
async function assertNeverEndedButAccepted(what: string, access: string, status: number): Promise<string> {
  const sid = sidOf(access);
  const deadline = Date.now() + 3000;
  for (;;) {
    const exists = await sessionExists(sid);
    const onB = (await call(B, 'GET', '/auth/me', { token: access })).status;
    const byVerifier = await verifier.verify(access).then(
      () => 'accepted',
      (e: unknown) => (e instanceof VerifyError && e.reason === 'revoked' ? 'revoked' : `error ${String(e)}`),
    );
    if (exists || (onB === 401 && byVerifier === 'revoked')) return exists ? `${what}: ${status}, session kept` : `${what}: ${status}, ended and refused`;
    if (Date.now() > deadline) assert.fail(`${what} (answered ${status}): the session has ended but its access token is still accepted (instance B ${onB}, verifier ${byVerifier})`);
    await sleep(100);
  }
}

describe('a session ended while Redis stalls still has its revocation published', () => {
  it('logout, ending one, ending the others, RFC 7009 revoke, reuse detection, max-sessions eviction', async (t) => {
    const outcomes: string[] = [];

    {
      const u = await signup(A);
      const s = await login(u);
      const status = await duringPause(() => call(A, 'POST', '/auth/logout', { token: s.access }));
      outcomes.push(await assertNeverEndedButAccepted('logout', s.access, status));
    }
    {
      const u = await signup(A);
      const victim = await login(u);
      const status = await duringPause(() => call(A, 'DELETE', `/auth/sessions/${sidOf(victim.access)}`, { token: u.access_token }));
      outcomes.push(await assertNeverEndedButAccepted('end one', victim.access, status));
    }
    {
      const u = await signup(A);
      const victim = await login(u);
      const status = await duringPause(() => call(A, 'DELETE', '/auth/sessions?others=true', { token: u.access_token }));
      outcomes.push(await assertNeverEndedButAccepted('end others', victim.access, status));
    }
    {
      const u = await signup(A);
      const s = await login(u);
      const status = await duringPause(() => call(A, 'POST', '/auth/revoke', { form: `token=${encodeURIComponent(s.refresh)}` }));
      outcomes.push(await assertNeverEndedButAccepted('RFC 7009 revoke', s.access, status));
    }
    {
      // The thief rotated first; the victim's replay of the old token is the reuse.
      const u = await signup(A);
      const s = await login(u);
      const rotated = await refresh(A, s.refresh);
      assert.equal(rotated.status, 200, rotated.text);
      const status = await duringPause(() => refresh(A, s.refresh));
      outcomes.push(await assertNeverEndedButAccepted('reuse detection', rotated.body.access_token, status));
      assert.equal(await sessionExists(sidOf(s.access)), false, 'the reuse script ran after the timeout');
    }
    {
      const u = await signup(A);
      await login(u);
      await login(u);
      const oldest = { access: u.access_token };
      const status = await duringPause(() => call(A, 'POST', '/auth/login', { json: { email: u.email, password: u.password } }));
      // Login's rate-limit write comes first, so the pause usually refuses it before the create
      // script: the store-level case below loses the create's own reply.
      outcomes.push(await assertNeverEndedButAccepted('max-sessions eviction', oldest.access, status));
    }
    for (const o of outcomes) t.diagnostic(o);
  });

  it('a login whose create reply is lost after it evicted: the eviction is published and made durable', async () => {
    const stores = await openRedisStores({ url: redis.url, timeouts: { commandTimeoutMs: 300 } });
    try {
      const userId = newUserId();
      const now = Date.now();
      const oldest = sampleSession(now, { userId });
      await stores.sessions.createSession(oldest, 1, policy, now + 60_000);
      const heard = new Set<string>();
      const stop = verifierFeed((sid) => heard.add(sid));
      await sleep(300);
      await admin.call('CLIENT', 'PAUSE', '1000', 'WRITE');
      await assert.rejects(stores.sessions.createSession(sampleSession(now + 1, { userId }), 1, policy, now + 60_000), StoreUnavailableError);
      await sleep(1500);
      assert.equal(await sessionExists(oldest.id), false, 'the create ran after the timeout and evicted');
      const deadline = Date.now() + 3000;
      while (!(heard.has(oldest.id) && (await stores.revocations.loadActive(Date.now())).some((r) => r.sessionId === oldest.id))) {
        assert.ok(Date.now() < deadline, `eviction live ${heard.has(oldest.id)}, durable: no`);
        await sleep(100);
      }
      await stop();
    } finally {
      await stores.close();
    }
  });

  it('a reply lost to DEBUG SLEEP after the reuse script ran: published by the script itself, then made durable', async () => {
    const u = await signup(A);
    const s = await login(u);
    const rotated = await refresh(A, s.refresh);
    assert.equal(rotated.status, 200);
    // The replay is in Redis's queue behind the sleep; the server gives up after ~1 s.
    const sleeping = admin.call('DEBUG', 'SLEEP', '1.5');
    const replay = refresh(A, s.refresh);
    await sleeping;
    assert.equal((await replay).status, 503);
    await assertNeverEndedButAccepted('reuse under DEBUG SLEEP', rotated.body.access_token, 503);
    // Durable too: a verifier that connects afterwards loads it from the feed's sorted set.
    const late = createVerifier({
      issuer: 'http://latchkey.test',
      audience: 'http://latchkey.test',
      fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(String(input).replace('http://latchkey.test', A), init),
      revocations: redisRevocationSource({ url: redis.url }),
    });
    try {
      const deadline = Date.now() + 3000;
      for (;;) {
        const refused = await late.verify(rotated.body.access_token).then(() => false, (e: unknown) => e instanceof VerifyError && e.reason === 'revoked');
        if (refused) break;
        assert.ok(Date.now() < deadline, 'a verifier connecting later does not know of the revocation');
        await sleep(200);
      }
    } finally {
      await late.close();
    }
  });

  it('a copy without the key whose rotate reply is lost: published live and made durable as a copy, not only as a reuse', async () => {
    const stores = await openRedisStores({ url: redis.url, timeouts: { commandTimeoutMs: 300 } });
    const source = redisRevocationSource({ url: redis.url });
    const heard = new Map<string, Theft | undefined>();
    const stop = source.subscribe((r) => heard.set(r.sessionId, mergeTheft(heard.get(r.sessionId), r.theft)), () => {});
    try {
      const now = Date.now();
      const bound = sampleSession(now, { keyId: 'AAAAAAAAAAAAAAAAAAAAAA' });
      await stores.sessions.createSession(bound, null, policy);
      await sleep(300);
      await admin.call('CLIENT', 'PAUSE', '1000', 'WRITE');
      await assert.rejects(stores.sessions.rotate(bound.id, { generation: 0, clientId: 'app', keyId: null }, now + 1, policy, now + 60_000), StoreUnavailableError);
      await sleep(1500);
      assert.equal(await sessionExists(bound.id), false, 'the rotate ran after the timeout and revoked');
      const deadline = Date.now() + 5000;
      for (;;) {
        const durable = (await stores.revocations.loadActive(Date.now())).find((r) => r.sessionId === bound.id);
        if (heard.get(bound.id) === 'copy' && durable?.theft === 'copy') break;
        assert.ok(Date.now() < deadline, `live ${heard.get(bound.id)}, durable ${durable?.theft ?? 'no'}`);
        await sleep(100);
      }
      // Both forms are in the sorted set: a reader that predates `copy` loads it as a reuse.
      const members = await admin.zrange('lk:{revoked}', 0, -1);
      assert.ok(members.includes(`${bound.id} c`) && members.includes(`${bound.id} r`), members.filter((m) => m.startsWith(bound.id)).join(','));
    } finally {
      stop();
      await source.close?.();
      await stores.close();
    }
  });
});
