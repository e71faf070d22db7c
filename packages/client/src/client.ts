import { errorFromResponse, isLatchkeyError, isTransient, LatchkeyError, notSignedIn } from './errors.js';
import { Emitter, type ClientEvents, type SignedOutReason, type Unsubscribe } from './events.js';
import {
  discardBody,
  formRequest,
  isInvalidTokenChallenge,
  jsonRequest,
  readJsonObject,
  send,
  type FetchLike,
} from './http.js';
import { Dpop, webCryptoSubtle, type DpopOptions } from './dpop.js';
import type { ProofKey } from './dpop-key.js';
import { isAuthServerNonceChallenge, isResourceNonceChallenge } from './dpop-nonce.js';
import { isRenewalDue } from './renewal.js';
import { answerMayBeLost, backgroundBackoffMs, DEFAULT_RENEWAL_TIMEOUT_MS, waitingBackoffMs } from './renewal-retry.js';
import { toSessionList, toUser, type SessionInfo, type User } from './resources.js';
import { SingleFlight } from './single-flight.js';
import { memoryStorage, sameTokens, signedOutReasonOf, toStoredTokens, type StoredTokens, type TokenStorage } from './storage.js';
import { toStoredTokensFromResponse } from './token-response.js';

export interface ClientOptions {
  /** Origin (and optional path prefix) of the Latchkey server; '' means same origin in a browser. */
  baseUrl: string;
  /** Sent as `client_id`; omitted means the server's first configured client. */
  clientId?: string;
  /** Defaults to `memoryStorage()`; use `localStorageStorage()` to share sign-in across tabs. */
  storage?: TokenStorage;
  fetch?: FetchLike;
  /**
   * How long before expiry to renew. Default: min(30 s, 20 % of the token lifetime).
   * Capped at half the lifetime so a large value can't cause a refresh on every call.
   */
  refreshSkewMs?: number;
  /** Local clock in ms since the epoch. Only ever compared with values it produced itself. */
  now?: () => number;
  /**
   * DPoP (RFC 9449), on by default wherever WebCrypto exists: sessions are bound to a
   * non-extractable key of this device, so copied tokens are useless elsewhere. `false` signs in
   * with Bearer sessions; an object chooses the key store or algorithm.
   */
  dpop?: boolean | DpopOptions;
  /**
   * How long (ms) a renewal request may go unanswered before it counts as lost and is retried.
   * Default 10 000. Calls that need the renewal wait for it meanwhile.
   */
  renewalTimeoutMs?: number;
  /**
   * The origins (`https://api.example.com`) `fetch` may send the access token and its DPoP proof
   * to, besides the Latchkey server's own. Unset: any URL `fetch` is given (it is the app's
   * choice). Set, a request to any other origin goes out as a plain `fetch`, without credentials.
   */
  apiOrigins?: string[];
}

