/** What a store keeps per session: fixed-size, no token material (DESIGN properties 2 and 3). */
export interface SessionRecord {
  id: string;
  userId: string;
  clientId: string;
  /** The generation whose refresh token is current. */
  generation: number;
  /** ms epoch when `generation` became current; anchors the grace window. */
  rotatedAt: number;
  createdAt: number;
  lastUsedAt: number;
  /** ms epoch of the absolute end of the session. */
  expiresAt: number;
  /** Short label derived from the User-Agent, at most 64 bytes. */
  device: string;
  /** DPoP-bound sessions: the stored form of the key's thumbprint (domain/key-binding.ts); null for a Bearer session. */
  keyId?: string | null;
  /** Grace answers given for the current generation (saturating at MAX_GRACE_USES); 0 after each rotation. */
  graceUses?: number;
}

export interface SessionPolicy {
  /** Predecessor replay window (LATCHKEY_REUSE_GRACE) in ms; 0 = strict. */
  graceMs: number;
  /** Idle timeout in ms: a session unused for longer is over. */
  idleMs: number;
}

/** When a session stops being usable: the earlier of its absolute end and its idle deadline. */
export function sessionDeadline(s: Pick<SessionRecord, 'expiresAt' | 'lastUsedAt'>, idleMs: number): number {
  return Math.min(s.expiresAt, s.lastUsedAt + idleMs);
}

export function isSessionLive(s: Pick<SessionRecord, 'expiresAt' | 'lastUsedAt'>, now: number, idleMs: number): boolean {
  return now < sessionDeadline(s, idleMs);
}
