// The demo page: every piece of the flow on one screen, using the real client library.
import { createClient, isLatchkeyError, localStorageStorage, type SignedOutReason } from '@latchkey/client';
import { replayWithOwnKey, replayWithoutProof, type ReplayOutcome } from './thief.js';

const STORAGE_KEY = 'latchkey.tokens';
const params = new URLSearchParams(location.search);
const intervalMs = Math.max(50, Number(params.get('interval')) || 1000);

const client = createClient({ baseUrl: '', storage: localStorageStorage(STORAGE_KEY) });

/** What the browser tests read; counts only, never a token. */
const stats = {
  apiOk: 0,
  apiFailed: 0,
  refreshRequests: 0,
  renewalsSeen: 0,
  signedOut: null as null | { reason: SignedOutReason; at: number },
  lastError: '',
  /** Whether the session held is DPoP-bound to this browser's key; null when signed out. */
  keyBound: null as null | boolean,
  /** What the server answered the simulated thief (status and reason only). */
  theft: null as null | { status: number; reason: string | null; at: number },
};
(window as unknown as { __latchkeyDemo: typeof stats }).__latchkeyDemo = stats;
/** Set by "simulate theft": what the thief got, told along with the sign-out it causes. */
let theftReport = '';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

interface Stored {
  refreshToken: string;
  expiresAt: number;
  issuedAt?: number;
  dpopJkt?: string;
}

function storedTokens(): Stored | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Stored) : null;
  } catch {
    return null;
  }
}

function show(signedIn: boolean): void {
  $('signed-in').hidden = !signedIn;
  $('signed-out').hidden = signedIn;
}

function notice(text: string, bad = false): void {
  const n = $('notice');
  n.textContent = text;
  n.className = bad ? 'notice bad' : 'notice';
  n.hidden = false;
}

/** The session's binding, as the client reports it: DPoP (useless without this browser's key) or Bearer. */
function showBinding(bound: boolean | null): void {
  stats.keyBound = bound;
  const el = $('binding');
  el.textContent = bound === null ? '–' : bound ? "bound to this browser's key (DPoP)" : 'Bearer (not bound to a key)';
  el.className = bound ? 'tag' : 'tag bearer';
  el.dataset.bound = bound === null ? '' : bound ? 'dpop' : 'bearer';
}

function time(d: string): string {
  return new Date(d).toLocaleTimeString();
}

