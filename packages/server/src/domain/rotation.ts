// The rotation decision: given the stored session and a genuine (MAC-checked) presented token,
// what happens. Pure, so every store applies the same rule inside its own atomic operation (the
// SQL adapters call this inside a transaction; the Redis Lua script mirrors it, and the shared
// contract suite holds both to the same outcomes).
import { MAX_GENERATION } from './refresh-token.js';
import type { SessionPolicy, SessionRecord } from './session.js';

export interface PresentedToken {
  generation: number;
  clientId: string;
}

export type RotationDecision =
  /** g = n: advance to n + 1. */
  | { kind: 'rotate' }
  /** g = n - 1 within the grace window: hand out the existing generation n again (idempotent). */
  | { kind: 'grace' }
  /** g < n otherwise: a copied token; the whole session is revoked. */
  | { kind: 'reuse' }
  /** g > n: only a leaked MAC secret or a rolled-back store makes this; refuse, do not revoke. */
  | { kind: 'future' }
  | { kind: 'expired'; reason: 'absolute' | 'idle' }
  /** RFC 6749 §6: a refresh token is bound to the client it was issued to. */
  | { kind: 'wrong_client' }
  | { kind: 'not_found' };

export function decideRotation(
  session: SessionRecord | null,
  presented: PresentedToken,
  now: number,
  policy: SessionPolicy,
): RotationDecision {
  if (!session) return { kind: 'not_found' };
  if (session.clientId !== presented.clientId) return { kind: 'wrong_client' };
  if (now >= session.expiresAt) return { kind: 'expired', reason: 'absolute' };
  if (now >= session.lastUsedAt + policy.idleMs) return { kind: 'expired', reason: 'idle' };
  const n = session.generation;
  const g = presented.generation;
  if (g === n) return n >= MAX_GENERATION ? { kind: 'expired', reason: 'absolute' } : { kind: 'rotate' };
  if (g > n) return { kind: 'future' };
  if (g === n - 1 && policy.graceMs > 0 && now - session.rotatedAt <= policy.graceMs) return { kind: 'grace' };
  return { kind: 'reuse' };
}

/** The session after a decision that keeps it; null where the decision ends or leaves it. */
export function applyRotation(session: SessionRecord, decision: RotationDecision, now: number): SessionRecord | null {
  switch (decision.kind) {
    case 'rotate':
      return { ...session, generation: session.generation + 1, rotatedAt: now, lastUsedAt: now };
    case 'grace':
      return { ...session, lastUsedAt: now };
    default:
      return null;
  }
}

/** Outcome of a store's atomic rotate: the decision and, where the session lives on, its new state. */
export interface RotationOutcome {
  decision: RotationDecision;
  /** The stored session after the operation (rotate/grace), or as it was found (other kinds). */
  session: SessionRecord | null;
}
