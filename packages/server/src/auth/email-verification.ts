// Proving an address (issue 10): sign-up sends a link; following it marks the address verified.
// The access token says so (`email_verified`), and with LATCHKEY_REQUIRE_VERIFIED_EMAIL login of
// an unverified account is refused after the password check (credentials.ts).
import { EmailTakenError, Errors } from '../domain/errors.js';
import { hashLinkToken, newLinkToken } from '../domain/link-token.js';
import type { UserRecord } from '../store/types.js';
import type { AuthContext } from './context.js';

export const VERIFY_LINK_TTL_MS = 24 * 3_600_000;
/** Resends per account per hour (Bearer-authenticated: a limit says nothing about others). */
export const RESEND_LIMIT = 5;
const RESEND_WINDOW_MS = 3_600_000;

// An address once verified stays verified (an address change takes effect only once the new
// address is proven), so a "verified" answer may be remembered by every instance without asking
// the store again. An "unverified" answer is remembered for UNVERIFIED_TTL_MS: a refresh on
// another instance than the one the link was followed on may say false that much longer (the
// instance that confirmed the address knows at once). Without it every refresh of an unverified
// user cost a user lookup: +8-17 % server CPU per refresh in `npm run bench -- refresh`.
const UNVERIFIED_TTL_MS = 30_000;
const CACHE_MAX = 100_000;

interface VerifiedCache {
  verified: Set<string>;
  unverifiedUntil: Map<string, number>;
}
const caches = new WeakMap<AuthContext, VerifiedCache>();

function cacheOf(ctx: AuthContext): VerifiedCache {
  let c = caches.get(ctx);
  if (!c) caches.set(ctx, (c = { verified: new Set(), unverifiedUntil: new Map() }));
  return c;
}

function remember(ctx: AuthContext, userId: string): void {
  const c = cacheOf(ctx);
  if (c.verified.size >= CACHE_MAX) c.verified.clear();
  c.verified.add(userId);
  c.unverifiedUntil.delete(userId);
}

/** For the `email_verified` claim of a refreshed access token. */
export async function isEmailVerified(ctx: AuthContext, userId: string): Promise<boolean> {
  const c = cacheOf(ctx);
  if (c.verified.has(userId)) return true;
  const until = c.unverifiedUntil.get(userId);
  if (until !== undefined && until > Date.now()) return false;
  // The session has already rotated when this runs: failing the refresh now would make the
  // client's retry look like reuse under LATCHKEY_REUSE_GRACE=0. The claim's safe answer is false.
  const user = await ctx.stores.users.findUserById(userId).catch(() => null);
  const verified = Boolean(user?.emailVerifiedAt);
  if (verified) remember(ctx, userId);
  else {
    if (c.unverifiedUntil.size >= CACHE_MAX) c.unverifiedUntil.clear();
    c.unverifiedUntil.set(userId, Date.now() + UNVERIFIED_TTL_MS);
  }
  return verified;
}

/** Issues a verification link (killing any older one) and queues it; never waits for the mail. */
export async function sendVerificationLink(ctx: AuthContext, user: Pick<UserRecord, 'id' | 'email'>): Promise<void> {
  const { token, hash } = newLinkToken();
  const now = ctx.now();
  await ctx.stores.accountTokens.issueAccountToken({ hash, purpose: 'verify_email', userId: user.id, email: user.email, createdAt: now, expiresAt: now + VERIFY_LINK_TTL_MS });
  ctx.mailer.sendLink('verify_email', user.email, token);
  ctx.events({ event: 'email.verification_sent', userId: user.id });
}

/** POST /auth/email/verify/resend: a new link, unless the address is already verified. */
export async function resendVerification(ctx: AuthContext, userId: string): Promise<void> {
  const user = await ctx.stores.users.findUserById(userId);
  if (!user) throw Errors.invalidToken();
  if (user.emailVerifiedAt) return;
  const { count, resetAt } = await ctx.stores.rateLimits.hit(`verify-resend:${userId}`, RESEND_WINDOW_MS, ctx.now());
  if (count > RESEND_LIMIT) throw Errors.rateLimited(Math.max(1, Math.ceil((resetAt - ctx.now()) / 1000)));
  await sendVerificationLink(ctx, user);
}

/**
 * POST /auth/email/verify: consumes the link's token (single use) and marks the address verified,
 * or, for an address change, moves the account to the new address (the unique index decides a
 * race: 409 email_taken for the loser). Older links to the old address die with it.
 */
export async function verifyEmail(ctx: AuthContext, token: string): Promise<void> {
  const hash = hashLinkToken(token);
  const record = hash === null ? null : await ctx.stores.accountTokens.consumeAccountToken(hash, ['verify_email', 'change_email'], ctx.now());
  if (record?.purpose === 'change_email') {
    let moved: boolean;
    try {
      moved = await ctx.stores.users.changeEmail(record.userId, record.email, ctx.now());
    } catch (e) {
      if (e instanceof EmailTakenError) {
        ctx.events({ event: 'email.verify_failed', userId: record.userId, reason: 'email_taken' });
        throw Errors.emailTaken();
      }
      throw e;
    }
    if (!moved) throw Errors.linkTokenInvalid();
    await ctx.stores.accountTokens.deleteAccountTokens(record.userId, ['verify_email', 'reset_password']);
    remember(ctx, record.userId);
    ctx.events({ event: 'email.changed', userId: record.userId });
    return;
  }
  // The address must still be the account's: a link to an address it no longer has proves nothing.
  if (!record || !(await ctx.stores.users.markEmailVerified(record.userId, record.email, ctx.now()))) {
    ctx.events({ event: 'email.verify_failed' });
    throw Errors.linkTokenInvalid();
  }
  remember(ctx, record.userId);
  ctx.events({ event: 'email.verified', userId: record.userId });
}
