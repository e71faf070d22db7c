// Sessions in PostgreSQL, for deployments without Redis. Every write that must be atomic is one
// transaction: rotation locks the session row (SELECT ... FOR UPDATE), so concurrent refreshes of
// one session queue on that row and each sees the previous one's result (DESIGN property 5);
// creation under a cap holds a per-user advisory lock, since a row lock cannot stop a concurrent
// insert of another row of the same user.
import type pg from 'pg';
import { applyRotation, decideRotation, endsAsTheft, theftOf } from '../../domain/rotation.js';
import { isSessionLive, type SessionRecord } from '../../domain/session.js';
import { assertBatch, CAP_SCAN, pageLimit } from '../session-batch.js';
import { MAX_SESSION_PAGE, type Revocation, type SessionStore } from '../types.js';
import { LOCKS } from './migrations.js';
import { int, query, transaction } from './pool.js';
import { REVOCATION_UPSERT, revocationParams } from './revocations.js';

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
  key_id: string | null;
  grace_uses: number;
  grace_debt: number;
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
  keyId: r.key_id,
  graceUses: r.grace_uses,
  graceDebt: r.grace_debt,
});

const BY_AGE = 'ORDER BY created_at, id COLLATE "C"';

export interface PostgresSessionStore extends SessionStore {
  prune(now: number, idleMs: number): Promise<void>;
}

const LIVE = 'expires_at > $2 AND last_used_at > $3';

/** The revocation feed's row and notification (./revocations.ts), inside the caller's transaction. */
async function recordRevocation(c: pg.PoolClient, r: Revocation): Promise<void> {
  await query(c, REVOCATION_UPSERT, revocationParams(r));
}

export function postgresSessionStore(pool: pg.Pool): PostgresSessionStore {
  return {
    createSession(s, maxSessions, policy, revokeUntil) {
      return transaction(pool, async (c) => {
        const insert = () =>
          query(
            c,
            `INSERT INTO sessions (id, user_id, client_id, generation, rotated_at, created_at, last_used_at, expires_at, device, key_id, grace_uses, grace_debt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
            [s.id, s.userId, s.clientId, s.generation, s.rotatedAt, s.createdAt, s.lastUsedAt, s.expiresAt, s.device, s.keyId ?? null, s.graceUses ?? 0, s.graceDebt ?? 0],
          );
        if (maxSessions === null) {
          await insert();
          return { evicted: [] };
        }
        await query(c, 'SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCKS.userSessions, s.userId]);
        // The cap counts only sessions live at the login (SessionStore.createSession): dead ones
        // among the user's oldest CAP_SCAN go first, unreported. Every statement reads a bounded
        // number of rows on the (user_id, created_at, id) index, whatever the user piled up.
        const { rows: window } = await query<SessionRow>(c, `SELECT * FROM sessions WHERE user_id = $1 ${BY_AGE} LIMIT $2`, [s.userId, CAP_SCAN]);
        const live: string[] = [];
        const dead: string[] = [];
        for (const r of window) (isSessionLive(toSession(r), s.lastUsedAt, policy.idleMs) ? live : dead).push(r.id);
        if (dead.length > 0) await query(c, 'DELETE FROM sessions WHERE id = ANY($1)', [dead]);
        let count = live.length;
        if (window.length === CAP_SCAN) {
          const { rows } = await query<{ n: string }>(c, 'SELECT count(*) AS n FROM (SELECT 1 FROM sessions WHERE user_id = $1 LIMIT $2) x', [s.userId, maxSessions + MAX_SESSION_PAGE]);
          count = int(rows[0]!.n);
        }
        await insert();
        const excess = Math.min(count + 1 - maxSessions, MAX_SESSION_PAGE);
        if (excess <= 0) return { evicted: [] };
        // The oldest beyond the cap, never the session just created.
        const { rows } = await query<{ id: string }>(
          c,
          `DELETE FROM sessions WHERE id IN (
             SELECT id FROM sessions WHERE user_id = $1 AND id <> $2 ${BY_AGE} LIMIT $3
           ) RETURNING id`,
          [s.userId, s.id, excess],
        );
        const evicted = rows.map((r) => r.id);
        if (revokeUntil !== undefined) for (const id of evicted) await recordRevocation(c, { sessionId: id, until: revokeUntil });
        return { evicted };
      });
    },

    rotate(sessionId, presented, now, policy, revokeUntil) {
      return transaction(pool, async (c) => {
        const { rows } = await query<SessionRow>(c, 'SELECT * FROM sessions WHERE id = $1 FOR UPDATE', [sessionId]);
        const session = rows[0] ? toSession(rows[0]) : null;
        const decision = decideRotation(session, presented, now, policy);
        const next = session && applyRotation(session, decision, now);
        if (next) {
          await query(c, 'UPDATE sessions SET generation = $1, rotated_at = $2, last_used_at = $3, grace_uses = $4, grace_debt = $5 WHERE id = $6', [
            next.generation,
            next.rotatedAt,
            next.lastUsedAt,
            next.graceUses ?? 0,
            next.graceDebt ?? 0,
            sessionId,
          ]);
        } else if (endsAsTheft(decision.kind) || decision.kind === 'expired') {
          await query(c, 'DELETE FROM sessions WHERE id = $1', [sessionId]);
        }
        // Committed with the deletion: a reply lost after COMMIT cannot lose the revocation.
        if (endsAsTheft(decision.kind) && revokeUntil !== undefined) await recordRevocation(c, { sessionId, until: revokeUntil, theft: theftOf(decision.kind)! });
        return { decision, session: next ?? session };
      });
    },

    async getSession(sessionId) {
      const { rows } = await query<SessionRow>(pool, 'SELECT * FROM sessions WHERE id = $1', [sessionId]);
      return rows[0] ? toSession(rows[0]) : null;
    },

    async listSessions(userId, now, policy, page) {
      const limit = pageLimit(page);
      const after = page?.after;
      const { rows } = after
        ? await query<SessionRow>(
            pool,
            `SELECT * FROM sessions WHERE user_id = $1 AND ${LIVE} AND (created_at, id COLLATE "C") > ($5, $6 COLLATE "C") ${BY_AGE} LIMIT $4`,
            [userId, now, now - policy.idleMs, limit, after.createdAt, after.id],
          )
        : await query<SessionRow>(pool, `SELECT * FROM sessions WHERE user_id = $1 AND ${LIVE} ${BY_AGE} LIMIT $4`, [userId, now, now - policy.idleMs, limit]);
      return rows.map(toSession);
    },

    async deleteSession(sessionId) {
      const { rows } = await query<SessionRow>(pool, 'DELETE FROM sessions WHERE id = $1 RETURNING *', [sessionId]);
      return rows[0] ? toSession(rows[0]) : null;
    },

    async deleteSessions(userId, sessionIds) {
      assertBatch(sessionIds);
      if (sessionIds.length === 0) return [];
      const { rows } = await query<{ id: string }>(pool, 'DELETE FROM sessions WHERE user_id = $1 AND id = ANY($2) RETURNING id', [userId, sessionIds]);
      return rows.map((r) => r.id);
    },

    async prune(now, idleMs) {
      await query(pool, 'DELETE FROM sessions WHERE expires_at <= $1 OR last_used_at <= $2', [now, now - idleMs]);
    },
  };
}
