import type { Theft } from './types.js';

/**
 * The kind a session revoked twice is remembered by. A session is revoked as stolen at most once
 * (the revocation deletes it), so two kinds meet only where one revocation is written in two
 * forms: a `copy` is also written as a `reuse` for readers that predate `copy` (see
 * redis/revocation-protocol.ts and the SQL adapters). `copy` therefore wins; any theft wins over
 * none, which is an ordinary end (logout, ended, evicted).
 */
export function mergeTheft(a: Theft | undefined, b: Theft | undefined): Theft | undefined {
  if (a === 'copy' || b === 'copy') return 'copy';
  if (a === 'reuse' || b === 'reuse') return 'reuse';
  return undefined;
}

export function isTheft(v: unknown): v is Theft {
  return v === 'reuse' || v === 'copy';
}
