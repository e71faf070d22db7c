import { Errors } from '../domain/errors.ts';
import { verifyAccessToken, TokenError, type AccessTokenClaims } from '../jwt/access-token.ts';
import type { AuthContext } from './context.ts';

/** Local verification of a Bearer access token (no store trip), plus the revoked-session set. */
export function authenticate(ctx: AuthContext, token: string): AccessTokenClaims {
  let claims: AccessTokenClaims;
  try {
    claims = verifyAccessToken(token, (kid) => ctx.keys.verificationKey(kid), {
      issuer: ctx.config.issuer,
      audience: ctx.config.audience,
      leewaySec: ctx.config.clockLeewaySec,
      maxLifetimeSec: ctx.config.accessTtlSec,
      now: ctx.now,
    });
  } catch (e) {
    if (e instanceof TokenError) throw Errors.invalidToken();
    throw e;
  }
  if (!ctx.config.clients.includes(claims.client_id)) throw Errors.invalidToken();
  if (ctx.revoked.has(claims.sid)) throw Errors.invalidToken();
  return claims;
}
