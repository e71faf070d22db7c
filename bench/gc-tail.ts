// Where the Redis refresh tail comes from: 50 closed-loop refresh chains for 12 s against one
// Latchkey on its own redis-server, the server under `--trace-gc` (plus FLAGS, e.g.
// FLAGS='--max-semi-space-size=64'); prints latency percentiles, how the requests over 10 ms
// cluster in time, and how many dense clusters sit next to a server GC.
//   npx tsx --conditions=latchkey-source bench/gc-tail.ts
import { startLatchkey, seedUsers } from './lib/latchkey.js';
import { RawHttpConnection } from './lib/raw-http.js';
import { startRedis } from '../test/harness/redis.js';

const flags = (process.env.FLAGS ?? '').split(' ').filter(Boolean);
const redis = await startRedis();
const server = await startLatchkey('tail', { env: { LATCHKEY_REDIS_URL: redis.url }, nodeFlags: ['--trace-gc', ...flags] });
const gcLines: Array<{ t: number; line: string }> = [];
server.child.onLine((l) => { if (l.includes('Scavenge') || l.includes('Mark')) gcLines.push({ t: performance.now(), line: l }); });
const users = await seedUsers(server.origin, 50);
const rec: Array<[number, number]> = [];
const t0 = performance.now();
const stopAt = t0 + 12_000;
await Promise.all(users.map(async (u) => {
  const c = RawHttpConnection.fromOrigin(server.origin);
  let tok = u.refreshToken;
  while (performance.now() < stopAt) {
    const s = performance.now();
    const r = await c.request('POST', '/auth/token', { 'content-type': 'application/json' }, JSON.stringify({ grant_type: 'refresh_token', refresh_token: tok }));
    const e = performance.now();
    if (r.status !== 200) throw new Error(r.body);
    tok = JSON.parse(r.body).refresh_token;
    rec.push([e - t0, e - s]);
  }
  c.close();
}));
await server.stop();
await redis.stop();
const meas = rec.filter(([t]) => t > 2000);
const lat = meas.map(([, l]) => l).sort((a, b) => a - b);
const q = (p: number) => lat[Math.floor(p * (lat.length - 1))]!.toFixed(2);
console.log(`n ${lat.length} rps ${(lat.length / 10).toFixed(0)} p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${q(1)}`);
// Slow requests: how clustered in time? Bin by 5 ms of completion time.
const slow = meas.filter(([, l]) => l > 10);
const bins = new Map<number, number>();
for (const [t] of slow) bins.set(Math.floor(t / 5), (bins.get(Math.floor(t / 5)) ?? 0) + 1);
console.log(`slow (>10 ms): ${slow.length} in ${bins.size} 5-ms bins; bins with >=10 slow: ${[...bins.values()].filter((v) => v >= 10).length}`);
const gcTimes = gcLines.filter((g) => g.t - t0 > 2000).map((g) => (/, ([\d.]+) \/ [\d.]+ ms/.exec(g.line)?.[1]) ?? '?');
const gcMs = gcTimes.map(Number).filter(Number.isFinite);
console.log(`server GC events in window: ${gcMs.length}, total ${gcMs.reduce((a, b) => a + b, 0).toFixed(1)} ms, max ${Math.max(...gcMs).toFixed(2)} ms, mark-compacts ${gcLines.filter((g) => g.t - t0 > 2000 && g.line.includes('Mark')).length}`);
// Slow bins that coincide (±5 ms) with a server GC line
const gcBins = new Set(gcLines.map((g) => Math.floor((g.t - t0) / 5)));
let withGc = 0;
for (const [b, n] of bins) if (n >= 10 && (gcBins.has(b) || gcBins.has(b - 1) || gcBins.has(b + 1) || gcBins.has(b - 2))) withGc++;
console.log(`dense slow bins near a server GC: ${withGc}`);
for (const g of gcLines.filter((g) => g.t - t0 > 2000).slice(0, 6)) console.log(g.line.slice(0, 160));
for (const g of gcLines.filter((g) => g.line.includes('Mark')).slice(0, 4)) console.log(g.line.slice(0, 200));
