// Redis connections tuned to fail fast: an auth request must get a clear 503 within about a
// second while Redis is down, never wait in a queue for minutes, and service must resume by
// itself when Redis returns (issue 3, "Outages are clear, not fatal").
// The options themselves are @latchkey/core's, shared with @latchkey/verify/redis.
import { Cluster, Redis, ReplyError } from 'ioredis';
import {
  closeClient,
  commandClientPlan,
  DEFAULT_TIMEOUTS,
  parseNode,
  reconnectDelay,
  subscriberOptions,
  type NodeAddress,
  type RedisTarget,
  type RedisTimeouts,
  waitReady as waitClientReady,
} from '@latchkey/core';
import { StoreUnavailableError } from '../../domain/errors.js';

export type RedisClient = Redis | Cluster;
export type { NodeAddress, RedisTarget, RedisTimeouts };
export { DEFAULT_TIMEOUTS, parseNode, reconnectDelay };

/** The command connection: one Redis or one Cluster client shared by every store operation. */
export function createCommandClient(target: RedisTarget, t: RedisTimeouts = DEFAULT_TIMEOUTS): RedisClient {
  const plan = commandClientPlan(target, t);
  return plan.kind === 'cluster' ? new Cluster(plan.nodes, plan.options) : new Redis(plan.url, plan.options);
}

/** One plain connection to one server, for SUBSCRIBE (not key-based, so any cluster node will do). */
export function createNodeConnection(target: RedisTarget, node: NodeAddress | null, t: RedisTimeouts = DEFAULT_TIMEOUTS): Redis {
  const options = subscriberOptions(target, node, t);
  return node ? new Redis(options) : new Redis(target.url ?? '', options);
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
  return waitClientReady(client, ms, () => new StoreUnavailableError('redis', new Error(`not ready within ${ms} ms`)));
}

export { closeClient };
