import { encodeRefreshToken } from '../domain/refresh-token.js';
import { newJti } from '../domain/ids.js';
import { signAccessToken } from '../jwt/signing.js';
import type { SessionRecord } from '../domain/session.js';
import type { AuthContext } from './context.js';

/** RFC 6749 §5.1 token response. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
}

export function issueAccessToken(ctx: AuthContext, s: Pick<SessionRecord, 'id' | 'userId' | 'clientId'>, emailVerified: boolean): string {
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
  });
}

/** Access token for the session plus the refresh token of the session's current generation. */
export function tokenResponse(ctx: AuthContext, s: SessionRecord, emailVerified: boolean): TokenResponse {
  return {
    access_token: issueAccessToken(ctx, s, emailVerified),
    token_type: 'Bearer',
    expires_in: ctx.config.accessTtlSec,
    refresh_token: encodeRefreshToken(ctx.keys.mac, { sessionId: s.id, generation: s.generation }),
  };
}
