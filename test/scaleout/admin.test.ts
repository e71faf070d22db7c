// Disabling a user in scale-out: three instances on one Redis and one PostgreSQL. Through the admin
// API of one instance, and through the CLI (its own process, same configuration): every instance
// refuses the user's live access tokens within 100 ms (the revocation feed), refresh tokens get
// invalid_grant, login is refused; enabling lets the user log in again. Metrics parse on each
// instance's management listener.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { latchkeyCli } from '../helpers/cli.js';
import { call, refresh, signup, uniqueEmail } from '../helpers/http.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { startFleet, type Fleet } from './cluster-env.js';
import { createVerifier, VerifyError } from '../../packages/verify/src/index.js';
import { redisRevocationSource } from '../../packages/verify/src/redis.js';
import { TEST_SECRETS_KEY } from '../helpers/secrets.js';

let redis: RedisProcess;
let db: TestDatabase;
let fleet: Fleet;
let env: Record<string, string>;

const cli = (...args: string[]) => latchkeyCli(env, ...args);

/** Polls every instance until each refuses the token; the slowest instance's time, in ms. */
async function refusedEverywhere(token: string, limitMs: number, since: number): Promise<number> {
  const times = await Promise.all(
    fleet.instances.map(async (s) => {
      for (;;) {
        const r = await call(s.url, 'GET', '/auth/me', { token });
        if (r.status === 401) return Date.now() - since;
        if (Date.now() - since > limitMs) return Infinity;
        await new Promise((res) => setTimeout(res, 5));
      }
    }),
  );
  return Math.max(...times);
}

async function signedInEverywhere(): Promise<{ email: string; password: string; userId: string; tokens: Array<{ access: string; refresh: string }> }> {
  const email = uniqueEmail();
  const u = await signup(fleet.instances[0]!.url, email);
  const tokens = [{ access: u.access_token, refresh: u.refresh_token }];
  for (const s of fleet.instances.slice(1)) {
    const l = await call(s.url, 'POST', '/auth/login', { json: { email, password: u.password } });
    tokens.push({ access: l.body.access_token, refresh: l.body.refresh_token });
  }
  for (const s of fleet.instances) for (const t of tokens) assert.equal((await call(s.url, 'GET', '/auth/me', { token: t.access })).status, 200);
  return { email, password: u.password, userId: u.user.id, tokens };
}

describe('disabling users across three instances (Redis + PostgreSQL)', { timeout: 180_000 }, () => {
  before(async () => {
    await ensurePostgres();
    redis = await startRedis();
    db = await createTestDatabase();
    env = { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY };
    fleet = await startFleet(3, env);
  });
  after(async () => {
    await fleet?.stop();
    await redis?.stop();
    await db?.drop();
  });

  it('through the admin API of one instance: refused on every instance within 100 ms; enable restores login', async (t) => {
    const made = await cli('admin-keys', 'create', 'scaleout test', '--json');
    assert.equal(made.status, 0, made.stderr);
    const key = (JSON.parse(made.stdout) as { key: string }).key;
    const u = await signedInEverywhere();
    const adminUrl = fleet.instances[1]!.adminUrl!;
    const sent = Date.now();
    const d = await call(adminUrl, 'POST', `/admin/users/${u.userId}/disable`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(d.status, 200, d.text);
    assert.equal(d.body.user.sessionsEnded, 3);
    const ms = await refusedEverywhere(u.tokens[0]!.access, 100, sent);
    t.diagnostic(`admin API disable: every instance refused the token after ${ms} ms (from the request)`);
    assert.ok(ms <= 100, `slowest instance: ${ms} ms`);
    for (const tk of u.tokens) assert.ok((await refusedEverywhere(tk.access, 100, Date.now())) <= 100);
    for (const s of fleet.instances) {
      const r = await refresh(s.url, u.tokens[0]!.refresh);
      assert.equal(r.body.error, 'invalid_grant');
      const l = await call(s.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
      assert.equal(l.body.reason, 'account_disabled');
    }
    assert.equal((await call(adminUrl, 'POST', `/admin/users/${u.userId}/enable`, { headers: { authorization: `Bearer ${key}` } })).status, 200);
    for (const s of fleet.instances) assert.equal((await call(s.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } })).status, 200);
  });

  it('an API verifying with @latchkey/verify on the Redis feed refuses a disabled user\'s tokens too', async () => {
    // The fleet's issuer is http://latchkey.test; the verifier reaches it through instance 0.
    const base = fleet.instances[0]!.url;
    const viaInstance = (input: RequestInfo | URL, init?: RequestInit) => fetch(String(input).replace('http://latchkey.test', base), init);
    const verifier = createVerifier({ issuer: 'http://latchkey.test', audience: 'http://latchkey.test', fetch: viaInstance, revocations: redisRevocationSource({ url: redis.url }) });
    try {
      const u = await signedInEverywhere();
      assert.equal((await verifier.verify(u.tokens[1]!.access)).sub, u.userId);
      assert.equal((await cli('users', 'disable', u.email)).status, 0);
      const deadline = Date.now() + 1000;
      for (;;) {
        const refused = await verifier.verify(u.tokens[1]!.access).then(
          () => false,
          (e: unknown) => e instanceof VerifyError && e.reason === 'revoked',
        );
        if (refused) break;
        assert.ok(Date.now() < deadline, 'the verifier still accepts the token a second after the disable');
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await verifier.close();
    }
  });

  it('through the CLI (its own process, the same Redis and PostgreSQL): refused on every instance within 100 ms of its return', async (t) => {
    const u = await signedInEverywhere();
    const d = await cli('users', 'disable', u.email);
    assert.equal(d.status, 0, d.stderr);
    const ms = await refusedEverywhere(u.tokens[2]!.access, 100, Date.now());
    t.diagnostic(`CLI disable: every instance refused the token ${ms} ms after the command returned`);
    assert.ok(ms <= 100, `slowest instance: ${ms} ms`);
    const l = await call(fleet.instances[0]!.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
    assert.equal(l.body.reason, 'account_disabled');
    assert.equal((await cli('users', 'enable', u.email)).status, 0);
    assert.equal((await call(fleet.instances[2]!.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } })).status, 200);
  });

  it('every instance serves /metrics on its own management port, and its counters count its own requests', async () => {
    for (const s of fleet.instances) {
      const r = await fetch(`${s.adminUrl}/metrics`);
      assert.equal(r.status, 200);
      const text = await r.text();
      assert.match(text, /^latchkey_store_up\{store="redis"\} 1$/m);
      assert.match(text, /^latchkey_store_up\{store="postgres"\} 1$/m);
      assert.match(text, /^latchkey_http_requests_total\{route="\/auth\/login",method="POST",status="200"\} \d+$/m);
    }
  });
});
