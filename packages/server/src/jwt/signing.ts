// Issuing side of RFC 9068 access tokens: signing and key generation. Only the server signs, so
// this lives here and not in @latchkey/core (which verifiers install). Signing is on node:crypto
// KeyObjects (measured ~3x faster than jose for EdDSA; see BENCHMARKS.md); EdDSA goes through
// libsodium when the optional sodium-native package loads (same bytes: ../crypto/ed25519.ts).
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { ACCESS_TOKEN_TYP, encodeJsonPart, type AccessTokenClaims, type JwsAlg } from '@latchkey/core';
import { signEd25519 } from '../crypto/ed25519.js';

export interface IssuingKey {
  kid: string;
  alg: JwsAlg;
  privateKey: KeyObject;
}

export function signJws(alg: JwsAlg, key: KeyObject, data: Buffer): Buffer {
  if (alg === 'EdDSA') return signEd25519(key, data);
  // ES256 signatures in a JWS are r‖s (RFC 7518 §3.4), not DER.
  return sign('sha256', data, alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key);
}

export function generateSigningKeyPair(alg: JwsAlg): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (alg) {
    case 'EdDSA':
      return generateKeyPairSync('ed25519');
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'RS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
  }
}

// The encoded protected header is the same for every token a key signs: encoded once per key.
const encodedHeaders = new WeakMap<IssuingKey, { alg: JwsAlg; kid: string; encoded: string }>();

function encodedHeader(key: IssuingKey): string {
  const cached = encodedHeaders.get(key);
  if (cached && cached.alg === key.alg && cached.kid === key.kid) return cached.encoded;
  const encoded = encodeJsonPart({ alg: key.alg, typ: ACCESS_TOKEN_TYP, kid: key.kid });
  encodedHeaders.set(key, { alg: key.alg, kid: key.kid, encoded });
  return encoded;
}

export function signAccessToken(key: IssuingKey, claims: AccessTokenClaims): string {
  const signingInput = `${encodedHeader(key)}.${encodeJsonPart(claims)}`;
  const sig = signJws(key.alg, key.privateKey, Buffer.from(signingInput));
  return `${signingInput}.${sig.toString('base64url')}`;
}
