// One Ed25519 key and one claim set shape for the token micro-benchmarks, so sign.ts and
// verify.ts measure the same token.
import { newJti } from '../../packages/server/src/domain/ids.js';
import { publicJwkOf } from '../../packages/core/src/jwt/algorithms.js';
import { generateSigningKeyPair } from '../../packages/server/src/jwt/signing.js';
import type { AccessTokenClaims } from '../../packages/core/src/jwt/access-token.js';
import { jwkThumbprint } from '../../packages/core/src/jwt/thumbprint.js';

export function benchSigningKey() {
  const { privateKey, publicKey } = generateSigningKeyPair('EdDSA');
  const jwk = publicJwkOf(publicKey);
  const kid = jwkThumbprint(jwk);
  return { privateKey, publicKey, jwk, kid, signingKey: { kid, alg: 'EdDSA' as const, privateKey } };
}

/** RFC 9068 claims of a 300 s token issued now, with fresh jti and sid. */
export function sampleClaims(issuer: string, audience: string): AccessTokenClaims {
  const iat = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    sub: '0b6e5f7e-2a55-4a0f-9d6e-6a3d2f1c9b11',
    aud: audience,
    exp: iat + 300,
    iat,
    // The server's pooled ids: a randomBytes call per id would cost more than the signature does.
    jti: newJti(),
    client_id: 'app',
    sid: newJti(),
  };
}
