// How every Latchkey Redis connection is configured, the server's and a verifier's alike: fail
// fast, never re-send, reconnect forever. Plain option objects in ioredis's shape, so this package
// itself needs no Redis client; the server and @latchkey/verify/redis pass them to ioredis.

export interface RedisTarget {
  /** `redis://` or `rediss://` URL of a single server. With `clusterNodes` it only supplies credentials and TLS. */
  url?: string | null;
  /** `host:port` seed nodes of a Redis Cluster. */
  clusterNodes?: string[] | null;
}

export interface RedisTimeouts {
  /** Per command, including the Lua scripts. */
  commandTimeoutMs: number;
  connectTimeoutMs: number;
}

export const DEFAULT_TIMEOUTS: RedisTimeouts = { commandTimeoutMs: 1000, connectTimeoutMs: 1000 };

export interface NodeAddress {
  host: string;
  port: number;
}

export function parseNode(spec: string): NodeAddress {
  const i = spec.lastIndexOf(':');
  const host = spec.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(spec.slice(i + 1));
  if (i <= 0 || !host || !Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error(`bad Redis node "${spec}" (expected host:port)`);
  return { host, port };
}

/** Reconnect forever, quickly at first, never slower than every 2 s, so recovery is prompt. */
export const reconnectDelay = (attempt: number): number => Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

/** The subset of ioredis's RedisOptions that Latchkey sets. */
export interface RedisConnectionOptions {
  username?: string;
  password?: string;
  tls?: Record<string, never>;
  db?: number;
  host?: string;
  port?: number;
  enableOfflineQueue?: boolean;
  maxRetriesPerRequest?: number;
  autoResendUnfulfilledCommands?: boolean;
  commandTimeout?: number;
  connectTimeout?: number;
  keepAlive?: number;
  enableAutoPipelining?: boolean;
  retryStrategy?: (attempt: number) => number | null;
  autoResubscribe?: boolean;
  lazyConnect?: boolean;
}

/** Credentials, database and TLS from a URL, for building per-node options. */
export function urlOptions(url: string | null | undefined): RedisConnectionOptions {
  if (!url) return {};
  const u = new URL(url);
  const out: RedisConnectionOptions = {};
  if (u.username) out.username = decodeURIComponent(u.username);
  if (u.password) out.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') out.tls = {};
  const db = u.pathname.replace(/^\//, '');
  if (db && /^\d+$/.test(db)) out.db = Number(db);
  return out;
}

export function commandOptions(t: RedisTimeouts): RedisConnectionOptions {
  return {
    // No queue while disconnected: a command issued during an outage is refused at once
    // instead of piling up (and being replayed, possibly twice, when Redis returns).
    enableOfflineQueue: false,
    // A command in flight when the connection drops is failed at once and never re-sent: Redis
    // may already have run it, and running a rotation twice turns the second run into a false
    // "reuse" that revokes the session. The caller gets 503; its retry is judged by the script.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: t.commandTimeoutMs,
    connectTimeout: t.connectTimeoutMs,
    keepAlive: 10_000,
    // Concurrent requests share one write per event-loop tick: fewer syscalls, same semantics.
    enableAutoPipelining: true,
  };
}

/** The subset of ioredis's ClusterOptions that Latchkey sets. */
export interface RedisClusterOptions {
  scaleReads: 'master';
  enableOfflineQueue: boolean;
  enableAutoPipelining: boolean;
  clusterRetryStrategy: (attempt: number) => number;
  clusterNodeRetryStrategy: (attempt: number) => number;
  slotsRefreshTimeout: number;
  retryDelayOnFailover: number;
  retryDelayOnClusterDown: number;
  retryDelayOnTryAgain: number;
  maxRedirections: number;
  redisOptions: RedisConnectionOptions;
}

/** What to construct for the command connection: one server, or a cluster from its seed nodes. */
export type CommandClientPlan =
  | { kind: 'single'; url: string; options: RedisConnectionOptions }
  | { kind: 'cluster'; nodes: NodeAddress[]; options: RedisClusterOptions };

export function commandClientPlan(target: RedisTarget, t: RedisTimeouts = DEFAULT_TIMEOUTS): CommandClientPlan {
  const common = commandOptions(t);
  if (target.clusterNodes && target.clusterNodes.length > 0) {
    const { enableOfflineQueue: _q, enableAutoPipelining: _p, ...perNode } = common;
    return {
      kind: 'cluster',
      nodes: target.clusterNodes.map(parseNode),
      options: {
        // Every script reads and writes, so reads must go where writes go.
        scaleReads: 'master',
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        clusterRetryStrategy: reconnectDelay,
        // Without this a node that restarts stays disconnected until the next MOVED.
        clusterNodeRetryStrategy: reconnectDelay,
        slotsRefreshTimeout: t.connectTimeoutMs,
        // 0 turns off re-sending a command whose connection closed under it (see maxRetriesPerRequest
        // above). CLUSTERDOWN, TRYAGAIN and MOVED mean the command did not run, so those are retried.
        retryDelayOnFailover: 0,
        retryDelayOnClusterDown: 100,
        retryDelayOnTryAgain: 100,
        maxRedirections: 6,
        redisOptions: { ...perNode, ...urlOptions(target.url) },
      },
    };
  }
  if (!target.url) throw new Error('Redis needs a URL or cluster nodes');
  return { kind: 'single', url: target.url, options: { ...common, retryStrategy: reconnectDelay } };
}

/**
 * Options of one plain connection to one server, for SUBSCRIBE (not key-based, so any cluster
 * node will do). With a node, pass the options alone; without, pass the URL and the options.
 */
export function subscriberOptions(target: RedisTarget, node: NodeAddress | null, t: RedisTimeouts = DEFAULT_TIMEOUTS): RedisConnectionOptions {
  const options: RedisConnectionOptions = {
    ...commandOptions(t),
    enableAutoPipelining: false,
    // The feed reconnects itself (rotating through the seed nodes) so it controls the resync order.
    retryStrategy: () => null,
    autoResubscribe: false,
    lazyConnect: true,
  };
  if (node) return { ...options, ...urlOptions(target.url), host: node.host, port: node.port };
  if (!target.url) throw new Error('Redis needs a URL or cluster nodes');
  return options;
}
