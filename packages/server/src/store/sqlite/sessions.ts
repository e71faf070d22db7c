import { applyRotation, decideRotation, type PresentedToken, type RotationOutcome } from '../../domain/rotation.js';
import { isSessionLive, type SessionPolicy, type SessionRecord } from '../../domain/session.js';
import type { SessionStore } from '../types.js';
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
});

export function sqliteSessionStore(db: SqliteDb): SessionStore & { prune(now: number, idleMs: number): number } {
  const insert = db.prepare(
    `INSERT INTO sessions (id, user_id, client_id, generation, rotated_at, created_at, last_used_at, expires_at, device)
     VALUES (@id, @userId, @clientId, @generation, @rotatedAt, @createdAt, @lastUsedAt, @expiresAt, @device)`,
  );
  const get = db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?');
  const byUser = db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at, id');
  const del = db.prepare('DELETE FROM sessions WHERE id = ?');
  const update = db.prepare('UPDATE sessions SET generation = ?, rotated_at = ?, last_used_at = ? WHERE id = ?');
  const prune = db.prepare('DELETE FROM sessions WHERE expires_at <= ? OR last_used_at <= ?');
  const dropUsersDead = db.prepare('DELETE FROM sessions WHERE user_id = ? AND (expires_at <= ? OR last_used_at <= ?)');

  const create = db.transaction((s: SessionRecord, max: number | null, idleMs: number): string[] => {
    // The cap counts only sessions live at the login (SessionStore.createSession); the user's dead
    // ones go first, unreported, so they can neither take a live session's place nor be counted.
    if (max !== null) dropUsersDead.run(s.userId, s.lastUsedAt, s.lastUsedAt - idleMs);
    insert.run(s);
    if (max === null) return [];
    const all = byUser.all(s.userId);
    const excess = all.length - max;
    if (excess <= 0) return [];
    const evicted = all.filter((r) => r.id !== s.id).slice(0, excess).map((r) => r.id);
    for (const id of evicted) del.run(id);
    return evicted;
  });

  const rotate = db.transaction((sid: string, presented: PresentedToken, now: number, policy: SessionPolicy): RotationOutcome => {
    const row = get.get(sid);
    const session = row ? toSession(row) : null;
    const decision = decideRotation(session, presented, now, policy);
    const next = session && applyRotation(session, decision, now);
    if (next) update.run(next.generation, next.rotatedAt, next.lastUsedAt, sid);
    else if (decision.kind === 'reuse' || decision.kind === 'expired') del.run(sid);
    return { decision, session: next ?? session };
  });

  const deleteOne = db.transaction((sid: string): SessionRecord | null => {
    const row = get.get(sid);
    if (!row) return null;
    del.run(sid);
    return toSession(row);
  });

  const deleteAll = db.transaction((userId: string, exceptId?: string): string[] => {
    const ids = byUser
      .all(userId)
      .map((r) => r.id)
      .filter((id) => id !== exceptId);
    for (const id of ids) del.run(id);
    return ids;
  });

  return {
    async createSession(s, max, policy) {
      // IMMEDIATE takes the write lock up front so two processes on one file cannot both pass the cap check.
      return { evicted: create.immediate(s, max, policy.idleMs) };
    },
    async rotate(sid, presented, now, policy) {
      return rotate.immediate(sid, presented, now, policy);
    },
    async getSession(sid) {
      const r = get.get(sid);
      return r ? toSession(r) : null;
    },
    async listSessions(userId, now, policy) {
      return byUser
        .all(userId)
        .map(toSession)
        .filter((s) => isSessionLive(s, now, policy.idleMs));
    },
    async deleteSession(sid) {
      return deleteOne.immediate(sid);
    },
    async deleteUserSessions(userId, exceptId) {
      return deleteAll.immediate(userId, exceptId);
    },
    prune(now, idleMs) {
      return prune.run(now, now - idleMs).changes;
    },
  };
}