export interface LatchkeyClient {
  /**
   * Creates the account and signs in; when the server requires a confirmed address
   * (LATCHKEY_REQUIRE_VERIFIED_EMAIL) it resolves without signing in: confirm, then log in.
   */
  signup(email: string, password: string): Promise<User>;
  /** Confirms an address with the `token` of the emailed link (sign-up or address change). No sign-in needed. */
  verifyEmail(token: string): Promise<void>;
  /** Mails a new verification link to the signed-in user's address. */
  resendVerification(): Promise<void>;
  /** Asks for a password reset link; resolves the same whether or not the address has an account. */
  forgotPassword(email: string): Promise<void>;
  /** Sets a new password with the `token` of a reset link; every session of the account ends (sign in again). */
  resetPassword(token: string, password: string): Promise<void>;
  /** Changes the password (the current one is asked again); every other session ends, this one stays. */
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /** Starts an address change: the new address gets a confirmation link; nothing changes until it is followed. */
  changeEmail(newEmail: string, password: string): Promise<void>;
  /** Deletes the account (the password is asked again); signs out locally. */
  deleteAccount(password: string): Promise<void>;
  login(email: string, password: string): Promise<void>;
  /** Signs out locally at once (all tabs sharing the storage), then ends the session on the server, best effort. Never rejects for network reasons. */
  logout(): Promise<void>;
  me(): Promise<User>;
  /** The first page of the account's sessions (up to 100, oldest first); `listSessionPage` pages through the rest. */
  listSessions(): Promise<SessionInfo[]>;
  /** One page of the account's sessions, oldest first; pass the answer's `nextCursor` for the next (null on the last page). */
  listSessionPage(opts?: { limit?: number; cursor?: string | null }): Promise<{ sessions: SessionInfo[]; nextCursor: string | null }>;
  endSession(id: string): Promise<void>;
  endOtherSessions(): Promise<void>;
  /**
   * `fetch` with `Authorization: Bearer`, or `Authorization: DPoP` and a `DPoP` proof for a bound
   * session, renewed shortly before expiry and once more on a 401 `invalid_token` (then retried
   * once); a 401 `use_dpop_nonce` is retried once with the server's nonce. Network failures of the
   * call itself reject as plain `fetch` would; auth failures reject with LatchkeyError. A renewal
   * that fails for a transient reason never fails the call while a valid token is held; with none,
   * the call waits through the renewal's bounded retries first (README: what an app sees).
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * Renews now rather than near expiry (single-flight like every renewal), e.g. after a role change.
   * Transient failures are retried as for any renewal without a usable token, then reject.
   */
  renewNow(): Promise<void>;
  /** A usable access token (renewed if due), or null when signed out. */
  getAccessToken(): Promise<string | null>;
  /** Whether tokens are held locally; the server may still end the session at any time. */
  isSignedIn(): Promise<boolean>;
  /** Whether the session held is DPoP-bound to this device's key (false when signed out or Bearer). */
  isKeyBound(): Promise<boolean>;
  on<E extends keyof ClientEvents>(event: E, handler: (payload: ClientEvents[E]) => void): Unsubscribe;
  /** Stops listening to storage and drops all handlers. Does not sign out. */
  dispose(): void;
}

/**
 * Why a refresh returning `invalid_grant` signed us out, from the server's stable `reason`
 * (never its prose):
 * - `refresh_token_reused` → 'reuse_detected' (an older token of this session was replayed, so
 *   the server revoked the whole session);
 * - `session_expired` → 'expired' (absolute lifetime or idle timeout reached);
 * - `dpop_key_mismatch` → 'dpop_key_mismatch' (a refresh of this DPoP-bound session came with
 *   another key's proof, or none: a copy was used, so the server revoked the session);
 * - anything else (`session_ended`: ended from another device; a tampered token) → 'revoked'.
 * A 401 `invalid_token` that persists right after a successful renewal also maps to 'revoked'.
 * A sign-out observed through shared storage (another tab) is reported as 'logout'.
 */
export function signedOutReasonFor(error: LatchkeyError): SignedOutReason {
  if (error.reason === 'refresh_token_reused') return 'reuse_detected';
  if (error.reason === 'session_expired') return 'expired';
  if (error.reason === 'dpop_key_mismatch') return 'dpop_key_mismatch';
  return 'revoked';
}

