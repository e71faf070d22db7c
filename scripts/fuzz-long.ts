// Long fuzz run: ≥ 100k generated hostile requests against a real server process (the same
// generators and judgement as test/security/fuzz.test.ts), then the server's RSS before and
// after. Not a CI test: run by hand, `npx tsx --conditions=latchkey-source scripts/fuzz-long.ts [--requests N]
// [--concurrency C] [--seed S]`. Exits 1 on any 5xx, malformed error body, crash, logged
// unhandled error, or RSS growth past the bound.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { call, signup } from '../test/helpers/http.js';
import { removeDir, spawnServer, tempDataDir } from '../test/helpers/server.js';
import { judge, requestArb, type FuzzRequest, type TokenPool } from '../test/security/fuzz-arbitraries.js';
import { claimsOf, PUBLIC_DESCRIPTIONS } from '../test/security/support.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const TOTAL = arg('requests', 100_000);
const CONCURRENCY = arg('concurrency', 32);
const SEED = arg('seed', Date.now() % 2 ** 31);
const WARMUP = 5_000;
/** Growth allowed between the post-warm-up and final RSS: the caches are bounded, so more would mean a leak. */
const RSS_GROWTH_LIMIT_MB = 64;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const dir = tempDataDir();
  // Trusting X-Forwarded-For lets generated addresses spread over the rate-limit keys (a bounded map).
  const child = await spawnServer({ LATCHKEY_DATA_DIR: dir, LATCHKEY_CLIENTS: 'app,mobile', LATCHKEY_TRUST_PROXY: 'true', LATCHKEY_DEMO: 'false' });
  const pid = child.proc.pid!;
  let exitedEarly = false;
  void child.exited.then(() => (exitedEarly = true));
  try {
    const pool: TokenPool = { access: [], refresh: [], sessionIds: [], emails: [] };
    const u = await signup(child.url);
    pool.emails.push(u.email, 'nobody@example.com');
    for (const client of ['app', 'mobile', 'app', 'mobile']) {
      const l = await call(child.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password, client_id: client } });
      pool.access.push(l.body.access_token);
      pool.refresh.push(l.body.refresh_token);
      pool.sessionIds.push(claimsOf(l.body.access_token).sid);
    }

    const arb = requestArb(pool);
    let seq = 0;
    let sent = 0;
    let refused = 0;
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const rssSamples: Array<[number, number]> = [];
    let batch: FuzzRequest[] = [];
    let batchNo = 0;
    const next = (): FuzzRequest => {
      if (batch.length === 0) batch = fc.sample(arb, { numRuns: 2_000, seed: SEED + batchNo++ });
      return batch.pop()!;
    };

    const run = async (count: number) => {
      const target = seq + count;
      const worker = async () => {
        while (seq < target && !exitedEarly) {
          seq++;
          const req = next();
          let res: Response;
          try {
            res = await fetch(child.url + req.path, { method: req.method, headers: req.headers, body: req.body });
          } catch (e) {
            if (e instanceof TypeError && e.message !== 'fetch failed') {
              refused++;
              continue;
            }
            failures.push(`network error ${(e as Error).message} on ${req.method} ${req.path.slice(0, 100)}`);
            continue;
          }
          const text = await res.text();
          sent++;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const v = judge(req, res.status, res.headers, text, PUBLIC_DESCRIPTIONS);
          if (!v.ok && failures.length < 50) failures.push(`${v.why} on ${req.method} ${req.path.slice(0, 100)} body ${(req.body ?? '').slice(0, 100)}`);
          if (sent % 10_000 === 0) {
            rssSamples.push([sent, rssMb(pid)]);
            process.stdout.write(`  ${sent} requests, server RSS ${rssMb(pid).toFixed(1)} MB\n`);
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    };

    console.log(`fuzz-long: ${TOTAL} requests after ${WARMUP} warm-up, concurrency ${CONCURRENCY}, seed ${SEED}, server pid ${pid}`);
    const rssStart = rssMb(pid);
    await run(WARMUP);
    const rssBefore = rssMb(pid);
    const t0 = Date.now();
    await run(TOTAL);
    const secs = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000)); // let in-flight work settle
    const rssAfter = rssMb(pid);
    const peak = Math.max(rssAfter, ...rssSamples.map(([, r]) => r));

    const health = exitedEarly ? 0 : (await call(child.url, 'GET', '/healthz')).status;
    const errorLines = child
      .output()
      .split('\n')
      .filter((l) => /"level":(50|60)/.test(l));

    console.log(`requests: ${sent} answered (${refused} refused client-side) in ${secs.toFixed(1)} s, ${(TOTAL / secs).toFixed(0)} req/s`);
    console.log(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    console.log(`server RSS: start ${rssStart.toFixed(1)} MB, after warm-up ${rssBefore.toFixed(1)} MB, after ${rssAfter.toFixed(1)} MB, peak ${peak.toFixed(1)} MB, growth ${(rssAfter - rssBefore).toFixed(1)} MB`);
    console.log(`healthz after: ${health}; unhandled errors logged: ${errorLines.length}; judgement failures: ${failures.length}`);
    for (const f of failures.slice(0, 20)) console.log(`  FAIL ${f}`);
    for (const l of errorLines.slice(0, 5)) console.log(`  LOG ${l.slice(0, 300)}`);

    const ok = !exitedEarly && health === 200 && failures.length === 0 && errorLines.length === 0 && sent >= TOTAL * 0.99 && rssAfter - rssBefore < RSS_GROWTH_LIMIT_MB;
    console.log(ok ? 'fuzz-long: PASS' : 'fuzz-long: FAIL');
    process.exitCode = ok ? 0 : 1;
  } finally {
    child.proc.kill('SIGTERM');
    await child.exited;
    removeDir(dir);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
