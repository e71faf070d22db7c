import { applyRotation, decideRotation, endsAsTheft, theftOf, type PresentedToken, type RotationOutcome } from '../../domain/rotation.js';
import { isSessionLive, type SessionPolicy, type SessionRecord } from '../../domain/session.js';
import { assertBatch, CAP_SCAN, pageLimit } from '../session-batch.js';
import { MAX_SESSION_PAGE, type Revocation, type SessionStore } from '../types.js';
import type { SqliteDb } from './database.js';

interface SessionRow {
  id: string;
  user_id: string;
  client_id: string;
  generation: number;
  rotated_at: number;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  device: string;
  key_id: string | null;
  grace_uses: number;
  grace_debt: number;
}

const toSession = (r: SessionRow): SessionRecord => ({
  id: r.id,
  userId: r.user_id,
  clientId: r.client_id,
  generation: r.generation,
  rotatedAt: r.rotated_at,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  expiresAt: r.expires_at,
  device: r.device,
  keyId: r.key_id,
  graceUses: r.grace_uses,
  graceDebt: r.grace_debt,
});

/** Writes a revocation row inside the caller's transaction, and announces it once committed. */
export interface SqliteRevocationWriter {
  write(r: Revocation): void;
  announce(r: Revocation): void;
}

export function sqliteSessionStore(db: SqliteDb, revocations: SqliteRevocationWriter): SessionStore & { prune(now: number, idleMs: number): number } {
  const insert = db.prepare(
    `INSERT INTO sessions (id, user_id, client_id, generation, rotated_at, created_at, last_used_at, expires_at, device, key_id, grace_uses, grace_debt)
     VALUES (@id, @userId, @clientId, @generation, @rotatedAt, @createdAt, @lastUsedAt, @expiresAt, @device, @keyId, @graceUses, @graceDebt)`,
  );
  const row = (s: SessionRecord) => ({ ...s, keyId: s.keyId ?? null, graceUses: s.graceUses ?? 0, graceDebt: s.graceDebt ?? 0 });
  const get = db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?');
  // Keyset pages on the (user_id, created_at, id) index: each statement reads at most a page.
  const LIVE = 'expires_at > @now AND last_used_at > @idleBefore';
  const firstPage = db.prepare<{ userId: string; now: number; idleBefore: number; limit: number }, SessionRow>(
    `SELECT * FROM sessions WHERE user_id = @userId AND ${LIVE} ORDER BY created_at, id LIMIT @limit`,
  );
  const nextPage = db.prepare<{ userId: string; now: number; idleBefore: number; limit: number; createdAt: number; id: string }, SessionRow>(
    `SELECT * FROM sessions WHERE user_id = @userId AND (created_at, id) > (@createdAt, @id) AND ${LIVE} ORDER BY created_at, id LIMIT @limit`,
  );
  const oldest = db.prepare<[string, number], SessionRow>('SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at, id LIMIT ?');
  const countUpTo = db.prepare<[string, number], { n: number }>('SELECT count(*) AS n FROM (SELECT 1 FROM sessions WHERE user_id = ? LIMIT ?)');
  const del = db.prepare('DELETE FROM sessions WHERE id = ?');
  const delMine = db.prepare('DELETE FROM sessions WHERE id = ? AND user_id = ?');
  const update = db.prepare('UPDATE sessions SET generation = ?, rotated_at = ?, last_used_at = ?, grace_uses = ?, grace_debt = ? WHERE id = ?');
  const prune = db.prepare('DELETE FROM sessions WHERE expires_at <= ? OR last_used_at <= ?');

  const create = db.transaction((s: SessionRecord, max: number | null, idleMs: number, revokeUntil?: number): string[] => {
    if (max === null) {
      insert.run(row(s));
      return [];
    }
    // The cap counts only sessions live at the login (SessionStore.createSession): the user's dead
    // ones among the oldest CAP_SCAN go first, unreported. Bounded whatever the user piled up.
    const window = oldest.all(s.userId, CAP_SCAN);
    const live: string[] = [];
    let dead = 0;
    for (const r of window) {
      if (isSessionLive(toSession(r), s.lastUsedAt, idleMs)) live.push(r.id);
      else {
        del.run(r.id);
        dead++;
      }
    }
    const count = window.length < CAP_SCAN ? live.length : countUpTo.get(s.userId, max + MAX_SESSION_PAGE)!.n;
    insert.run(row(s));
    const excess = Math.min(count + 1 - max, MAX_SESSION_PAGE);
    if (excess <= 0) return [];
    const evicted = live.length >= excess ? live.slice(0, excess) : oldest.all(s.userId, excess + dead + 1).map((r) => r.id).filter((id) => id !== s.id).slice(0, excess);
    for (const id of evicted) {
      del.run(id);
      if (revokeUntil !== undefined) revocations.write({ sessionId: id, until: revokeUntil });
    }
    return evicted;
  });

  const rotate = db.transaction((sid: string, presented: PresentedToken, now: number, policy: SessionPolicy, revokeUntil?: number): RotationOutcome => {
    const row = get.get(sid);
    const session = row ? toSession(row) : null;
    const decision = decideRotation(session, presented, now, policy);
    const next = session && applyRotation(session, decision, now);
    if (next) update.run(next.generation, next.rotatedAt, next.lastUsedAt, next.graceUses ?? 0, next.graceDebt ?? 0, sid);
    else if (endsAsTheft(decision.kind) || decision.kind === 'expired') del.run(sid);
    if (endsAsTheft(decision.kind) && revokeUntil !== undefined) revocations.write({ sessionId: sid, until: revokeUntil, theft: theftOf(decision.kind)! });
    return { decision, session: next ?? session };
  });

  const deleteOne = db.transaction((sid: string): SessionRecord | null => {
    const row = get.get(sid);
    if (!row) return null;
    del.run(sid);
    return toSession(row);
  });

  const deleteMany = db.transaction((userId: string, ids: string[]): string[] => ids.filter((id) => delMine.run(id, userId).changes > 0));

  return {
    async createSession(s, max, policy, revokeUntil) {
      // IMMEDIATE takes the write lock up front so two processes on one file cannot both pass the cap check.
      const evicted = create.immediate(s, max, policy.idleMs, revokeUntil);
      if (revokeUntil !== undefined) for (const id of evicted) revocations.announce({ sessionId: id, until: revokeUntil });
      return { evicted };
    },
    async rotate(sid, presented, now, policy, revokeUntil) {
      const out = rotate.immediate(sid, presented, now, policy, revokeUntil);
      if (endsAsTheft(out.decision.kind) && revokeUntil !== undefined) revocations.announce({ sessionId: sid, until: revokeUntil, theft: theftOf(out.decision.kind)! });
      return out;
    },
    async getSession(sid) {
      const r = get.get(sid);
      return r ? toSession(r) : null;
    },
    async listSessions(userId, now, policy, page) {
      const q = { userId, now, idleBefore: now - policy.idleMs, limit: pageLimit(page) };
      const rows = page?.after ? nextPage.all({ ...q, createdAt: page.after.createdAt, id: page.after.id }) : firstPage.all(q);
      return rows.map(toSession);
    },
    async deleteSession(sid) {
      return deleteOne.immediate(sid);
    },
    async deleteSessions(userId, ids) {
      assertBatch(ids);
      return deleteMany.immediate(userId, ids);
    },
    prune(now, idleMs) {
      return prune.run(now, now - idleMs).changes;
    },
  };
}
