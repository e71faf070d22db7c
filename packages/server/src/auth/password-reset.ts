// Forgotten passwords (issue 10). The request answers 202 whatever the address: the lookup, the
// token and the mail happen after the answer, off the request's path, so status, body, headers
// and timing are the same whether or not an account exists (ASVS 5.0 V6.3.8 / V6.4.x). A reset
// link is single use, ≥ 128 bits (256), stored as a hash, lives 30 minutes, and dies on use, on a
// newer request and on any password change. A reset sets the password and ends every session
// of the user through the revocation feed, so their access tokens are refused at once everywhere.
import { Errors } from '../domain/errors.js';
import { checkEmailAddress } from '../domain/email-address.js';
import { hashLinkToken, newLinkToken } from '../domain/link-token.js';
import { checkNewPassword } from '../domain/password-policy.js';
import type { UserRecord } from '../store/types.js';
import { passwordPolicy } from './common-passwords.js';
import type { AuthContext } from './context.js';
import { accountId, sourceOf } from './login-throttle.js';
import { hashPassword } from './passwords.js';
import { queuedHashing } from './credentials.js';
import { endAllSessions } from './sessions.js';

export const RESET_LINK_TTL_MS = 30 * 60_000;
const WINDOW_MS = 3_600_000;
/** Links per address per hour: beyond it nothing more is sent (still 202: no mailbox flooding, no tell). */
export const RESET_ADDRESS_LIMIT = 3;
/** Requests per client IP (an IPv6 /64 counts as one) per hour: beyond it, 429. */
export const RESET_IP_LIMIT = 20;

// Work done after the 202, per server: tracked so that tests (and shutdown) can wait for it.
const background = new WeakMap<AuthContext, Set<Promise<void>>>();

export async function settleResetRequests(ctx: AuthContext): Promise<void> {
  await Promise.all([...(background.get(ctx) ?? [])]);
}

/** POST /auth/password/forgot. Throws only what is the same for every address (bad input, 429, 503). */
export async function forgotPassword(ctx: AuthContext, rawEmail: string, ip: string | undefined): Promise<void> {
  const now = ctx.now();
  const source = sourceOf(ip);
  if (source) {
    const { count, resetAt } = await ctx.stores.rateLimits.hit(`forgot:ip:${source}`, WINDOW_MS, now);
    if (count > RESET_IP_LIMIT) {
      ctx.events({ event: 'password.reset_throttled', ip, reason: 'ip' });
      throw Errors.rateLimited(Math.max(1, Math.ceil((resetAt - now) / 1000)));
    }
  }
  const checked = checkEmailAddress(rawEmail);
  // An address that could never have been registered has no account: nothing to do, same answer.
  if (!checked.ok) return;
  const email = checked.email;
  // setImmediate: not even a microtask of this request, whose answer is written first.
  const work = new Promise<void>((r) => setImmediate(r)).then(async () => {
    try {
      // Counted per address whether or not it has an account, so the limit tells nothing either.
      const { count } = await ctx.stores.rateLimits.hit(forgotAddressKey(email), WINDOW_MS, now);
      if (count > RESET_ADDRESS_LIMIT) {
        ctx.events({ event: 'password.reset_throttled', ip, reason: 'address' });
        return;
      }
      const user = await ctx.stores.users.findUserByEmail(email);
      if (!user || user.disabledAt) {
        ctx.events({ event: 'password.reset_requested', ip, reason: user ? 'disabled' : 'unknown_address' });
        return;
      }
      const { token, hash } = newLinkToken();
      // Replaces any older reset link of the user: only the newest works.
      await ctx.stores.accountTokens.issueAccountToken({ hash, purpose: 'reset_password', userId: user.id, email: user.email, createdAt: now, expiresAt: now + RESET_LINK_TTL_MS });
      ctx.mailer.sendLink('reset_password', user.email, token);
      ctx.events({ event: 'password.reset_requested', userId: user.id, ip });
    } catch {
      // A store outage after the answer: the user asks again. Never surfaces, never tells.
      ctx.events({ event: 'password.reset_requested', ip, reason: 'store_failed' });
    }
  });
  let set = background.get(ctx);
  if (!set) background.set(ctx, (set = new Set()));
  set.add(work);
  void work.finally(() => set.delete(work));
}

/**
 * Sets a new password: reset links die, every session but `keepSid` ends (revoked through the
 * feed), and the account's address is told. Shared by reset (keeps none) and change (keeps the caller's).
 */
export async function applyNewPassword(ctx: AuthContext, user: UserRecord, newHash: string, keepSid: string | undefined, reason: string): Promise<void> {
  if (!(await ctx.stores.users.replacePasswordHash(user.id, newHash))) throw Errors.linkTokenInvalid();
  await ctx.stores.accountTokens.deleteAccountTokens(user.id, ['reset_password']);
  await endAllSessions(ctx, user.id, keepSid, reason);
  ctx.mailer.sendNotice('password_changed', user.email);
}

/** The password rules (domain/password-policy.ts) as the refusal the client gets. */
export function assertAcceptablePassword(password: string, email: string): void {
  const pw = checkNewPassword(passwordPolicy(), password, email);
  if (!pw.ok) throw Errors.policyRefused(pw.rule, pw.description);
}

/** POST /auth/password/reset. */
/** The per-address reset counter: a hash of the address, never the address itself, in the rate-limit store. */
export function forgotAddressKey(email: string): string {
  return `forgot:email:${accountId(email)}`;
}

export async function resetPassword(ctx: AuthContext, token: string, password: string): Promise<void> {
  const hash = hashLinkToken(token);
  const refuse = () => {
    ctx.events({ event: 'password.reset_failed' });
    return Errors.linkTokenInvalid();
  };
  if (hash === null) throw refuse();
  // Peek first: a password the rules refuse must not spend the link.
  const pending = await ctx.stores.accountTokens.peekAccountToken(hash, ['reset_password'], ctx.now());
  if (!pending) throw refuse();
  assertAcceptablePassword(password, pending.email);
  const newHash = await queuedHashing(ctx, 'login', () => hashPassword(password));
  const record = await ctx.stores.accountTokens.consumeAccountToken(hash, ['reset_password'], ctx.now());
  const user = record ? await ctx.stores.users.findUserById(record.userId) : null;
  // The account must still have the address the link went to, and must not be disabled.
  if (!record || !user || user.email !== record.email || user.disabledAt) throw refuse();
  await applyNewPassword(ctx, user, newHash, undefined, 'password_reset');
  // Following the link proved the address, too.
  await ctx.stores.users.markEmailVerified(user.id, user.email, ctx.now());
  ctx.events({ event: 'password.reset', userId: user.id });
}
