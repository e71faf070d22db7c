// The in-memory set of revoked session ids every verifier checks, so that Bearer verification
// stays local (no store trip per request) while logout and reuse detection still take effect at
// once. Entries live until no access token of the session can still be valid.
import type { Revocation, RevocationFeed } from '../store/types.ts';

export class RevokedSessions {
  private readonly until = new Map<string, number>();
  private readonly reused = new Set<string>();
  private unsubscribe: (() => void) | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly now: () => number) {}

  has(sessionId: string): boolean {
    const u = this.until.get(sessionId);
    if (u === undefined) return false;
    if (u <= this.now()) {
      this.until.delete(sessionId);
      this.reused.delete(sessionId);
      return false;
    }
    return true;
  }

  add(r: Revocation): void {
    const prev = this.until.get(r.sessionId) ?? 0;
    if (r.until > prev) this.until.set(r.sessionId, r.until);
    if (r.reuse) this.reused.add(r.sessionId);
  }

  /** Whether the session is revoked because a spent refresh token was replayed. */
  revokedForReuse(sessionId: string): boolean {
    return this.has(sessionId) && this.reused.has(sessionId);
  }

  get size(): number {
    return this.until.size;
  }

  /** Loads the durable recent revocations, then follows the live feed, reloading after every reconnect. */
  async follow(feed: RevocationFeed): Promise<void> {
    const reload = async () => {
      for (const r of await feed.loadActive(this.now())) this.add(r);
    };
    this.unsubscribe = feed.subscribe(
      (r) => this.add(r),
      () => {
        reload().catch(() => {
          /* the next resync retries; entries already held stay in force */
        });
      },
    );
    await reload();
    this.sweepTimer = setInterval(() => this.sweep(), 60_000);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    const now = this.now();
    for (const [sid, u] of this.until) {
      if (u <= now) {
        this.until.delete(sid);
        this.reused.delete(sid);
      }
    }
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }
}
