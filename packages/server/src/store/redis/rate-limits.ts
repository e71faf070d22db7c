// Login rate limits shared by every instance (ASVS 5.0 V6.3.1): fixed-window counters that
// expire by themselves, so nothing needs sweeping and a lockout lasts one window at most.
import type { RateLimitStore } from '../types.js';
import { guard, type RedisClient } from './client.js';
import type { KeyLayout } from './keys.js';
import { RATE_HIT, RATE_PEEK, RATE_UNDO } from './scripts.js';

interface RateCommands {
  lkRateHit(key: string, windowMs: number): Promise<[number, number]>;
  lkRatePeek(key: string): Promise<[number, number] | null>;
  lkRateUndo(key: string): Promise<number>;
}

export function defineRateLimitScripts(client: RedisClient): void {
  client.defineCommand('lkRateHit', { numberOfKeys: 1, lua: RATE_HIT });
  client.defineCommand('lkRatePeek', { numberOfKeys: 1, lua: RATE_PEEK, readOnly: true });
  client.defineCommand('lkRateUndo', { numberOfKeys: 1, lua: RATE_UNDO });
}

export function redisRateLimitStore(client: RedisClient, keys: KeyLayout): RateLimitStore {
  const cmd = client as unknown as RateCommands;
  return {
    async hit(key, windowMs, now) {
      const [count, ttl] = await guard(cmd.lkRateHit(keys.rateLimit(key), windowMs));
      return { count, resetAt: now + ttl };
    },
    async peek(key, now) {
      const r = await guard(cmd.lkRatePeek(keys.rateLimit(key)));
      if (!r || r[1] < 0) return null;
      return { count: r[0], resetAt: now + r[1] };
    },
    async reset(key) {
      await guard(client.del(keys.rateLimit(key)));
    },
    async undo(key) {
      await guard(cmd.lkRateUndo(keys.rateLimit(key)));
    },
  };
}
