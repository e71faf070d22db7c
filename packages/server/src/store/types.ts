// Store interfaces. Each method's doc says what must be atomic; every adapter (SQLite, Redis,
// PostgreSQL) is held to the same behaviour by the shared contract suite in ./contract.ts.
// Adapters throw StoreUnavailableError when their backend cannot be reached in time.
import type { MacKey } from '../domain/refresh-token.js';
import type { RotationOutcome, PresentedToken } from '../domain/rotation.js';
import type { SessionPolicy, SessionRecord } from '../domain/session.js';

export interface UserRecord {
  id: string;
  /** Normalised (trimmed, lower-cased). Unique. */
  email: string;
  passwordHash: string;
  createdAt: number;
}

export interface UserStore {
  /** Atomic on the unique email: of concurrent creates of one email exactly one succeeds; the others throw EmailTakenError. */
  createUser(user: UserRecord): Promise<UserRecord>;
  findUserByEmail(email: string): Promise<UserRecord | null>;
  findUserById(id: string): Promise<UserRecord | null>;
  /** Replaces the hash only if it is still `expectedOld` (a rehash must not overwrite a concurrent password change). */
  updatePasswordHash(id: string, expectedOld: string, next: string): Promise<void>;
}

export interface SessionStore {
  /**
   * Atomic: inserts the session and, when `maxSessions` is set, ends the user's oldest sessions
   * beyond the cap in the same operation. Returns the ids of the sessions it ended.
   * The cap counts only the user's sessions live at the login (`session.lastUsedAt`, the moment
   * of creation): not past their absolute end, nor idle for `policy.idleMs` or longer
   * (`isSessionLive`). A session already over is never counted, nor reported as ended: it ended
   * by itself, and an adapter may drop it in the same step.
   */
  createSession(session: SessionRecord, maxSessions: number | null, policy: SessionPolicy): Promise<{ evicted: string[] }>;
  /**
   * Atomic, the heart of the product: reads the session, applies `decideRotation`, and writes
   * the result in one indivisible step. Under any concurrency at most one caller sees `rotate`
   * for a generation. `reuse` and `expired` delete the session in the same step.
   */
  rotate(sessionId: string, presented: PresentedToken, now: number, policy: SessionPolicy): Promise<RotationOutcome>;
  getSession(sessionId: string): Promise<SessionRecord | null>;
  /** The user's live sessions (not expired at `now`), oldest first. */
  listSessions(userId: string, now: number, policy: SessionPolicy): Promise<SessionRecord[]>;
  /** Atomic delete; returns the session as it was, or null if there was none. */
  deleteSession(sessionId: string): Promise<SessionRecord | null>;
  /** Deletes every session of the user except `exceptId`; returns the ids deleted. */
  deleteUserSessions(userId: string, exceptId?: string): Promise<string[]>;
}

export interface Revocation {
  sessionId: string;
  /** ms epoch after which no access token of the session can still be valid. */
  until: number;
  /**
   * Revoked because a spent refresh token was replayed. Lets every instance tell the session's
   * other holders why their refresh fails, so a client can say "reuse detected" to its user.
   */
  reuse?: boolean;
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
   * `loadActive` and misses nothing published while it was disconnected.
   */
  subscribe(onRevoked: (r: Revocation) => void, onResync: () => void): () => void;
}

export interface StoredSigningKey {
  kid: string;
  alg: 'EdDSA' | 'ES256' | 'RS256';
  /** The private key as a JWK JSON string. Lives only in the key store, never in Redis. */
  privateJwk: string;
  createdAt: number;
  /** When it stopped signing; still published until every token it signed has expired. */
  retiredAt: number | null;
}

export interface MacKeyRecord {
  id: number;
  secret: Buffer;
  createdAt: number;
}

export interface KeyStore {
  /**
   * Atomic across instances: if an active (not retired) key of `alg` exists, nothing changes;
   * otherwise every active key is retired at `now` and `candidate()` is inserted. Concurrent
   * callers end with exactly one active key. Returns all keys after the operation.
   */
  ensureActiveSigningKey(alg: StoredSigningKey['alg'], candidate: () => StoredSigningKey, now: number): Promise<StoredSigningKey[]>;
  /** Atomic: retires every active key at `now` and inserts `next`. */
  rotateSigningKey(next: StoredSigningKey, now: number): Promise<StoredSigningKey[]>;
  listSigningKeys(): Promise<StoredSigningKey[]>;
  /** Atomic across instances: returns the MAC keys, inserting `candidate` only if there are none. */
  ensureMacKeys(candidate: MacKeyRecord): Promise<MacKeyRecord[]>;
}

export interface RateLimitStore {
  /** Atomic increment of a fixed-window counter that expires `windowMs` after its first hit. */
  hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>;
  peek(key: string, now: number): Promise<{ count: number; resetAt: number } | null>;
  reset(key: string): Promise<void>;
  /**
   * Atomic decrement of a live counter, taking back a hit that turned out not to count; a counter
   * that reaches 0 is removed, and a missing or lapsed one stays missing (never below 0).
   */
  undo(key: string, now: number): Promise<void>;
}

export interface HealthReport {
  name: string;
  ok: boolean;
}

/** Everything the auth use cases need, assembled by ./open.ts from the configuration. */
export interface Stores {
  users: UserStore;
  sessions: SessionStore;
  revocations: RevocationFeed;
  keys: KeyStore;
  rateLimits: RateLimitStore;
  health(): Promise<HealthReport[]>;
  close(): Promise<void>;
}

export type { MacKey };
