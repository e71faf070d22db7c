// DPoP-bound sessions across three instances on one Redis and one PostgreSQL (issue 11): behind a
// load balancer every instance answers for one public URL, so a proof names that URL whichever
// instance gets it; nonces, the proof replay record and the revocation feed must hold fleet-wide.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, signup as bearerSignup, uniqueEmail, type Res, type Tokens } from '../helpers/http.js';
import { claimsOf, DpopKey, type ProofOptions } from '../helpers/dpop.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { countEvents, startFleet, type Fleet } from './cluster-env.js';

const PUBLIC = 'http://latchkey.test';
const GRACE_S = 1;

let redis: RedisProcess;
let db: TestDatabase;
let fleet: Fleet;
let a: string, b: string, c: string;
before(async () => {
  await ensurePostgres();
  redis = await startRedis();
  db = await createTestDatabase();
  // A short grace window so "after the window" is a short wait; it only ever limits Bearer sessions.
  fleet = await startFleet(3, { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_PUBLIC_URL: PUBLIC, LATCHKEY_REUSE_GRACE: String(GRACE_S) });
  [a, b, c] = fleet.instances.map((s) => s.url) as [string, string, string];
});
after(async () => {
  await fleet?.stop();
  await redis?.stop();
  await db?.drop();
});

type TokenRes = Res<Tokens & { reason?: string; error?: string }>;

/**
 * A POST to one instance with a proof naming the public URL (RFC 9449 §4.3 htu), carrying the
 * last nonce any instance gave (the key remembers it under the public origin). `retry`: follow one
 * use_dpop_nonce challenge as a client does; without it the first answer is returned.
 */
async function post(key: DpopKey, base: string, path: string, json: unknown, o: ProofOptions & { retry?: boolean } = {}): Promise<TokenRes> {
  const send = () => call(base, 'POST', path, { json, headers: { dpop: key.proof(PUBLIC + path, 'POST', o) } });
  let r = await send();
  key.learn(PUBLIC, r);
  if (o.retry !== false && r.status === 400 && r.body?.error === 'use_dpop_nonce') {
    r = await send();
    key.learn(PUBLIC, r);
  }
  return r;
}

const refreshBody = (rt: string) => ({ grant_type: 'refresh_token', refresh_token: rt });
/** A refresh without a proof, as a Bearer client (or a thief without the key) sends it. */
const bearerRefresh = (base: string, rt: string): Promise<TokenRes> => call(base, 'POST', '/auth/token', { json: refreshBody(rt) });

