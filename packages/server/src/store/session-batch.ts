// What every session adapter shares about bounded work (SessionStore in ./types.ts): page sizes,
// and how far a login looks for dead sessions under the cap.
import { MAX_SESSION_PAGE, type SessionPage } from './types.js';

/** A login looks for dead sessions among the user's oldest this many, so the cap check is bounded. */
export const CAP_SCAN = 256;

/** The page size asked for, clamped to 1..MAX_SESSION_PAGE (MAX_SESSION_PAGE without one). */
export function pageLimit(page: SessionPage | undefined): number {
  const limit = page?.limit ?? MAX_SESSION_PAGE;
  return Math.min(Math.max(Math.trunc(limit), 1), MAX_SESSION_PAGE);
}

export function assertBatch(ids: readonly string[]): void {
  if (ids.length > MAX_SESSION_PAGE) throw new Error(`at most ${MAX_SESSION_PAGE} sessions per call`);
}
