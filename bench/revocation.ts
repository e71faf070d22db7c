// Revocation propagation across three instances on one Redis and one PostgreSQL:
// `npx tsx --conditions=latchkey-source bench/revocation.ts [--sessions=200]`. For each session: log out on instance 1 and
// poll instance 2 and 3 with the session's access token in tight loops; the figure is the time
// from sending the logout to the first 401 on each other instance (polling adds well under 1 ms
// on loopback). Sequential, bounded in count, 127.0.0.1 only.
import { call, signup } from '../test/helpers/http.js';
import { spawnServer, type ChildServer } from '../test/helpers/server.js';
import { createTestDatabase, ensurePostgres } from '../test/harness/postgres.js';
import { startRedis } from '../test/harness/redis.js';
import { TEST_SECRETS_KEY } from '../test/helpers/secrets.js';

const sessions = Number(process.argv.find((a) => a.startsWith('--sessions='))?.split('=')[1] ?? 200);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function firstRefusal(url: string, token: string, t0: number, limitMs: number): Promise<number> {
  while (performance.now() - t0 < limitMs) {
    if ((await call(url, 'GET', '/auth/me', { token })).status === 401) return performance.now() - t0;
  }
  return Infinity;
}

await ensurePostgres();
const redis = await startRedis();
const db = await createTestDatabase();
const instances: ChildServer[] = [];
try {
  const env = { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY, LATCHKEY_ISSUER: 'http://latchkey.bench', LATCHKEY_LOG_LEVEL: 'warn' };
  for (let i = 0; i < 3; i++) instances.push(await spawnServer({ ...env, LATCHKEY_LOG_LEVEL: 'info' }));
  const [a, b, c] = instances.map((s) => s.url) as [string, string, string];
  const u = await signup(a);
  const lags: number[] = [];
  for (let i = 0; i < sessions; i++) {
    const login = await call(a, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
    const token = login.body.access_token as string;
    for (const url of [b, c]) if ((await call(url, 'GET', '/auth/me', { token })).status !== 200) throw new Error('warm-up call failed');
    const t0 = performance.now();
    const logout = call(a, 'POST', '/auth/logout', { token });
    const [lb, lc] = await Promise.all([firstRefusal(b, token, t0, 2000), firstRefusal(c, token, t0, 2000)]);
    if ((await logout).status !== 204) throw new Error('logout failed');
    lags.push(lb, lc);
  }
  lags.sort((x, y) => x - y);
  const result = {
    sessions,
    observations: lags.length,
    p50Ms: +percentile(lags, 50).toFixed(2),
    p99Ms: +percentile(lags, 99).toFixed(2),
    maxMs: +lags[lags.length - 1]!.toFixed(2),
    missed: lags.filter((l) => !Number.isFinite(l)).length,
  };
  console.log(JSON.stringify(result));
  console.log(`revocation propagation, 3 instances: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms over ${result.observations} observations (target p99 <= 50 ms)`);
} finally {
  for (const s of instances) s.proc.kill('SIGTERM');
  await Promise.all(instances.map((s) => s.exited));
  await redis.stop();
  await db.drop();
}
