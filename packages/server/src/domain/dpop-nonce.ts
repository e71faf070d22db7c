// Server-provided DPoP nonces (RFC 9449 §8), stateless across instances: a nonce is the time step
// it was made in, MACed under a key derived from the refresh-token MAC secret every instance
// already shares. Any instance can check any instance's nonce without a store round trip, and a
// proof made in advance (§11.1: an attacker with brief access to the key pre-signing proofs for
// later) stops working when its nonce's step ends: within NONCE_STEP_MS to 2 × NONCE_STEP_MS.
import { timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from '../crypto/hmac-sha256.js';
import type { MacKey, MacKeyring } from './refresh-token.js';

export const NONCE_STEP_MS = 300_000;
const TAG_BYTES = 16;
const NONCE_BYTES = 2 + 4 + TAG_BYTES;
const DOMAIN = Buffer.from('latchkey/dpop-nonce/v1\0');
const NONCE_RE = /^[A-Za-z0-9_-]{30}$/;

function tag(key: MacKey, step: number): Buffer {
  const header = Buffer.allocUnsafe(6);
  header.writeUInt16BE(key.id, 0);
  header.writeUInt32BE(step, 2);
  return hmacSha256(key.secret, DOMAIN, header).subarray(0, TAG_BYTES);
}

const stepOf = (now: number) => Math.floor(now / NONCE_STEP_MS);

// Every answer of the token, login and sign-up endpoints offers the current nonce: made once per step.
let made: { key: MacKey; step: number; nonce: string } | null = null;

/** The nonce of the current step (the same for every caller and instance within it). */
export function currentNonce(ring: MacKeyring, now: number): string {
  const step = stepOf(now);
  if (made && made.key === ring.current && made.step === step) return made.nonce;
  const out = Buffer.allocUnsafe(NONCE_BYTES);
  out.writeUInt16BE(ring.current.id, 0);
  out.writeUInt32BE(step, 2);
  tag(ring.current, step).copy(out, 6);
  made = { key: ring.current, step, nonce: out.toString('base64url') };
  return made.nonce;
}

/** Whether `nonce` is one of ours from this step or the one before. */
export function isCurrentNonce(ring: MacKeyring, nonce: string, now: number): boolean {
  if (!NONCE_RE.test(nonce)) return false;
  const raw = Buffer.from(nonce, 'base64url');
  if (raw.length !== NONCE_BYTES || raw.toString('base64url') !== nonce) return false;
  const key = ring.byId.get(raw.readUInt16BE(0));
  const step = raw.readUInt32BE(2);
  const current = stepOf(now);
  if (!key || step > current || step < current - 1) return false;
  return timingSafeEqual(tag(key, step), raw.subarray(6));
}
