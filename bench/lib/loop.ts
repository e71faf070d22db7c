// Closed-loop load: N workers, each with its own keep-alive connection (./raw-http.ts: a lean
// HTTP/1.1 client, so the generator takes as little of the shared CPU as it can), each sending its
// next request only after it has read the whole previous response.
// Stateful chains (refresh tokens) carry their state from one response to the next request.
// Latency is from the call to `request()` to the end of the body. Bounded in time and in count.
import { RawHttpConnection } from './raw-http.js';
import { summarize, type LatencySummary } from './stats.js';

export interface LoopRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface LoopSpec<S> {
  origin: string;
  /** One initial state per worker; the number of workers (= connections). */
  states: S[];
  warmupMs: number;
  durationMs: number;
  /** Hard cap on requests per worker (a safety bound beside the time bound). */
  maxRequestsPerWorker: number;
  request(state: S): LoopRequest;
  /** Next state, or an Error (counted; the worker's chain ends there). */
  onResponse(state: S, status: number, body: string): S | Error;
  /** When given, every value it returns must be unique over the whole run (e.g. the token sent). */
  uniqueKey?(state: S): string;
  /** Called when the measured window opens and closes (CPU accounting). */
  onWindow?: { start(): void; stop(): void };
}

export interface LoopResult<S> extends LatencySummary {
  requests: number;
  rps: number;
  errors: number;
  /** Errors during warm-up (not in `errors`, but they end a chain too). */
  warmupErrors: number;
  warmupRequests: number;
  duplicatesSent: number;
  statuses: Record<string, number>;
  firstError: string | null;
  /** Final state of each worker whose chain never broke. */
  liveStates: S[];
  durationSec: number;
}

export async function closedLoop<S>(spec: LoopSpec<S>): Promise<LoopResult<S>> {
  const seen = spec.uniqueKey ? new Set<string>() : null;
  let duplicatesSent = 0;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let warmupErrors = 0;
  let warmupRequests = 0;
  let firstError: string | null = null;
  const liveStates: S[] = [];

  const t0 = performance.now();
  const measureFrom = t0 + spec.warmupMs;
  const stopAt = measureFrom + spec.durationMs;
  let windowState = 0; // 0 before, 1 open, 2 closed
  const openWindow = () => {
    if (windowState === 0) {
      windowState = 1;
      spec.onWindow?.start();
    }
  };
  const closeWindow = () => {
    openWindow();
    if (windowState === 1) {
      windowState = 2;
      spec.onWindow?.stop();
    }
  };
  const timers = spec.onWindow ? [setTimeout(openWindow, spec.warmupMs), setTimeout(closeWindow, spec.warmupMs + spec.durationMs)] : [];

  const worker = async (initial: S) => {
    const conn = RawHttpConnection.fromOrigin(spec.origin);
    let state = initial;
    let alive = true;
    try {
      for (let n = 0; n < spec.maxRequestsPerWorker; n++) {
        const start = performance.now();
        if (start >= stopAt) break;
        if (seen) {
          const key = spec.uniqueKey!(state);
          if (seen.has(key)) duplicatesSent++;
          else seen.add(key);
        }
        const r = spec.request(state);
        let status = 0;
        let text = '';
        let next: S | Error;
        try {
          const res = await conn.request(r.method, r.path, r.headers, r.body);
          status = res.status;
          text = res.body;
          next = spec.onResponse(state, status, text);
        } catch (e) {
          next = e instanceof Error ? e : new Error(String(e));
        }
        const end = performance.now();
        // Throughput counts completions inside the window; the warm-up is everything before it.
        const inWindow = end >= measureFrom;
        const measured = inWindow && end <= stopAt;
        if (inWindow) {
          statuses[status || 'network'] = (statuses[status || 'network'] ?? 0) + 1;
        } else warmupRequests++;
        if (next instanceof Error) {
          if (inWindow) errors++;
          else warmupErrors++;
          firstError ??= `${next.message} (status ${status}: ${text.slice(0, 200)})`;
          alive = false;
          break;
        }
        if (measured) latencies.push(end - start);
        state = next;
      }
    } finally {
      conn.close();
    }
    if (alive) liveStates.push(state);
  };

  await Promise.all(spec.states.map(worker));
  for (const t of timers) clearTimeout(t);
  // A late timer (a busy event loop) must still close the window: at worst it closes a little late.
  if (spec.onWindow) closeWindow();
  const durationSec = spec.durationMs / 1000;
  const summary = summarize(latencies);
  return {
    ...summary,
    requests: latencies.length,
    rps: latencies.length / durationSec,
    errors,
    warmupErrors,
    warmupRequests,
    duplicatesSent,
    statuses,
    firstError,
    liveStates,
    durationSec,
  };
}

/** One request outside any measurement (set-up and checks). */
export async function once(origin: string, r: LoopRequest): Promise<{ status: number; body: string }> {
  const res = await fetch(origin + r.path, { method: r.method, headers: r.headers, body: r.body ?? null });
  return { status: res.status, body: await res.text() };
}
