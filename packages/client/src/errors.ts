/**
 * Stable error codes. Server-provided RFC 6749/6750 codes (e.g. `invalid_client`,
 * `unsupported_grant_type`) pass through unchanged, hence the open `string` tail.
 */
export type LatchkeyErrorCode =
  | 'invalid_credentials'
  | 'email_taken'
  | 'rate_limited'
  /** The account is disabled by an operator (reason `account_disabled`). */
  | 'access_denied'
  | 'invalid_grant'
  | 'invalid_token'
  | 'invalid_request'
  | 'not_signed_in'
  | 'network_error'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'invalid_response'
  | 'storage_error'
  | 'client_disposed'
  | 'http_error'
  | (string & {});

/**
 * Where a failure lies, for the app's message: `network` (the server could not be reached, or
 * its answer was lost), `server` (it answered with a failure of its own: 5xx, 429, a malformed
 * answer), `session` (no session to use: signed out, ended, expired, revoked; sign in again),
 * `request` (the call itself was refused: wrong password, bad input), `client` (this client: its
 * storage failed, it was disposed).
 */
export type LatchkeyErrorKind = 'network' | 'server' | 'session' | 'request' | 'client';

const KIND_OF_CODE: Record<string, LatchkeyErrorKind> = {
  network_error: 'network',
  server_error: 'server',
  temporarily_unavailable: 'server',
  rate_limited: 'server',
  invalid_response: 'server',
  invalid_grant: 'session',
  not_signed_in: 'session',
  invalid_token: 'session',
  storage_error: 'client',
  client_disposed: 'client',
};

/** The kind of a code; codes passed through from the server (RFC 6749 ones) are `request` failures. */
export function kindOfCode(code: LatchkeyErrorCode): LatchkeyErrorKind {
  return KIND_OF_CODE[code] ?? 'request';
}

export interface LatchkeyErrorOptions {
  status?: number | undefined;
  /** The server's stable `reason` (e.g. `refresh_token_reused`), when it sent one. */
  reason?: string | undefined;
  /** Seconds, from the server's Retry-After header. */
  retryAfter?: number | undefined;
  /** Renewal requests sent before this error was given up on (only on renewal failures). */
  attempts?: number | undefined;
  cause?: unknown;
}

export class LatchkeyError extends Error {
  readonly code: LatchkeyErrorCode;
  readonly status?: number;
  /**
   * The server's stable, machine-readable reason (see the server's API reference): decide on
   * this, never on `message`, which is the server's prose and may be reworded in any release.
   */
  readonly reason?: string;
  readonly retryAfter?: number;
  /** Whether the network, the server, the session, the request or this client failed (derived from `code`). */
  readonly kind: LatchkeyErrorKind;
  /** On a renewal failure: how many refresh requests were sent (retries included) before giving up. */
  readonly attempts?: number;

  constructor(code: LatchkeyErrorCode, message: string, options: LatchkeyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LatchkeyError';
    this.code = code;
    this.kind = kindOfCode(code);
    if (options.attempts !== undefined) this.attempts = options.attempts;
    if (options.status !== undefined) this.status = options.status;
    if (options.reason !== undefined) this.reason = options.reason;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }
}

export function isLatchkeyError(value: unknown, code?: LatchkeyErrorCode): value is LatchkeyError {
  return value instanceof LatchkeyError && (code === undefined || value.code === code);
}

/** Errors worth retrying later with the same credentials; everything else is final. */
export function isTransient(error: unknown): boolean {
  return (
    isLatchkeyError(error) &&
    ['network_error', 'server_error', 'temporarily_unavailable', 'rate_limited', 'invalid_response'].includes(error.code)
  );
}

// Server text is not under our control, so anything shaped like a credential is masked
// before it can reach an error message (and from there a log or an error tracker).
const JWT_LIKE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;
const LONG_OPAQUE = /[A-Za-z0-9_+/=-]{40,}/g;
const MAX_MESSAGE_LENGTH = 300;

export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 8) out = out.split(secret).join('[redacted]');
  }
  out = out.replace(JWT_LIKE, '[redacted]').replace(LONG_OPAQUE, '[redacted]');
  return out.length > MAX_MESSAGE_LENGTH ? `${out.slice(0, MAX_MESSAGE_LENGTH)}…` : out;
}

const DEFAULT_MESSAGES: Record<string, string> = {
  invalid_credentials: 'email or password is incorrect',
  email_taken: 'an account with this email already exists',
  rate_limited: 'too many attempts; try again later',
  access_denied: 'this account is disabled',
  invalid_grant: 'the session has ended; sign in again',
  invalid_token: 'the access token was rejected',
  temporarily_unavailable: 'the auth server is temporarily unavailable',
  server_error: 'the auth server failed to handle the request',
};

const ERROR_CODE_SHAPE = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * Turns a non-2xx response into a LatchkeyError. `secrets` are values the caller knows
 * (current tokens, the password just sent) that must never be echoed into the message.
 */
export async function errorFromResponse(res: Response, secrets: readonly string[] = []): Promise<LatchkeyError> {
  let serverCode: string | undefined;
  let reason: string | undefined;
  let description: string | undefined;
  try {
    const body: unknown = JSON.parse(await res.text());
    if (body !== null && typeof body === 'object') {
      const { error, error_description, reason: serverReason } = body as Record<string, unknown>;
      if (typeof error === 'string' && ERROR_CODE_SHAPE.test(error)) serverCode = error;
      if (typeof serverReason === 'string' && ERROR_CODE_SHAPE.test(serverReason)) reason = serverReason;
      if (typeof error_description === 'string') description = error_description;
    }
  } catch {
    // Proxies and load balancers answer with HTML or nothing; the status still tells enough.
  }

  let code: LatchkeyErrorCode;
  if (res.status === 429) code = 'rate_limited';
  else if (res.status === 503) code = 'temporarily_unavailable';
  else if (res.status >= 500) code = 'server_error';
  else code = serverCode ?? 'http_error';

  const message = redact(description ?? DEFAULT_MESSAGES[code] ?? `request failed with status ${res.status}`, secrets);
  return new LatchkeyError(code, message, { status: res.status, reason, retryAfter: parseRetryAfter(res) });
}

function parseRetryAfter(res: Response): number | undefined {
  const value = res.headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  // Measured against the server's own Date header when present, so a wrong local clock
  // can't turn "wait 60 s" into "wait 6 hours" or "retry now".
  const serverNow = Date.parse(res.headers.get('date') ?? '');
  const reference = Number.isNaN(serverNow) ? Date.now() : serverNow;
  return Math.max(0, Math.ceil((at - reference) / 1000));
}

export function notSignedIn(): LatchkeyError {
  return new LatchkeyError('not_signed_in', 'not signed in');
}
