import { LatchkeyError } from './errors.js';

/** The subset of `fetch` the client needs; lets callers inject an instrumented or polyfilled one. */
export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/**
 * Calls fetch and maps transport failures to `network_error`. Aborts stay untouched:
 * a caller that aborted expects its own AbortError back, not an auth error.
 */
export async function send(fetchImpl: FetchLike, input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  try {
    return await fetchImpl(input, init);
  } catch (error) {
    if (isAbortError(error)) throw error;
    throw new LatchkeyError('network_error', networkErrorMessage(input), { cause: error });
  }
}

/**
 * A browser reports a CORS refusal as a bare network failure, indistinguishable from an outage,
 * so when the call crossed origins the message says what to check (issue 12: a cross-origin SPA
 * used to get only `network_error`).
 */
function networkErrorMessage(input: RequestInfo | URL): string {
  const page = (globalThis as { location?: { origin?: unknown } }).location?.origin;
  if (typeof page !== 'string' || page === 'null') return 'could not reach the server';
  let target: string;
  try {
    target = new URL(typeof input === 'string' || input instanceof URL ? input : input.url, page).origin;
  } catch {
    return 'could not reach the server';
  }
  if (target === page) return 'could not reach the server';
  return `could not reach the server at ${target}; from ${page} this is also how a CORS refusal looks: check that the server lists ${page} in LATCHKEY_CORS_ORIGINS`;
}

function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}

export async function readJsonObject(res: Response): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    // No `cause`: a JSON SyntaxError quotes the body it choked on, which may hold a token.
    throw new LatchkeyError('invalid_response', 'the server sent a response that is not JSON', { status: res.status });
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new LatchkeyError('invalid_response', 'the server sent an unexpected JSON shape', { status: res.status });
  }
  return body as Record<string, unknown>;
}

export function jsonRequest(method: string, payload: unknown): RequestInit {
  return {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(payload),
  };
}

/**
 * Form encoding is RFC 6749's native format for the token endpoint and, unlike JSON, is a
 * CORS "simple" content type: a cross-origin refresh costs one round trip, not two.
 */
export function formRequest(fields: Record<string, string | undefined>): RequestInit {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) body.set(name, value);
  }
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: body.toString(),
  };
}

/**
 * RFC 6750 §3: only `error="invalid_token"` means "this token is no good, get another";
 * a bare `Bearer` challenge or a 401 for other reasons must not trigger a renewal.
 */
export async function isInvalidTokenChallenge(res: Response): Promise<boolean> {
  if (res.status !== 401) return false;
  const challenge = res.headers.get('www-authenticate');
  if (challenge !== null) return /(?:^|[\s,])error\s*=\s*"?invalid_token"?/i.test(challenge);
  // Cross-origin, the challenge header is invisible unless the API lists it in
  // Access-Control-Expose-Headers; the documented JSON body is the fallback signal.
  try {
    const body: unknown = await res.clone().json();
    return typeof body === 'object' && body !== null && (body as { error?: unknown }).error === 'invalid_token';
  } catch {
    return false;
  }
}

/** Frees the connection of a response we're about to replace with a retry. */
export function discardBody(res: Response): void {
  res.body?.cancel().catch(() => {});
}
