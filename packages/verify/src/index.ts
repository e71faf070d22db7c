/**
 * `@latchkey/verify`: local verification of Latchkey access tokens for resource servers (APIs).
 *
 *   const verifier = createVerifier({ issuer: 'https://auth.example.com', audience: 'https://api.example.com' });
 *   const claims = await verifier.verify(token); // or the Fastify / Express adapters
 *
 * DPoP-bound tokens (RFC 9449) go through `verifier.verifyRequest({ authorization, dpop, method, url })`.
 *
 * Keys come from the issuer's RFC 8414 metadata and JWKS only. Verification follows RFC 9068 §4
 * and RFC 8725 with the same code the server uses. Revoked sessions are refused once a
 * revocation source is given (`redisRevocationSource` from `@latchkey/verify/redis` in scale-out
 * deployments). The Fastify plugin is at `@latchkey/verify/fastify`, so that this entry needs no
 * framework's types.
 */
export { createVerifier, type Verifier, type VerifierOptions, type VerifiedClaims, type RequestCredentials } from './verifier.js';
export {
  VerifyError,
  isVerifyError,
  toRfc6750,
  bearerTokenFrom,
  credentialsFrom,
  DEFAULT_REALM,
  type AuthScheme,
  type Credentials,
  type DpopProofFailure,
  type VerifyErrorCode,
  type VerifyFailure,
  type Rfc6750Response,
  type Rfc6750Options,
} from './errors.js';
export type { RevocationSource, Revocation } from '@latchkey/core';
export type { FetchLike } from './jwks.js';
export { latchkeyExpress, type LatchkeyExpressOptions, type AuthenticatedRequest, type Middleware } from './express.js';
export type { AccessTokenClaims, TokenFailure } from '@latchkey/core';
