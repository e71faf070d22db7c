import { Errors, EmailTakenError } from '../domain/errors.js';
import { newUserId } from '../domain/ids.js';
import type { UserRecord } from '../store/types.js';
import type { AuthContext } from './context.js';
import type { TokenResponse } from './issue-tokens.js';
import { hashPassword, needsRehash, verifyPassword, type HashLane, type HashTicket } from './passwords.js';
import type { Metrics } from '../metrics/metrics.js';
import { startSession, type ClientInfo } from './start-session.js';
import { sessionProof } from './dpop.js';
import { loginThrottle, markKnownSource } from './login-throttle.js';
import { checkSignupRate } from './signup-throttle.js';
import { endSessionsOfDisabled } from './admin.js';
import { checkEmailAddress, emailLookupKey } from '../domain/email-address.js';
import { checkNewPassword } from '../domain/password-policy.js';
import { passwordPolicy } from './common-passwords.js';
import { sendVerificationLink } from './email-verification.js';

/** Runs a hash or verification in its place in the bounded queue, counted for latchkey_password_hash_in_flight. */
function hashing<T>(metrics: Metrics, ticket: HashTicket, work: () => Promise<T>): Promise<T> {
  return ticket.run(async () => {
    const done = metrics.passwordHashStarted();
    try {
      return await work();
    } finally {
      done();
    }
  });
}

/** One hash or verification through the bounded queue, in `lane` (503 busy beyond its share). */
export async function queuedHashing<T>(ctx: Pick<AuthContext, 'hasher' | 'metrics'>, lane: HashLane, work: () => Promise<T>): Promise<T> {
  const ticket = ctx.hasher.admit(lane);
  try {
    return await hashing(ctx.metrics, ticket, work);
  } finally {
    ticket.release();
  }
}

function admitOrNull(ctx: AuthContext, lane: HashLane): HashTicket | null {
  try {
    return ctx.hasher.admit(lane);
  } catch {
    return null;
  }
}

/** The lookup key of an address (domain/email-address.ts); a string that could never be registered matches nothing. */
export function normaliseEmail(email: string): string {
  return emailLookupKey(email);
}

/** A new address and password, or the refusal naming the rule (ASVS 5.0 V6.2). */
export function acceptableCredentials(rawEmail: string, password: string): string {
  const email = checkEmailAddress(rawEmail);
  if (!email.ok) throw email.rule === 'email_malformed' ? Errors.invalidRequest(email.description) : Errors.policyRefused(email.rule, email.description);
  const pw = checkNewPassword(passwordPolicy(), password, email.email);
  if (!pw.ok) throw Errors.policyRefused(pw.rule, pw.description);
  return email.email;
}

export interface PublicUser {
  id: string;
  email: string;
  createdAt: string;
  /** Whether the address was proven by a link sent to it (issue 10). */
  email_verified: boolean;
}

export function publicUser(u: UserRecord): PublicUser {
  return { id: u.id, email: u.email, createdAt: new Date(u.createdAt).toISOString(), email_verified: Boolean(u.emailVerifiedAt) };
}

export async function signup(
  ctx: AuthContext,
  input: { email: string; password: string },
  client: ClientInfo,
): Promise<{ user: PublicUser } & Partial<TokenResponse>> {
  const email = acceptableCredentials(input.email, input.password);
  // The proof before any hashing: a refused proof or a nonce challenge costs no argon2id.
  const proof = await sessionProof(ctx, client.dpop);
  // The place in the hashing queue first (no store call is spent on an attempt that cannot be
  // served), then the sign-up limits, then the hash: before the uniqueness check, so a taken
  // address costs the same time as a new one (ASVS 5.0 V6.3.8).
  const ticket = ctx.hasher.admit('signup');
  let passwordHash: string;
  try {
    await checkSignupRate(ctx, client.ip);
    passwordHash = await hashing(ctx.metrics, ticket, () => hashPassword(input.password));
  } finally {
    ticket.release();
  }
  const user: UserRecord = { id: newUserId(), email, passwordHash, createdAt: ctx.now() };
  try {
    await ctx.stores.users.createUser(user);
  } catch (e) {
    if (e instanceof EmailTakenError) {
      ctx.metrics.signup('taken');
      const existing = await ctx.stores.users.findUserByEmail(email);
      if (existing?.disabledAt) throw Errors.accountDisabled();
      throw Errors.emailTaken();
    }
    throw e;
  }
  ctx.events({ event: 'signup.succeeded', userId: user.id, clientId: client.clientId });
  ctx.metrics.signup('ok');
  await markKnownSource(ctx, email, client.ip);
  // A link that could not be issued (store hiccup) must not fail a sign-up that already
  // happened: the user asks for another with POST /auth/email/verify/resend.
  await sendVerificationLink(ctx, user).catch(() => ctx.events({ event: 'email.verify_failed', userId: user.id, reason: 'link_not_issued' }));
  // With LATCHKEY_REQUIRE_VERIFIED_EMAIL the account exists but gets no session until its address is proven.
  if (ctx.config.requireVerifiedEmail) return { user: publicUser(user) };
  return { user: publicUser(user), ...(await startSession(ctx, user.id, client, false, proof)) };
}

