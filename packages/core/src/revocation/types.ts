// What the revocation feed carries and promises. The server's stores implement RevocationFeed;
// verifiers in other processes read it through a RevocationSource (e.g. @latchkey/verify/redis).

/**
 * Why a session was revoked as stolen: `reuse`, a spent (older) refresh token of it was replayed;
 * `copy`, its key-bound refresh token came without a proof by its key (RFC 9449 §5), so a copy
 * was used. Lets every instance tell the session's other holders why their refresh fails, so a
 * client can tell its user which it was.
 */
export type Theft = 'reuse' | 'copy';

export interface Revocation {
  sessionId: string;
  /** ms epoch after which no access token of the session can still be valid. */
  until: number;
  /** Set when the session was revoked as stolen; absent for logout, ended and evicted sessions. */
  theft?: Theft;
}

/**
 * The revocation feed: durable recent revocations plus live delivery to every verifier.
 * `add` is durable before it resolves; listeners of every instance get it shortly after.
 */
export interface RevocationFeed {
  add(revocation: Revocation): Promise<void>;
  /** Revocations whose `until` is after `now` (loaded on start and after every reconnect). */
  loadActive(now: number): Promise<Revocation[]>;
  /**
   * Live revocations. `onResync` fires after the feed (re)connects, so the caller reloads
   * `loadActive` and misses nothing published while it was disconnected. `live` is true for a
   * message as it was published and false for one replayed from a reload (feeds that cannot
   * tell leave it undefined); only live ones say anything about the feed's lag.
   */
  subscribe(onRevoked: (r: Revocation, live?: boolean) => void, onResync: () => void): () => void;
}

/**
 * Where a verifier's revocations come from: the server's revocation feed, or anything of that
 * shape. Load first, then follow; after `onResync` the follower reloads.
 */
export type RevocationSource = Pick<RevocationFeed, 'subscribe' | 'loadActive'> & {
  /** Called when the verifier closes; sources that own connections release them here. */
  close?(): void | Promise<void>;
};
