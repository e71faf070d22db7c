// In-process A/B tool for server changes: builds Latchkey from a source tree (this repository, or
// --server-root=DIR for a patched copy), drives it through Fastify's inject() (full routing, schema
// validation, hooks and serialization, but no sockets), and reports CPU time per request. On a
// shared, noisy machine CPU time per request is far steadier than wall-clock throughput, and
// without sockets it isolates the part of a request that Latchkey's own code decides.
//
//   npx tsx --conditions=latchkey-source bench/inproc.ts [--server-root=DIR] [--ms=3000] [--chains=50]
//
// Prints one JSON line: { root, refresh: {ops, cpuUsPerOp}, forged: {...}, me: {...} }.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { REPO_ROOT, tempDir } from './lib/proc.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const root = resolve(arg('server-root') ?? REPO_ROOT);
const MS = Number(arg('ms') ?? 3000);
const CHAINS = Number(arg('chains') ?? 50);

interface Measured {
  ops: number;
  cpuUsPerOp: number;
  wallOpsPerSec: number;
}

async function measure<S>(states: S[], step: (s: S) => Promise<S>): Promise<Measured> {
  const run = async (ms: number) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const end = t0 + ms;
    let ops = 0;
    await Promise.all(
      states.map(async (s0, i) => {
        let s = s0;
        while (performance.now() < end) {
          s = await step(s);
          ops++;
        }
        states[i] = s;
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    return { ops, cpuUsPerOp: (cpu.user + cpu.system) / ops, wallOpsPerSec: ops / ((performance.now() - t0) / 1000) };
  };
  await run(Math.min(1000, MS / 3)); // warm-up
  return run(MS);
}

const { loadConfig } = (await import(pathToFileURL(join(root, 'src', 'config.ts')).href)) as typeof import('../packages/server/src/config.js');
const { createLatchkey } = (await import(pathToFileURL(join(root, 'src', 'server.ts')).href)) as typeof import('../packages/server/src/server.js');
const data = tempDir('inproc');
const config = loadConfig({ LATCHKEY_DATA_DIR: data.path, LATCHKEY_LOG_LEVEL: 'warn', PORT: '3999' });
const lk = await createLatchkey(config);
const app = lk.app as FastifyInstance;
const json = { 'content-type': 'application/json' };

try {
  const users = await Promise.all(
    Array.from({ length: CHAINS }, async (_, i) => {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/signup',
        headers: json,
        payload: JSON.stringify({ email: `inproc-${i}@example.test`, password: `correct horse battery ${i}` }),
      });
      if (res.statusCode !== 201) throw new Error(`signup: ${res.statusCode} ${res.body}`);
      return res.json() as { access_token: string; refresh_token: string };
    }),
  );

  const refresh = await measure(
    users.map((u) => u.refresh_token),
    async (token) => {
      const res = await app.inject({ method: 'POST', url: '/auth/token', headers: json, payload: JSON.stringify({ grant_type: 'refresh_token', refresh_token: token }) });
      if (res.statusCode !== 200) throw new Error(`refresh: ${res.statusCode} ${res.body}`);
      return (res.json() as { refresh_token: string }).refresh_token;
    },
  );

  const forgedBodies = Array.from({ length: 256 }, () => {
    const raw = randomBytes(55);
    raw.writeUInt8(1, 0);
    raw.writeUInt16BE(1, 1);
    return JSON.stringify({ grant_type: 'refresh_token', refresh_token: raw.toString('base64url') });
  });
  const forged = await measure(
    Array.from({ length: CHAINS }, (_, i) => i),
    async (i) => {
      const res = await app.inject({ method: 'POST', url: '/auth/token', headers: json, payload: forgedBodies[i % 256]! });
      if (res.statusCode !== 400) throw new Error(`forged: ${res.statusCode} ${res.body}`);
      return i + CHAINS;
    },
  );

  const bearer = { authorization: `Bearer ${users[0]!.access_token}` };
  const me = await measure(
    Array.from({ length: CHAINS }, () => 0),
    async (s) => {
      const res = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer });
      if (res.statusCode !== 200) throw new Error(`me: ${res.statusCode} ${res.body}`);
      return s;
    },
  );

  process.stdout.write(`${JSON.stringify({ root, refresh, forged, me })}\n`);
} finally {
  await lk.close();
  data.remove();
}
