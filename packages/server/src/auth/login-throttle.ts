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
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { Errors } from '../domain/errors.js';
import type { RateLimitStore } from '../store/types.js';
import type { AuthContext } from './context.js';

export const ACCOUNT_CEILING_FACTOR = 10;
export const KNOWN_SOURCE_MS = 30 * 86_400_000;

/** Keys hold a hash of the email, so the rate-limit store holds no address in clear. */
function accountId(email: string): string {
  return createHash('sha256').update(email).digest('base64url').slice(0, 22);
}

/** One source per IPv4 address and per IPv6 /64 (what one subscriber typically gets). */
export function sourceOf(ip: string | undefined): string | null {
  if (!ip) return null;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const bare = ip.split('%')[0]!;
  if (!isIPv6(bare)) return ip;
  const [head = '', tail] = bare.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** Bounds how long a crashed instance's in-flight attempts keep counting (a login takes well under it). */
export const IN_FLIGHT_WINDOW_MS = 60_000;

export function loginThrottle(ctx: AuthContext, email: string, ip: string | undefined) {
  const store = ctx.stores.rateLimits;
  const cfg = ctx.config;
  const windowMs = cfg.loginWindowSec * 1000;
  const acct = accountId(email);
  const source = sourceOf(ip);
  const acctKey = `login:acct:${acct}`;
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
  const refuse = async (reason: string, resetAt: number, now: number) => {
    await release();
    ctx.events({ event: 'login.throttled', ip, reason });
    ctx.metrics.login('throttled');
    return Errors.rateLimited(Math.max(1, Math.ceil((resetAt - now) / 1000)));
  };

  return {
    /** Reserves one attempt, or throws rate_limited. Must be followed by failed() or succeeded(), or release(). */
    async check(): Promise<void> {
      const now = ctx.now();
      if (ipKey && flightKey) {
        // Taken first, atomically across instances, so concurrent attempts see each other.
        const flight = await store.hit(flightKey, IN_FLIGHT_WINDOW_MS, now);
        holding = true;
        const i = await store.peek(ipKey, now);
        if ((i?.count ?? 0) + flight.count > cfg.loginIpLimit) throw await refuse('ip', i?.resetAt ?? now, now);
      }
      if (pairKey) {
        const p = await store.hit(pairKey, windowMs, now);
        if (p.count > cfg.loginAccountLimit) throw await refuse('account_source', p.resetAt, now);
      }
      const a = await store.hit(acctKey, windowMs, now);
      if (a.count > cfg.loginAccountLimit * (pairKey ? ACCOUNT_CEILING_FACTOR : 1)) {
        const known = knownKey ? await store.peek(knownKey, now) : null;
        if (!known) throw await refuse('account', a.resetAt, now);
      }
    },
    async failed(): Promise<void> {
      try {
        if (ipKey) await store.hit(ipKey, windowMs, ctx.now());
      } finally {
        await release();
      }
    },
    async succeeded(): Promise<void> {
      await release();
      await Promise.all([store.reset(acctKey), pairKey ? store.reset(pairKey) : null, knownKey ? store.hit(knownKey, KNOWN_SOURCE_MS, ctx.now()) : null]);
    },
    release,
  };
}