async function boundSignup(key: DpopKey, base: string): Promise<TokenRes> {
  const r = await post(key, base, '/auth/signup', { email: uniqueEmail(), password: 'correct horse battery' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.token_type, 'DPoP');
  assert.equal(claimsOf(r.body.access_token).cnf?.jkt, key.jkt);
  return r;
}

function me(key: DpopKey, base: string, at: string) {
  return key.resource(base, 'GET', '/auth/me', at, { htu: `${PUBLIC}/auth/me` });
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('DPoP-bound sessions on three instances (Redis + PostgreSQL)', () => {
  it('signed up on A, refreshed on each instance in turn with the nonce the previous one gave, no challenge after the first', async () => {
    const key = new DpopKey();
    const first = await post(key, a, '/auth/signup', { email: uniqueEmail(), password: 'correct horse battery' }, { retry: false });
    assert.equal(first.status, 400, 'the first proof has no nonce');
    assert.equal(first.body.reason, 'dpop_nonce_required');
    const nonceFromA = first.headers.get('dpop-nonce');
    assert.ok(nonceFromA);
    let tokens = (await boundSignup(key, a)).body;
    // Every ordered pair of instances: the nonce one handed out is taken by the next.
    const order = [b, c, a, c, b, a];
    const names = new Map([[a, 'A'], [b, 'B'], [c, 'C']]);
    for (const [i, base] of order.entries()) {
      const offered = key.nonces.get(PUBLIC);
      const r = await post(key, base, '/auth/token', refreshBody(tokens.refresh_token), { retry: false });
      assert.equal(r.status, 200, `refresh ${i + 1} on ${names.get(base)} with the nonce from ${names.get(order[i - 1] ?? a)}: ${r.text}`);
      assert.equal(r.body.token_type, 'DPoP');
      assert.equal(claimsOf(r.body.access_token).cnf?.jkt, key.jkt, 'still bound to the same key');
      assert.ok(r.headers.get('dpop-nonce'), 'a fresh nonce with every answer');
      assert.ok(offered);
      tokens = r.body;
      for (const other of [a, b, c]) assert.equal((await me(key, other, tokens.access_token)).status, 200, `the access token works on ${names.get(other)}`);
    }
  });

  it('a proof used on one instance is refused on another (its jti is recorded in the shared store)', async () => {
    const key = new DpopKey();
    const s = (await boundSignup(key, a)).body;
    const proof = key.proof(`${PUBLIC}/auth/token`, 'POST');
    const used = await call(a, 'POST', '/auth/token', { json: refreshBody(s.refresh_token), headers: { dpop: proof } });
    assert.equal(used.status, 200, used.text);
    // The same proof, now with the successor (as a thief who captured request and answer would send it).
    for (const other of [b, c]) {
      const replayed = await call(other, 'POST', '/auth/token', { json: refreshBody(used.body.refresh_token), headers: { dpop: proof } });
      assert.equal(replayed.status, 400, replayed.text);
      assert.equal(replayed.body.error, 'invalid_dpop_proof');
      assert.equal(replayed.body.reason, 'dpop_proof_invalid');
    }
    // On the resource routes too.
    const resProof = key.proof(`${PUBLIC}/auth/me`, 'GET', { accessToken: used.body.access_token, nonce: null });
    const headers = { authorization: `DPoP ${used.body.access_token}`, dpop: resProof };
    assert.equal((await call(b, 'GET', '/auth/me', { headers })).status, 200);
    for (const other of [a, c]) {
      const replayed = await call(other, 'GET', '/auth/me', { headers });
      assert.equal(replayed.status, 401);
      assert.equal(replayed.body.reason, 'dpop_proof_invalid');
    }
    // A refused proof is not a copied token: the session lives on with fresh proofs.
    const next = await post(key, c, '/auth/token', refreshBody(used.body.refresh_token));
    assert.equal(next.status, 200, next.text);
  });

  for (const thief of ['no proof', 'its own key'] as const) {
    it(`a copy used on C with ${thief} revokes the session: the victim's access token is refused on A and B within 1 s`, async (t) => {
      const key = new DpopKey();
      const s = (await boundSignup(key, a)).body;
      const victim = (await post(key, b, '/auth/token', refreshBody(s.refresh_token))).body;
      for (const base of [a, b]) assert.equal((await me(key, base, victim.access_token)).status, 200);
      const mismatchesBefore = countEvents(fleet, 'session.key_mismatch');
      const used = thief === 'no proof' ? await bearerRefresh(c, victim.refresh_token) : await post(new DpopKey(), c, '/auth/token', refreshBody(victim.refresh_token));
      assert.equal(used.status, 400, used.text);
      assert.equal(used.body.reason, 'dpop_key_mismatch');
      const refusedAfter = await Promise.all(
        [a, b].map((base) => until(`refused on ${base}`, async () => (await me(key, base, victim.access_token)).status === 401, 5000)),
      );
      t.diagnostic(`victim's access token refused on A / B ${refusedAfter.map((ms) => ms.toFixed(0)).join(' / ')} ms after the copy was refused on C`);
      assert.ok(Math.max(...refusedAfter) <= 1000, `refused on A and B after ${refusedAfter.map((ms) => ms.toFixed(0)).join(' / ')} ms`);
      const refused = await me(key, a, victim.access_token);
      assert.equal(refused.body.reason, 'session_revoked');
      // The victim's own refresh, with its key, on every instance: refused as this theft, a copy.
      for (const base of [a, b, c]) {
        const r = await post(key, base, '/auth/token', refreshBody(victim.refresh_token));
        assert.equal(r.status, 400);
        assert.equal(r.body.reason, 'dpop_key_mismatch', base);
      }
      await until('key_mismatch logged', async () => countEvents(fleet, 'session.key_mismatch') > mismatchesBefore, 5000);
    });
  }

  it('the bound predecessor with its key, on another instance after the grace window, gets the same successor (a Bearer one is reuse)', async () => {
    const key = new DpopKey();
    const s = (await boundSignup(key, a)).body;
    const rotated = await post(key, a, '/auth/token', refreshBody(s.refresh_token));
    assert.equal(rotated.status, 200);
    const bearer = await bearerSignup(a);
    const bearerRotated = await bearerRefresh(a, bearer.refresh_token);
    assert.equal(bearerRotated.status, 200);
    // Past the window, as a client whose answer was lost would come back.
    await new Promise((r) => setTimeout(r, GRACE_S * 1000 + 1500));
    for (const base of [b, c]) {
      const again = await post(key, base, '/auth/token', refreshBody(s.refresh_token));
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.refresh_token, rotated.body.refresh_token, 'the same successor: no fork');
      assert.notEqual(again.body.access_token, rotated.body.access_token);
      assert.equal((await me(key, a, again.body.access_token)).status, 200);
    }
    const bearerLate = await bearerRefresh(b, bearer.refresh_token);
    assert.equal(bearerLate.status, 400);
    assert.equal(bearerLate.body.reason, 'refresh_token_reused');
    // The successor still rotates, once.
    const next = await post(key, c, '/auth/token', refreshBody(rotated.body.refresh_token));
    assert.equal(next.status, 200);
    assert.notEqual(next.body.refresh_token, rotated.body.refresh_token);
  });
});
