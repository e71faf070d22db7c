// Errors carry a stable code, a stable reason (@latchkey/core's REASONS: what clients decide on)
// and a fixed public description (for people; free to be reworded). Details only ever go to the
// log (ASVS 5.0 V16: no internal messages in responses).
import type { Reason } from '@latchkey/core';

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_grant'
  | 'invalid_client'
  | 'unsupported_grant_type'
  | 'invalid_token'
  /** RFC 9449 §5.2 / §7.1. */
  | 'invalid_dpop_proof'
  /** RFC 9449 §8: retry with the `DPoP-Nonce` the answer carries. */
  | 'use_dpop_nonce'
  | 'invalid_credentials'
  | 'email_taken'
  | 'not_found'
  | 'rate_limited'
  | 'access_denied'
  | 'temporarily_unavailable'
  | 'server_error';

export interface ErrorExtra {
  retryAfterSec?: number;
  status?: number;
  /** A resource route's refusal that concerns a DPoP-bound token: challenge with `WWW-Authenticate: DPoP` (RFC 9449 §7.1). */
  dpopChallenge?: boolean;
}

export class AuthError extends Error {
  readonly code: ErrorCode;
  readonly reason: Reason;
  /** Fixed, public text: never built from input or internals. */
  readonly publicDescription: string;
  /** `status`: where the code's usual status does not fit (a bad link token is 400, not a Bearer 401). */
  readonly extra: ErrorExtra;

  constructor(code: ErrorCode, reason: Reason, publicDescription: string, extra: ErrorExtra = {}) {
    // An AuthError is an answer, not a fault: capturing a stack trace was 12 % of the CPU spent
    // refusing a forged refresh token (bench/profile.ts), and the trace is never shown or logged.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${code}: ${publicDescription}`);
    Error.stackTraceLimit = limit;
    this.name = 'AuthError';
    this.code = code;
    this.reason = reason;
    this.publicDescription = publicDescription;
    this.extra = extra;
  }
}

// The refusal every forged refresh token gets: immutable and stackless, so one instance serves all.
const MALFORMED_REFRESH_TOKEN = Object.freeze(new AuthError('invalid_grant', 'refresh_token_invalid', 'refresh token is invalid'));

export const DESCRIPTIONS = {
  refreshReuse: 'refresh token reuse detected; session revoked',
  sessionEnded: 'session has ended',
  sessionExpired: 'session expired',
  sessionRevoked: 'session has been revoked',
  accessTokenInvalid: 'access token is invalid',
  unavailable: 'a backing store is unavailable; retry shortly',
} as const;

export const Errors = {
  malformedRefreshToken: () => MALFORMED_REFRESH_TOKEN,
  refreshReuse: () => new AuthError('invalid_grant', 'refresh_token_reused', DESCRIPTIONS.refreshReuse),
  sessionEnded: () => new AuthError('invalid_grant', 'session_ended', DESCRIPTIONS.sessionEnded),
  sessionExpired: () => new AuthError('invalid_grant', 'session_expired', DESCRIPTIONS.sessionExpired),
  invalidDpopProof: () => new AuthError('invalid_dpop_proof', 'dpop_proof_invalid', 'DPoP proof is invalid'),
  invalidDpopProofAtResource: () => new AuthError('invalid_dpop_proof', 'dpop_proof_invalid', 'DPoP proof is invalid', { status: 401, dpopChallenge: true }),
  dpopProofRequired: () => new AuthError('invalid_dpop_proof', 'dpop_proof_required', 'a DPoP proof is required'),
  useDpopNonce: () => new AuthError('use_dpop_nonce', 'dpop_nonce_required', 'a DPoP proof with the server nonce is required'),
  /** RFC 9449 §7.1: a bound token sent as Bearer, or an unbound one with the DPoP scheme. */
  boundToken: () => new AuthError('invalid_token', 'access_token_bound', 'access token requires the DPoP scheme and a proof by its key', { dpopChallenge: true }),
  keyMismatch: () => new AuthError('invalid_grant', 'dpop_key_mismatch', 'refresh token used without its session’s DPoP key; session revoked'),
  wrongClient: () => new AuthError('invalid_grant', 'client_mismatch', 'refresh token was issued to another client'),
  unsupportedGrant: () => new AuthError('unsupported_grant_type', 'grant_type_unsupported', 'only grant_type=refresh_token is supported'),
  unknownClient: () => new AuthError('invalid_client', 'client_unknown', 'unknown client_id'),
  invalidCredentials: () => new AuthError('invalid_credentials', 'credentials_invalid', 'email or password is incorrect'),
  emailTaken: () => new AuthError('email_taken', 'email_taken', 'an account with this email already exists'),
  invalidToken: () => new AuthError('invalid_token', 'access_token_invalid', DESCRIPTIONS.accessTokenInvalid),
  sessionRevoked: () => new AuthError('invalid_token', 'session_revoked', DESCRIPTIONS.sessionRevoked),
  notFound: () => new AuthError('not_found', 'not_found', 'not found'),
  rateLimited: (retryAfterSec: number, description = 'too many failed attempts; retry later') =>
    new AuthError('rate_limited', 'rate_limited', description, { retryAfterSec }),
  // Issue 12 item 3: the password-hashing queue is full; a bounded queue answers instead of growing.
  busy: (retryAfterSec: number) => new AuthError('temporarily_unavailable', 'busy', 'the server is busy; retry shortly', { retryAfterSec }),
  unavailable: () => new AuthError('temporarily_unavailable', 'unavailable', DESCRIPTIONS.unavailable),
  invalidRequest: (why: string) => new AuthError('invalid_request', 'request_invalid', why),
  /** A refused address or password: the reason and description name the rule (fixed texts, never the input). */
  policyRefused: (reason: Reason, description: string) => new AuthError('invalid_request', reason, description),
  // ASVS 5.0 V7.4: a disabled account gets no session; said only after the password check.
  accountDisabled: () => new AuthError('access_denied', 'account_disabled', 'this account is disabled'),
  adminKeyInvalid: () => new AuthError('invalid_token', 'admin_key_invalid', 'admin API key required'),
  // Issue 10: bad, used and expired link tokens alike (no telling which), 400 and no Bearer challenge.
  linkTokenInvalid: () => new AuthError('invalid_token', 'link_token_invalid', 'the link is invalid, used or expired', { status: 400 }),
  // ASVS 5.0 V6.4: said only after the password check, so it tells nothing to someone without it.
  emailUnverified: () => new AuthError('access_denied', 'email_unverified', 'confirm your email address first: follow the link sent to it'),
  originNotAllowed: () => new AuthError('access_denied', 'origin_not_allowed', 'requests from this origin are not allowed'),
};

/** Thrown by store adapters when their backend cannot be reached; HTTP maps it to 503. */
export class StoreUnavailableError extends Error {
  constructor(store: string, cause?: unknown) {
    super(`${store} unavailable`, { cause });
    this.name = 'StoreUnavailableError';
  }
}

export class EmailTakenError extends Error {
  constructor() {
    super('email taken');
    this.name = 'EmailTakenError';
  }
}
