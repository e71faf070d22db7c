// The rotation decision: given the stored session and a genuine (MAC-checked) presented token,
// what happens. Pure, so every store applies the same rule inside its own atomic operation (the
// SQL adapters call this inside a transaction; the Redis Lua script mirrors it, and the shared
// contract suite holds both to the same outcomes).
import { BEARER_GRACE_DEBT, BEARER_GRACE_USES, MAX_GRACE_DEBT, MAX_GRACE_USES } from './key-binding.js';
import { MAX_GENERATION } from './refresh-token.js';
import type { SessionPolicy, SessionRecord } from './session.js';
import type { Theft } from '@latchkey/core';

export interface PresentedToken {
  generation: number;
  clientId: string;
  /** The stored form of the thumbprint of the key whose valid DPoP proof came with the token; null without one. */
  keyId?: string | null;
}

export type RotationDecision =
  /** g = n: advance to n + 1. */
  | { kind: 'rotate' }
  /**
   * g = n - 1: hand out the existing generation n again (idempotent). A Bearer session gets it
   * within the grace window, at most BEARER_GRACE_USES times per generation and while its grace
   * debt is below BEARER_GRACE_DEBT; a key-bound one with
   * its key's proof at any time in its life (its successor provably never refreshed, since the
   * session is still at n: a lost answer is always recoverable by the key's holder).
   */
  | { kind: 'grace' }
  /** RFC 9449 §5: a key-bound session's genuine token with another key's proof, or none: a copy; revoked. */
  | { kind: 'key_mismatch' }
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
  const bound = session.keyId ?? null;
  if (bound !== null && (presented.keyId ?? null) !== bound) return g > n ? { kind: 'future' } : { kind: 'key_mismatch' };
  if (g === n) return n >= MAX_GENERATION ? { kind: 'expired', reason: 'absolute' } : { kind: 'rotate' };
  if (g > n) return { kind: 'future' };
  if (g === n - 1 && (bound !== null || bearerGraceOpen(session, now, policy))) return { kind: 'grace' };
  return { kind: 'reuse' };
}

function bearerGraceOpen(s: SessionRecord, now: number, policy: SessionPolicy): boolean {
  return policy.graceMs > 0 && now - s.rotatedAt <= policy.graceMs && (s.graceUses ?? 0) < BEARER_GRACE_USES && (s.graceDebt ?? 0) < BEARER_GRACE_DEBT;
}

/** Whether a decision ends the session as stolen: it is deleted and revoked (with its theftOf) in the store's same step. */
export function endsAsTheft(kind: RotationDecision['kind']): boolean {
  return kind === 'reuse' || kind === 'key_mismatch';
}

/** The kind of theft a decision revokes for, which the feed carries to every instance: undefined for the others. */
export function theftOf(kind: RotationDecision['kind']): Theft | undefined {
  return kind === 'reuse' ? 'reuse' : kind === 'key_mismatch' ? 'copy' : undefined;
}

/** The session after a decision that keeps it; null where the decision ends or leaves it. */
export function applyRotation(session: SessionRecord, decision: RotationDecision, now: number): SessionRecord | null {
  switch (decision.kind) {
    case 'rotate':
      // A generation that needed no grace answer pays one back.
      return {
        ...session,
        generation: session.generation + 1,
        rotatedAt: now,
        lastUsedAt: now,
        graceUses: 0,
        graceDebt: (session.graceUses ?? 0) > 0 ? (session.graceDebt ?? 0) : Math.max(0, (session.graceDebt ?? 0) - 1),
      };
    case 'grace':
      return {
        ...session,
        lastUsedAt: now,
        graceUses: Math.min(MAX_GRACE_USES, (session.graceUses ?? 0) + 1),
        graceDebt: Math.min(MAX_GRACE_DEBT, (session.graceDebt ?? 0) + 1),
      };
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
