// Real failures: Redis killed under load and restarted from its AOF, the revocation feed's
// connection killed, PostgreSQL stopped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { call, refresh, signup } from '../helpers/http.js';
import { createTestDatabase, ensurePostgres, startOwnPostgres } from '../harness/postgres.js';
import { startRedis } from '../harness/redis.js';
import { startFleet } from './cluster-env.js';

function generationOf(refreshToken: string): number {
  return Buffer.from(refreshToken, 'base64url').readUInt32BE(19);
}

async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('faults', () => {
  it('Redis SIGKILLed under load: only 200s and fast 503s, no crash; after an AOF restart every session refreshes, none rotated twice', async () => {
    await ensurePostgres();
    const redis = await startRedis({ appendonly: true });
    const db = await createTestDatabase();
    const fleet = await startFleet(2, { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_REUSE_GRACE: '60' });
    try {
      const users = await Promise.all(Array.from({ length: 20 }, () => signup(fleet.next())));
      const chains = users.map((u) => ({ u, last: u.refresh_token, access: u.access_token, ok: 0 }));
      const statuses = new Map<number, number>();
      let slowest = 0;
      let phase: 'before' | 'outage' | 'done' = 'before';
      const traffic = chains.map(async (c) => {
        while (phase !== 'done') {
          const t0 = performance.now();
          const r = await refresh(fleet.next(), c.last);
          slowest = Math.max(slowest, performance.now() - t0);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 200) {
            c.last = r.body.refresh_token;
            c.access = r.body.access_token;
            c.ok++;
          } else {
            assert.equal(r.status, 503, r.text);
            assert.equal(r.body.error, 'temporarily_unavailable');
            await new Promise((res) => setTimeout(res, 50));
          }
        }
      });
      await new Promise((r) => setTimeout(r, 700));
      await redis.kill('SIGKILL');
      phase = 'outage';
      await new Promise((r) => setTimeout(r, 1500));

      // While Redis is down: health says which store, access tokens still verify locally.
      const health = await call(fleet.next(), 'GET', '/healthz');
      assert.equal(health.status, 503);
      assert.equal(health.body.checks.redis, 'down');
      assert.equal((await call(fleet.next(), 'GET', '/auth/me', { token: chains[0]!.access })).status, 200);
      const login = await call(fleet.next(), 'POST', '/auth/login', { json: { email: users[0]!.email, password: users[0]!.password } });
      assert.equal(login.status, 503);

      phase = 'done';
      await Promise.all(traffic);
      assert.deepEqual([...statuses.keys()].sort(), [200, 503]);
      assert.ok(slowest < 2500, `slowest answer ${slowest.toFixed(0)} ms`);
      for (const s of fleet.instances) assert.equal(s.proc.exitCode, null, 'no instance crashed');

      await redis.restart();
      await waitFor(async () => (await call(fleet.next(), 'GET', '/healthz')).status === 200 && (await call(fleet.next(), 'GET', '/healthz')).status === 200, 10_000, 'recovery');
      for (const c of chains) {
        const r = await refresh(fleet.next(), c.last);
        assert.equal(r.status, 200, r.text);
        assert.equal(generationOf(r.body.refresh_token), c.ok + 1, 'exactly one rotation per 200 the client saw');
      }
    } finally {
      await fleet.stop();
      await redis.stop();
      await db.drop();
    }
  });

  it('the revocation feed connection killed: revocations made meanwhile are enforced after reconnect', async () => {
    await ensurePostgres();
    const redis = await startRedis();
    const db = await createTestDatabase();
    const fleet = await startFleet(2, { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url });
    const admin = new Redis(redis.url);
    try {
      const [a, b] = fleet.instances.map((s) => s.url) as [string, string];
      const users = await Promise.all(Array.from({ length: 10 }, () => signup(a)));
      for (const u of users) assert.equal((await call(b, 'GET', '/auth/me', { token: u.access_token })).status, 200);
      // Drop every pub/sub connection, then revoke at once, while subscribers are reconnecting.
      await admin.client('KILL', 'TYPE', 'pubsub');
      await Promise.all(users.map((u) => call(a, 'POST', '/auth/logout', { token: u.access_token })));
      await waitFor(
        async () => {
          const statuses = await Promise.all(users.map((u) => call(b, 'GET', '/auth/me', { token: u.access_token })));
          return statuses.every((r) => r.status === 401);
        },
        5000,
        'revocations to reach instance b',
      );
    } finally {
      admin.disconnect();
      await fleet.stop();
      await redis.stop();
      await db.drop();
    }
  });

  it('PostgreSQL stopped: refresh keeps working (Redis only), sign-up and login answer 503, and recover', async () => {
    const pg = await startOwnPostgres();
    const redis = await startRedis();
    const fleet = await startFleet(1, { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: pg.url });
    try {
      const url = fleet.instances[0]!.url;
      const u = await signup(url);
      await pg.kill();
      const r = await refresh(url, u.refresh_token);
      assert.equal(r.status, 200, r.text);
      const t0 = performance.now();
      const s = await call(url, 'POST', '/auth/signup', { json: { email: 'new@example.com', password: 'long enough pw' } });
      assert.equal(s.status, 503);
      assert.ok(performance.now() - t0 < 2500);
      assert.equal((await call(url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } })).status, 503);
      assert.equal((await call(url, 'GET', '/healthz')).body.checks.postgres, 'down');
      await pg.start();
      await waitFor(async () => (await call(url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } })).status === 200, 10_000, 'login after recovery');
    } finally {
      await fleet.stop();
      await redis.stop();
      await pg.stop();
    }
  });
});
