import { EmailTakenError } from '../../domain/errors.js';
import type { UserRecord, UserStore } from '../types.js';
import type { SqliteDb } from './database.js';

interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: number;
  disabled_at: number | null;
  email_verified_at: number | null;
}

// disabledAt only when set: an enabled user reads back exactly as it was created.
const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  email: r.email,
  passwordHash: r.password_hash,
  createdAt: r.created_at,
  ...(r.disabled_at !== null ? { disabledAt: r.disabled_at } : {}),
  ...(r.email_verified_at !== null ? { emailVerifiedAt: r.email_verified_at } : {}),
});

/** LIKE with the pattern's own wildcards escaped: a search for "a_b" finds "a_b" only. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export function sqliteUserStore(db: SqliteDb): UserStore {
  const insert = db.prepare('INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)');
  const byEmail = db.prepare<[string], UserRow>('SELECT * FROM users WHERE email = ?');
  const byId = db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?');
  const updateHash = db.prepare('UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?');
  // The unique index on email serves both the order and the cursor, so a page costs its size.
  const page = db.prepare<[string, string, number], UserRow>(
    "SELECT * FROM users WHERE email > ? AND email LIKE ? ESCAPE '\\' ORDER BY email LIMIT ?",
  );
  const setDisabled = db.prepare<[number | null, string], UserRow>('UPDATE users SET disabled_at = ? WHERE id = ? RETURNING *');
  const remove = db.prepare('DELETE FROM users WHERE id = ?');
  const moveEmail = db.prepare('UPDATE users SET email = ?, email_verified_at = ? WHERE id = ?');
  const replaceHash = db.prepare('UPDATE users SET password_hash = ? WHERE id = ?');
  const markVerified = db.prepare('UPDATE users SET email_verified_at = coalesce(email_verified_at, ?) WHERE id = ? AND email = ?');
  return {
    async createUser(u) {
      try {
        insert.run(u.id, u.email, u.passwordHash, u.createdAt);
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new EmailTakenError();
        throw e;
      }
      return u;
    },
    async findUserByEmail(email) {
      const r = byEmail.get(email);
      return r ? toUser(r) : null;
    },
    async findUserById(id) {
      const r = byId.get(id);
      return r ? toUser(r) : null;
    },
    async updatePasswordHash(id, expectedOld, next) {
      updateHash.run(next, id, expectedOld);
    },
    async listUsers(q) {
      return page.all(q.after ?? '', likeContains(q.emailContains ?? ''), q.limit).map(toUser);
    },
    async setUserDisabled(id, disabledAt) {
      const r = setDisabled.get(disabledAt, id);
      return r ? toUser(r) : null;
    },
    async deleteUser(id) {
      return remove.run(id).changes > 0;
    },
    async changeEmail(id, email, verifiedAt) {
      try {
        return moveEmail.run(email, verifiedAt, id).changes > 0;
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new EmailTakenError();
        throw e;
      }
    },
    async replacePasswordHash(id, next) {
      return replaceHash.run(next, id).changes > 0;
    },
    async markEmailVerified(id, email, at) {
      return markVerified.run(at, id, email).changes > 0;
    },
  };
}