function logRenewal(text: string): void {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} — ${text}`;
  const log = $('renewal-log');
  log.prepend(li);
  while (log.children.length > 30) log.lastElementChild?.remove();
}

// ---- the protected API loop --------------------------------------------------------------

let apiTimer: number | undefined;
let apiInFlight = false;

async function callApi(): Promise<void> {
  if (apiInFlight) return;
  apiInFlight = true;
  try {
    const r = await client.fetch('/demo/api/ping');
    if (r.ok) {
      stats.apiOk++;
      $('api-last').textContent = `200 at ${new Date().toLocaleTimeString()}`;
    } else {
      stats.apiFailed++;
      stats.lastError = `HTTP ${r.status}`;
      $('api-last').textContent = `HTTP ${r.status}`;
    }
  } catch (e) {
    // A sign-out is reported by its own event; anything else is a failed call.
    if (!(isLatchkeyError(e) && stats.signedOut)) {
      stats.apiFailed++;
      stats.lastError = isLatchkeyError(e) ? e.code : 'network';
    }
    $('api-last').textContent = isLatchkeyError(e) ? e.code : 'network error';
  } finally {
    apiInFlight = false;
    $('api-ok').textContent = String(stats.apiOk);
    $('api-failed').textContent = String(stats.apiFailed);
  }
}

function startApiLoop(): void {
  stopApiLoop();
  $('interval').textContent = String(intervalMs);
  apiTimer = window.setInterval(() => void callApi(), intervalMs);
  void callApi();
}

function stopApiLoop(): void {
  if (apiTimer !== undefined) window.clearInterval(apiTimer);
  apiTimer = undefined;
}

// ---- token life meter ------------------------------------------------------------------

window.setInterval(() => {
  const t = storedTokens();
  if (!t) return;
  const left = Math.max(0, t.expiresAt - Date.now());
  const total = t.issuedAt ? t.expiresAt - t.issuedAt : left;
  $('life').textContent = (left / 1000).toFixed(1);
  $('life-bar').style.width = `${total > 0 ? Math.min(100, (left / total) * 100) : 0}%`;
}, 100);

// ---- sessions --------------------------------------------------------------------------

async function renderSessions(): Promise<void> {
  const list = $('sessions');
  try {
    const sessions = await client.listSessions();
    list.replaceChildren(
      ...sessions.map((s) => {
        const li = document.createElement('li');
        const label = document.createElement('span');
        label.textContent = `${s.device} · since ${time(s.createdAt)} · used ${time(s.lastUsedAt)}`;
        if (s.current) {
          const tag = document.createElement('span');
          tag.className = 'tag';
          tag.textContent = 'this tab';
          label.append(tag);
        }
        li.append(label);
        if (!s.current) {
          const end = document.createElement('button');
          end.type = 'button';
          end.className = 'secondary small-btn';
          end.textContent = 'End';
          end.dataset.sessionId = s.id;
          end.addEventListener('click', async () => {
            await client.endSession(s.id).catch(() => undefined);
            await renderSessions();
          });
          li.append(end);
        }
        return li;
      }),
    );
  } catch {
    list.replaceChildren();
  }
}

// ---- sign-in state ---------------------------------------------------------------------

async function enterSignedIn(): Promise<void> {
  stats.signedOut = null;
  stats.theft = null;
  theftReport = '';
  show(true);
  showBinding(await client.isKeyBound());
  try {
    const me = await client.me();
    $('who').textContent = me.email;
    $('verified-state').textContent = me.emailVerified ? 'confirmed' : 'not confirmed yet';
    $('resend').hidden = me.emailVerified;
  } catch {
    /* the sign-out event, if any, explains */
  }
  startApiLoop();
  await renderSessions();
}

const REASONS: Record<SignedOutReason, string> = {
  logout: 'You signed out.',
  expired: 'Your session expired. Please sign in again.',
  reuse_detected: "Signed out: a copy of this session's refresh token was replayed, so the server revoked the whole session (possible token theft).",
  revoked: 'Signed out: this session was ended.',
  dpop_key_lost: 'Signed out: this browser no longer has the key its session was bound to (site data cleared). Please sign in again.',
  dpop_key_mismatch: 'Signed out: a copy of this session was used without its key, so the server revoked the whole session (possible token theft).',
};

client.on('signedout', ({ reason }) => {
  stats.signedOut = { reason, at: Date.now() };
  stopApiLoop();
  show(false);
  showBinding(null);
  notice(theftReport ? `${theftReport} This tab is signed out (reason: ${reason}).` : REASONS[reason], reason !== 'logout');
  document.body.dataset.signedOutReason = reason;
});

client.on('refresh', () => {
  stats.refreshRequests++;
});

client.on('session', ({ reason, keyBound }) => {
  showBinding(keyBound);
  if (reason === 'refresh' || reason === 'adopted') {
    stats.renewalsSeen++;
    $('renewals').textContent = String(stats.renewalsSeen);
    logRenewal(reason === 'refresh' ? 'renewed silently' : 'adopted tokens renewed by another tab');
  }
});

async function submit(kind: 'login' | 'signup'): Promise<void> {
  const email = $<HTMLInputElement>('email').value;
  const password = $<HTMLInputElement>('password').value;
  const err = $('auth-error');
  err.hidden = true;
  try {
    if (kind === 'signup') await client.signup(email, password);
    else await client.login(email, password);
    $('notice').hidden = true;
    delete document.body.dataset.signedOutReason;
    await enterSignedIn();
  } catch (e) {
    err.textContent = isLatchkeyError(e) ? messageFor(e.code) : 'Something went wrong.';
    err.hidden = false;
  }
}

function messageFor(code: string): string {
  switch (code) {
    case 'invalid_credentials':
      return 'Email or password is incorrect.';
    case 'email_taken':
      return 'An account with this email already exists. Log in instead.';
    case 'rate_limited':
      return 'Too many failed attempts. Try again later.';
    case 'invalid_request':
      return 'Check the email and use a password of 8 to 1024 characters that is not a common one.';
    case 'access_denied':
      return 'Confirm your email address first: follow the link sent to it (see the outbox below in development).';
    default:
      return 'The server could not be reached. Try again shortly.';
  }
}

$('auth-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void submit('login');
});
$('signup').addEventListener('click', () => void submit('signup'));
$('logout').addEventListener('click', () => void client.logout());
$('refresh-sessions').addEventListener('click', () => void renderSessions());
$('end-others').addEventListener('click', async () => {
  await client.endOtherSessions().catch(() => undefined);
  await renderSessions();
});

$('theft').addEventListener('click', async () => {
  const out = $('theft-result');
  // The attacker copies the refresh token this tab holds now...
  const copy = storedTokens();
  if (!copy) return;
  let outcome: ReplayOutcome;
  if (copy.dpopJkt !== undefined) {
    // ...but not this browser's key, which never leaves it. Even the current token is worthless
    // without it: the thief signs with a key of its own, and the server takes that for a copy
    // (RFC 9449 §5), revoking the session.
    outcome = await replayWithOwnKey(copy.refreshToken);
  } else {
    // A Bearer session: this tab renews twice (as it would over time), so the copy is no longer
    // the immediate predecessor that the grace window would still honour; then the replay.
    try {
      await client.renewNow();
      await client.renewNow();
    } catch {
      return;
    }
    outcome = await replayWithoutProof(copy.refreshToken);
  }
  stats.theft = { status: outcome.status, reason: outcome.reason ?? null, at: Date.now() };
  document.body.dataset.theft = outcome.reason ?? String(outcome.status);
  const refused = `${outcome.status} ${outcome.error ?? ''}, ${outcome.reason ?? 'no reason'}`;
  if (outcome.status === 200) {
    out.textContent = 'The server answered 200: the copy was still honoured. Try again.';
  } else {
    theftReport =
      outcome.reason === 'dpop_key_mismatch'
        ? `Simulated theft: this session's refresh token was replayed from a browser without this one's key (signed with the thief's own key). The server refused the copy (${refused}) and revoked the whole session.`
        : outcome.reason === 'refresh_token_reused'
          ? `Simulated theft: an old refresh token of this session was replayed. The server refused it (${refused}) and revoked the whole session.`
          : `Simulated theft: the replayed copy was refused (${refused}).`;
    out.textContent = `${theftReport} Watch this tab: its next call is refused.`;
  }
  out.hidden = false;
});

