import { Errors } from '../domain/errors.ts';
import { checkTime, parseCompactJws, TokenError, verifyParsedAccessToken, type AccessTokenClaims, type VerifyOptions } from '../jwt/access-token.ts';
import type { AuthContext } from './context.ts';

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
 * A token seen before skips only the signature check (the costliest step, ~110 µs for EdDSA
 * here): its key must still be trusted, and time and revocation are checked on every call.
 */
export function authenticate(ctx: AuthContext, token: string): AccessTokenClaims {
  let claims: AccessTokenClaims;
  try {
    const hit = ctx.verifiedTokens.get(token);
    if (hit && ctx.keys.verificationKey(hit.kid)) {
      checkTime(hit.claims, verifyOptions(ctx));
      claims = hit.claims;
    } else {
      const parsed = parseCompactJws(token);
      claims = Object.freeze(verifyParsedAccessToken(parsed, (kid) => ctx.keys.verificationKey(kid), verifyOptions(ctx)));
      ctx.verifiedTokens.set(token, { claims, kid: parsed.header.kid });
    }
  } catch (e) {
    if (e instanceof TokenError) {
      ctx.verifiedTokens.delete(token);
      throw Errors.invalidToken();
    }
    throw e;
  }
  if (!ctx.config.clients.includes(claims.client_id)) throw Errors.invalidToken();
  if (ctx.revoked.has(claims.sid)) throw Errors.invalidToken();
  return claims;
}
