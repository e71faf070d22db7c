import { boundThumbprint, parseCompactJws, TokenError, verifyParsedAccessToken, type AccessTokenClaims, type VerifyOptions } from '@latchkey/core';
import { Errors } from '../domain/errors.js';
import type { AuthContext } from './context.js';
import { requestProof, type DpopRequest } from './dpop.js';

function verifyOptions(ctx: AuthContext): VerifyOptions {
  return {
    issuer: ctx.config.issuer,
    audience: ctx.config.audience,
    leewaySec: ctx.config.clockLeewaySec,
    maxLifetimeSec: ctx.config.accessTtlSec,
    now: ctx.now,
  };
}

/**
 * Local verification of a Bearer access token (no store trip), plus the revoked-session set.
 * A token seen before skips only the signature check (@latchkey/core's VerifiedTokenCache, the
 * same one @latchkey/verify uses): time and revocation are checked on every call.
 */
export function authenticate(ctx: AuthContext, token: string): Readonly<AccessTokenClaims> {
  let claims: Readonly<AccessTokenClaims>;
  const keyFor = (kid: string) => ctx.keys.verificationKey(kid);
  try {
    const opts = verifyOptions(ctx);
    const hit = ctx.verifiedTokens.lookup(token, keyFor, opts);
    if (hit) claims = hit;
    else {
      const parsed = parseCompactJws(token);
      const key = keyFor(parsed.header.kid);
      claims = Object.freeze(verifyParsedAccessToken(parsed, () => key, opts));
      if (key) ctx.verifiedTokens.remember(token, claims, key);
    }
  } catch (e) {
    if (e instanceof TokenError) throw Errors.invalidToken();
    throw e;
  }
  if (!ctx.config.clients.includes(claims.client_id)) throw Errors.invalidToken();
  if (ctx.revoked.has(claims.sid)) throw Errors.sessionRevoked();
  return claims;
}

/**
 * RFC 9449 §7: a bound token (`cnf.jkt`) only with the DPoP scheme and a proof by its key naming
 * this token (`ath`) and this request; an unbound one only as Bearer (RFC 6750). The verified-token
 * cache above skips only the token's signature check, never the proof's.
 */
export async function authenticateRequest(
  ctx: AuthContext,
  scheme: 'bearer' | 'dpop',
  token: string,
  dpop: DpopRequest,
): Promise<Readonly<AccessTokenClaims>> {
  const claims = authenticate(ctx, token);
  const jkt = boundThumbprint(claims);
  if (scheme === 'bearer') {
    if (jkt !== null) throw Errors.boundToken();
    return claims;
  }
  if (jkt === null) throw Errors.boundToken();
  const proof = await requestProof(ctx, dpop, token);
  if (!proof || proof.jkt !== jkt) throw Errors.invalidDpopProofAtResource();
  return claims;
}
