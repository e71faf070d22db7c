// The Redis revocation feed's wire protocol, owned here so the server that writes it and every
// verifier that reads it agree by construction: key and channel names, the message format, the
// sorted-set members, and how a subscriber follows the channel without missing anything.
//
// Layout: a sorted set of recent revocations (score = until, trimmed of what has lapsed) plus
// PUBLISH for live delivery. Pub/sub is fire-and-forget, so a subscriber that was disconnected
// for a moment missed messages; it therefore reloads the sorted set after every (re)subscribe,
// which is why the writer adds to the set before it publishes.
import type { Revocation, Theft } from '../revocation/types.js';
import { mergeTheft } from '../revocation/theft.js';
import { parseNode, reconnectDelay, type NodeAddress, type RedisTarget } from './connection-options.js';

export const DEFAULT_PREFIX = 'lk:';

export function assertPrefix(prefix: string): void {
  // A brace in the prefix would become the hash tag of every key and put all sessions in one slot.
  if (/[{}]/.test(prefix)) throw new Error('Redis key prefix must not contain { or }');
}

/** The sorted set of recent revocations. Its own hash tag: one slot, whatever the session. */
export function revocationsKey(prefix = DEFAULT_PREFIX): string {
  assertPrefix(prefix);
  return `${prefix}{revoked}`;
}

export function revocationChannel(prefix = DEFAULT_PREFIX): string {
  assertPrefix(prefix);
  return `${prefix}revoked`;
}

// Message: "<sid> <until>", plus " r" when revoked for reuse (an older refresh token replayed) or
// " c" when revoked as a copy (a key-bound session's token used without its key). Readers that
// predate " c" drop such a message whole (they accept only "r"), and a verifier must not miss a
// revocation, so a copy is published as two messages: "<sid> <until> c", then "<sid> <until> r",
// which every reader understands (an old reader calls the copy a reuse, as it always did).
// Sorted-set members likewise: "<sid>", "<sid> r", and for a copy both "<sid> c" and "<sid> r".
// A session revoked several ways has several members; loading merges them (latest until, the
// kind by mergeTheft: copy over reuse over none), the same answer as the SQL adapters' upsert.
const REUSE = 'r';
const COPY = 'c';

function flagOf(theft: Theft | undefined): string {
  return theft === 'copy' ? ` ${COPY}` : theft === 'reuse' ? ` ${REUSE}` : '';
}

function theftOf(flag: string | undefined): Theft | undefined {
  return flag === COPY ? 'copy' : flag === REUSE ? 'reuse' : undefined;
}

/** The messages to PUBLISH for a revocation, in order (a copy's own form first). */
export function revocationMessages(r: Revocation): string[] {
  const head = `${r.sessionId} ${r.until}`;
  return r.theft === 'copy' ? [head + flagOf('copy'), head + flagOf('reuse')] : [head + flagOf(r.theft)];
}

/** The sorted-set members recording a revocation (score: its until). */
export function revocationMembers(r: Revocation): string[] {
  return r.theft === 'copy' ? [r.sessionId + flagOf('copy'), r.sessionId + flagOf('reuse')] : [r.sessionId + flagOf(r.theft)];
}

export function decodeRevocation(message: string): Revocation | null {
  const [sessionId, untilRaw, flag, ...rest] = message.split(' ');
  const until = Number(untilRaw);
  const theft = theftOf(flag);
  if (!sessionId || rest.length > 0 || !Number.isSafeInteger(until) || (flag !== undefined && theft === undefined)) return null;
  return theft ? { sessionId, until, theft } : { sessionId, until };
}

/** Turns `ZRANGEBYSCORE … WITHSCORES` output (member, score, member, score …) into revocations. */
export function mergeRevocationMembers(flat: string[]): Revocation[] {
  const bySid = new Map<string, Revocation>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const [sessionId, flag] = flat[i]!.split(' ') as [string, string | undefined];
    const until = Number(flat[i + 1]);
    if (!sessionId || !Number.isFinite(until)) continue;
    const prev = bySid.get(sessionId);
    const theft = mergeTheft(prev?.theft, theftOf(flag));
    bySid.set(sessionId, { sessionId, until: Math.max(until, prev?.until ?? 0), ...(theft ? { theft } : {}) });
  }
  return [...bySid.values()];
}

/** The `ZRANGEBYSCORE` arguments that load every revocation still in force at `now`. */
export function activeRevocationsRange(now: number): [min: string, max: string] {
  return [`(${now}`, '+inf'];
}

/** The calls a subscriber makes on an ioredis connection (structural: no ioredis import here). */
export interface SubscriberConnection {
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  once(event: 'end' | 'ready', listener: () => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  ping(): Promise<unknown>;
  connect(): Promise<void>;
  disconnect(): void;
}

const HEARTBEAT_MS = 5000;

/**
 * A dedicated subscriber connection that never gives up: on every connect it SUBSCRIBEs, and only
 * once Redis has confirmed the subscription calls `onResync`, so anything published after the
 * caller's reload is delivered live and anything before it is in the reload. On a cluster it
 * moves to the next seed node after each failure (PUBLISH reaches every node of a cluster).
 * `connect(node)` builds a lazy connection (see subscriberOptions); null means "the URL".
 */
export function followRevocationChannel(
  target: RedisTarget,
  connect: (node: NodeAddress | null) => SubscriberConnection,
  channel: string,
  onMessage: (message: string) => void,
  onResync: () => void,
): () => void {
  const nodes: Array<NodeAddress | null> = target.clusterNodes?.length ? target.clusterNodes.map(parseNode) : [null];
  let stopped = false;
  let attempt = 0;
  let nodeIndex = 0;
  let conn: SubscriberConnection | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let heartbeat: ReturnType<typeof setInterval> | null = null;

  const scheduleReconnect = () => {
    if (stopped || retryTimer) return;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = null;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      nodeIndex = (nodeIndex + 1) % nodes.length;
      start();
    }, reconnectDelay(attempt++));
    retryTimer.unref?.();
  };

  const start = () => {
    if (stopped) return;
    const c = connect(nodes[nodeIndex] ?? null);
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
          heartbeat.unref?.();
          onResync();
        })
        .catch(() => c.disconnect());
    });
    c.connect().catch(() => {
      // 'end' follows and schedules the retry.
    });
  };

  start();
  return () => {
    stopped = true;
    if (retryTimer) clearTimeout(retryTimer);
    if (heartbeat) clearInterval(heartbeat);
    conn?.disconnect();
    conn = null;
  };
}
