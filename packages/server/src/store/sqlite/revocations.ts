import { EventEmitter } from 'node:events';
import type { Revocation, RevocationFeed } from '../types.js';
import type { SqliteDb } from './database.js';

/** Embedded mode: durable in the table (survives restarts), delivered in-process. */
export function sqliteRevocationFeed(db: SqliteDb): RevocationFeed & { prune(now: number): number } {
  const upsert = db.prepare(
    `INSERT INTO revocations (session_id, until, reuse) VALUES (?, ?, ?)
     ON CONFLICT(session_id) DO UPDATE SET until = max(until, excluded.until), reuse = max(reuse, excluded.reuse)`,
  );
  const active = db.prepare<[number], { session_id: string; until: number; reuse: number }>(
    'SELECT session_id, until, reuse FROM revocations WHERE until > ?',
  );
  const prune = db.prepare('DELETE FROM revocations WHERE until <= ?');
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  return {
    async add(r) {
      upsert.run(r.sessionId, r.until, r.reuse ? 1 : 0);
      bus.emit('revoked', r);
    },
    async loadActive(now) {
      return active.all(now).map((r) => ({ sessionId: r.session_id, until: r.until, ...(r.reuse ? { reuse: true } : {}) }));
    },
    subscribe(onRevoked: (r: Revocation) => void) {
      bus.on('revoked', onRevoked);
      return () => bus.off('revoked', onRevoked);
    },
    prune(now) {
      return prune.run(now).changes;
    },
  };
}
