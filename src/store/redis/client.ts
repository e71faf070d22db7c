// Redis connections tuned to fail fast: an auth request must get a clear 503 within about a
// second while Redis is down, never wait in a queue for minutes, and service must resume by
// itself when Redis returns (issue 3, "Outages are clear, not fatal").
import { Cluster, Redis, ReplyError, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from '../../domain/errors.ts';

export type RedisClient = Redis | Cluster;

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

/** Credentials, database and TLS from a URL, for building per-node options. */
function urlOptions(url: string | null | undefined): Partial<RedisOptions> {
  if (!url) return {};
  const u = new URL(url);
  const out: Partial<RedisOptions> = {};
  if (u.username) out.username = decodeURIComponent(u.username);
  if (u.password) out.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') out.tls = {};
  const db = u.pathname.replace(/^\//, '');
  if (db && /^\d+$/.test(db)) out.db = Number(db);
  return out;
}

function commonOptions(t: RedisTimeouts): RedisOptions {
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

/** The command connection: one Redis or one Cluster client shared by every store operation. */
export function createCommandClient(target: RedisTarget, t: RedisTimeouts = DEFAULT_TIMEOUTS): RedisClient {
  const common = commonOptions(t);
  if (target.clusterNodes && target.clusterNodes.length > 0) {
    const { enableOfflineQueue: _q, enableAutoPipelining: _p, ...perNode } = common;
    const options: ClusterOptions = {
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
    };
    return new Cluster(target.clusterNodes.map(parseNode), options);
  }
  if (!target.url) throw new Error('Redis needs a URL or cluster nodes');
  return new Redis(target.url, { ...common, retryStrategy: reconnectDelay });
}

/** One plain connection to one server, for SUBSCRIBE (not key-based, so any cluster node will do). */
export function createNodeConnection(target: RedisTarget, node: NodeAddress | null, t: RedisTimeouts = DEFAULT_TIMEOUTS): Redis {
  const options: RedisOptions = {
    ...commonOptions(t),
    enableAutoPipelining: false,
    // The feed reconnects itself (rotating through the seed nodes) so it controls the resync order.
    retryStrategy: () => null,
    autoResubscribe: false,
    lazyConnect: true,
  };
  if (node) return new Redis({ ...options, ...urlOptions(target.url), host: node.host, port: node.port });
  if (!target.url) throw new Error('Redis needs a URL or cluster nodes');
  return new Redis(target.url, options);
}

// Server replies that mean "not now" rather than "wrong command": loading after a restart,
// cluster reconfiguring, out of memory, a script or replica stuck.
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|OOM|NOREPLICAS|MOVED|ASK)\b/;

export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (err instanceof ReplyError) return TRANSIENT_REPLY.test((err as Error).message);
  // Anything else out of ioredis is about the connection: refused, closed, timed out, offline
  // queue disabled, cluster not ready, too many redirections.
  return err instanceof Error;
}

/** Runs one Redis operation, turning connection-level failures into StoreUnavailableError (HTTP 503). */
export async function guard<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw err;
    if (isUnavailable(err)) throw new StoreUnavailableError('redis', err);
    throw err;
  }
}

/** Resolves once the client is ready; throws StoreUnavailableError after `ms`. */
export function waitReady(client: RedisClient, ms: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const timer = setTimeout(() => done(new StoreUnavailableError('redis', new Error(`not ready within ${ms} ms`))), ms);
    client.once('ready', onReady);
  });
}

export async function closeClient(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  try {
    if (client.status === 'ready') {
      await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
  } catch {
    // already closing
  } finally {
    client.disconnect();
  }
}
