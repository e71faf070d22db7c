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
// source counter must count failures only (a busy NAT logs in successfully all day), so it adds
// the attempts still in flight in this process to the stored failures instead.
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { Errors } from '../domain/errors.ts';
import type { RateLimitStore } from '../store/types.ts';
import type { AuthContext } from './context.ts';

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

const inFlight = new WeakMap<RateLimitStore, Map<string, number>>();

function flights(store: RateLimitStore): Map<string, number> {
  let m = inFlight.get(store);
  if (!m) inFlight.set(store, (m = new Map()));
  return m;
}

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
  const pending = flights(store);
  let holding = false;

  const release = () => {
    if (!holding || !ipKey) return;
    holding = false;
    const n = (pending.get(ipKey) ?? 1) - 1;
    if (n > 0) pending.set(ipKey, n);
    else pending.delete(ipKey);
  };
  const refuse = (reason: string, resetAt: number, now: number) => {
    release();
    ctx.events({ event: 'login.throttled', ip, reason });
    return Errors.rateLimited(Math.max(1, Math.ceil((resetAt - now) / 1000)));
  };

  return {
    /** Reserves one attempt, or throws rate_limited. Must be followed by failed() or succeeded(), or release(). */
    async check(): Promise<void> {
      const now = ctx.now();
      if (ipKey) {
        const i = await store.peek(ipKey, now);
        // Synchronous from here to the increment: this process's attempts are counted exactly.
        if ((i?.count ?? 0) + (pending.get(ipKey) ?? 0) >= cfg.loginIpLimit) throw refuse('ip', i?.resetAt ?? now, now);
        pending.set(ipKey, (pending.get(ipKey) ?? 0) + 1);
        holding = true;
      }
      if (pairKey) {
        const p = await store.hit(pairKey, windowMs, now);
        if (p.count > cfg.loginAccountLimit) throw refuse('account_source', p.resetAt, now);
      }
      const a = await store.hit(acctKey, windowMs, now);
      if (a.count > cfg.loginAccountLimit * (pairKey ? ACCOUNT_CEILING_FACTOR : 1)) {
        const known = knownKey ? await store.peek(knownKey, now) : null;
        if (!known) throw refuse('account', a.resetAt, now);
      }
    },
    async failed(): Promise<void> {
      try {
        if (ipKey) await store.hit(ipKey, windowMs, ctx.now());
      } finally {
        release();
      }
    },
    async succeeded(): Promise<void> {
      release();
      await Promise.all([store.reset(acctKey), pairKey ? store.reset(pairKey) : null, knownKey ? store.hit(knownKey, KNOWN_SOURCE_MS, ctx.now()) : null]);
    },
    release,
  };
}
