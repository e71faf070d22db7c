// Login rate limits (ASVS 5.0 V6.1.1, V6.3.1), in fixed windows that expire by themselves.
// Three counters, so that guessing is bounded but a stranger cannot lock a user out:
//
// - per account and source (client IP; an IPv6 /64 counts as one source): LATCHKEY_LOGIN_ACCOUNT_LIMIT
//   failures per window. An attacker guessing from one source only locks that source out.
// - per account over all sources: ACCOUNT_CEILING_FACTOR times that, against distributed guessing.
//   Reaching it takes that many sources, and even then a source the account has logged in from
//   successfully in the last 30 days keeps working; everyone else waits one window at most.
// - per source over all accounts: LATCHKEY_LOGIN_IP_LIMIT failures per window, against spraying.
//
// The account counters are taken *before* the password is checked (and cleared by a success),
// so concurrent guesses cannot all slip past a check that has not seen the others yet. The
// source counter must count failures only (a busy NAT logs in successfully all day), so beside
// it an attempts-in-flight counter is taken before the check, in the same shared store (every
// instance sees it), and given back when the attempt ends; a failure moves into the failures.
//
// Every counter is peeked before any is hit, so an attempt refused on what is already counted
// creates no key (issue 12 item 4: refused attempts from fresh sources must not be able to fill
// the embedded store); the hits after the peeks are checked again, for concurrent attempts.
//
// Successful logins are limited too, per account (LATCHKEY_LOGIN_SUCCESS_LIMIT per window: one
// account logged in 1,253 times in 20 s, issue 12 item 1). Counted only after the password was
// right, so the 429 tells nothing to someone who does not know it.
import { createHash } from 'node:crypto';
import { sourceOf } from '../domain/client-address.js';
import { Errors } from '../domain/errors.js';
import type { AuthContext } from './context.js';

export const ACCOUNT_CEILING_FACTOR = 10;
export const KNOWN_SOURCE_MS = 30 * 86_400_000;
const LOGINS_DESCRIPTION = 'too many logins to this account; retry later';

/** Keys hold a hash of the email, so the rate-limit store holds no address in clear (every limiter keyed by an address uses it). */
export function accountId(email: string): string {
  return createHash('sha256').update(email).digest('base64url').slice(0, 22);
}

export { sourceOf };

/** Bounds how long a crashed instance's in-flight attempts keep counting (a login takes well under it). */
export const IN_FLIGHT_WINDOW_MS = 60_000;

export function loginThrottle(ctx: AuthContext, email: string, ip: string | undefined) {
  const store = ctx.stores.rateLimits;
  const cfg = ctx.config;
  const windowMs = cfg.loginWindowSec * 1000;
  const acct = accountId(email);
  const source = sourceOf(ip);
  const acctKey = `login:acct:${acct}`;
  const successKey = `login:ok:${acct}`;
  const pairKey = source ? `login:pair:${acct}:${source}` : null;
  const knownKey = source ? `login:known:${acct}:${source}` : null;
  const ipKey = source ? `login:ip:${source}` : null;
  const flightKey = source ? `login:flight:${source}` : null;
  let holding = false;

  /** Gives back this attempt's in-flight count; safe to call more than once. */
  const release = async () => {
    if (!holding || !flightKey) return;
    holding = false;
    await store.undo(flightKey, ctx.now());
  };
  const refuse = async (reason: string, resetAt: number, now: number, description?: string) => {
    await release();
    ctx.events({ event: 'login.throttled', ip, reason });
    ctx.metrics.login('throttled');
    return Errors.rateLimited(Math.max(1, Math.ceil((resetAt - now) / 1000)), description);
  };

  let knownSource: Promise<boolean> | null = null;
  return {
    /** Whether this source logged in to this account successfully in the last KNOWN_SOURCE_MS (peeked once). */
    known(): Promise<boolean> {
      knownSource ??= knownKey ? store.peek(knownKey, ctx.now()).then((k) => k !== null) : Promise.resolve(false);
      return knownSource;
    },
    /** Reserves one attempt, or throws rate_limited. Must be followed by failed() or succeeded(), or release(). */
    async check(): Promise<void> {
      const now = ctx.now();
      const ceiling = cfg.loginAccountLimit * (pairKey ? ACCOUNT_CEILING_FACTOR : 1);
      const [i, f, p, a] = await Promise.all([
        ipKey ? store.peek(ipKey, now) : null,
        flightKey ? store.peek(flightKey, now) : null,
        pairKey ? store.peek(pairKey, now) : null,
        store.peek(acctKey, now),
      ]);
      // This attempt would be one more than what is counted.
      if (ipKey && (i?.count ?? 0) + (f?.count ?? 0) >= cfg.loginIpLimit) throw await refuse('ip', Math.max(i?.resetAt ?? now, f?.resetAt ?? now), now);
      if (p && p.count >= cfg.loginAccountLimit) throw await refuse('account_source', p.resetAt, now);
      if (a && a.count >= ceiling && !(await this.known())) throw await refuse('account', a.resetAt, now);
      if (ipKey && flightKey) {
        // Taken first, atomically across instances, so concurrent attempts see each other.
        const flight = await store.hit(flightKey, IN_FLIGHT_WINDOW_MS, now);
        holding = true;
        if ((i?.count ?? 0) + flight.count > cfg.loginIpLimit) throw await refuse('ip', i?.resetAt ?? flight.resetAt, now);
      }
      if (pairKey) {
        const hp = await store.hit(pairKey, windowMs, now);
        if (hp.count > cfg.loginAccountLimit) throw await refuse('account_source', hp.resetAt, now);
      }
      const ha = await store.hit(acctKey, windowMs, now);
      if (ha.count > ceiling && !(await this.known())) throw await refuse('account', ha.resetAt, now);
    },
    async failed(): Promise<void> {
      try {
        if (ipKey) await store.hit(ipKey, windowMs, ctx.now());
      } finally {
        await release();
      }
    },
    /** The password was right: clears the failure counters, or throws rate_limited past the account's successful-login limit. */
    async succeeded(): Promise<void> {
      await release();
      const now = ctx.now();
      const [ok] = await Promise.all([
        store.hit(successKey, windowMs, now),
        store.reset(acctKey),
        pairKey ? store.reset(pairKey) : null,
        knownKey ? store.hit(knownKey, KNOWN_SOURCE_MS, now) : null,
      ]);
      if (ok.count > cfg.loginSuccessLimit) throw await refuse('account_success', ok.resetAt, now, LOGINS_DESCRIPTION);
    },
    release,
  };
}

/** Records that `ip` authenticated as the account (a sign-up does): its logins then count as from a known source. */
export async function markKnownSource(ctx: AuthContext, email: string, ip: string | undefined): Promise<void> {
  const source = sourceOf(ip);
  if (source) await ctx.stores.rateLimits.hit(`login:known:${accountId(email)}:${source}`, KNOWN_SOURCE_MS, ctx.now());
}
