import { encodeRefreshToken } from '../domain/refresh-token.js';
import { newJti } from '../domain/ids.js';
import { sessionKeyId } from '../domain/key-binding.js';
import { sessionDeadline } from '../domain/session.js';
import { signAccessToken } from '../jwt/signing.js';
import type { SessionRecord } from '../domain/session.js';
import type { AuthContext } from './context.js';

/** RFC 6749 §5.1 token response. */
export interface TokenResponse {
  access_token: string;
  /** RFC 9449 §5: `DPoP` when the tokens are bound to the key of the request's proof. */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  refresh_token: string;
  /**
   * Seconds until the session ends unless used (the earlier of its absolute end and its idle
   * deadline, from now): a client that later hears `session_ended` past this time knows the
   * session expired, even when the store has already removed it (issue 14 item 3).
   */
  refresh_expires_in: number;
}

/**
 * `jkt`: the full RFC 7638 thumbprint of a bound session's key, from the verified proof of this
 * request (the session stores only its first 16 bytes, domain/key-binding.ts).
 */
export function issueAccessToken(ctx: AuthContext, s: Pick<SessionRecord, 'id' | 'userId' | 'clientId'>, emailVerified: boolean, jkt: string | null = null): string {
  const iat = Math.floor(ctx.now() / 1000);
  // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti are required; sid names the session.
  return signAccessToken(ctx.keys.signingKey(), {
    iss: ctx.config.issuer,
    sub: s.userId,
    aud: ctx.config.audience,
    exp: iat + ctx.config.accessTtlSec,
    iat,
    jti: newJti(),
    client_id: s.clientId,
    sid: s.id,
    // Whether the account's address was proven by a link sent to it (issue 10; the OIDC claim's name).
    email_verified: emailVerified,
    // RFC 9449 §6.1: resource servers accept the token only with a proof by this key.
    ...(jkt ? { cnf: { jkt } } : {}),
  });
}

/**
 * Access token for the session plus the refresh token of the session's current generation. A
 * bound session's tokens are bound to `jkt`, which the caller has checked is the session's key.
 */
export function tokenResponse(ctx: AuthContext, s: SessionRecord, emailVerified: boolean, jkt: string | null = null): TokenResponse {
  const bound = s.keyId ? jkt : null;
  if (s.keyId && (!jkt || sessionKeyId(jkt) !== s.keyId)) throw new Error('a bound session’s tokens need its own key’s thumbprint');
  return {
    access_token: issueAccessToken(ctx, s, emailVerified, bound),
    token_type: bound ? 'DPoP' : 'Bearer',
    expires_in: ctx.config.accessTtlSec,
    refresh_token: encodeRefreshToken(ctx.keys.mac, { sessionId: s.id, generation: s.generation }),
    refresh_expires_in: Math.max(0, Math.floor((sessionDeadline(s, ctx.config.sessionIdleSec * 1000) - ctx.now()) / 1000)),
  };
}
