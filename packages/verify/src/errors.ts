// Stable error codes for resource servers, and their RFC 6750 §3 HTTP form. The public text is
// fixed per code, and the response's `reason` is one of the server's own (@latchkey/core
// REASONS), so clients handle an API's refusals and the server's alike. The precise failure
// (`VerifyError.reason`) is for the API's own logs and tests, never the response: an attacker
// probing tokens learns nothing about which check failed.
import { dpopChallenge, type DpopFailure, type Reason, type TokenFailure } from '@latchkey/core';

export type VerifyErrorCode = 'invalid_token' | 'invalid_dpop_proof' | 'temporarily_unavailable';

/** Why a DPoP proof (RFC 9449 §4.3, §7) did not prove possession of the token's key. */
export type DpopProofFailure =
  /** `Authorization: DPoP …` without a `DPoP` header. */
  | 'proof_missing'
  /** More than one `DPoP` header, or one holding several comma-joined values (§4.3 check 1). */
  | 'proof_multiple'
  /** A valid proof, but by another key than the token's `cnf.jkt` (§6.1). */
  | 'proof_key_mismatch'
  /** The proof's `jti` was seen before within the proof window (§11.1). */
  | 'proof_replayed'
  | `proof_${Exclude<DpopFailure, 'replayed' | 'use_nonce'>}`;

export type VerifyFailure =
  | TokenFailure
  /** The token's session (`sid`) was revoked: logout, session ended, refresh-token reuse. */
  | 'revoked'
  /** No Bearer credentials at all (adapters only): RFC 6750 §3.1 says answer without an error code. */
  | 'missing_token'
  /** Metadata or JWKS could not be fetched on a cold start, so nothing can be verified yet. */
  | 'jwks_unavailable'
  /** The revocation source's initial load failed: verifying without it could admit revoked sessions. */
  | 'revocations_unavailable'
  /** A DPoP-bound token (`cnf.jkt`) came as Bearer, or to `verify()`, which has no proof to check (RFC 9449 §7.1). */
  | 'token_bound'
  /** An unbound token came with the DPoP scheme: a DPoP token is always bound to a key (RFC 9449 §7.1). */
  | 'token_not_bound'
  /** More than one Authorization header. */
  | 'authorization_multiple'
  | DpopProofFailure;

/** The authentication scheme the refusal concerns: it picks the challenge (RFC 6750 §3 or RFC 9449 §7.1). */
export type AuthScheme = 'Bearer' | 'DPoP';

export class VerifyError extends Error {
  /** DPoP whenever a DPoP token or a bound token was involved; the answer then carries the DPoP challenge. */
  readonly scheme: AuthScheme;

  constructor(
    readonly code: VerifyErrorCode,
    readonly reason: VerifyFailure,
    options?: { cause?: unknown; scheme?: AuthScheme },
  ) {
    super(`access token not accepted: ${reason}`, options);
    this.name = 'VerifyError';
    this.scheme = options?.scheme ?? 'Bearer';
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
 * Where a DPoP token or a DPoP-bound token was involved the challenge is RFC 9449 §7.1's
 * `DPoP error=…, algs=…` instead of Bearer's, so the client learns which scheme to use.
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
      headers: { ...noStore, 'WWW-Authenticate': err.scheme === 'DPoP' ? dpopChallenge() : `Bearer realm="${realm}"` },
      body: { error: 'invalid_token', error_description: 'access token required', reason: 'access_token_missing' },
    };
  }
  if (err.code === 'invalid_dpop_proof') {
    const description = 'DPoP proof is invalid';
    return {
      status: 401,
      headers: { ...noStore, 'WWW-Authenticate': dpopChallenge('invalid_dpop_proof', description) },
      body: { error: 'invalid_dpop_proof', error_description: description, reason: 'dpop_proof_invalid' },
    };
  }
  if (err.reason === 'token_bound') {
    const description = 'access token is DPoP-bound: send it with the DPoP scheme and a proof';
    return {
      status: 401,
      headers: { ...noStore, 'WWW-Authenticate': dpopChallenge('invalid_token', description) },
      body: { error: 'invalid_token', error_description: description, reason: 'access_token_bound' },
    };
  }
  const reason: Reason = err.reason === 'revoked' ? 'session_revoked' : 'access_token_invalid';
  if (err.scheme === 'DPoP') {
    const description = 'access token is invalid';
    return {
      status: 401,
      headers: { ...noStore, 'WWW-Authenticate': dpopChallenge('invalid_token', description) },
      body: { error: 'invalid_token', error_description: description, reason },
    };
  }
  const description = 'access token is invalid';
  return {
    status: 401,
    headers: { ...noStore, 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token", error_description="${description}"` },
    body: { error: 'invalid_token', error_description: description, reason },
  };
}

/**
 * RFC 6750 §2.1: the token comes from the Authorization header only (never a query string or
 * body). Returns the token, or null when there are no Bearer credentials at all: another scheme,
 * or `Bearer` with nothing after it (as the server treats them). Anything else after `Bearer ` is
 * returned as-is and fails verification as malformed.
 */
export function bearerTokenFrom(header: string | string[] | undefined): string | null {
  const c = credentialsFrom(header);
  return c?.scheme === 'Bearer' ? c.token : null;
}

export interface Credentials {
  scheme: AuthScheme;
  token: string;
}

/**
 * The Bearer (RFC 6750 §2.1) or DPoP (RFC 9449 §7.1) credentials of an Authorization header;
 * null when there are none (no header, another scheme, or a scheme with nothing after it). The
 * scheme name is case-insensitive (RFC 9110 §11.1).
 */
export function credentialsFrom(header: string | string[] | undefined): Credentials | null {
  if (typeof header !== 'string') return null;
  const space = header.indexOf(' ');
  if (space === -1) return null;
  const name = header.slice(0, space).toLowerCase();
  const scheme: AuthScheme | null = name === 'bearer' ? 'Bearer' : name === 'dpop' ? 'DPoP' : null;
  if (scheme === null) return null;
  const token = header.slice(space + 1).trim();
  return token === '' ? null : { scheme, token };
}
