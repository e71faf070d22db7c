import { parseCompactJws, TokenError, verifyParsedAccessToken, type AccessTokenClaims, type VerifyOptions } from '@latchkey/core';
import { Errors } from '../domain/errors.js';
import type { AuthContext } from './context.js';

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
