// Sessions in PostgreSQL, for deployments without Redis. Every write that must be atomic is one
// transaction: rotation locks the session row (SELECT ... FOR UPDATE), so concurrent refreshes of
// one session queue on that row and each sees the previous one's result (DESIGN property 5);
// creation under a cap holds a per-user advisory lock, since a row lock cannot stop a concurrent
// insert of another row of the same user.
import type pg from 'pg';
import { applyRotation, decideRotation } from '../../domain/rotation.js';
import type { SessionRecord } from '../../domain/session.js';
import type { SessionStore } from '../types.js';
import { LOCKS } from './migrations.js';
import { int, query, transaction } from './pool.js';

interface SessionRow {
  id: string;
  user_id: string;
  client_id: string;
  generation: string;
  rotated_at: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  device: string;
}

const toSession = (r: SessionRow): SessionRecord => ({
  id: r.id,
  userId: r.user_id,
  clientId: r.client_id,
  generation: int(r.generation),
  rotatedAt: int(r.rotated_at),
  createdAt: int(r.created_at),
  lastUsedAt: int(r.last_used_at),
  expiresAt: int(r.expires_at),
  device: r.device,
});

const BY_AGE = 'ORDER BY created_at, id COLLATE "C"';

export interface PostgresSessionStore extends SessionStore {
  prune(now: number, idleMs: number): Promise<void>;
}

export function postgresSessionStore(pool: pg.Pool): PostgresSessionStore {
  return {
    createSession(s, maxSessions, policy) {
      return transaction(pool, async (c) => {
        if (maxSessions !== null) {
          await query(c, 'SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCKS.userSessions, s.userId]);
          // The cap counts only sessions live at the login (SessionStore.createSession), and nothing
          // sweeps dead ones between prunes: they go first, unreported.
          await query(c, 'DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_used_at <= $3)', [
            s.userId,
            s.lastUsedAt,
            s.lastUsedAt - policy.idleMs,
          ]);
        }
        await query(
          c,
          `INSERT INTO sessions (id, user_id, client_id, generation, rotated_at, created_at, last_used_at, expires_at, device)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [s.id, s.userId, s.clientId, s.generation, s.rotatedAt, s.createdAt, s.lastUsedAt, s.expiresAt, s.device],
        );
        if (maxSessions === null) return { evicted: [] };
        // The oldest beyond the cap, never the session just created.
        const { rows } = await query<{ id: string }>(
          c,
          `DELETE FROM sessions WHERE id IN (
             SELECT id FROM sessions WHERE user_id = $1 AND id <> $2 ${BY_AGE}
             LIMIT greatest(0, (SELECT count(*) FROM sessions WHERE user_id = $1) - $3)
           ) RETURNING id`,
          [s.userId, s.id, maxSessions],
        );
        return { evicted: rows.map((r) => r.id) };
      });
    },

    rotate(sessionId, presented, now, policy) {
      return transaction(pool, async (c) => {
        const { rows } = await query<SessionRow>(c, 'SELECT * FROM sessions WHERE id = $1 FOR UPDATE', [sessionId]);
        const session = rows[0] ? toSession(rows[0]) : null;
        const decision = decideRotation(session, presented, now, policy);
        const next = session && applyRotation(session, decision, now);
        if (next) {
          await query(c, 'UPDATE sessions SET generation = $1, rotated_at = $2, last_used_at = $3 WHERE id = $4', [
            next.generation,
            next.rotatedAt,
            next.lastUsedAt,
            sessionId,
          ]);
        } else if (decision.kind === 'reuse' || decision.kind === 'expired') {
          await query(c, 'DELETE FROM sessions WHERE id = $1', [sessionId]);
        }
        return { decision, session: next ?? session };
      });
    },

    async getSession(sessionId) {
      const { rows } = await query<SessionRow>(pool, 'SELECT * FROM sessions WHERE id = $1', [sessionId]);
      return rows[0] ? toSession(rows[0]) : null;
    },

    async listSessions(userId, now, policy) {
      const { rows } = await query<SessionRow>(
        pool,
        `SELECT * FROM sessions WHERE user_id = $1 AND expires_at > $2 AND last_used_at > $3 ${BY_AGE}`,
        [userId, now, now - policy.idleMs],
      );
      return rows.map(toSession);
    },

    async deleteSession(sessionId) {
      const { rows } = await query<SessionRow>(pool, 'DELETE FROM sessions WHERE id = $1 RETURNING *', [sessionId]);
      return rows[0] ? toSession(rows[0]) : null;
    },

    async deleteUserSessions(userId, exceptId) {
      const { rows } = await query<{ id: string }>(pool, 'DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2 RETURNING id', [
        userId,
        exceptId ?? null,
      ]);
      return rows.map((r) => r.id);
    },

    async prune(now, idleMs) {
      await query(pool, 'DELETE FROM sessions WHERE expires_at <= $1 OR last_used_at <= $2', [now, now - idleMs]);
    },
  };
}
