// Issue 12 item 1: one account cannot stall the server. 100k sessions of one user, seeded through
// the store API, then against real servers: the user lists every page and ends all the others
// while /healthz is sampled every ~15 ms (p99 ≤ 100 ms) and another user's refresh loop on the
// other instance keeps succeeding. On Redis, SLOWLOG (threshold 10 ms) must hold no session script.
// FLOOD_SESSIONS overrides the count (bench/session-flood.ts reports the same figures).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { call, refresh, signup } from '../helpers/http.js';
import { removeDir, spawnServer, tempDataDir, type ChildServer } from '../helpers/server.js';
import { createTestDatabase, ensurePostgres } from '../harness/postgres.js';
import { startRedis } from '../harness/redis.js';
import { sampleSession } from '../../packages/server/src/store/contract.js';
import type { SessionStore } from '../../packages/server/src/store/types.js';
import { openSqliteStores } from '../../packages/server/src/store/sqlite/open.js';
import { openRedisStores } from '../../packages/server/src/store/redis/open.js';
import { openPostgresStores } from '../../packages/server/src/store/postgres/open.js';

const N = Number(process.env.FLOOD_SESSIONS ?? 100_000);
const policy = { graceMs: 10_000, idleMs: 7 * 86_400_000 };

export interface FloodFigures {
  sessions: number;
  listMs: number;
  pages: number;
  endOthersMs: number;
  healthSamples: number;
  healthP99Ms: number;
  healthMaxMs: number;
  otherRefreshes: number;
  otherFailures: number;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function seed(sessions: SessionStore, userId: string, concurrency: number): Promise<void> {
  const now = Date.now();
  for (let off = 0; off < N; off += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, N - off) }, (_, i) => sessions.createSession(sampleSession(now - N + off + i, { userId }), null, policy)));
  }
}

/** The flood against `a` (the user) while `b` serves another user's refreshes. */
export async function flood(a: string, b: string, seedFor: (userId: string) => Promise<void>): Promise<FloodFigures> {
  const victim = await signup(a);
  const other = await signup(b);
  await seedFor(victim.user.id);
  let stop = false;
  const health: number[] = [];
  const sampler = (async () => {
    while (!stop) {
      const t0 = performance.now();
      const r = await call(a, 'GET', '/healthz');
      health.push(performance.now() - t0);
      assert.equal(r.status, 200);
      await new Promise((res) => setTimeout(res, 15));
    }
  })();
  let refreshes = 0;
  let failures = 0;
  let token = other.refresh_token;
  const refresher = (async () => {
    while (!stop) {
      const r = await refresh(b, token);
      if (r.status === 200) {
        token = r.body.refresh_token;
        refreshes++;
      } else failures++;
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  try {
    const t0 = performance.now();
    let cursor: string | null = null;
    let pages = 0;
    let listed = 0;
    do {
      const q: string = cursor ? `?limit=1000&cursor=${encodeURIComponent(cursor)}` : '?limit=1000';
      const r = await call(a, 'GET', `/auth/sessions${q}`, { token: victim.access_token });
      assert.equal(r.status, 200, r.text);
      listed += r.body.sessions.length;
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    const listMs = performance.now() - t0;
    assert.equal(listed, N + 1, 'every session listed once');
    const t1 = performance.now();
    const end = await call(a, 'DELETE', '/auth/sessions?others=true', { token: victim.access_token });
    assert.equal(end.status, 204, end.text);
    const endOthersMs = performance.now() - t1;
    const left = await call(a, 'GET', '/auth/sessions', { token: victim.access_token });
    assert.equal(left.body.sessions.length, 1);
    stop = true;
    await Promise.all([sampler, refresher]);
    return { sessions: N, listMs, pages, endOthersMs, healthSamples: health.length, healthP99Ms: pct(health, 99), healthMaxMs: Math.max(...health), otherRefreshes: refreshes, otherFailures: failures };
  } finally {
    stop = true;
    await Promise.allSettled([sampler, refresher]);
  }
}

function check(t: { diagnostic(s: string): void }, f: FloodFigures): void {
  t.diagnostic(JSON.stringify({ ...f, listMs: Math.round(f.listMs), endOthersMs: Math.round(f.endOthersMs), healthP99Ms: +f.healthP99Ms.toFixed(1), healthMaxMs: +f.healthMaxMs.toFixed(1) }));
  assert.ok(f.healthP99Ms <= 100, `/healthz p99 ${f.healthP99Ms.toFixed(1)} ms`);
  assert.equal(f.otherFailures, 0, 'another user’s refreshes all succeed');
  assert.ok(f.otherRefreshes > 0);
}

async function stopAll(servers: ChildServer[]): Promise<void> {
  await Promise.all(servers.map(async (s) => {
    s.proc.kill('SIGTERM');
    await s.exited;
  }));
}

describe(`${N} sessions of one user`, () => {
  it('embedded SQLite: listing every page and ending the others never stalls /healthz', async (t) => {
    const dir = tempDataDir();
    const srv = await spawnServer({ LATCHKEY_DATA_DIR: dir });
    try {
      const f = await flood(srv.url, srv.url, async (userId) => {
        const stores = openSqliteStores(dir);
        try {
          await seed(stores.sessions, userId, 1);
        } finally {
          await stores.close();
        }
      });
      check(t, f);
    } finally {
      await stopAll([srv]);
      removeDir(dir);
    }
  });

  it('Redis + PostgreSQL, 2 instances: no session script in SLOWLOG over 10 ms', async (t) => {
    await ensurePostgres();
    const redis = await startRedis();
    const db = await createTestDatabase();
    const admin = new Redis(redis.url);
    const env = { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_ISSUER: 'http://latchkey.test' };
    const servers = [await spawnServer(env), await spawnServer(env)];
    try {
      const f = await flood(servers[0]!.url, servers[1]!.url, async (userId) => {
        const stores = await openRedisStores({ url: redis.url, timeouts: { commandTimeoutMs: 10_000 } });
        try {
          await seed(stores.sessions, userId, 2000);
        } finally {
          await stores.close();
        }
        // Only what the flood itself runs counts.
        await admin.config('SET', 'slowlog-log-slower-than', '10000');
        await admin.slowlog('RESET');
      });
      const slow = (await admin.slowlog('GET', 128)) as Array<[number, number, number, Array<string | Buffer>]>;
      const scripts = slow.filter((e) => /^(evalsha|eval)$/i.test(String(e[3][0])));
      t.diagnostic(`SLOWLOG entries ≥ 10 ms: ${slow.length} (scripts ${scripts.length}) ${slow.map((e) => `${String(e[3][0])} ${e[2]} µs`).join(', ')}`);
      assert.equal(scripts.length, 0, 'no script ran 10 ms or longer');
      check(t, f);
    } finally {
      admin.disconnect();
      await stopAll(servers);
      await redis.stop();
      await db.drop();
    }
  });

  it('PostgreSQL only: the same, each statement bounded', async (t) => {
    await ensurePostgres();
    const db = await createTestDatabase();
    const env = { LATCHKEY_DATABASE_URL: db.url, LATCHKEY_ISSUER: 'http://latchkey.test' };
    const servers = [await spawnServer(env), await spawnServer(env)];
    try {
      const f = await flood(servers[0]!.url, servers[1]!.url, async (userId) => {
        const stores = await openPostgresStores({ url: db.url });
        try {
          await seed(stores.sessions, userId, 50);
        } finally {
          await stores.close();
        }
      });
      check(t, f);
    } finally {
      await stopAll(servers);
      await db.drop();
    }
  });
});
