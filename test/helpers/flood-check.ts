// Issue 12 item 1: one account cannot stall the server. 100k sessions of one user on every
// store, seeded through the store API, then against real servers (test/helpers/session-flood.ts):
// the user lists every page and ends all the others while /healthz is sampled every ~15 ms
// (p99 ≤ 100 ms) and another user's refresh loop on the other instance keeps succeeding; on
// Redis (2 instances) SLOWLOG at 10 ms must hold no session script.
// FLOOD_SESSIONS overrides the count; bench/session-flood.ts reports the same figures.
import assert from 'node:assert/strict';
import { runFlood, type FloodFigures } from './session-flood.js';

export const N = Number(process.env.FLOOD_SESSIONS ?? 100_000);

export function check(t: { diagnostic(s: string): void }, f: FloodFigures): void {
  t.diagnostic(JSON.stringify({ ...f, seedMs: Math.round(f.seedMs), listMs: Math.round(f.listMs), endOthersMs: Math.round(f.endOthersMs), healthP99Ms: +f.healthP99Ms.toFixed(1), healthMaxMs: +f.healthMaxMs.toFixed(1), healthBaselineP99Ms: +f.healthBaselineP99Ms.toFixed(1) }));
  // ≤ 100 ms, or within twice the p99 of the same /healthz loop just before the flood: on a
  // machine whose idle p99 is already near 100 ms (shared CI), the flood must add nothing
  // proportional to the sessions (the old code held /healthz for seconds).
  const allowed = Math.max(100, 2 * f.healthBaselineP99Ms);
  assert.ok(f.healthP99Ms <= allowed, `/healthz p99 ${f.healthP99Ms.toFixed(1)} ms > ${allowed.toFixed(1)} ms allowed (idle p99 ${f.healthBaselineP99Ms.toFixed(1)} ms)`);
  assert.equal(f.endStatus, 204, 'ending the others answered');
  assert.equal(f.sessionsLeft, 1, 'only the caller’s session is left');
  assert.equal(f.otherFailures, 0, 'another user’s refreshes all succeed');
  assert.ok(f.otherRefreshes > 0);
}

