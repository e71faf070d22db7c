// Storm scenarios (issue 12 item 3): a legitimate user's login latency, and the server's own
// event-loop delay, during storms of 400 requests sent at once (sign-ups, or wrong-password logins),
// wave after wave (the next when the last is answered) for the duration. Sources are spread through X-Forwarded-For
// (LATCHKEY_TRUST_PROXY=loopback), so the per-source and per-account limits alone cannot absorb
// the spread forms. Run against this checkout and, in the same run, an older one (--compare-root).
import { join } from 'node:path';
import { startLatchkey } from './lib/latchkey.js';
import { once } from './lib/loop.js';
import { RawHttpConnection } from './lib/raw-http.js';
import { summarize } from './lib/stats.js';
import { cpuMeter, freePort, REPO_ROOT } from './lib/proc.js';

export type StormKind = 'signup-spread' | 'signup-one-source' | 'login-spread' | 'login-one-account';

export interface StormFigures {
  root: string;
  attackers: number;
  storm: { waves: number; requests: number; seconds: number; statuses: Record<string, number> };
  legit: { logins: number; ok: number; statuses: Record<string, number>; p50: number; p99: number; max: number };
  eventLoopDelayMs: { p50: number; p99: number; max: number; samples: number };
  serverCpuCores: number | null;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const ELD_PROBE = join(REPO_ROOT, 'bench', 'lib', 'eld-probe.mjs');
const HOME = '198.51.100.200';

const spreadSource = (worker: number, n: number) => `2001:db8:${worker.toString(16)}:${(n & 0xffff).toString(16)}::1`;

async function signupFrom(origin: string, email: string, password: string, ip: string): Promise<void> {
  const r = await once(origin, { method: 'POST', path: '/auth/signup', headers: { ...JSON_HEADERS, 'x-forwarded-for': ip }, body: JSON.stringify({ email, password }) });
  if (r.status !== 201) throw new Error(`seeding sign-up answered ${r.status} ${r.body}`);
}

export async function runStorm(kind: StormKind, opts: { serverRoot: string | null; attackers: number; durationMs: number }): Promise<StormFigures> {
  const eldPort = await freePort();
  const server = await startLatchkey(`storm-${kind}`, {
    serverRoot: opts.serverRoot,
    nodeFlags: ['--import', ELD_PROBE],
    env: {
      LATCHKEY_BENCH_ELD_PORT: String(eldPort),
      LATCHKEY_TRUST_PROXY: 'loopback',
      // The shipped defaults, not the bench's raised ones (bench/lib/latchkey.ts).
      LATCHKEY_SIGNUP_IP_LIMIT: '20',
      LATCHKEY_SIGNUP_LIMIT: '600',
      // The legitimate user logs in back to back to sample its latency: far past a real user's rate.
      LATCHKEY_LOGIN_SUCCESS_LIMIT: '1000000',
    },
  });
  try {
    const stamp = Date.now().toString(36);
    const legit = { email: `legit-${stamp}@example.test`, password: 'correct horse battery staple' };
    await signupFrom(server.origin, legit.email, legit.password, HOME);
    const first = await once(server.origin, { method: 'POST', path: '/auth/login', headers: { ...JSON_HEADERS, 'x-forwarded-for': HOME }, body: JSON.stringify(legit) });
    if (first.status !== 200) throw new Error(`the legitimate login answered ${first.status} before the storm`);
    const victims: string[] = [];
    if (kind === 'login-spread') {
      for (let i = 0; i < 40; i++) {
        const email = `victim-${stamp}-${i}@example.test`;
        await signupFrom(server.origin, email, `victim password ${i}`, spreadSource(60_000, i));
        victims.push(email);
      }
    }
    const stormRequest = (s: { worker: number; n: number }) => {
      const n = s.n;
      switch (kind) {
        case 'signup-spread':
          return { ip: spreadSource(s.worker, n), path: '/auth/signup', body: { email: legit.email, password: `storm ${s.worker} ${n}` } };
        case 'signup-one-source':
          return { ip: '203.0.113.99', path: '/auth/signup', body: { email: `storm-${stamp}-${s.worker}-${n}@example.test`, password: 'correct horse battery' } };
        case 'login-spread':
          return { ip: spreadSource(s.worker, n), path: '/auth/login', body: { email: victims[(s.worker + n) % victims.length], password: `wrong ${n}` } };
        case 'login-one-account':
          return { ip: '203.0.113.99', path: '/auth/login', body: { email: legit.email, password: `wrong ${n}` } };
      }
    };
    await once(`http://127.0.0.1:${eldPort}`, { method: 'GET', path: '/reset', headers: {} });
    const meter = cpuMeter([server.child.proc.pid]);
    const statuses: Record<string, number> = {};
    const legitStatuses: Record<string, number> = {};
    const legitMs: number[] = [];
    let waves = 0;
    let stormRequests = 0;
    let stormOver = false;
    const t0 = performance.now();
    meter.start();
    // Waves of `attackers` requests at once, the next when the last is answered, for the duration.
    const storm = (async () => {
      try {
        while (performance.now() - t0 < opts.durationMs) {
          const wave = waves++;
          await Promise.all(
            Array.from({ length: opts.attackers }, async (_, worker) => {
              const r = stormRequest({ worker, n: wave });
              const conn = RawHttpConnection.fromOrigin(server.origin);
              try {
                const res = await conn.request('POST', r.path, { ...JSON_HEADERS, 'x-forwarded-for': r.ip }, JSON.stringify(r.body));
                statuses[res.status] = (statuses[res.status] ?? 0) + 1;
              } catch {
                statuses.network = (statuses.network ?? 0) + 1;
              } finally {
                conn.close();
                stormRequests++;
              }
            }),
          );
        }
      } finally {
        stormOver = true;
      }
    })();
    // The legitimate user, one login after another on its own connection, while the storm lasts.
    const conn = RawHttpConnection.fromOrigin(server.origin);
    try {
      await new Promise((r) => setTimeout(r, 20));
      while (!stormOver) {
        const t = performance.now();
        const res = await conn.request('POST', '/auth/login', { ...JSON_HEADERS, 'x-forwarded-for': HOME }, JSON.stringify(legit));
        legitMs.push(performance.now() - t);
        legitStatuses[res.status] = (legitStatuses[res.status] ?? 0) + 1;
      }
    } finally {
      conn.close();
    }
    await storm;
    const elapsedSec = (performance.now() - t0) / 1000;
    meter.stop();
    const user = summarize(legitMs);
    const eld = JSON.parse((await once(`http://127.0.0.1:${eldPort}`, { method: 'GET', path: '/', headers: {} })).body) as StormFigures['eventLoopDelayMs'];
    const cpu = meter.result;
    return {
      root: opts.serverRoot ?? '.',
      attackers: opts.attackers,
      storm: { waves, requests: stormRequests, seconds: elapsedSec, statuses },
      legit: { logins: legitMs.length, ok: legitStatuses['200'] ?? 0, statuses: legitStatuses, p50: user.p50, p99: user.p99, max: user.max },
      eventLoopDelayMs: eld,
      serverCpuCores: cpu?.serverCpuMs != null ? cpu.serverCpuMs / 1000 / elapsedSec : null,
    };
  } finally {
    await server.stop();
  }
}
