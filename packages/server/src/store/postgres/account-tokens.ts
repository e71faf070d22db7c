import type pg from 'pg';
import type { AccountTokenPurpose, AccountTokenRecord, AccountTokenStore } from '../types.js';
import { int, query, transaction } from './pool.js';

interface Row {
  hash: string;
  purpose: AccountTokenPurpose;
  user_id: string;
  email: string;
  created_at: string;
  expires_at: string;
}

const toRecord = (r: Row): AccountTokenRecord => ({
  hash: r.hash,
  purpose: r.purpose,
  userId: r.user_id,
  email: r.email,
  createdAt: int(r.created_at),
  expiresAt: int(r.expires_at),
});

const ALL: readonly AccountTokenPurpose[] = ['verify_email', 'reset_password', 'change_email'];

export function postgresAccountTokenStore(pool: pg.Pool): AccountTokenStore & { prune(now: number): Promise<void> } {
  return {
    async issueAccountToken(t) {
      // One transaction: the older link of this purpose is gone when the newer one exists.
      await transaction(pool, async (c) => {
        await c.query('DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2', [t.userId, t.purpose]);
        await c.query('INSERT INTO account_tokens (hash, purpose, user_id, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
          t.hash,
          t.purpose,
          t.userId,
          t.email,
          t.createdAt,
          t.expiresAt,
        ]);
      });
    },
    async consumeAccountToken(hash, purposes, now) {
      // DELETE … RETURNING is the single use: of concurrent deletes of one row, one returns it.
      const { rows } = await query<Row>(pool, 'DELETE FROM account_tokens WHERE hash = $1 AND purpose = ANY($2::text[]) RETURNING *', [hash, purposes]);
      const r = rows[0];
      return r && int(r.expires_at) > now ? toRecord(r) : null;
    },
    async peekAccountToken(hash, purposes, now) {
      const { rows } = await query<Row>(pool, 'SELECT * FROM account_tokens WHERE hash = $1 AND purpose = ANY($2::text[]) AND expires_at > $3', [hash, purposes, now]);
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async deleteAccountTokens(userId, purposes = ALL) {
      const { rowCount } = await query(pool, 'DELETE FROM account_tokens WHERE user_id = $1 AND purpose = ANY($2::text[])', [userId, purposes]);
      return rowCount ?? 0;
    },
    async prune(now) {
      await query(pool, 'DELETE FROM account_tokens WHERE expires_at <= $1', [now]);
    },
  };
}
