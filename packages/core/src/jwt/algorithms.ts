// JWS algorithms Latchkey verifies, on node:crypto KeyObjects (signing is the server's own:
// packages/server/src/jwt/signing.ts). RFC 8725 §3.1: each key is bound to exactly one
// algorithm, and a token's `alg` must equal its key's.
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

export type JwsAlg = 'EdDSA' | 'ES256' | 'RS256';
export const SUPPORTED_ALGS: readonly JwsAlg[] = ['EdDSA', 'ES256', 'RS256'];

export function isSupportedAlg(a: unknown): a is JwsAlg {
  return a === 'EdDSA' || a === 'ES256' || a === 'RS256';
}

const DIGEST: Record<JwsAlg, string | null> = { EdDSA: null, ES256: 'sha256', RS256: 'sha256' };

export function verifyJws(alg: JwsAlg, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  if (!signatureSizeFits(alg, key, signature)) return false;
  try {
    return verify(DIGEST[alg], data, alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, signature);
  } catch {
    return false;
  }
}

function signatureSizeFits(alg: JwsAlg, key: KeyObject, signature: Buffer): boolean {
  if (alg === 'EdDSA' || alg === 'ES256') return signature.length === 64;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  return signature.length === Math.ceil(bits / 8);
}

/** Whether a public key is of the type and size its algorithm demands (RFC 8725 §3.5, RFC 7518 §3.3). */
export function keyFitsAlg(alg: JwsAlg, key: KeyObject): boolean {
  const d = key.asymmetricKeyDetails;
  switch (alg) {
    case 'EdDSA':
      return key.asymmetricKeyType === 'ed25519';
    case 'ES256':
      return key.asymmetricKeyType === 'ec' && d?.namedCurve === 'prime256v1';
    case 'RS256':
      return key.asymmetricKeyType === 'rsa' && (d?.modulusLength ?? 0) >= 2048;
  }
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  OKP: ['kty', 'crv', 'x'],
  EC: ['kty', 'crv', 'x', 'y'],
  RSA: ['kty', 'n', 'e'],
};

/** The public members only: a JWKS must never carry d, p, q, dp, dq, qi (private parts). */
export function publicJwkOf(key: KeyObject): JsonWebKey {
  const full = key.export({ format: 'jwk' });
  const members = PUBLIC_MEMBERS[full.kty ?? ''];
  if (!members) throw new Error(`unsupported key type ${full.kty}`);
  const out: JsonWebKey = {};
  for (const m of members) out[m] = full[m];
  return out;
}

/** Imports a public JWK for an algorithm, or null if the JWK does not fit that algorithm. */
export function importPublicJwk(alg: JwsAlg, jwk: JsonWebKey): KeyObject | null {
  try {
    const members = PUBLIC_MEMBERS[jwk.kty ?? ''];
    if (!members) return null;
    const pub: JsonWebKey = {};
    for (const m of members) pub[m] = jwk[m];
    const key = createPublicKey({ key: pub, format: 'jwk' });
    return keyFitsAlg(alg, key) ? key : null;
  } catch {
    return null;
  }
}
