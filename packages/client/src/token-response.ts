import { LatchkeyError } from './errors.js';
import { readUnverifiedSessionId } from './jwt-claims.js';
import type { StoredTokens } from './storage.js';

/**
 * Turns an RFC 6749 §5.1 token response into stored tokens. `issuedAt` is the local time the
 * request was SENT: the server can only have started the lifetime after that, so counting
 * from it errs on the early side even when the response is slow to arrive.
 * `previousRefreshToken` covers servers that don't rotate (no `refresh_token` in a refresh
 * response); Latchkey always rotates.
 */
export function toStoredTokensFromResponse(
  body: Record<string, unknown>,
  issuedAt: number,
  previousRefreshToken?: string,
  /** Thumbprint of the key whose proof went with the request, if one did. */
  proofJkt?: string,
): StoredTokens {
  const { access_token, refresh_token, expires_in, token_type, refresh_expires_in } = body;
  const type = typeof token_type === 'string' ? token_type.toLowerCase() : token_type;
  const refreshToken = typeof refresh_token === 'string' && refresh_token !== '' ? refresh_token : previousRefreshToken;
  if (
    typeof access_token !== 'string' ||
    access_token === '' ||
    refreshToken === undefined ||
    typeof expires_in !== 'number' ||
    !Number.isFinite(expires_in) ||
    expires_in < 0 ||
    (type !== undefined && type !== 'bearer' && type !== 'dpop') ||
    // RFC 9449 §5: "DPoP" answers a proof; without one sent it names a key we don't have.
    (type === 'dpop' && proofJkt === undefined)
  ) {
    throw new LatchkeyError('invalid_response', 'the server sent an incomplete token response');
  }
  const tokens: StoredTokens = {
    accessToken: access_token,
    refreshToken,
    expiresAt: issuedAt + expires_in * 1000,
    issuedAt,
  };
  const sessionId = readUnverifiedSessionId(access_token);
  if (sessionId !== undefined) tokens.sessionId = sessionId;
  if (type === 'dpop') tokens.dpopJkt = proofJkt;
  if (typeof refresh_expires_in === 'number' && Number.isFinite(refresh_expires_in) && refresh_expires_in >= 0) {
    tokens.sessionExpiresAt = issuedAt + refresh_expires_in * 1000;
  }
  return tokens;
}
