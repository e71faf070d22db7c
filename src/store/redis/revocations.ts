// The revocation feed in Redis: a sorted set of recent revocations (score = until, trimmed of
// what has lapsed) plus PUBLISH for live delivery. Pub/sub is fire-and-forget, so a verifier
// that was disconnected for a moment missed messages; it therefore reloads the sorted set after
// every (re)subscribe (`onResync`), which is why `add` writes the set before it publishes.
//
// While the feed is down, each instance still refuses the sessions it revoked itself and every
// revocation it had loaded; revocations made elsewhere in the meantime reach it on reconnect,
// and the heartbeat below bounds how long a silently dead connection can go unnoticed.
import type { Redis } from 'ioredis';
import type { Revocation, RevocationFeed } from '../types.ts';
import { createNodeConnection, guard, parseNode, reconnectDelay, type NodeAddress, type RedisClient, type RedisTarget, type RedisTimeouts } from './client.ts';
import type { KeyLayout } from './keys.ts';
import { feedSubscriptions } from '../feed-subscriptions.ts';
import { ADD_REVOCATION } from './scripts.ts';

interface FeedCommands {
  lkAddRevocation(key: string, ...args: Array<string | number>): Promise<number>;
}

export function defineRevocationScripts(client: RedisClient): void {
  client.defineCommand('lkAddRevocation', { numberOfKeys: 1, lua: ADD_REVOCATION });
}

const HEARTBEAT_MS = 5000;

// Message: "<sid> <until>" plus " r" when revoked for reuse. Sorted-set member: "<sid>" or
// "<sid> r"; a session revoked both ways has both members, and loading merges them (latest
// until, reuse if either says so), the same answer as the SQL adapters' upsert.
const REUSE = 'r';

export function encodeRevocation(r: Revocation): string {
  return `${r.sessionId} ${r.until}${r.reuse ? ` ${REUSE}` : ''}`;
}

export function decodeRevocation(message: string): Revocation | null {
  const [sessionId, untilRaw, flag, ...rest] = message.split(' ');
  const until = Number(untilRaw);
  if (!sessionId || rest.length > 0 || !Number.isSafeInteger(until) || (flag !== undefined && flag !== REUSE)) return null;
  return flag === REUSE ? { sessionId, until, reuse: true } : { sessionId, until };
}

function memberOf(r: Revocation): string {
  return r.reuse ? `${r.sessionId} ${REUSE}` : r.sessionId;
}

function mergeMembers(flat: string[]): Revocation[] {
  const bySid = new Map<string, Revocation>();
  for (let i = 0; i < flat.length; i += 2) {
    const [sessionId, flag] = flat[i]!.split(' ') as [string, string | undefined];
    const until = Number(flat[i + 1]);
    const prev = bySid.get(sessionId);
    const reuse = flag === REUSE || prev?.reuse === true;
    bySid.set(sessionId, { sessionId, until: Math.max(until, prev?.until ?? 0), ...(reuse ? { reuse: true } : {}) });
  }
  return [...bySid.values()];
}

export interface RedisRevocationFeedOptions {
  target: RedisTarget;
  timeouts: RedisTimeouts;
  /** Clock for trimming lapsed entries. */
  now?: () => number;
}

export interface RedisRevocationFeed extends RevocationFeed {
  /** Ends every subscription still open (on close, so no reconnect loop outlives the store). */
  stopAll(): void;
}

export function redisRevocationFeed(client: RedisClient, keys: KeyLayout, opts: RedisRevocationFeedOptions): RedisRevocationFeed {
  const cmd = client as unknown as FeedCommands;
  const now = opts.now ?? Date.now;
  const loadActive = async (at: number): Promise<Revocation[]> => {
    return mergeMembers(await guard(client.zrangebyscore(keys.revocations, `(${at}`, '+inf', 'WITHSCORES')));
  };
  return {
    async add(r) {
      await guard(cmd.lkAddRevocation(keys.revocations, memberOf(r), r.until, now(), keys.revocationChannel, encodeRevocation(r)));
    },
    loadActive,
    ...feedSubscriptions(
      (onMessage, onReady) => followChannel(opts.target, opts.timeouts, keys.revocationChannel, onMessage, onReady),
      decodeRevocation,
      loadActive,
      now,
    ),
  };
}

/**
 * A dedicated subscriber connection that never gives up: on every connect it SUBSCRIBEs, and only
 * once Redis has confirmed the subscription calls `onResync`, so anything published after the
 * caller's reload is delivered live and anything before it is in the reload. On a cluster it
 * moves to the next seed node after each failure (PUBLISH reaches every node of a cluster).
 */
function followChannel(
  target: RedisTarget,
  timeouts: RedisTimeouts,
  channel: string,
  onMessage: (message: string) => void,
  onResync: () => void,
): () => void {
  const nodes: Array<NodeAddress | null> = target.clusterNodes?.length ? target.clusterNodes.map(parseNode) : [null];
  let stopped = false;
  let attempt = 0;
  let nodeIndex = 0;
  let conn: Redis | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let heartbeat: NodeJS.Timeout | null = null;

  const scheduleReconnect = () => {
    if (stopped || retryTimer) return;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = null;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      nodeIndex = (nodeIndex + 1) % nodes.length;
      connect();
    }, reconnectDelay(attempt++));
    retryTimer.unref();
  };

  const connect = () => {
    if (stopped) return;
    const c = createNodeConnection(target, nodes[nodeIndex] ?? null, timeouts);
    conn = c;
    // Errors surface as 'end' below; without a listener ioredis would print each one.
    c.on('error', () => {});
    c.on('message', (ch: string, message: string) => {
      if (ch === channel) onMessage(message);
    });
    c.once('end', () => {
      if (conn === c) scheduleReconnect();
    });
    c.once('ready', () => {
      c.subscribe(channel)
        .then(() => {
          if (stopped || conn !== c) return;
          attempt = 0;
          heartbeat = setInterval(() => {
            // A connection can die without a FIN (host gone, SIGSTOP); an unanswered PING finds out.
            c.ping().catch(() => c.disconnect());
          }, HEARTBEAT_MS);
          heartbeat.unref();
          onResync();
        })
        .catch(() => c.disconnect());
    });
    c.connect().catch(() => {
      // 'end' follows and schedules the retry.
    });
  };

  connect();
  return () => {
    stopped = true;
    if (retryTimer) clearTimeout(retryTimer);
    if (heartbeat) clearInterval(heartbeat);
    conn?.disconnect();
    conn = null;
  };
}
