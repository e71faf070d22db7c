import type pg from 'pg';
import { EmailTakenError } from '../../domain/errors.js';
import type { UserRecord, UserStore } from '../types.js';
import { int, query } from './pool.js';

interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: string;
  disabled_at: string | null;
  email_verified_at: string | null;
}

const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  email: r.email,
  passwordHash: r.password_hash,
  createdAt: int(r.created_at),
  // Only when set: an enabled user reads back exactly as it was created.
  ...(r.disabled_at !== null ? { disabledAt: int(r.disabled_at) } : {}),
  ...(r.email_verified_at !== null ? { emailVerifiedAt: int(r.email_verified_at) } : {}),
});

export function postgresUserStore(pool: pg.Pool): UserStore {
  return {
    async createUser(u) {
      try {
        // The unique index on email decides concurrent sign-ups of one address: exactly one insert wins.
        await query(pool, 'INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)', [u.id, u.email, u.passwordHash, u.createdAt]);
      } catch (err) {
        const e = err as { code?: string; constraint?: string };
        if (e.code === '23505' && e.constraint === 'users_email_key') throw new EmailTakenError();
        throw err;
      }
      return u;
    },
    async findUserByEmail(email) {
      const { rows } = await query<UserRow>(pool, 'SELECT * FROM users WHERE email = $1', [email]);
      return rows[0] ? toUser(rows[0]) : null;
    },
    async findUserById(id) {
      const { rows } = await query<UserRow>(pool, 'SELECT * FROM users WHERE id = $1', [id]);
      return rows[0] ? toUser(rows[0]) : null;
    },
    async updatePasswordHash(id, expectedOld, next) {
      // Compare-and-set in one statement: a rehash never overwrites a concurrent password change.
      await query(pool, 'UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3', [next, id, expectedOld]);
    },
    async listUsers(q) {
      // Keyset on the unique email index, so a page costs its size; strpos, not LIKE: the search
      // text is literal. COLLATE "C": the cursor compares bytewise, whatever the database's collation.
      const { rows } = await query<UserRow>(
        pool,
        'SELECT * FROM users WHERE email COLLATE "C" > $1 AND strpos(email, $2) > 0 ORDER BY email COLLATE "C" LIMIT $3',
        [q.after ?? '', q.emailContains ?? '', q.limit],
      );
      return rows.map(toUser);
    },
    async setUserDisabled(id, disabledAt) {
      const { rows } = await query<UserRow>(pool, 'UPDATE users SET disabled_at = $1 WHERE id = $2 RETURNING *', [disabledAt, id]);
      return rows[0] ? toUser(rows[0]) : null;
    },
    async changeEmail(id, email, verifiedAt) {
      try {
        const { rowCount } = await query(pool, 'UPDATE users SET email = $1, email_verified_at = $2 WHERE id = $3', [email, verifiedAt, id]);
        return (rowCount ?? 0) > 0;
      } catch (err) {
        const e = err as { code?: string; constraint?: string };
        if (e.code === '23505' && e.constraint === 'users_email_key') throw new EmailTakenError();
        throw err;
      }
    },
    async replacePasswordHash(id, next) {
      const { rowCount } = await query(pool, 'UPDATE users SET password_hash = $1 WHERE id = $2', [next, id]);
      return (rowCount ?? 0) > 0;
    },
    async markEmailVerified(id, email, at) {
      const { rowCount } = await query(pool, 'UPDATE users SET email_verified_at = coalesce(email_verified_at, $1) WHERE id = $2 AND email = $3', [at, id, email]);
      return (rowCount ?? 0) > 0;
    },
    async deleteUser(id) {
      const { rowCount } = await query(pool, 'DELETE FROM users WHERE id = $1', [id]);
      return (rowCount ?? 0) > 0;
    },
  };
}
