import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Revocation, RevocationFeed } from '../types.js';
import type { Theft } from '@latchkey/core';
import type { SqliteDb } from './database.js';

/** How often a subscribed server looks for revocations written by another process. */
const POLL_MS = 250;
/** Rows written this long before the last poll are read again: a commit may land out of clock order. */
const POLL_OVERLAP_MS = 2000;

/**
 * Embedded mode: durable in the table (survives restarts), delivered in-process at once, and to
 * other processes on the same file (the `latchkey` CLI disabling a user or ending sessions while
 * the server runs) by polling for rows newer than the last poll: within a second, as promised
 * for operator actions (issue 13).
 */
export interface SqliteRevocationFeed extends RevocationFeed {
  addMany(rs: Revocation[]): Promise<void>;
  /** The row alone, for a caller's own transaction (a session store ending sessions); announce after commit. */
  write(r: Revocation): void;
  /** Delivers a committed revocation in-process (other processes poll the table). */
  announce(r: Revocation): void;
  prune(now: number): number;
  stop(): void;
}

/** The `reuse` column's value for a kind (schema.ts): ordered so that max() merges like mergeTheft. */
function theftColumn(theft: Theft | undefined): number {
  return theft === 'copy' ? 2 : theft === 'reuse' ? 1 : 0;
}

export function sqliteRevocationFeed(db: SqliteDb, now: () => number = Date.now): SqliteRevocationFeed {
  const writer = randomUUID();
  const upsertRow = db.prepare(
    `INSERT INTO revocations (session_id, until, reuse, written_at, writer) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(session_id) DO UPDATE SET until = max(until, excluded.until), reuse = max(reuse, excluded.reuse), written_at = excluded.written_at, writer = excluded.writer`,
  );
  const upsert = { run: (sessionId: string, until: number, reuse: number, at: number) => upsertRow.run(sessionId, until, reuse, at, writer) };
  const active = db.prepare<[number], { session_id: string; until: number; reuse: number }>(
    'SELECT session_id, until, reuse FROM revocations WHERE until > ?',
  );
  const writtenSince = db.prepare<[number, number, string], { session_id: string; until: number; reuse: number }>(
    'SELECT session_id, until, reuse FROM revocations WHERE written_at >= ? AND until > ? AND writer <> ?',
  );
  const prune = db.prepare('DELETE FROM revocations WHERE until <= ?');
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  const toRevocation = (r: { session_id: string; until: number; reuse: number }): Revocation => ({
    sessionId: r.session_id,
    until: r.until,
    ...(r.reuse >= 2 ? { theft: 'copy' } : r.reuse ? { theft: 'reuse' } : {}),
  });

  let poller: NodeJS.Timeout | null = null;
  let lastPoll = now();
  const poll = () => {
    const t = now();
    try {
      // Only other processes' rows: this feed announced its own in-process when it wrote them.
      for (const r of writtenSince.all(lastPoll - POLL_OVERLAP_MS, t, writer)) bus.emit('revoked', toRevocation(r), true);
      lastPoll = t;
    } catch {
      // The file is busy or gone for a moment: the next poll reads the same window again.
    }
  };

  return {
    async add(r) {
      upsert.run(r.sessionId, r.until, theftColumn(r.theft), now());
      bus.emit('revoked', r, true);
    },
    async addMany(rs) {
      // One transaction: a commit per row made ending 500 sessions block the event loop ~200 ms.
      const at = now();
      db.transaction(() => {
        for (const r of rs) upsert.run(r.sessionId, r.until, theftColumn(r.theft), at);
      })();
      for (const r of rs) bus.emit('revoked', r, true);
    },
    write(r) {
      upsert.run(r.sessionId, r.until, theftColumn(r.theft), now());
    },
    announce(r) {
      bus.emit('revoked', r, true);
    },
    async loadActive(at) {
      return active.all(at).map(toRevocation);
    },
    subscribe(onRevoked: (r: Revocation, live?: boolean) => void) {
      bus.on('revoked', onRevoked);
      if (!poller) {
        lastPoll = now();
        poller = setInterval(poll, POLL_MS);
        poller.unref();
      }
      return () => {
        bus.off('revoked', onRevoked);
        if (bus.listenerCount('revoked') === 0 && poller) {
          clearInterval(poller);
          poller = null;
        }
      };
    },
    prune(at) {
      return prune.run(at).changes;
    },
    stop() {
      if (poller) clearInterval(poller);
      poller = null;
      bus.removeAllListeners();
    },
  };
}
