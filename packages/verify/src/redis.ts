// `@latchkey/verify/redis`: the Latchkey servers' Redis revocation feed, for verifiers in other
// processes. Not a second implementation of the protocol: channel, key names, message format and
// the resync-after-reconnect subscriber are @latchkey/core's, the same code the server writes
// with. Reach it with the servers' Redis (URL or cluster seed nodes) and their key prefix
// (LATCHKEY_REDIS_URL / LATCHKEY_REDIS_CLUSTER, prefix `lk:`). It only reads: SUBSCRIBE to the
// channel and ZRANGEBYSCORE on the recent-revocations set. `ioredis` is an optional peer
// dependency of this package, needed only by this subpath.
import { Cluster, Redis } from 'ioredis';
import {
  activeRevocationsRange,
  closeClient,
  commandClientPlan,
  decodeRevocation,
  DEFAULT_PREFIX,
  DEFAULT_TIMEOUTS,
  feedSubscriptions,
  followRevocationChannel,
  mergeRevocationMembers,
  revocationChannel,
  revocationsKey,
  subscriberOptions,
  waitReady,
  type Revocation,
  type RevocationSource,
  type RedisTimeouts,
} from '@latchkey/core';

export type { RevocationSource, Revocation, RedisTimeouts };

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
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const key = revocationsKey(prefix);
  const channel = revocationChannel(prefix);
  const plan = commandClientPlan(target, timeouts);
  const client = plan.kind === 'cluster' ? new Cluster(plan.nodes, plan.options) : new Redis(plan.url, plan.options);
  // Failures surface through loadActive (and the verifier's 503); ioredis would otherwise print each.
  client.on('error', () => {});
  const connectWaitMs = opts.connectWaitMs ?? 5000;
  const loadActive = async (now: number): Promise<Revocation[]> => {
    // The command client has no offline queue (fail fast during an outage); right after start
    // it is still connecting, so wait for it rather than fail the verifier's first load.
    await waitReady(client, connectWaitMs, () => new Error(`Redis not ready within ${connectWaitMs} ms`));
    return mergeRevocationMembers(await client.zrangebyscore(key, ...activeRevocationsRange(now), 'WITHSCORES'));
  };
  const subscriptions = feedSubscriptions(
    (onMessage, onReady) =>
      followRevocationChannel(
        target,
        (node) => {
          const options = subscriberOptions(target, node, timeouts);
          return node ? new Redis(options) : new Redis(target.url ?? '', options);
        },
        channel,
        onMessage,
        onReady,
      ),
    decodeRevocation,
    loadActive,
    Date.now,
  );
  return {
    subscribe: (onRevoked, onResync) => subscriptions.subscribe(onRevoked, onResync),
    loadActive,
    async close() {
      subscriptions.stopAll();
      await closeClient(client);
    },
  };
}
