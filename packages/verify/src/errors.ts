// Stable error codes for resource servers, and their RFC 6750 §3 HTTP form. The public text is
// fixed per code, and the response's `reason` is one of the server's own (@latchkey/core
// REASONS), so clients handle an API's refusals and the server's alike. The precise failure
// (`VerifyError.reason`) is for the API's own logs and tests, never the response: an attacker
// probing tokens learns nothing about which check failed.
import type { Reason, TokenFailure } from '@latchkey/core';

export type VerifyErrorCode = 'invalid_token' | 'temporarily_unavailable';

export type VerifyFailure =
  | TokenFailure
  /** The token's session (`sid`) was revoked: logout, session ended, refresh-token reuse. */
  | 'revoked'
  /** No Bearer credentials at all (adapters only): RFC 6750 §3.1 says answer without an error code. */
  | 'missing_token'
  /** Metadata or JWKS could not be fetched on a cold start, so nothing can be verified yet. */
  | 'jwks_unavailable'
  /** The revocation source's initial load failed: verifying without it could admit revoked sessions. */
  | 'revocations_unavailable';

export class VerifyError extends Error {
  constructor(
    readonly code: VerifyErrorCode,
    readonly reason: VerifyFailure,
    options?: { cause?: unknown },
  ) {
    super(`access token not accepted: ${reason}`, options);
    this.name = 'VerifyError';
  }
}

export function isVerifyError(e: unknown): e is VerifyError {
  return e instanceof VerifyError;
}

export interface Rfc6750Response {
  status: 401 | 503;
  headers: Record<string, string>;
  body: { error: VerifyErrorCode; error_description: string; reason: Reason };
}

export interface Rfc6750Options {
  /** RFC 6750 §3 realm: names the protected API in the challenge. */
  realm?: string;
}

export const DEFAULT_REALM = 'latchkey';

/** A realm goes inside a quoted-string (RFC 7235 §2.2): refuse what would need escaping. */
function quotedRealm(realm: string): string {
  if (!/^[\x20-\x7e]{0,128}$/.test(realm) || /["\\]/.test(realm)) throw new TypeError('realm must be printable ASCII without quotes or backslashes');
  return realm;
}

/**
 * The response an API should send for a failed verification. Missing credentials get the bare
 * challenge (RFC 6750 §3.1: no error code in it); a bad token gets `error="invalid_token"`; an
 * unreachable issuer on a cold start is 503 with Retry-After, since the token may well be fine.
 * The body mirrors the Latchkey server's own Bearer errors, so clients handle both alike.
 */
export function toRfc6750(err: VerifyError, opts: Rfc6750Options = {}): Rfc6750Response {
  const realm = quotedRealm(opts.realm ?? DEFAULT_REALM);
  const noStore = { 'Cache-Control': 'no-store' };
  if (err.code === 'temporarily_unavailable') {
    return {
      status: 503,
      headers: { ...noStore, 'Retry-After': '1' },
      body: { error: 'temporarily_unavailable', error_description: 'token verification is temporarily unavailable; retry shortly', reason: 'unavailable' },
    };
  }
  if (err.reason === 'missing_token') {
    return {
      status: 401,
      headers: { ...noStore, 'WWW-Authenticate': `Bearer realm="${realm}"` },
      body: { error: 'invalid_token', error_description: 'access token required', reason: 'access_token_missing' },
    };
  }
  const description = 'access token is invalid';
  return {
    status: 401,
    headers: { ...noStore, 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token", error_description="${description}"` },
    body: { error: 'invalid_token', error_description: description, reason: err.reason === 'revoked' ? 'session_revoked' : 'access_token_invalid' },
  };
}

/**
 * RFC 6750 §2.1: the token comes from the Authorization header only (never a query string or
 * body). Returns the token, or null when there are no Bearer credentials at all: another scheme,
 * or `Bearer` with nothing after it (as the server treats them). Anything else after `Bearer ` is
 * returned as-is and fails verification as malformed.
 */
export function bearerTokenFrom(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  if (header.length < 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') return null;
  const token = header.slice(7).trim();
  return token === '' ? null : token;
}
