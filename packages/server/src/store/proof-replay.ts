// Single use of DPoP proofs (RFC 9449 §11.1) across everything that serves one deployment. A
// proof's key is its key thumbprint and jti (core's proofReplayKey); it must be remembered for
// the proof window (LATCHKEY_DPOP_PROOF_AGE plus leeway both ways).
import { ProofReplayCache } from '@latchkey/core';
import type { ProofReplayStore, RateLimitStore } from './types.js';
import { guard, type RedisClient } from './redis/client.js';
import type { KeyLayout } from './redis/keys.js';

/**
 * The embedded shape: one process, so an in-memory cache. Not the rate-limit store: its bound is
 * fail-closed (a class full of live counters refuses every new key), which would turn 100k proofs
 * in one window (~1,400 DPoP requests a second) into an outage; the cache's bound only ever
 * refuses proofs as old as one it had to forget (core's ProofReplayCache).
 */
export function memoryProofReplay(): ProofReplayStore {
  let cache: ProofReplayCache | null = null;
  let windowOf = 0;
  return {
    async firstUse(key, iatSec, windowMs, now) {
      if (!cache || windowOf !== windowMs) {
        cache = new ProofReplayCache(Math.ceil(windowMs / 1000), 200_000);
        windowOf = windowMs;
      }
      return cache.admit(key, iatSec, now / 1000);
    },
  };
}

/** Redis: SET NX with the window as TTL; shared by every instance. */
export function redisProofReplay(client: RedisClient, keys: KeyLayout): ProofReplayStore {
  return {
    async firstUse(key, _iat, windowMs) {
      return (await guard(client.set(keys.proof(key), '1', 'PX', windowMs, 'NX'))) === 'OK';
    },
  };
}

/** PostgreSQL-only scale-out: a counter in the shared rate-limit table (pruned with it). */
export function rateLimitProofReplay(rateLimits: RateLimitStore): ProofReplayStore {
  return {
    async firstUse(key, _iat, windowMs, now) {
      return (await rateLimits.hit(`dpop:jti:${key}`, windowMs, now)).count === 1;
    },
  };
}
