// Login rate limits (ASVS 5.0 V6.3.1; RFC 9700 §4.x brute force): failed attempts are counted per
// account and per client IP in fixed windows that expire by themselves, so a lock placed by an
// attacker on someone else's account lasts one window at most. A success resets the account.
import { createHash } from 'node:crypto';
import { Errors } from '../domain/errors.ts';
import type { AuthContext } from './context.ts';

/** Keys hold a hash of the email, so the rate-limit store holds no address in clear. */
function accountKey(email: string): string {
  return `login:acct:${createHash('sha256').update(email).digest('base64url').slice(0, 22)}`;
}

export function loginThrottle(ctx: AuthContext, email: string, ip: string | undefined) {
  const store = ctx.stores.rateLimits;
  const windowMs = ctx.config.loginWindowSec * 1000;
  const acct = accountKey(email);
  const ipKey = ip ? `login:ip:${ip}` : null;
  return {
    async check(): Promise<void> {
      const now = ctx.now();
      const [a, i] = await Promise.all([store.peek(acct, now), ipKey ? store.peek(ipKey, now) : null]);
      let resetAt = 0;
      if (a && a.count >= ctx.config.loginAccountLimit) resetAt = Math.max(resetAt, a.resetAt);
      if (i && i.count >= ctx.config.loginIpLimit) resetAt = Math.max(resetAt, i.resetAt);
      if (resetAt > 0) {
        ctx.events({ event: 'login.throttled', ip });
        throw Errors.rateLimited(Math.max(1, Math.ceil((resetAt - now) / 1000)));
      }
    },
    async failed(): Promise<void> {
      const now = ctx.now();
      await Promise.all([store.hit(acct, windowMs, now), ipKey ? store.hit(ipKey, windowMs, now) : null]);
    },
    async succeeded(): Promise<void> {
      await store.reset(acct);
    },
  };
}
