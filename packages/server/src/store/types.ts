// Store interfaces. Each method's doc says what must be atomic; every adapter (SQLite, Redis,
// PostgreSQL) is held to the same behaviour by the shared contract suite in ./contract.ts.
// Adapters throw StoreUnavailableError when their backend cannot be reached in time.
import type { Revocation, RevocationFeed } from '@latchkey/core';
import type { AdminKeyRecord } from '../domain/admin-keys.js';
import type { MacKey } from '../domain/refresh-token.js';
import type { RotationOutcome, PresentedToken } from '../domain/rotation.js';
import type { SessionPolicy, SessionRecord } from '../domain/session.js';

export interface UserRecord {
  id: string;
  /** Normalised (trimmed, lower-cased). Unique. */
  email: string;
  passwordHash: string;
  createdAt: number;
  /** When an operator disabled the account (ASVS 5.0 V7.4); null or absent while enabled. */
  disabledAt?: number | null;
  /** When the address `email` was proven by a link sent to it; null or absent while unproven. */
  emailVerifiedAt?: number | null;
}

export interface UserQuery {
  /** Page size, 1 to 1000. */
  limit: number;
  /** Keyset cursor: only users whose email sorts after this one. */
  after?: string | null;
  /** Only users whose email contains this text (literally: no wildcards). */
  emailContains?: string | null;
}

export interface UserStore {
  /** Atomic on the unique email: of concurrent creates of one email exactly one succeeds; the others throw EmailTakenError. */
  createUser(user: UserRecord): Promise<UserRecord>;
  findUserByEmail(email: string): Promise<UserRecord | null>;
  findUserById(id: string): Promise<UserRecord | null>;
  /** Replaces the hash only if it is still `expectedOld` (a rehash must not overwrite a concurrent password change). */
  updatePasswordHash(id: string, expectedOld: string, next: string): Promise<void>;
  /** Users in email order, one page; bounded work whatever the number of users (keyset, not offset). */
  listUsers(query: UserQuery): Promise<UserRecord[]>;
  /** Sets or clears `disabledAt`; returns the user as it is now, or null if there is none. */
  setUserDisabled(id: string, disabledAt: number | null): Promise<UserRecord | null>;
  /** Deletes the user row; true if there was one. The caller ends the user's sessions. */
  deleteUser(id: string): Promise<boolean>;
  /**
   * Atomic compare-and-set: marks the address verified at `at` only if the user's email is still
   * `email` (a link sent to an address the account no longer has proves nothing). True if it did
   * (or the address was already verified).
   */
  markEmailVerified(id: string, email: string, at: number): Promise<boolean>;
  /** Sets the password hash whatever it was (a reset or a change); false if there is no such user. */
  replacePasswordHash(id: string, next: string): Promise<boolean>;
  /**
   * Atomic on the unique email, like createUser: moves the user to `email`, verified at
   * `verifiedAt`; throws EmailTakenError if another account has it (of concurrent changes and
   * sign-ups to one address exactly one wins). False if there is no such user.
   */
  changeEmail(id: string, email: string, verifiedAt: number): Promise<boolean>;
}

/** What a link token was issued for (issue 10); each purpose's newest link replaces the older. */
export type AccountTokenPurpose = 'verify_email' | 'reset_password' | 'change_email';

export interface AccountTokenRecord {
  /** SHA-256 of the token, hex: the token itself is never stored (DESIGN "Email"). */
  hash: string;
  purpose: AccountTokenPurpose;
  userId: string;
  /** The address the link went to (for change_email: the new address). */
  email: string;
  createdAt: number;
  expiresAt: number;
}

/** Single-use tokens of emailed links; kept with the users (never in Redis). */
export interface AccountTokenStore {
  /** Atomic: deletes the user's other tokens of the same purpose and inserts this one (a newer link kills the older). */
  issueAccountToken(token: AccountTokenRecord): Promise<void>;
  /**
   * Atomic single use: deletes the token with this hash if its purpose is one of `purposes`, and
   * returns it if it was still live at `now` (an expired one is deleted and null). Of concurrent
   * consumers of one token at most one gets it.
   */
  consumeAccountToken(hash: string, purposes: readonly AccountTokenPurpose[], now: number): Promise<AccountTokenRecord | null>;
  /** Reads the token without using it up (to check a new password before the link is spent); null unless live at `now`. */
  peekAccountToken(hash: string, purposes: readonly AccountTokenPurpose[], now: number): Promise<AccountTokenRecord | null>;
  /** Deletes the user's tokens of the given purposes (all purposes when omitted); returns how many. */
  deleteAccountTokens(userId: string, purposes?: readonly AccountTokenPurpose[]): Promise<number>;
}

