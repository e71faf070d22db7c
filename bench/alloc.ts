// Which code allocates during a Redis refresh: Latchkey in this process on a real port and its
// own redis-server, 50 refresh chains for 3 s under V8's sampling heap profiler, counting objects
// that were collected too (so it is allocation, not retention). Prints bytes per request by
// origin and the top allocating functions (the generator's own share shows as bench/).
//   npx tsx --conditions=latchkey-source bench/alloc.ts
import { Session } from 'node:inspector/promises';
import { loadConfig } from '../packages/server/src/config.js';
import { createLatchkey } from '../packages/server/src/server.js';
import { tempDir } from './lib/proc.js';
import { RawHttpConnection } from './lib/raw-http.js';
import { seedUsers } from './lib/latchkey.js';
import { startRedis } from '../test/harness/redis.js';

const redis = await startRedis();
const data = tempDir('alloc');
const lk = await createLatchkey(loadConfig({ LATCHKEY_DATA_DIR: data.path, LATCHKEY_LOG_LEVEL: 'warn', LATCHKEY_REDIS_URL: redis.url, PORT: '0', HOST: '127.0.0.1' }));
const app = lk.app;
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
if (!address || typeof address === 'string') throw new Error('no TCP address');
const origin = `http://127.0.0.1:${address.port}`;
const users = await seedUsers(origin, 50);
const tokens = users.map((u) => u.refreshToken);
let count = 0;
async function drive(ms: number) {
  const stop = performance.now() + ms;
  await Promise.all(tokens.map(async (_, i) => {
    const c = RawHttpConnection.fromOrigin(origin);
    while (performance.now() < stop) {
      const r = await c.request('POST', '/auth/token', { 'content-type': 'application/json' }, JSON.stringify({ grant_type: 'refresh_token', refresh_token: tokens[i] }));
      tokens[i] = JSON.parse(r.body).refresh_token;
      count++;
    }
    c.close();
  }));
}
await drive(1500);
const s = new Session();
s.connect();
// The two include* options exist in V8's protocol but not yet in Node 20's typings.
await s.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as { samplingInterval: number });
count = 0;
await drive(3000);
const { profile } = await s.post('HeapProfiler.stopSampling');
const byFn = new Map<string, number>();
const byOrigin = new Map<string, number>();
let total = 0;
interface SampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SampleNode[];
}
const walk = (n: SampleNode) => {
  const cf = n.callFrame;
  const name = `${cf.functionName || '(anon)'} ${cf.url.replace(/.*node_modules\//, 'pkg:').replace(/.*\/work\/main\//, '')}:${cf.lineNumber}`;
  const self = n.selfSize as number;
  total += self;
  byFn.set(name, (byFn.get(name) ?? 0) + self);
  const org = cf.url.includes('node_modules/') ? 'pkg ' + cf.url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, '$1') : cf.url.includes('/work/main/') ? cf.url.replace(/.*\/work\/main\//, '').split('/').slice(0, 2).join('/') : cf.url.startsWith('node:') ? 'node:' + cf.url.slice(5).split('/')[0] : cf.url || '(native)';
  byOrigin.set(org, (byOrigin.get(org) ?? 0) + self);
  for (const c of n.children) walk(c);
};
walk(profile.head as SampleNode);
console.log(`requests ${count}; sampled allocation ${(total / count / 1024).toFixed(1)} KiB per request`);
for (const [k, v] of [...byOrigin].sort((a, b) => b[1] - a[1]).slice(0, 14)) console.log(`${(v / count).toFixed(0).padStart(7)} B/req  ${k}`);
console.log('--- top functions');
for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${(v / count).toFixed(0).padStart(7)} B/req  ${k}`);
await lk.close();
await redis.stop();
data.remove();
process.exit(0);
