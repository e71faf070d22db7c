// One account's session flood against real servers (issue 12 item 1), shared by
// test/scaleout/session-flood.test.ts (asserts) and bench/session-flood.ts (reports).
// Sessions are seeded through the store API (fast), then the user lists every page and ends all
// the others over HTTP while /healthz is sampled every ~15 ms and another user refreshes on the
// other instance. A baseline /healthz sample of the same length runs first, in the same run.
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { call, refresh, signup } from './http.js';
import { removeDir, spawnServer, tempDataDir, type ChildServer } from './server.js';
import { createTestDatabase, ensurePostgres } from '../harness/postgres.js';
import { startRedis } from '../harness/redis.js';
import { sampleSession } from '../../packages/server/src/store/contract.js';
import type { SessionStore } from '../../packages/server/src/store/types.js';
import { openSqliteStores } from '../../packages/server/src/store/sqlite/open.js';
import { openRedisStores } from '../../packages/server/src/store/redis/open.js';
import pg from 'pg';
import { newSessionId, sessionTag } from '../../packages/server/src/domain/ids.js';
import { TEST_SECRETS_KEY } from './secrets.js';

const policy = { graceMs: 10_000, idleMs: 7 * 86_400_000 };

export interface FloodFigures {
  /** Redis only: SLOWLOG entries of 10 ms or more while the flood ran, scripts first. */
  slowScripts?: string[];
  store: string;
  /** DELETE /auth/sessions?others=true's status, and how many sessions were left after it (1: the caller's). */
  endStatus: number;
  sessionsLeft: number;
  sessions: number;
  seedMs: number;
  healthBaselineP99Ms: number;
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

async function seed(sessions: SessionStore, userId: string, n: number, concurrency: number): Promise<void> {
  const now = Date.now();
  for (let off = 0; off < n; off += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, n - off) }, (_, i) => sessions.createSession(sampleSession(now - n + off + i, { userId }), null, policy)));
  }
}

/** The flood against `a` (the user) while `b` serves another user's refreshes. */
async function sampleHealth(url: string, ms: number): Promise<number[]> {
  const out: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    await call(url, 'GET', '/healthz');
    out.push(performance.now() - t0);
    await new Promise((res) => setTimeout(res, 15));
  }
  return out;
}

async function flood(n: number, a: string, b: string, seedFor: (userId: string) => Promise<void>): Promise<FloodFigures> {
  const victim = await signup(a);
  const other = await signup(b);
  const t00 = performance.now();
  await seedFor(victim.user.id);
  const seedMs = performance.now() - t00;
  const baseline = await sampleHealth(a, 2000);
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
      let r = await call(a, 'GET', `/auth/sessions${q}`, { token: victim.access_token });
      // A server from before paging (measuring the old code) refuses the query: one answer holds all.
      if (r.status === 400 && !cursor) r = await call(a, 'GET', '/auth/sessions', { token: victim.access_token });
      assert.equal(r.status, 200, r.text);
      listed += r.body.sessions.length;
      cursor = r.body.next_cursor ?? null;
      pages++;
    } while (cursor);
    const listMs = performance.now() - t0;
    assert.equal(listed, n + 1, 'every session listed once');
    const t1 = performance.now();
    const end = await call(a, 'DELETE', '/auth/sessions?others=true', { token: victim.access_token });
    const endOthersMs = performance.now() - t1;
    const left = await call(a, 'GET', '/auth/sessions', { token: victim.access_token });
    stop = true;
    await Promise.all([sampler, refresher]);
    return { store: '', endStatus: end.status, sessionsLeft: left.body.sessions?.length ?? -1, sessions: n, seedMs, healthBaselineP99Ms: pct(baseline, 99), listMs, pages, endOthersMs, healthSamples: health.length, healthP99Ms: pct(health, 99), healthMaxMs: Math.max(...health), otherRefreshes: refreshes, otherFailures: failures };
  } finally {
    stop = true;
    await Promise.allSettled([sampler, refresher]);
  }
}

/** A failure names what the servers said last (a crash, a store error), never only "fetch failed". */
async function explained<T>(servers: ChildServer[], run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const cause = err instanceof Error && err.cause ? ` (${String(err.cause)})` : '';
    const tails = servers.map((s) => `exit ${s.proc.exitCode ?? s.proc.signalCode ?? 'running'}: ${s.output().slice(-1500)}`).join('\n---\n');
    throw new Error(`${String(err)}${cause}\n${tails}`);
  }
}

