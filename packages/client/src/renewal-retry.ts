// When a renewal that failed for a transient reason is tried again. Retrying is safe because the
// server makes it idempotent: the same refresh token sent again gets the same successor (the
// grace window for Bearer sessions, at any time for key-bound ones with their key's proof).
import { isLatchkeyError } from './errors.js';

/**
 * Pauses (ms) between attempts while callers wait and no usable token is left: after the
 * immediate retry, 250 ms, 500 ms, 1 s and 2 s, each scaled by a jitter in [0.5, 1] so that tabs
 * and devices knocked over by the same outage do not come back in step. At most 1 + 1 + 4 attempts,
 * at most 3.75 s of waiting (plus each attempt's own time) before the error reaches the caller.
 */
export const RENEWAL_BACKOFF_MS: readonly number[] = [250, 500, 1_000, 2_000];

/** While a usable token is held, the pause before the next background attempt: 1 s, doubling, at most this. */
export const MAX_BACKGROUND_BACKOFF_MS = 30_000;
const FIRST_BACKGROUND_BACKOFF_MS = 1_000;

/** A `Retry-After` longer than this is not waited out by callers with no token: they get the error (with `retryAfter`). */
export const MAX_WAITED_RETRY_AFTER_MS = 5_000;

/** Default time a renewal request may take before it counts as lost (a `network_error`). */
export const DEFAULT_RENEWAL_TIMEOUT_MS = 10_000;

/**
 * Failures where the server may have processed the request and only its answer was lost: the
 * connection died (reset, timeout, a body cut short) or a gateway answered for a server it lost
 * touch with (502, 504), or the server itself failed (500). These are retried at once. 503 and
 * 429 are the server asking for a pause: they wait (Retry-After when given).
 */
export function answerMayBeLost(error: unknown): boolean {
  if (!isLatchkeyError(error)) return false;
  if (error.code === 'network_error' || error.code === 'invalid_response') return true;
  return error.code === 'server_error' && (error.status === undefined || error.status === 500 || error.status === 502 || error.status === 504);
}

/** The server's requested pause, in ms (0 when it asked for none). */
export function retryAfterMs(error: unknown): number {
  return isLatchkeyError(error) && error.retryAfter !== undefined ? error.retryAfter * 1000 : 0;
}

function jitter(ms: number, random: () => number): number {
  return Math.round(ms * (0.5 + 0.5 * random()));
}

/**
 * The pause before waiting attempt number `failures` + 1 (failures counted from 1, the
 * immediate retry not counted), or null when the budget is spent or the server asked for a
 * longer pause than callers should sit through.
 */
export function waitingBackoffMs(step: number, error: unknown, random: () => number = Math.random): number | null {
  const base = RENEWAL_BACKOFF_MS[step];
  if (base === undefined) return null;
  const asked = retryAfterMs(error);
  if (asked > MAX_WAITED_RETRY_AFTER_MS) return null;
  return Math.max(jitter(base, random), asked);
}

/**
 * The pause before the next renewal tried by a later call while a usable token is held, after
 * `failures` consecutive failed renewals. Never beyond half the token's remaining life, so there
 * is still a try (with its own immediate retry) before it runs out; never below the server's Retry-After.
 */
export function backgroundBackoffMs(failures: number, remainingMs: number, error: unknown, random: () => number = Math.random): number {
  const base = Math.min(MAX_BACKGROUND_BACKOFF_MS, FIRST_BACKGROUND_BACKOFF_MS * 2 ** Math.max(0, failures - 1));
  return Math.max(Math.min(jitter(base, random), Math.max(0, remainingMs / 2)), retryAfterMs(error));
}