/** Where a page of a user's sessions starts: after the session with this (createdAt, id). */
export interface SessionCursor {
  createdAt: number;
  id: string;
}

export interface SessionPage {
  /** Page size, 1 to MAX_SESSION_PAGE. */
  limit: number;
  /** Keyset cursor: only sessions after this one in (createdAt, id) order; null for the first page. */
  after?: SessionCursor | null;
}

/** The most sessions one store call lists or deletes: bounds the work of any one Redis script or SQL statement. */
export const MAX_SESSION_PAGE = 1000;

export interface SessionStore {
  /**
   * Atomic: inserts the session and, when `maxSessions` is set, ends the user's oldest sessions
   * beyond the cap in the same operation. Returns the ids of the sessions it ended.
   * The cap counts only the user's sessions live at the login (`session.lastUsedAt`, the moment
   * of creation): not past their absolute end, nor idle for `policy.idleMs` or longer
   * (`isSessionLive`). A session already over is never counted, nor reported as ended: it ended
   * by itself, and an adapter may drop it in the same step.
   * Bounded work whatever the user piled up: an adapter looks for dead sessions among the user's
   * oldest few hundred only, and ends at most MAX_SESSION_PAGE per call (a cap lowered far below
   * what a user holds is reached over several logins).
   * With `revokeUntil`, every session it ends is also published on the revocation feed (until
   * then) as part of the same step, so a reply lost after the store acted loses no revocation.
   */
  createSession(session: SessionRecord, maxSessions: number | null, policy: SessionPolicy, revokeUntil?: number): Promise<{ evicted: string[] }>;
  /**
   * Atomic, the heart of the product: reads the session, applies `decideRotation`, and writes
   * the result in one indivisible step. Under any concurrency at most one caller sees `rotate`
   * for a generation. `reuse` and `expired` delete the session in the same step.
   * With `revokeUntil`, a `reuse` is published on the revocation feed (reuse-flagged, until then)
   * as part of that step, so a reply lost after the store acted loses no revocation.
   */
  rotate(sessionId: string, presented: PresentedToken, now: number, policy: SessionPolicy, revokeUntil?: number): Promise<RotationOutcome>;
  getSession(sessionId: string): Promise<SessionRecord | null>;
  /**
   * One page of the user's live sessions (not expired at `now`), oldest first by (createdAt, id).
   * Without `page`, the first MAX_SESSION_PAGE. Bounded work whatever the number of sessions.
   */
  listSessions(userId: string, now: number, policy: SessionPolicy, page?: SessionPage): Promise<SessionRecord[]>;
  /** Atomic delete; returns the session as it was, or null if there was none. */
  deleteSession(sessionId: string): Promise<SessionRecord | null>;
  /**
   * Deletes those of `sessionIds` (at most MAX_SESSION_PAGE) that are sessions of the user;
   * returns the ids it deleted. Ending all of a user's sessions is a loop of these (auth/sessions.ts).
   */
  deleteSessions(userId: string, sessionIds: string[]): Promise<string[]>;
}

// The revocation feed's contract is @latchkey/core's: verifiers in other processes read it too.
export type { Revocation, RevocationFeed };

/** The server's side of the feed: what it writes, with a batch form where one round trip or transaction can hold many. */
export interface RevocationWriter extends RevocationFeed {
  /** The same as `add` for each, as one transaction (SQL) or one pipelined round trip. */
  addMany?(revocations: Revocation[]): Promise<void>;
}

export interface StoredSigningKey {
  kid: string;
  alg: 'EdDSA' | 'ES256' | 'RS256';
  /**
   * The private key as a JWK JSON string. Lives only in the key store, never in Redis; at rest it
   * is sealed under the key-encryption key (store/sealed-keys.ts), so adapters hold ciphertext.
   */
  privateJwk: string;
  createdAt: number;
  /** When it starts signing. Until then it is pending: published in the JWKS, signing nothing. */
  activatesAt: number;
  /** When it stops signing (may be ahead: the activation of its pending successor); still published until every token it signed has expired. */
  retiredAt: number | null;
}