async function stopAll(servers: ChildServer[]): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      s.proc.kill('SIGTERM');
      await s.exited;
    }),
  );
}

// Ending 100k sessions in one DELETE takes longer than the default 30 s request timeout here.
const LONG_REQUESTS: Record<string, string> = { LATCHKEY_REQUEST_TIMEOUT: '300', ...(process.env.FLOOD_SERVER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.FLOOD_SERVER_NODE_OPTIONS } : {}) };

export type FloodStore = 'sqlite' | 'redis' | 'postgres';

/** Starts the deployment (embedded SQLite: 1 server; Redis + PostgreSQL and PostgreSQL only: 2), floods it, stops it. */
export async function runFlood(store: FloodStore, n: number): Promise<FloodFigures> {
  if (store === 'sqlite') {
    const dir = tempDataDir();
    const srv = await spawnServer({ LATCHKEY_DATA_DIR: dir, ...LONG_REQUESTS });
    try {
      const f = await explained([srv], () => flood(n, srv.url, srv.url, async (userId) => {
        const stores = openSqliteStores(dir);
        try {
          await seed(stores.sessions, userId, n, 1);
        } finally {
          await stores.close();
        }
      }));
      return { ...f, store: 'sqlite (embedded, 1 instance)' };
    } finally {
      await stopAll([srv]);
      removeDir(dir);
    }
  }
  await ensurePostgres();
  const db = await createTestDatabase();
  const redis = store === 'redis' ? await startRedis() : null;
  const admin = redis ? new Redis(redis.url) : null;
  const env: Record<string, string> = { ...LONG_REQUESTS, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY, LATCHKEY_ISSUER: 'http://latchkey.test', ...(redis ? { LATCHKEY_REDIS_URL: redis.url } : {}) };
  const servers: ChildServer[] = [];
  try {
    // Inside the try: a server that fails to start must not leave Redis and the database behind
    // (their handles would keep this test file's process alive).
    for (let i = 0; i < 2; i++) servers.push(await spawnServer(env));
    const f = await explained(servers, () => flood(n, servers[0]!.url, servers[1]!.url, async (userId) => {
      if (redis) {
        const stores = await openRedisStores({ url: redis.url, timeouts: { commandTimeoutMs: 10_000 } });
        try {
          await seed(stores.sessions, userId, n, 2000);
        } finally {
          await stores.close();
        }
        // Only what the flood itself runs counts.
        await admin!.config('SET', 'slowlog-log-slower-than', '10000');
        await admin!.slowlog('RESET');
      } else {
        // One statement instead of 100k round trips (the store API's createSession is the same
        // row; the contract suite holds it to the other stores).
        const pool = new pg.Pool({ connectionString: db.url, max: 1 });
        try {
          const now = Date.now();
          await pool.query(
            `INSERT INTO sessions (id, user_id, client_id, generation, rotated_at, created_at, last_used_at, expires_at, device)
             SELECT $1 || lpad(to_hex(i), 18, '0'), $2, 'app', 0, $3::int8 - $4::int8 + i, $3::int8 - $4::int8 + i, $3::int8 - $4::int8 + i, $3::int8 + 30 * 86400000::int8, 'Chrome 120 on Linux'
             FROM generate_series(1, $4::int8) AS i`,
            [sessionTag(newSessionId(userId)), userId, now, n],
          );
        } finally {
          await pool.end();
        }
      }
    }));
    if (!admin) return { ...f, store: 'postgresql only (2 instances)' };
    const slow = (await admin.slowlog('GET', 128)) as Array<[number, number, number, Array<string | Buffer>]>;
    const isScript = (e: (typeof slow)[number]) => /^(evalsha|eval)$/i.test(String(e[3][0]));
    const slowScripts = [...slow.filter(isScript), ...slow.filter((e) => !isScript(e))].map((e) => `${String(e[3][0])} ${e[2]} µs ${e[3].slice(2, 4).map(String).join(" ").slice(0, 60)}`);
    return { ...f, store: 'redis + postgresql (2 instances)', slowScripts: slow.filter(isScript).length ? slowScripts : slowScripts.map((s) => `(not a script) ${s}`) };
  } finally {
    admin?.disconnect();
    await stopAll(servers);
    await redis?.stop();
    await db.drop();
  }
}
