// What a signed-in user does to their own account (issue 10): change the password, change the
// address, delete the account. Each needs the current password, checked like a login: a wrong one
// counts toward the login throttle of the account (ASVS 5.0 V6.3.1), so a stolen access token
// cannot be used to guess the password.
import { AuthError, Errors } from '../domain/errors.js';
import { checkEmailAddress } from '../domain/email-address.js';
import { newLinkToken } from '../domain/link-token.js';
import type { UserRecord } from '../store/types.js';
import type { AuthContext } from './context.js';
import { VERIFY_LINK_TTL_MS } from './email-verification.js';
import { loginThrottle } from './login-throttle.js';
import { applyNewPassword, assertAcceptablePassword, forgotAddressKey } from './password-reset.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { queuedHashing } from './credentials.js';
import { endAllSessions } from './sessions.js';

/** 403, not 401: the access token is fine (a 401 would make clients renew it), the password is not. */
const wrongPassword = () => new AuthError('invalid_credentials', 'credentials_invalid', 'the password is incorrect', { status: 403 });

/** The caller's account, its password checked through the login throttle; throws otherwise. */
async function withPassword(ctx: AuthContext, userId: string, password: string, ip: string | undefined, event: 'password.change_failed' | 'email.change_failed' | 'account.delete_failed'): Promise<UserRecord> {
  const user = await ctx.stores.users.findUserById(userId);
  if (!user) throw Errors.invalidToken();
  const throttle = loginThrottle(ctx, user.email, ip);
  try {
    await throttle.check();
    // A signed-in caller: the trusted lane of the hashing queue (issue 12).
    if (!(await queuedHashing(ctx, 'trusted', () => verifyPassword(user.passwordHash, password)))) {
      await throttle.failed();
      ctx.events({ event, userId, ip, reason: 'wrong_password' });
      throw wrongPassword();
    }
    await throttle.succeeded();
  } finally {
    await throttle.release().catch(() => {});
  }
  return user;
}

/** POST /auth/password: every other session ends (feed-revoked); the caller's stays; a notice is mailed. */
export async function changePassword(ctx: AuthContext, userId: string, sid: string, input: { current_password: string; new_password: string }, ip: string | undefined): Promise<void> {
  const user = await withPassword(ctx, userId, input.current_password, ip, 'password.change_failed');
  assertAcceptablePassword(input.new_password, user.email);
  await applyNewPassword(ctx, user, await queuedHashing(ctx, 'trusted', () => hashPassword(input.new_password)), sid, 'password_changed');
  ctx.events({ event: 'password.changed', userId, sessionId: sid, ip });
}

/**
 * POST /auth/email: nothing changes until the new address confirms (POST /auth/email/verify with
 * the link sent to it); the old address is told. Whether the new address is free is decided only
 * then, by the unique index, so this answer says nothing about other accounts.
 */
export async function requestEmailChange(ctx: AuthContext, userId: string, input: { new_email: string; password: string }, ip: string | undefined): Promise<void> {
  const user = await withPassword(ctx, userId, input.password, ip, 'email.change_failed');
  const checked = checkEmailAddress(input.new_email);
  if (!checked.ok) throw checked.rule === 'email_malformed' ? Errors.invalidRequest(checked.description) : Errors.policyRefused(checked.rule, checked.description);
  if (checked.email === user.email) throw Errors.invalidRequest('new_email is the current address');
  const { token, hash } = newLinkToken();
  const now = ctx.now();
  await ctx.stores.accountTokens.issueAccountToken({ hash, purpose: 'change_email', userId, email: checked.email, createdAt: now, expiresAt: now + VERIFY_LINK_TTL_MS });
  ctx.mailer.sendLink('email_change_requested', checked.email, token);
  ctx.mailer.sendNotice('email_changed', user.email);
  ctx.events({ event: 'email.change_requested', userId, ip });
}

/** DELETE /auth/me: every session ends at once, then the user's records go; the address may sign up again. */
export async function deleteAccount(ctx: AuthContext, userId: string, password: string, ip: string | undefined): Promise<void> {
  const user = await withPassword(ctx, userId, password, ip, 'account.delete_failed');
  // Sessions first: a user row without sessions is harmless, sessions without a user are not.
  const ended = await endAllSessions(ctx, userId, undefined, 'account_deleted');
  await ctx.stores.accountTokens.deleteAccountTokens(userId);
  await ctx.stores.users.deleteUser(userId);
  // A login that was past its password check when the row went may have made a session since.
  await endAllSessions(ctx, userId, undefined, 'account_deleted');
  // Rate-limit keys derived from this account (the login throttle's were reset by the password check).
  await Promise.all([ctx.stores.rateLimits.reset(`verify-resend:${userId}`), ctx.stores.rateLimits.reset(forgotAddressKey(user.email))]);
  ctx.mailer.sendNotice('account_deleted', user.email);
  ctx.events({ event: 'account.deleted', userId, ip, reason: `${ended.length} sessions ended` });
}
