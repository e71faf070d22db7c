import { EmailTakenError } from '../../domain/errors.js';
import type { UserRecord, UserStore } from '../types.js';
import type { SqliteDb } from './database.js';

interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: number;
}

const toUser = (r: UserRow): UserRecord => ({ id: r.id, email: r.email, passwordHash: r.password_hash, createdAt: r.created_at });

export function sqliteUserStore(db: SqliteDb): UserStore {
  const insert = db.prepare('INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)');
  const byEmail = db.prepare<[string], UserRow>('SELECT * FROM users WHERE email = ?');
  const byId = db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?');
  const updateHash = db.prepare('UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?');
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
  };
}
