// A bounded in-memory record of the proof ids (`jti`) seen within the proof window (RFC 9449
// §11.1). Bounded so that a flood of valid proofs from throwaway keys cannot exhaust memory; when
// it is full the oldest entry goes, and every proof issued no later than the newest evicted one is
// refused from then on (`floor`), so an eviction can never make a replay pass: it can only refuse
// a proof that is as old as one the cache had to forget.

export class ProofReplayCache {
  /** jti key -> iat (seconds); Map iteration order is insertion order. */
  private readonly seen = new Map<string, number>();
  private floorIat = -Infinity;

  constructor(
    /** How long (seconds) an entry must be remembered: the proof window plus the clock leeway. */
    private readonly windowSec: number,
    private readonly maxEntries = 100_000,
  ) {}

  /**
   * Records a proof. False if it was seen before within the window, or is too old to be told
   * apart from a forgotten one. `key` names the proof (its key's thumbprint and its jti).
   */
  admit(key: string, iat: number, nowSec: number): boolean {
    this.prune(nowSec);
    if (iat <= this.floorIat) return false;
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.maxEntries) {
      const [oldest, oldestIat] = this.seen.entries().next().value as [string, number];
      this.seen.delete(oldest);
      this.floorIat = Math.max(this.floorIat, oldestIat);
    }
    this.seen.set(key, iat);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Drops a few expired entries per call: no request does work proportional to the cache. */
  private prune(nowSec: number): void {
    let budget = 8;
    for (const [k, iat] of this.seen) {
      // Entries are in arrival order, not iat order: stop at the first one still needed. A proof
      // with iat exactly windowSec ago is still accepted by verifyDpopProof (it refuses only
      // iat < now - maxAge - leeway), so it must still be remembered: >=, not >.
      if (budget-- === 0 || iat >= nowSec - this.windowSec) break;
      this.seen.delete(k);
    }
  }
}
