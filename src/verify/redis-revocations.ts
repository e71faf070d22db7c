// The server's Redis revocation feed, for verifiers in other processes. Deliberately not a second
// implementation of the protocol: this reuses the server's own adapter (src/store/redis), so the
// channel name, message format, sorted-set layout and resync-after-reconnect behaviour are the
// server's by construction. How it is reached: the same Redis (URL or cluster seed nodes) and the
// same key prefix as the Latchkey servers (LATCHKEY_REDIS_URL / LATCHKEY_REDIS_CLUSTER, prefix `lk:`).
// It only reads: SUBSCRIBE to the channel and ZRANGEBYSCORE on the recent-revocations set.
import { closeClient, createCommandClient, DEFAULT_TIMEOUTS, waitReady, type RedisTimeouts } from '../store/redis/client.ts';
import { DEFAULT_PREFIX, keyLayout } from '../store/redis/keys.ts';
import { redisRevocationFeed } from '../store/redis/revocations.ts';
import type { RevocationSource } from './revocations.ts';

export interface RedisRevocationSourceOptions {
  /** `redis://` or `rediss://` URL. With `clusterNodes`, supplies only credentials, database and TLS. */
  url?: string;
  /** Redis Cluster seed nodes, `host:port`. */
  clusterNodes?: string[];
  /** The servers' key prefix. Default `lk:`. */
  prefix?: string;
  timeouts?: Partial<RedisTimeouts>;
  /** How long the first load waits for the connection. Default 5000 ms. */
  connectWaitMs?: number;
}

export function redisRevocationSource(opts: RedisRevocationSourceOptions): RevocationSource {
  if (!opts.url && !opts.clusterNodes?.length) throw new TypeError('redisRevocationSource: url or clusterNodes is required');
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const target = { url: opts.url ?? null, clusterNodes: opts.clusterNodes ?? null };
  const client = createCommandClient(target, timeouts);
  // Failures surface through loadActive (and the verifier's 503); ioredis would otherwise print each.
  client.on('error', () => {});
  const feed = redisRevocationFeed(client, keyLayout(opts.prefix ?? DEFAULT_PREFIX), { target, timeouts });
  const connectWaitMs = opts.connectWaitMs ?? 5000;
  return {
    subscribe: (onRevoked, onResync) => feed.subscribe(onRevoked, onResync),
    async loadActive(now) {
      // The command client has no offline queue (fail fast during an outage); right after start
      // it is still connecting, so wait for it rather than fail the verifier's first load.
      await waitReady(client, connectWaitMs);
      return feed.loadActive(now);
    },
    close: () => closeClient(client),
  };
}
