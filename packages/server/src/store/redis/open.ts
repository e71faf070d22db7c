import { redisProofReplay } from '../proof-replay.js';
import { Cluster } from 'ioredis';
import type { HealthReport, ProofReplayStore, RateLimitStore, RevocationFeed, SessionStore } from '../types.js';
import { closeClient, createCommandClient, DEFAULT_TIMEOUTS, guard, waitReady, type RedisClient, type RedisTarget, type RedisTimeouts } from './client.js';
import { DEFAULT_PREFIX, keyLayout } from './keys.js';
import { defineRateLimitScripts, redisRateLimitStore } from './rate-limits.js';
import { defineRevocationScripts, redisRevocationFeed } from './revocations.js';
import { defineSessionScripts, redisSessionStore } from './sessions.js';

export interface RedisStoreOptions extends RedisTarget {
  /** Prepended to every key and channel (default `lk:`), so several deployments or tests can share a server. */
  prefix?: string;
  timeouts?: Partial<RedisTimeouts>;
  /** How long opening waits for the first connection before it gives up. */
  startTimeoutMs?: number;
}

export interface RedisStores {
  sessions: SessionStore;
  revocations: RevocationFeed;
  rateLimits: RateLimitStore;
  proofs: ProofReplayStore;
  /** The command client, for tests and benchmarks that inspect Redis directly. */
  client: RedisClient;
  health(): Promise<HealthReport[]>;
  close(): Promise<void>;
}

/**
 * Connects and waits until Redis answers, so a wrong URL stops the process at start with a clear
 * error; after that, outages are per request (StoreUnavailableError, HTTP 503) and the client
 * reconnects by itself.
 */
export async function openRedisStores(opts: RedisStoreOptions): Promise<RedisStores> {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const client = createCommandClient(opts, timeouts);
  // Until the caller has a handle, errors have no one to report to; ioredis would print them.
  client.on('error', () => {});
  try {
    await waitReady(client, opts.startTimeoutMs ?? 5000);
  } catch (err) {
    client.disconnect();
    throw err;
  }
  defineSessionScripts(client);
  defineRevocationScripts(client);
  defineRateLimitScripts(client);
  const keys = keyLayout(opts.prefix ?? DEFAULT_PREFIX);
  const revocations = redisRevocationFeed(client, keys, { target: opts, timeouts });
  return {
    sessions: redisSessionStore(client, keys, { publish: (r) => revocations.add(r) }),
    revocations,
    rateLimits: redisRateLimitStore(client, keys),
    proofs: redisProofReplay(client, keys),
    client,
    async health() {
      try {
        // On a cluster every master must answer: each holds a share of the sessions, and a random
        // node's PONG would hide a dead one.
        const targets = client instanceof Cluster ? client.nodes('master') : [client];
        if (targets.length === 0) throw new Error('no cluster masters known');
        await Promise.all(targets.map((node) => guard(node.ping())));
        return [{ name: 'redis', ok: true }];
      } catch {
        return [{ name: 'redis', ok: false }];
      }
    },
    async close() {
      revocations.stopAll();
      await closeClient(client);
    },
  };
}
