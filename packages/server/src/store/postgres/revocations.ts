// The revocation feed on PostgreSQL: a table of recent revocations plus LISTEN/NOTIFY for live
// delivery. NOTIFY is sent at commit, in the same transaction as the row, so a listener never
// hears of a revocation that is not yet durable. Like Redis pub/sub it is lost while a listener
// is disconnected, hence the reload on every (re)connect.
import pg from 'pg';
import type { Revocation, RevocationFeed } from '../types.js';
import { feedSubscriptions, type Theft } from '@latchkey/core';
import { int, query } from './pool.js';

const CHANNEL = 'latchkey_revoked';
const HEARTBEAT_MS = 5000;

export interface PostgresRevocationFeed extends RevocationFeed {
  addMany(rs: Revocation[]): Promise<void>;
  prune(now: number): Promise<void>;
  /** Ends every subscription still open (on close, so no reconnect loop outlives the store). */
  stopAll(): void;
}

// Payload {s: sid, u: until} plus r: true for a theft and c: true when it was a copy. A copy
// carries both: readers that predate `c` ignore it and call the copy a reuse, as they always did;
// the columns likewise (reuse true and copy true; migration 6).
function decode(payload: string): Revocation | null {
  if (!payload) return null;
  try {
    const v = JSON.parse(payload) as { s?: unknown; u?: unknown; r?: unknown; c?: unknown };
    if (typeof v.s !== 'string' || typeof v.u !== 'number' || !Number.isSafeInteger(v.u)) return null;
    const theft = theftOf(v.r === true, v.c === true);
    return theft ? { sessionId: v.s, until: v.u, theft } : { sessionId: v.s, until: v.u };
  } catch {
    return null;
  }
}

function theftOf(reuse: boolean, copy: boolean): Theft | undefined {
  return copy ? 'copy' : reuse ? 'reuse' : undefined;
}

/** One statement, hence one transaction on its own: the row and the notification commit together. */
export const REVOCATION_UPSERT = `WITH up AS (
   INSERT INTO revocations (session_id, until, reuse, copy) VALUES ($1, $2, $3, $4)
   ON CONFLICT (session_id) DO UPDATE
     SET until = greatest(revocations.until, excluded.until), reuse = revocations.reuse OR excluded.reuse, copy = revocations.copy OR excluded.copy
 )
 SELECT pg_notify($5, $6)`;

function payloadOf(r: Revocation): string {
  const flags = r.theft === 'copy' ? { r: true, c: true } : r.theft === 'reuse' ? { r: true } : {};
  return JSON.stringify({ s: r.sessionId, u: r.until, ...flags });
}

export function revocationParams(r: Revocation): unknown[] {
  return [r.sessionId, r.until, r.theft !== undefined, r.theft === 'copy', CHANNEL, payloadOf(r)];
}

export function postgresRevocationFeed(pool: pg.Pool, listenConfig: pg.ClientConfig): PostgresRevocationFeed {
  const loadActive = async (now: number): Promise<Revocation[]> => {
    const { rows } = await query<{ session_id: string; until: string; reuse: boolean; copy: boolean }>(
      pool,
      'SELECT session_id, until, reuse, copy FROM revocations WHERE until > $1',
      [now],
    );
    return rows.map((r) => {
      const theft = theftOf(r.reuse, r.copy);
      return { sessionId: r.session_id, until: int(r.until), ...(theft ? { theft } : {}) };
    });
  };
  return {
    async add(r) {
      await query(pool, REVOCATION_UPSERT, revocationParams(r));
    },
    async addMany(rs) {
      // One statement (one transaction): the rows and their notifications commit together.
      await query(
        pool,
        `WITH v AS (SELECT * FROM unnest($1::text[], $2::int8[], $3::bool[], $4::bool[], $5::text[]) AS t(sid, until, reuse, copy, payload)),
         up AS (
           INSERT INTO revocations (session_id, until, reuse, copy) SELECT sid, until, reuse, copy FROM v
           ON CONFLICT (session_id) DO UPDATE
             SET until = greatest(revocations.until, excluded.until), reuse = revocations.reuse OR excluded.reuse, copy = revocations.copy OR excluded.copy
         )
         SELECT count(pg_notify($6, payload)) FROM v`,
        [
          rs.map((r) => r.sessionId),
          rs.map((r) => r.until),
          rs.map((r) => r.theft !== undefined),
          rs.map((r) => r.theft === 'copy'),
          rs.map(payloadOf),
          CHANNEL,
        ],
      );
    },
    loadActive,
    ...feedSubscriptions((onMessage, onReady) => listen(listenConfig, (p) => onMessage(p ?? ''), onReady), decode, loadActive, Date.now),
    async prune(now) {
      await query(pool, 'DELETE FROM revocations WHERE until <= $1', [now]);
    },
  };
}

/** A dedicated connection (LISTEN does not survive in a pool) that reconnects forever. */
function listen(config: pg.ClientConfig, onPayload: (payload: string | undefined) => void, onListening: () => void): () => void {
  let stopped = false;
  let attempt = 0;
  let client: pg.Client | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let heartbeat: NodeJS.Timeout | null = null;

  const drop = (c: pg.Client) => {
    if (client !== c) return;
    client = null;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = null;
    c.end().catch(() => {});
    if (stopped) return;
    retryTimer = setTimeout(connect, Math.min(50 * 2 ** Math.min(attempt++, 6), 2000));
    retryTimer.unref();
  };

  const connect = () => {
    retryTimer = null;
    if (stopped) return;
    const c = new pg.Client({ ...config, application_name: 'latchkey-feed' });
    client = c;
    c.on('error', () => drop(c));
    c.on('end', () => drop(c));
    c.on('notification', (n) => {
      if (n.channel === CHANNEL) onPayload(n.payload);
    });
    c.connect()
      .then(() => c.query(`LISTEN ${CHANNEL}`))
      .then(() => {
        if (client !== c) return;
        attempt = 0;
        heartbeat = setInterval(() => {
          // A server that vanished without closing the socket is only noticed by asking.
          c.query('SELECT 1').catch(() => drop(c));
        }, HEARTBEAT_MS);
        heartbeat.unref();
        onListening();
      })
      .catch(() => drop(c));
  };

  connect();
  return () => {
    stopped = true;
    if (retryTimer) clearTimeout(retryTimer);
    const c = client;
    client = null;
    if (heartbeat) clearInterval(heartbeat);
    c?.end().catch(() => {});
  };
}