export interface MacKeyRecord {
  id: number;
  /** 32 bytes in use; sealed at rest like `privateJwk`. */
  secret: Buffer;
  createdAt: number;
  /** When it starts MACing new refresh tokens; every instance verifies with it from its first reload on. */
  activatesAt: number;
}

/** Conditions of a rotation. A rotation already pending (a key not yet active) always wins: nothing changes. */
export interface RotationGuard {
  /** Scheduled rotation: only if the newest key activated before this time (ms). */
  ifNewestActivatedBefore?: number;
}

export interface KeyStore {
  /**
   * Atomic across instances: if a key of `alg` that is not retired at `now` (active or pending)
   * exists, nothing changes; otherwise every such key is retired at `now` and `candidate()` is
   * inserted. Concurrent callers end with exactly one active key. Returns all keys after the operation.
   */
  ensureActiveSigningKey(alg: StoredSigningKey['alg'], candidate: () => StoredSigningKey, now: number): Promise<StoredSigningKey[]>;
  /**
   * Atomic across instances: unless a key is pending (activatesAt > now) or `guard` says not yet,
   * inserts `next` and retires every key not yet retired at `next.activatesAt`, the moment it takes
   * over. Of concurrent rotations exactly one reports `rotated`.
   */
  rotateSigningKey(next: StoredSigningKey, now: number, guard?: RotationGuard): Promise<{ rotated: boolean; keys: StoredSigningKey[] }>;
  listSigningKeys(): Promise<StoredSigningKey[]>;
  /** Compare-and-set of one key's stored material (sealing a legacy plaintext row); false if it was not `expected`. */
  replaceSigningKeyMaterial(kid: string, expected: string, next: string): Promise<boolean>;
  /** Atomic across instances: returns the MAC keys, inserting `candidate` only if there are none. */
  ensureMacKeys(candidate: MacKeyRecord): Promise<MacKeyRecord[]>;
  /**
   * Atomic across instances, like rotateSigningKey: inserts `candidate(id)` with the next id
   * (ids only grow) unless a key is pending or `guard` says not yet; in the same step deletes the
   * keys whose successor activated before `dropBefore` (nothing they made can still be used).
   */
  rotateMacKey(candidate: (id: number) => MacKeyRecord, now: number, dropBefore: number, guard?: RotationGuard): Promise<{ rotated: boolean; keys: MacKeyRecord[] }>;
  /** The MAC keys as they are, by id (never inserts). */
  listMacKeys(): Promise<MacKeyRecord[]>;
  /** Compare-and-set of one MAC key's stored secret; false if it was not `expected`. */
  replaceMacSecret(id: number, expected: Buffer, next: Buffer): Promise<boolean>;
}

/** Operators' API keys (domain/admin-keys.ts); kept with the users, never in Redis. */
export interface AdminKeyStore {
  createAdminKey(key: AdminKeyRecord): Promise<void>;
  findAdminKey(id: string): Promise<AdminKeyRecord | null>;
  listAdminKeys(): Promise<AdminKeyRecord[]>;
  /** Marks the key revoked at `at` (first revocation wins); false if there is no such key. */
  revokeAdminKey(id: string, at: number): Promise<boolean>;
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

/** DPoP proofs seen (RFC 9449 §11.1), by core's proofReplayKey; shared by every instance of a deployment. */
export interface ProofReplayStore {
  /** Atomic: true the first time `key` is seen within `windowMs`, false for a replay. */
  firstUse(key: string, iatSec: number, windowMs: number, now: number): Promise<boolean>;
}

export interface HealthReport {
  name: string;
  ok: boolean;
}

/** Everything the auth use cases need, assembled by ./open.ts from the configuration. */
export interface Stores {
  users: UserStore;
  sessions: SessionStore;
  revocations: RevocationWriter;
  keys: KeyStore;
  rateLimits: RateLimitStore;
  proofs: ProofReplayStore;
  adminKeys: AdminKeyStore;
  accountTokens: AccountTokenStore;
  health(): Promise<HealthReport[]>;
  close(): Promise<void>;
}

export type { MacKey };
