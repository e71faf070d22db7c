// The rules every key store applies inside its own atomic step when rotating signing keys or MAC
// secrets (store/types.ts KeyStore), written once. Pure: no I/O.
import type { RotationGuard } from '../store/types.js';

/**
 * Whether a rotation may insert a new key: never while one is pending (so of concurrent rotations
 * exactly one wins, and the pending key is not pushed back), and for a scheduled rotation only
 * once the newest key activated before the guard's time.
 */
export function mayRotate(activations: number[], now: number, guard: RotationGuard | undefined): boolean {
  if (activations.some((a) => a > now)) return false;
  const newest = activations.length === 0 ? -Infinity : Math.max(...activations);
  return guard?.ifNewestActivatedBefore === undefined || newest < guard.ifNewestActivatedBefore;
}

/**
 * MAC keys nothing can use any more: a key stops MACing when its successor activates, so every
 * token it made is older than that; once that lies before `dropBefore` (now minus the longest a
 * session lives), no live session can hold one. The newest key is never dropped.
 */
export function macKeysToDrop(keys: ReadonlyArray<{ id: number; activatesAt: number }>, dropBefore: number): number[] {
  const byId = [...keys].sort((a, b) => a.id - b.id);
  return byId.filter((k, i) => i + 1 < byId.length && byId[i + 1]!.activatesAt < dropBefore).map((k) => k.id);
}
