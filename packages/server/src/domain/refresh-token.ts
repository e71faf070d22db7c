// Refresh-token wire format: base64url(version ‖ macKeyId ‖ sessionId ‖ generation ‖ HMAC-SHA-256).
// The token is opaque to clients and carries no secret the store keeps: the store holds only the
// session id and the current generation, so a store dump yields nothing replayable (DESIGN
// property 2), and a session's stored size is independent of how often it rotated (property 3).
// The MAC lets a forged or tampered token be refused in-process, before any store round trip
// (property 4). Strength: the 256-bit MAC under a 256-bit secret is what an attacker must guess.
import { timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from '../crypto/hmac-sha256.js';

export const REFRESH_TOKEN_VERSION = 1;
const SESSION_ID_BYTES = 16;
const MAC_BYTES = 32;
const HEADER_BYTES = 1 + 2 + SESSION_ID_BYTES + 4;
export const REFRESH_TOKEN_BYTES = HEADER_BYTES + MAC_BYTES;
/** base64url length of REFRESH_TOKEN_BYTES without padding. */
export const REFRESH_TOKEN_LENGTH = Math.ceil((REFRESH_TOKEN_BYTES * 4) / 3);
const DOMAIN = Buffer.from('latchkey/refresh-token/v1\0');
export const MAX_GENERATION = 0xffff_ffff;

export interface MacKey {
  id: number;
  secret: Buffer;
}

/** The MAC keys known to this process: `current` signs, every key in `byId` verifies. */
export interface MacKeyring {
  current: MacKey;
  byId: ReadonlyMap<number, MacKey>;
}

export interface RefreshTokenClaims {
  sessionId: string;
  generation: number;
}

const SID_RE = /^[A-Za-z0-9_-]{22}$/;

export function isSessionId(s: string): boolean {
  return SID_RE.test(s);
}

function mac(key: MacKey, header: Buffer): Buffer {
  return hmacSha256(key.secret, DOMAIN, header);
}

export function encodeRefreshToken(ring: MacKeyring, claims: RefreshTokenClaims): string {
  const sid = Buffer.from(claims.sessionId, 'base64url');
  if (sid.length !== SESSION_ID_BYTES || !isSessionId(claims.sessionId)) throw new RangeError('session id must be 16 bytes base64url');
  if (!Number.isInteger(claims.generation) || claims.generation < 0 || claims.generation > MAX_GENERATION) {
    throw new RangeError('generation out of range');
  }
  // One pooled buffer for header and MAC (no zero-filled allocation, no concat): minted on every refresh.
  const raw = Buffer.allocUnsafe(REFRESH_TOKEN_BYTES);
  raw.writeUInt8(REFRESH_TOKEN_VERSION, 0);
  raw.writeUInt16BE(ring.current.id, 1);
  sid.copy(raw, 3);
  raw.writeUInt32BE(claims.generation, 3 + SESSION_ID_BYTES);
  mac(ring.current, raw.subarray(0, HEADER_BYTES)).copy(raw, HEADER_BYTES);
  return raw.toString('base64url');
}

const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

/**
 * Returns the claims of a genuine token, or null for anything else (wrong length, alphabet,
 * version, unknown key, bad MAC). Callers map null to `invalid_grant` without touching the store.
 */
export function decodeRefreshToken(ring: MacKeyring, token: string): RefreshTokenClaims | null {
  if (typeof token !== 'string' || token.length !== REFRESH_TOKEN_LENGTH || !TOKEN_RE.test(token)) return null;
  const raw = Buffer.from(token, 'base64url');
  if (raw.length !== REFRESH_TOKEN_BYTES) return null;
  // Non-canonical base64url (altered unused bits in the last character) decodes to the same bytes;
  // refusing it keeps exactly one spelling per token.
  if (raw.toString('base64url') !== token) return null;
  if (raw.readUInt8(0) !== REFRESH_TOKEN_VERSION) return null;
  const key = ring.byId.get(raw.readUInt16BE(1));
  if (!key) return null;
  const header = raw.subarray(0, HEADER_BYTES);
  if (!timingSafeEqual(mac(key, header), raw.subarray(HEADER_BYTES))) return null;
  return {
    sessionId: raw.subarray(3, 3 + SESSION_ID_BYTES).toString('base64url'),
    generation: raw.readUInt32BE(3 + SESSION_ID_BYTES),
  };
}
