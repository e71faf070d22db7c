// Three stateless instances on one Redis and one PostgreSQL, requests spread round-robin.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DpopKey } from '../helpers/dpop.js';
import { call, refresh, signup, uniqueEmail } from '../helpers/http.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { countEvents, startFleet, type Fleet } from './cluster-env.js';

let redis: RedisProcess;
let db: TestDatabase;
before(async () => {
  await ensurePostgres();
  redis = await startRedis();
  db = await createTestDatabase();
});
after(async () => {
  await redis?.stop();
  await db?.drop();
});

const env = () => ({ LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url });

describe('three instances, grace 10', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet(3, { ...env(), LATCHKEY_REUSE_GRACE: '10' });
  });
  after(() => fleet.stop());

  it('sign-up on one instance, login on another, API call on the third', async () => {
    const [a, b, c] = fleet.instances.map((s) => s.url) as [string, string, string];
    const email = uniqueEmail();
    await signup(a, email, 'correct horse battery');
    const login = await call(b, 'POST', '/auth/login', { json: { email, password: 'correct horse battery' } });
    assert.equal(login.status, 200);
    const me = await call(c, 'GET', '/auth/me', { token: login.body.access_token });
    assert.equal(me.status, 200);
    assert.equal(me.body.user.email, email);
  });

  it('all instances publish the same signing keys and MAC secret', async () => {
    const sets = await Promise.all(fleet.instances.map((s) => call(s.url, 'GET', '/.well-known/jwks.json')));
    const kids = sets.map((r) => JSON.stringify(r.body.keys.map((k: { kid: string }) => k.kid).sort()));
    assert.equal(new Set(kids).size, 1);
    const u = await signup(fleet.instances[0]!.url);
    assert.equal((await refresh(fleet.instances[1]!.url, u.refresh_token)).status, 200, 'a refresh token minted by one instance verifies on another');
  });

  it('200 concurrent refreshes of one DPoP-bound token over three instances: one generation advance, one shared successor', async () => {
    // The instances share the public URL http://latchkey.test: proofs name it, whichever instance gets them.
    const key = new DpopKey();
    const htu = 'http://latchkey.test/auth/token';
    const first = await key.post(fleet.next(), '/auth/signup', { email: uniqueEmail(), password: 'correct horse battery' }, { htu: 'http://latchkey.test/auth/signup' });
    assert.equal(first.body.token_type, 'DPoP', first.text);
    // The nonce is the same on every instance (stateless): each learnt it with the sign-up's answer.
    for (const s of fleet.instances) key.nonces.set(new URL(s.url).origin, key.nonces.get(new URL(fleet.instances[0]!.url).origin) ?? [...key.nonces.values()][0]!);
    const rotatedBefore = countEvents(fleet, 'session.rotated');
    const results = await Promise.all(Array.from({ length: 200 }, () => key.refresh(fleet.next(), first.body.refresh_token, { htu })));
    assert.ok(results.every((r) => r.status === 200), results.map((r) => r.status).join(','));
    assert.equal(new Set(results.map((r) => r.body.refresh_token)).size, 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(countEvents(fleet, 'session.rotated') - rotatedBefore, 1);
    const next = await key.refresh(fleet.next(), results[0]!.body.refresh_token, { htu });
    assert.equal(next.status, 200);
  });

  it('200 concurrent refreshes of one Bearer token over three instances: one rotation and 3 grace answers share the successor, then reuse', async () => {
    const u = await signup(fleet.next());
    const results = await Promise.all(Array.from({ length: 200 }, () => refresh(fleet.next(), u.refresh_token)));
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 4, results.map((r) => r.status).join(','));
    assert.equal(new Set(ok.map((r) => r.body.refresh_token)).size, 1, 'no fork of the token family');
    for (const r of results) if (r.status !== 200) assert.equal(r.body.error, 'invalid_grant');
  });

  it('a session ended on instance 1 is refused by instance 3 within 100 ms', async () => {
    const [i1, , i3] = fleet.instances.map((s) => s.url) as [string, string, string];
    const u = await signup(i1);
    const login = await call(i1, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
    assert.equal((await call(i3, 'GET', '/auth/me', { token: login.body.access_token })).status, 200);
    const sessions = await call(i1, 'GET', '/auth/sessions', { token: u.access_token });
    const other = sessions.body.sessions.find((s: { current: boolean }) => !s.current);
    const endedAt = performance.now();
    assert.equal((await call(i1, 'DELETE', `/auth/sessions/${other.id}`, { token: u.access_token })).status, 204);
    let refusedAfter = Infinity;
    while (performance.now() - endedAt < 2000) {
      if ((await call(i3, 'GET', '/auth/me', { token: login.body.access_token })).status === 401) {
        refusedAfter = performance.now() - endedAt;
        break;
      }
    }
    assert.ok(refusedAfter <= 100, `refused after ${refusedAfter.toFixed(1)} ms`);
    assert.equal((await call(fleet.instances[1]!.url, 'GET', '/auth/me', { token: login.body.access_token })).status, 401);
  });

  it('/healthz names both stores', async () => {
    const r = await call(fleet.next(), 'GET', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.body.checks.redis, 'ok');
    assert.equal(r.body.checks.postgres, 'ok');
  });
});

describe('three instances, login limits shared (LATCHKEY_LOGIN_IP_LIMIT=6)', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet(3, { ...env(), LATCHKEY_LOGIN_IP_LIMIT: '6', LATCHKEY_TRUST_PROXY: 'true' });
  });
  after(() => fleet.stop());

  const attempt = (ip: string, email: string, password = 'wrong password') =>
    call(fleet.next(), 'POST', '/auth/login', { json: { email, password }, headers: { 'x-forwarded-for': ip } });

  it('a burst of guesses sprayed over many accounts from one IP, spread over all instances, gets no more than the IP limit checked', async () => {
    const ip = '203.0.113.77';
    const rs = await Promise.all(Array.from({ length: 30 }, () => attempt(ip, uniqueEmail())));
    const statuses = rs.map((r) => r.status);
    const checked = statuses.filter((s) => s === 401).length;
    assert.ok(checked >= 1 && checked <= 6, `checked ${checked} of 30: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 30 - checked);
    assert.equal((await attempt(ip, uniqueEmail())).status, 429, 'and the stored failures hold it on every instance');
    // Successes from a busy source are not failures: another IP's logins are untouched.
    const u = await signup(fleet.next());
    assert.equal((await attempt('203.0.113.78', u.email, u.password)).status, 200);
  });
});

describe('three instances, grace 0', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet(3, { ...env(), LATCHKEY_REUSE_GRACE: '0' });
  });
  after(() => fleet.stop());

  it('200 concurrent refreshes of one token: exactly one success, and the session revoked everywhere', async () => {
    const u = await signup(fleet.next());
    const results = await Promise.all(Array.from({ length: 200 }, () => refresh(fleet.next(), u.refresh_token)));
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, results.map((r) => r.status).join(','));
    for (const r of results) if (r.status !== 200) assert.equal(r.body.error, 'invalid_grant');
    await new Promise((r) => setTimeout(r, 100));
    for (const s of fleet.instances) {
      assert.equal((await call(s.url, 'GET', '/auth/me', { token: ok[0]!.body.access_token })).status, 401);
      assert.equal((await refresh(s.url, ok[0]!.body.refresh_token)).status, 400);
    }
  });
});
