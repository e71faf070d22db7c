// Errors carry a stable code and a fixed public description; details only ever go to the log
// (ASVS 5.0 V16: no internal messages in responses).

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_grant'
  | 'invalid_client'
  | 'unsupported_grant_type'
  | 'invalid_token'
  | 'invalid_credentials'
  | 'email_taken'
  | 'not_found'
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'server_error';

export class AuthError extends Error {
  readonly code: ErrorCode;
  /** Fixed, public text: never built from input or internals. */
  readonly publicDescription: string;
  readonly extra: { retryAfterSec?: number };

  constructor(code: ErrorCode, publicDescription: string, extra: { retryAfterSec?: number } = {}) {
    // An AuthError is an answer, not a fault: capturing a stack trace was 12 % of the CPU spent
    // refusing a forged refresh token (bench/profile.ts), and the trace is never shown or logged.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${code}: ${publicDescription}`);
    Error.stackTraceLimit = limit;
    this.name = 'AuthError';
    this.code = code;
    this.publicDescription = publicDescription;
    this.extra = extra;
  }
}

// The refusal every forged refresh token gets: immutable and stackless, so one instance serves all.
const MALFORMED_REFRESH_TOKEN = Object.freeze(new AuthError('invalid_grant', 'refresh token is invalid'));

export const Errors = {
  malformedRefreshToken: () => MALFORMED_REFRESH_TOKEN,
  refreshReuse: () => new AuthError('invalid_grant', 'refresh token reuse detected; session revoked'),
  sessionExpired: () => new AuthError('invalid_grant', 'session expired'),
  wrongClient: () => new AuthError('invalid_grant', 'refresh token was issued to another client'),
  unsupportedGrant: () => new AuthError('unsupported_grant_type', 'only grant_type=refresh_token is supported'),
  unknownClient: () => new AuthError('invalid_client', 'unknown client_id'),
  invalidCredentials: () => new AuthError('invalid_credentials', 'email or password is incorrect'),
  emailTaken: () => new AuthError('email_taken', 'an account with this email already exists'),
  invalidToken: (why = 'access token is invalid') => new AuthError('invalid_token', why),
  notFound: () => new AuthError('not_found', 'not found'),
  rateLimited: (retryAfterSec: number) => new AuthError('rate_limited', 'too many failed attempts; retry later', { retryAfterSec }),
  unavailable: () => new AuthError('temporarily_unavailable', 'a backing store is unavailable; retry shortly'),
  invalidRequest: (why: string) => new AuthError('invalid_request', why),
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