export async function login(ctx: AuthContext, input: { email: string; password: string }, client: ClientInfo): Promise<TokenResponse> {
  const email = normaliseEmail(input.email);
  // The proof before the password: a refused proof or a nonce challenge costs no argon2id, and the
  // client's retry with the nonce is the one attempt that counts.
  const proof = await sessionProof(ctx, client.dpop);
  const throttle = loginThrottle(ctx, email, client.ip);
  let user: UserRecord | null;
  // A source the account logged in from before waits in the trusted lane of the hashing queue:
  // a storm of strangers' attempts cannot keep its owner out (issue 12 item 3).
  let ticket: HashTicket | null = null;
  try {
    ticket = ctx.hasher.admit((await throttle.known()) ? 'trusted' : 'login');
    await throttle.check();
    user = await ctx.stores.users.findUserByEmail(email);
    // ASVS 5.0 V6.3.8 (no enumeration): an unknown user costs the same argon2 verification.
    const stored = user?.passwordHash ?? ctx.dummyHash;
    const ok = (await hashing(ctx.metrics, ticket, () => verifyPassword(stored, input.password))) && user !== null;
    if (!ok || !user) {
      await throttle.failed();
      ctx.events({ event: 'login.failed', userId: user?.id, clientId: client.clientId, ip: client.ip });
      ctx.metrics.login('failed');
      throw Errors.invalidCredentials();
    }
    await throttle.succeeded();
    if (user.disabledAt) {
      ctx.events({ event: 'login.disabled_account', userId: user.id, clientId: client.clientId, ip: client.ip });
      throw Errors.accountDisabled();
    }
  } finally {
    // A store failure half-way must not leave this attempt counted as in flight; if the give-back
    // fails too (store down), the count lapses with its short window (IN_FLIGHT_WINDOW_MS).
    ticket?.release();
    await throttle.release().catch(() => {});
  }
  // The upgrade can wait for a calmer moment: with the queue full, the next login does it.
  const rehash = needsRehash(user.passwordHash) ? admitOrNull(ctx, 'trusted') : null;
  if (rehash) {
    try {
      await ctx.stores.users.updatePasswordHash(user.id, user.passwordHash, await hashing(ctx.metrics, rehash, () => hashPassword(input.password)));
    } finally {
      rehash.release();
    }
  }
  if (ctx.config.requireVerifiedEmail && !user.emailVerifiedAt) {
    ctx.events({ event: 'login.unverified_email', userId: user.id, clientId: client.clientId, ip: client.ip });
    throw Errors.emailUnverified();
  }
  const tokens = await startSession(ctx, user.id, client, Boolean(user.emailVerifiedAt), proof);
  // An operator may have disabled the account while this login was past its check: disabling
  // ends the sessions it finds, so look again once this one exists, and end it if so.
  if ((await ctx.stores.users.findUserById(user.id))?.disabledAt) {
    await endSessionsOfDisabled(ctx, user.id);
    throw Errors.accountDisabled();
  }
  ctx.events({ event: 'login.succeeded', userId: user.id, clientId: client.clientId, ip: client.ip });
  ctx.metrics.login('ok');
  return tokens;
}