// ---- emailed links and the dev outbox -----------------------------------------------------

interface OutboxMessage {
  kind: string;
  to: string;
  subject: string;
  link: string | null;
  at: string;
}

/** The dev outbox (no SMTP configured): 404 otherwise, and the card stays hidden. */
async function renderOutbox(): Promise<void> {
  const r = await fetch('/demo/api/outbox').catch(() => null);
  if (!r || !r.ok) return;
  const { messages } = (await r.json()) as { messages: OutboxMessage[] };
  $('dev-outbox').hidden = false;
  $('outbox').replaceChildren(
    ...messages.map((m) => {
      const li = document.createElement('li');
      const label = document.createElement('span');
      label.textContent = `${time(m.at)} · to ${m.to} · ${m.subject}`;
      li.append(label);
      if (m.link) {
        const a = document.createElement('a');
        a.href = m.link;
        a.textContent = 'Open link';
        a.dataset.kind = m.kind;
        li.append(a);
      }
      return li;
    }),
  );
}

/** Shown for a failed account call: the stable reason decides, never the server's prose. */
function accountMessage(e: unknown): string {
  if (!isLatchkeyError(e)) return 'Something went wrong.';
  switch (e.reason) {
    case 'credentials_invalid':
      return 'That password is incorrect.';
    case 'password_common':
      return 'That password is too common; choose another.';
    case 'password_matches_email':
      return 'The password must not be your email address.';
    case 'link_token_invalid':
      return 'This link is invalid, used or expired. Ask for a new one.';
    case 'rate_limited':
      return 'Too many attempts. Try again later.';
    default:
      return e.reason?.startsWith('email_') ? 'That address cannot be used (it holds hidden or look-alike characters, or is not an address).' : 'Something went wrong.';
  }
}

