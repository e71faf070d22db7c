// What a DPoP-bound session stores of its key (RFC 9449 §5, issue 11). The full RFC 7638
// thumbprint is 32 bytes; a session keeps its first 16. Redis holds a session in ≤ 300 B only with
// a field of at most 16 bytes (measured: 277 B with 16, 309 B with 32), and 128 bits are plenty for
// what the comparison guards against: a thief would need a key whose thumbprint shares its first
// 128 bits with one particular victim's key (a second preimage, 2^128 work), not any collision.
// Access tokens still carry the full thumbprint (`cnf.jkt`), taken from the verified proof's key.
import { decodeBase64urlStrict } from '@latchkey/core';

export const KEY_ID_BYTES = 16;
const KEY_ID_RE = /^[A-Za-z0-9_-]{22}$/;

/** The stored form of a proof key's thumbprint (base64url of its first 16 bytes). */
export function sessionKeyId(jkt: string): string {
  const raw = decodeBase64urlStrict(jkt);
  if (!raw || raw.length !== 32) throw new RangeError('jkt must be a base64url SHA-256 thumbprint');
  return raw.subarray(0, KEY_ID_BYTES).toString('base64url');
}

export function isKeyId(s: unknown): s is string {
  return typeof s === 'string' && KEY_ID_RE.test(s);
}

/**
 * The most grace answers one generation of a Bearer session gets (DESIGN property 9: a few tabs
 * racing one rotation). A key-bound session needs no such bound: only its key's holder gets one.
 */
export const BEARER_GRACE_USES = 3;
/** Stored in one byte; the count saturates there. */
export const MAX_GRACE_USES = 255;