export function createClient(options: ClientOptions): LatchkeyClient {
  if (typeof options.baseUrl !== 'string') throw new TypeError('createClient: baseUrl must be a string');
  const margin = options.refreshSkewMs;
  if (margin !== undefined && !(Number.isFinite(margin) && margin >= 0)) {
    throw new TypeError('createClient: refreshSkewMs must be a non-negative number');
  }
  const renewalTimeoutMs = options.renewalTimeoutMs ?? DEFAULT_RENEWAL_TIMEOUT_MS;
  if (!(Number.isFinite(renewalTimeoutMs) && renewalTimeoutMs > 0)) {
    throw new TypeError('createClient: renewalTimeoutMs must be a positive number');
  }
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const clientId = options.clientId;
  const storage = options.storage ?? memoryStorage();
  // Wrapped so a browser's fetch is never called with a foreign `this` ("Illegal invocation").
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const now = options.now ?? (() => Date.now());
  const subtle = options.dpop === false ? undefined : webCryptoSubtle();
  const dpop = subtle === undefined ? null : new Dpop(subtle, typeof options.dpop === 'object' ? options.dpop : {});

  const events = new Emitter<ClientEvents>();
  const refreshFlight = new SingleFlight<StoredTokens>();
  let tokens: StoredTokens | null = null;
  let disposed = false;
  let proactiveRetryNotBefore = 0;
  /** Renewal attempts failed for a transient reason in a row; sets the background back-off. */
  let renewalFailures = 0;
  let notifiedBeforeLoad = false;
  /** The reason in the storage's sign-out marker at the last read, if any. */
  let lastSignedOutReason: SignedOutReason | undefined;

  const url = (path: string) => `${baseUrl}${path}`;
  const allowedOrigins = options.apiOrigins ? new Set(options.apiOrigins.map((o) => new URL(o).origin)) : null;
  /** Whether a request to this URL gets the token (the server's own origin always does). */
  const carriesCredentials = (requestUrl: string): boolean => {
    if (allowedOrigins === null) return true;
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    const origin = new URL(requestUrl, base).origin;
    return origin === new URL(url('/'), base).origin || allowedOrigins.has(origin);
  };
  const secrets = (): string[] => (tokens ? [tokens.accessToken, tokens.refreshToken] : []);

  // ---- local state transitions -------------------------------------------------------

  /**
   * Take over tokens someone else wrote (another tab, or storage we re-read). A sign-out seen
   * this way carries the other tab's reason when the storage kept one (SignedOutMarker), so
   * every tab tells its user "reuse detected", not just the tab whose refresh found out.
   */
  function adopt(next: StoredTokens | null, reason: SignedOutReason | undefined = lastSignedOutReason): void {
    if (sameTokens(next, tokens)) return;
    const previous = tokens;
    tokens = next;
    proactiveRetryNotBefore = 0;
    if (next) events.emit('session', sessionEvent('adopted', next));
    else if (previous) events.emit('signedout', { reason: reason ?? 'logout' });
  }

  async function commit(next: StoredTokens, reason: 'signup' | 'login' | 'refresh'): Promise<void> {
    // Set before writing so our own write, echoed back by the storage, is recognised as ours.
    tokens = next;
    proactiveRetryNotBefore = 0;
    try {
      await storage.set(next);
    } catch {
      throw new LatchkeyError('storage_error', 'could not write to the token storage');
    } finally {
      events.emit('session', sessionEvent(reason, next));
    }
  }

  async function signOut(reason: SignedOutReason): Promise<void> {
    const previous = tokens;
    tokens = null;
    try {
      await storage.set(null, reason);
    } catch {
      // Nothing better to do: this client forgot the tokens, and they are dead server-side anyway.
    }
    if (previous) events.emit('signedout', { reason });
  }

  async function readStorage(): Promise<StoredTokens | null> {
    try {
      const value = await storage.get();
      lastSignedOutReason = signedOutReasonOf(value);
      return toStoredTokens(value);
    } catch {
      // No `cause`: an adapter's error could quote what it read.
      throw new LatchkeyError('storage_error', 'could not read the token storage');
    }
  }

  // ---- startup ----------------------------------------------------------------------

  const unsubscribeStorage = storage.subscribe?.((next) => {
    if (disposed) return;
    notifiedBeforeLoad = true;
    adopt(toStoredTokens(next), signedOutReasonOf(next));
  });

  const loaded: Promise<void> = (async () => {
    try {
      const first = storage.get();
      // Sync adapters are applied immediately, so isSignedIn() is right from the first tick.
      const value = isThenable(first) ? await first : first;
      if (!notifiedBeforeLoad) tokens = toStoredTokens(value);
    } catch {
      tokens = null;
    }
  })();

  async function ready(): Promise<void> {
    await loaded;
    if (disposed) throw new LatchkeyError('client_disposed', 'this client has been disposed');
  }

  // ---- DPoP ---------------------------------------------------------------------------

  /**
   * The key a bound session's requests must be signed with; null for a Bearer session. Without
   * it the tokens are useless: a proof by a fresh key with the old refresh token would be taken
   * for a stolen copy and revoke the session (noisily), so we sign out cleanly instead.
   */
  async function sessionKey(held: StoredTokens): Promise<ProofKey | null> {
    if (held.dpopJkt === undefined) return null;
    const key = dpop ? await dpop.keyFor(held.dpopJkt) : null;
    if (key) return key;
    if (sameTokens(tokens, held)) await signOut('dpop_key_lost');
    throw new LatchkeyError('invalid_grant', 'this device no longer has the key its session is bound to; sign in again', {
      reason: 'dpop_key_lost',
    });
  }

  /** A POST to the auth server's token-issuing endpoints, with a proof when there is a key (RFC 9449 §5). */
  function postToAuthServer(target: string, init: RequestInit, key: ProofKey | null): Promise<Response> {
    if (key === null || dpop === null) return send(fetchImpl, target, init);
    return dpop.send(key, { htm: 'POST', url: target }, isAuthServerNonceChallenge, (proof) => send(fetchImpl, target, withProofHeader(init, proof)));
  }

  // ---- renewal ----------------------------------------------------------------------

  /**
   * One refresh attempt, lockless across tabs: storage is re-read before sending (another tab
   * may have renewed already) and after any answer (another tab may have moved the chain on
   * or signed out meanwhile). Concurrent refreshes with the same token are safe because the
   * server's grace window hands every caller the same successor.
   */
  async function refreshOnce(rejectedAccessToken: string | undefined): Promise<StoredTokens> {
    const latest = await readStorage();
    adopt(latest);
    if (latest === null) throw notSignedIn();
    if (latest.accessToken !== rejectedAccessToken && !isRenewalDue(latest, now(), margin)) return latest;

    const key = await sessionKey(latest);
    events.emit('refresh', { at: now() });
    const issuedAt = now();
    const timer = requestDeadline(renewalTimeoutMs);
    let res: Response;
    let body: Record<string, unknown> | undefined;
    try {
      res = await postToAuthServer(
        url('/auth/token'),
        { ...formRequest({ grant_type: 'refresh_token', refresh_token: latest.refreshToken, client_id: clientId }), signal: timer.signal },
        key,
      );
      if (res.ok) body = await readJsonObject(res);
    } catch (error) {
      // A silent connection (a stalled proxy, a dead Wi-Fi) is a lost answer like a reset one.
      if (timer.fired()) throw new LatchkeyError('network_error', `the server did not answer the renewal within ${renewalTimeoutMs} ms`, { cause: error });
      throw error;
    } finally {
      timer.clear();
    }

    if (body !== undefined) {
      const next = toStoredTokensFromResponse(body, issuedAt, latest.refreshToken, key?.jkt);
      const current = await readStorage();
      if (current === null) {
        // Signed out in another tab while our request was in flight: don't resurrect the session.
        adopt(null);
        throw notSignedIn();
      }
      if (current.refreshToken !== latest.refreshToken) {
        // Another tab got there first (same grace successor, or a newer sign-in): keep theirs.
        adopt(current);
        return current;
      }
      await commit(next, 'refresh');
      return next;
    }

    const error = await errorFromResponse(res, [latest.accessToken, latest.refreshToken]);
    if (error.code !== 'invalid_grant') throw error; // transient or misconfiguration: keep the tokens
    // A session the store already removed after its deadline answers session_ended: past the
    // deadline the server gave, that is an expiry, not a revocation.
    const expiredAway = error.reason === 'session_ended' && latest.sessionExpiresAt !== undefined && now() >= latest.sessionExpiresAt;
    const reason = expiredAway ? 'expired' : signedOutReasonFor(error);
    const current = await readStorage();
    // Another tab stored a different chain meanwhile: ours lost a race, theirs is good. The one
    // exception: after reuse detection (or a copy used with another key), newer tokens of the SAME
    // session are revoked too.
    const sameRevokedSession =
      (reason === 'reuse_detected' || reason === 'dpop_key_mismatch') && current?.sessionId !== undefined && current.sessionId === latest.sessionId;
    if (current !== null && current.refreshToken !== latest.refreshToken && !sameRevokedSession) {
      adopt(current);
      return current;
    }
    await signOut(reason);
    throw error;
  }

  /** A token calls can go on with: held (ours or adopted from another tab), before its local deadline, not the one just refused. */
  function usableToken(rejectedAccessToken: string | undefined): StoredTokens | null {
    const held = tokens;
    if (held === null || held.accessToken === rejectedAccessToken || now() >= held.expiresAt) return null;
    return held;
  }

  /**
   * Renews, retrying transient failures with the same refresh token (the server answers a repeat
   * with the same successor, so a lost answer is recovered by asking again): at once when the
   * answer may have been lost, then, while a usable token is held, it is handed back and later
   * calls try again after a back-off (renewal-retry.ts); with none left, callers wait through a
   * bounded back-off with jitter, and only then see the error.
   */
  async function renewWithRetries(rejectedAccessToken: string | undefined): Promise<StoredTokens> {
    let attempts = 0;
    let pauses = 0;
    for (;;) {
      attempts++;
      let failure: unknown;
      try {
        const fresh = await refreshOnce(rejectedAccessToken);
        renewalFailures = 0;
        return fresh;
      } catch (error) {
        if (!isTransient(error)) throw error;
        failure = error;
      }
      renewalFailures++;
      if (attempts === 1 && answerMayBeLost(failure)) continue;
      // Another tab may have renewed meanwhile (issue 14: a 502 at the moment a tab adopted a
      // newer token went to the caller): whatever valid token is held now is good to go on with.
      try {
        adopt(await readStorage());
      } catch {
        // keep what we hold
      }
      if (tokens === null) throw notSignedIn();
      const usable = usableToken(rejectedAccessToken);
      if (usable !== null) {
        if (!isRenewalDue(usable, now(), margin)) renewalFailures = 0;
        else proactiveRetryNotBefore = now() + backgroundBackoffMs(renewalFailures, usable.expiresAt - now(), failure);
        return usable;
      }
      const pause = waitingBackoffMs(pauses++, failure);
      if (pause === null || disposed) throw withAttempts(failure, attempts);
      await sleep(pause);
    }
  }

  async function renew(rejectedAccessToken?: string): Promise<StoredTokens> {
    let fresh = await refreshFlight.run(() => renewWithRetries(rejectedAccessToken));
    // Joining a flight started for another reason can hand back the very token that was just
    // refused; one more (single-flight) attempt settles it.
    if (rejectedAccessToken !== undefined && fresh.accessToken === rejectedAccessToken) {
      fresh = await refreshFlight.run(() => renewWithRetries(rejectedAccessToken));
    }
    return fresh;
  }

  /** Tokens good to send now, renewing first when inside the renewal margin. */
  async function freshTokens(): Promise<StoredTokens> {
    await ready();
    if (tokens === null) adopt(await readStorage()); // storage without subscribe(): another tab may have signed in
    const current = tokens;
    if (current === null) throw notSignedIn();
    const at = now();
    if (!isRenewalDue(current, at, margin)) return current;
    if (at < proactiveRetryNotBefore && at < current.expiresAt) return current;
    try {
      return await renew();
    } catch (error) {
      // Renewing early is an optimisation: while a valid token is held (this one, or a newer one
      // another tab wrote meanwhile), a transient failure must not fail the caller's request.
      const usable = isTransient(error) ? usableToken(undefined) : null;
      if (usable !== null) return usable;
      throw error;
    }
  }

  // ---- authenticated requests ---------------------------------------------------------

  /**
   * One authorized request: Bearer, or for a bound session `Authorization: DPoP` with a proof
   * naming this request and hashing the token (RFC 9449 §7.1), retried once on a nonce challenge
   * (§9). `template` is cloned per attempt, so a body can be sent again.
   */
  async function sendAuthorized(template: Request, held: StoredTokens): Promise<Response> {
    const key = await sessionKey(held);
    if (key === null || dpop === null) {
      const request = template.clone();
      request.headers.set('authorization', `Bearer ${held.accessToken}`);
      return fetchImpl(request);
    }
    return dpop.send(key, { htm: template.method, url: template.url, accessToken: held.accessToken }, isResourceNonceChallenge, (proof) => {
      const request = template.clone();
      request.headers.set('authorization', `DPoP ${held.accessToken}`);
      request.headers.set('dpop', proof);
      return fetchImpl(request);
    });
  }

  async function authorizedFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // Built once and cloned per attempt, so a body can be sent again on the retry.
    const request = new Request(input, init);
    if (!carriesCredentials(request.url)) return fetchImpl(request);
    const first = await freshTokens();
    const response = await sendAuthorized(request, first);
    if (!(await isInvalidTokenChallenge(response))) return response;

    discardBody(response);
    const renewed = await renew(first.accessToken);
    const retry = await sendAuthorized(request, renewed);
    if ((await isInvalidTokenChallenge(retry)) && tokens?.accessToken === renewed.accessToken) {
      // A token minted moments ago is refused too: the session was ended server-side. Stop
      // here instead of renewing in a loop; the caller still gets the 401 response.
      await signOut('revoked');
    }
    return retry;
  }

  async function callApi(method: string, path: string, payload?: Record<string, string>): Promise<Response> {
    let res: Response;
    const init: RequestInit = payload === undefined ? { method, headers: { accept: 'application/json' } } : jsonRequest(method, payload);
    try {
      res = await authorizedFetch(url(path), init);
    } catch (error) {
      if (error instanceof LatchkeyError) throw error;
      throw new LatchkeyError('network_error', 'could not reach the server', { cause: error });
    }
    // Passwords and link tokens sent are secrets too: never echoed in an error message.
    if (!res.ok) throw await errorFromResponse(res, [...secrets(), ...Object.values(payload ?? {})]);
    return res;
  }

  /** A call that needs no sign-in (links from mail, forgotten passwords). */
  async function callPublic(path: string, payload: Record<string, string>): Promise<void> {
    const res = await send(fetchImpl, url(path), jsonRequest('POST', payload));
    if (!res.ok) throw await errorFromResponse(res, Object.values(payload));
    discardBody(res);
  }

  async function signIn(path: '/auth/signup' | '/auth/login', email: string, password: string) {
    await ready();
    // A proof on sign-in is what binds the new session to this device's key (RFC 9449 §5).
    const key = dpop ? await dpop.keyForSignIn() : null;
    const issuedAt = now();
    const res = await postToAuthServer(url(path), jsonRequest('POST', { email, password, client_id: clientId }), key);
    if (!res.ok) throw await errorFromResponse(res, [password]);
    const body = await readJsonObject(res);
    // 202: the account exists but the server wants its address confirmed before any session.
    return { body, tokens: res.status === 202 ? null : toStoredTokensFromResponse(body, issuedAt, undefined, key?.jkt) };
  }

  // ---- public API -------------------------------------------------------------------

  return {
    async signup(email, password) {
      const { body, tokens: next } = await signIn('/auth/signup', email, password);
      const user = toUser(body['user']);
      if (next !== null) await commit(next, 'signup');
      return user;
    },

    async verifyEmail(token) {
      await callPublic('/auth/email/verify', { token });
    },

    async resendVerification() {
      discardBody(await callApi('POST', '/auth/email/verify/resend'));
    },

    async forgotPassword(email) {
      await callPublic('/auth/password/forgot', { email });
    },

    async resetPassword(token, password) {
      await callPublic('/auth/password/reset', { token, password });
    },

    async changePassword(currentPassword, newPassword) {
      discardBody(await callApi('POST', '/auth/password', { current_password: currentPassword, new_password: newPassword }));
    },

    async changeEmail(newEmail, password) {
      discardBody(await callApi('POST', '/auth/email', { new_email: newEmail, password }));
    },

    async deleteAccount(password) {
      discardBody(await callApi('DELETE', '/auth/me', { password }));
      await signOut('logout');
    },

    async login(email, password) {
      const { tokens: next } = await signIn('/auth/login', email, password);
      if (next === null) throw new LatchkeyError('invalid_response', 'the server sent no tokens');
      await commit(next, 'login');
    },

    async logout() {
      await ready();
      let ending = tokens;
      try {
        ending = (await readStorage()) ?? tokens; // another tab may hold a newer rotation
      } catch {
        // fall back to what we hold
      }
      if (ending === null) return;
      tokens = ending;
      await signOut('logout');
      try {
        const key = ending.dpopJkt !== undefined && dpop ? await dpop.keyFor(ending.dpopJkt) : null;
        // A bound token without its key is refused anyway: go straight to revoking the refresh token.
        let accessTokenRefused = ending.dpopJkt !== undefined && key === null;
        if (!accessTokenRefused) {
          const logoutUrl = url('/auth/logout');
          const at = ending.accessToken;
          const res =
            key && dpop
              ? await dpop.send(key, { htm: 'POST', url: logoutUrl, accessToken: at }, isResourceNonceChallenge, (proof) =>
                  send(fetchImpl, logoutUrl, { method: 'POST', headers: { authorization: `DPoP ${at}`, dpop: proof, accept: 'application/json' } }),
                )
              : await send(fetchImpl, logoutUrl, { method: 'POST', headers: { authorization: `Bearer ${at}`, accept: 'application/json' } });
          accessTokenRefused = await isInvalidTokenChallenge(res);
          discardBody(res);
        }
        if (accessTokenRefused) {
          // The access token lapsed, but the refresh token still names the session (RFC 7009).
          const revoked = await send(
            fetchImpl,
            url('/auth/revoke'),
            formRequest({ token: ending.refreshToken, token_type_hint: 'refresh_token', client_id: clientId }),
          );
          discardBody(revoked);
        }
      } catch {
        // Best effort: this device has already forgotten the tokens, which is what protects it.
      }
    },

    async me() {
      const res = await callApi('GET', '/auth/me');
      return toUser((await readJsonObject(res))['user']);
    },

    async listSessions() {
      const res = await callApi('GET', '/auth/sessions');
      return toSessionList(await readJsonObject(res));
    },

    async listSessionPage(opts = {}) {
      const q = new URLSearchParams();
      if (opts.limit !== undefined) q.set('limit', String(opts.limit));
      if (opts.cursor) q.set('cursor', opts.cursor);
      const qs = q.toString();
      const body = await readJsonObject(await callApi('GET', `/auth/sessions${qs ? `?${qs}` : ''}`));
      // A server from before paging answers without next_cursor: everything was on one page.
      const next = body['next_cursor'];
      return { sessions: toSessionList(body), nextCursor: typeof next === 'string' ? next : null };
    },

    async endSession(id) {
      discardBody(await callApi('DELETE', `/auth/sessions/${encodeURIComponent(id)}`));
      if (tokens?.sessionId === id) await signOut('logout');
    },

    async endOtherSessions() {
      discardBody(await callApi('DELETE', '/auth/sessions?others=true'));
    },

    fetch: authorizedFetch,

    async renewNow() {
      await ready();
      const current = tokens ?? (await readStorage());
      if (current === null) throw notSignedIn();
      // Passing the current access token as "rejected" makes refreshOnce renew regardless of the margin.
      await renew(current.accessToken);
    },

    async getAccessToken() {
      try {
        return (await freshTokens()).accessToken;
      } catch (error) {
        if (isLatchkeyError(error, 'not_signed_in') || isLatchkeyError(error, 'invalid_grant')) return null;
        throw error;
      }
    },

    async isSignedIn() {
      await ready();
      if (tokens === null) adopt(await readStorage());
      return tokens !== null;
    },

    async isKeyBound() {
      await ready();
      if (tokens === null) adopt(await readStorage());
      return tokens?.dpopJkt !== undefined;
    },

    on(event, handler) {
      return events.on(event, handler);
    },

    dispose() {
      if (disposed) return;
      disposed = true;
      unsubscribeStorage?.();
      events.clear();
    },
  };
}

function sessionEvent(reason: ClientEvents['session']['reason'], tokens: StoredTokens): ClientEvents['session'] {
  const event: ClientEvents['session'] = { reason, expiresAt: tokens.expiresAt, keyBound: tokens.dpopJkt !== undefined };
  if (tokens.sessionId !== undefined) event.sessionId = tokens.sessionId;
  return event;
}

function withProofHeader(init: RequestInit, proof: string): RequestInit {
  const headers = new Headers(init.headers);
  headers.set('dpop', proof);
  return { ...init, headers };
}

/** The same error, saying how many renewal requests were tried before it was given up on. */
function withAttempts(error: unknown, attempts: number): unknown {
  if (!(error instanceof LatchkeyError)) return error;
  return new LatchkeyError(error.code, error.message, {
    status: error.status,
    reason: error.reason,
    retryAfter: error.retryAfter,
    attempts,
    cause: error.cause,
  });
}

/** A timer that aborts a request left unanswered; `fired` tells our timeout from the caller's abort. */
function requestDeadline(ms: number): { signal: AbortSignal; fired(): boolean; clear(): void } {
  const controller = new AbortController();
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    controller.abort();
  }, ms);
  return { signal: controller.signal, fired: () => fired, clear: () => clearTimeout(timer) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
