// Sign-up rate limits (issue 12 item 3; ASVS 5.0 V2.4.1 anti-automation): per client source (an
// IPv4 address, an IPv6 /64: as the login limits count sources) and over all sources, in fixed
// windows in the shared rate-limit store, so they hold across instances on Redis. Checked before
// the password is hashed: a refused sign-up costs no argon2id. Every attempt counts, taken or new
// address alike, so the answer never depends on whether the address has an account. Peeked before
// hit, so an attempt refused on what is already counted creates no key (issue 12 item 4).
import { sourceOf } from '../domain/client-address.js';
import { Errors } from '../domain/errors.js';
import type { AuthContext } from './context.js';

const DESCRIPTION = 'too many sign-ups; retry later';

export async function checkSignupRate(ctx: AuthContext, ip: string | undefined): Promise<void> {
  const store = ctx.stores.rateLimits;
  const { signupIpLimit, signupLimit, signupWindowSec } = ctx.config;
  const windowMs = signupWindowSec * 1000;
  const source = sourceOf(ip);
  const sourceKey = source ? `signup:src:${source}` : null;
  const allKey = 'signup:all';
  const now = ctx.now();
  const refuse = (reason: string, resetAt: number) => {
    ctx.events({ event: 'signup.throttled', ip, reason });
    ctx.metrics.signup('throttled');
    return Errors.rateLimited(Math.max(1, Math.ceil((resetAt - now) / 1000)), DESCRIPTION);
  };
  const [s, a] = await Promise.all([sourceKey ? store.peek(sourceKey, now) : null, store.peek(allKey, now)]);
  if (s && s.count >= signupIpLimit) throw refuse('source', s.resetAt);
  if (a && a.count >= signupLimit) throw refuse('all', a.resetAt);
  // Concurrent sign-ups all passed the peeks: the hits decide.
  const [hs, ha] = await Promise.all([sourceKey ? store.hit(sourceKey, windowMs, now) : null, store.hit(allKey, windowMs, now)]);
  if (hs && hs.count > signupIpLimit) throw refuse('source', hs.resetAt);
  if (ha.count > signupLimit) throw refuse('all', ha.resetAt);
}
