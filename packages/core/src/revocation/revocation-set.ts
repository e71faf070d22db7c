// Revoked sessions, held in memory so verification stays local: logout, ended sessions and
// sessions revoked as stolen stop a session's access tokens without a store trip per request. Each
// entry lives until no access token of the session can still be valid (`until`). The server and
// @latchkey/verify both keep their revoked set with this class and follow their feed with
// RevocationFollower, so the two cannot drift apart.
import type { Revocation, RevocationSource, Theft } from './types.js';
import { isTheft, mergeTheft } from './theft.js';

/** Sweep expired entries every this many additions, so memory follows live revocations only. */
const SWEEP_EVERY = 1024;

export class RevocationSet {
  private readonly until = new Map<string, number>();
  private readonly theft = new Map<string, Theft>();
  private addsSinceSweep = 0;

  constructor(
    private readonly now: () => number,
    /**
     * Added to every `until`. The issuer sets `until` from its own clock leeway; a verifier with a
     * larger leeway accepts a token for longer after its exp, so it must also remember the
     * revocation for longer, or a revoked token would pass again in that gap.
     */
    private readonly extendMs = 0,
  ) {}

  has(sessionId: string): boolean {
    const u = this.until.get(sessionId);
    if (u === undefined) return false;
    if (u <= this.now()) {
      this.forget(sessionId);
      return false;
    }
    return true;
  }

  /**
   * Why the session is revoked: the kind of theft (`reuse`: an older refresh token replayed;
   * `copy`: a key-bound session's token used without its key), `ended` for an ordinary end
   * (logout, ended elsewhere, evicted), or null when it is not revoked.
   */
  revokedBecause(sessionId: string): Theft | 'ended' | null {
    if (!this.has(sessionId)) return null;
    return this.theft.get(sessionId) ?? 'ended';
  }

  add(r: Revocation): void {
    // Feed messages come from outside the process: anything malformed is ignored, not trusted.
    if (typeof r?.sessionId !== 'string' || typeof r.until !== 'number' || !Number.isFinite(r.until)) return;
    const until = r.until + this.extendMs;
    if (!(until > this.now())) return;
    const prev = this.until.get(r.sessionId) ?? 0;
    if (until > prev) this.until.set(r.sessionId, until);
    if (isTheft(r.theft)) this.theft.set(r.sessionId, mergeTheft(this.theft.get(r.sessionId), r.theft)!);
    if (++this.addsSinceSweep >= SWEEP_EVERY) this.sweep();
  }

  sweep(): void {
    this.addsSinceSweep = 0;
    const now = this.now();
    for (const [sid, u] of this.until) if (u <= now) this.forget(sid);
  }

  private forget(sessionId: string): void {
    this.until.delete(sessionId);
    this.theft.delete(sessionId);
  }

  get size(): number {
    return this.until.size;
  }
}

/**
 * Follows a source into a set. `ready()` resolves once the first full load has succeeded; until
 * then the verifier answers 503 rather than risk admitting a revoked session. A failed reload
 * after a resync is retried with backoff while verification continues on what is already held.
 */
export class RevocationFollower {
  private unsubscribe: (() => void) | null = null;
  private loaded = false;
  private initial: Promise<void> | null = null;
  private lastFailureAt = -Infinity;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private resyncDuringLoad = false;

  constructor(
    private readonly source: RevocationSource,
    private readonly set: RevocationSet,
    private readonly now: () => number,
    /** After a failed load, callers within this window get the failure at once instead of a new load each. */
    private readonly retryAfterMs: number,
  ) {
    // Subscribe before loading, so a revocation published during the load is not lost.
    this.unsubscribe = source.subscribe(
      (r) => this.set.add(r),
      () => this.resync(),
    );
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Resolves when the initial load is done; shared by all concurrent callers. */
  ready(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    if (this.initial) return this.initial;
    if (this.now() - this.lastFailureAt < this.retryAfterMs) return Promise.reject(new Error('revocation source unavailable'));
    this.initial = this.load().then(
      () => {
        this.loaded = true;
        this.initial = null;
        // The feed reconnected while we were loading: that load may predate the gap, so reload.
        if (this.resyncDuringLoad) {
          this.resyncDuringLoad = false;
          this.resync();
        }
      },
      (e: unknown) => {
        this.lastFailureAt = this.now();
        this.initial = null;
        throw e;
      },
    );
    return this.initial;
  }

  private async load(): Promise<void> {
    for (const r of await this.source.loadActive(this.now())) this.set.add(r);
  }

  private resync(attempt = 0): void {
    if (this.closed) return;
    if (!this.loaded) {
      // No initial load yet (the next ready() does it), or one in flight (reload after it).
      if (this.initial) this.resyncDuringLoad = true;
      return;
    }
    this.load().catch(() => {
      if (this.closed) return;
      const delay = Math.min(30_000, this.retryAfterMs * 2 ** attempt);
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.resync(attempt + 1), delay);
      this.retryTimer.unref();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.source.close?.();
  }
}
