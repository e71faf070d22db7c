// Stateless open-connection load with autocannon (in this process): N keep-alive connections, one
// request in flight each. A short unmeasured warm-up run precedes the measured one.
import autocannon, { type AutocannonResult } from 'autocannon';

export interface CannonSpec {
  url: string;
  connections: number;
  warmupSec: number;
  durationSec: number;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Each connection cycles through these (pre-built, no per-request work in the generator). */
  bodies?: string[];
  /** The only status the scenario may receive. */
  expectStatus: number;
  /** Called around the measured run (CPU accounting). */
  onWindow?: { start(): void; stop(): void };
}

export interface CannonResult {
  requests: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  errors: number;
  unexpectedStatus: number;
  statuses: Record<string, number>;
  durationSec: number;
}

function run(spec: CannonSpec, durationSec: number): Promise<AutocannonResult> {
  const base = { method: spec.method, headers: spec.headers ?? {} };
  const requests = spec.bodies?.map((body) => ({ ...base, body }));
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    duration: durationSec,
    timeout: 10,
    ...base,
    ...(spec.body !== undefined ? { body: spec.body } : {}),
    ...(requests ? { requests } : {}),
  });
  // Belt and braces: autocannon stops itself at `duration`; never let a run outlive it by much.
  const guard = setTimeout(() => instance.stop(), (durationSec + 5) * 1000);
  return Promise.resolve(instance).finally(() => clearTimeout(guard));
}

export async function cannon(spec: CannonSpec): Promise<CannonResult> {
  if (spec.warmupSec > 0) await run(spec, spec.warmupSec);
  spec.onWindow?.start();
  const r = await run(spec, spec.durationSec);
  spec.onWindow?.stop();
  const statuses: Record<string, number> = {};
  let expected = 0;
  for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {})) {
    statuses[code] = count;
    if (Number(code) === spec.expectStatus) expected += count;
  }
  const total = r.requests.total;
  return {
    requests: total,
    rps: total / r.duration,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
    mean: r.latency.mean,
    errors: r.errors + r.timeouts,
    unexpectedStatus: total - expected,
    statuses,
    durationSec: r.duration,
  };
}