function accountResult(text: string, bad = false): void {
  const out = $('account-result');
  out.textContent = text;
  out.className = bad ? 'small error' : 'small';
  out.hidden = false;
}

/** A page opened from an emailed link: take the token out of the address bar, then use it. */
let resetToken: string | null = null;
async function followLink(): Promise<void> {
  const token = params.get('token');
  const page = location.pathname.split('/').pop();
  if (!token || (page !== 'verify-email' && page !== 'reset-password')) return;
  history.replaceState(null, '', '/demo/');
  if (page === 'reset-password') {
    resetToken = token;
    $('reset').hidden = false;
    return;
  }
  try {
    await client.verifyEmail(token);
    notice('Your email address is confirmed.');
    document.body.dataset.verified = 'yes';
  } catch (e) {
    notice(accountMessage(e), true);
    document.body.dataset.verified = 'no';
  }
}

$('reset-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const err = $('reset-error');
  err.hidden = true;
  try {
    await client.resetPassword(resetToken ?? '', $<HTMLInputElement>('reset-password').value);
    $('reset').hidden = true;
    notice('Your password is set and every session has ended. Log in with the new password.');
    document.body.dataset.reset = 'done';
  } catch (x) {
    err.textContent = accountMessage(x);
    err.hidden = false;
  }
});

$('forgot-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const email = $<HTMLInputElement>('email').value;
  if (!email) {
    notice('Enter your email above first.', true);
    return;
  }
  try {
    await client.forgotPassword(email);
    notice('If an account has this address, a reset link is on its way.');
  } catch (x) {
    notice(accountMessage(x), true);
  }
});

$('resend').addEventListener('click', async () => {
  try {
    await client.resendVerification();
    accountResult('A new confirmation link is on its way.');
  } catch (x) {
    accountResult(accountMessage(x), true);
  }
});

$('change-password-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    await client.changePassword($<HTMLInputElement>('cp-current').value, $<HTMLInputElement>('cp-new').value);
    accountResult('Password changed; every other session has ended.');
    await renderSessions();
  } catch (x) {
    accountResult(accountMessage(x), true);
  }
});

$('change-email-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    await client.changeEmail($<HTMLInputElement>('ce-email').value, $<HTMLInputElement>('ce-password').value);
    accountResult('A confirmation link went to the new address; your address changes once you follow it.');
  } catch (x) {
    accountResult(accountMessage(x), true);
  }
});

$('delete-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!window.confirm('Delete your account for good?')) return;
  try {
    await client.deleteAccount($<HTMLInputElement>('del-password').value);
    notice('Your account is deleted.');
  } catch (x) {
    accountResult(accountMessage(x), true);
  }
});

$('reload-outbox').addEventListener('click', () => void renderOutbox());
window.setInterval(() => void renderOutbox(), 2000);

void (async () => {
  await followLink();
  void renderOutbox();
  if (await client.isSignedIn()) await enterSignedIn();
  else show(false);
})();
