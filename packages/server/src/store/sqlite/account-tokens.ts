import type { AccountTokenPurpose, AccountTokenRecord, AccountTokenStore } from '../types.js';
import type { SqliteDb } from './database.js';

interface Row {
  hash: string;
  purpose: AccountTokenPurpose;
  user_id: string;
  email: string;
  created_at: number;
  expires_at: number;
}

const toRecord = (r: Row): AccountTokenRecord => ({ hash: r.hash, purpose: r.purpose, userId: r.user_id, email: r.email, createdAt: r.created_at, expiresAt: r.expires_at });

const ALL: readonly AccountTokenPurpose[] = ['verify_email', 'reset_password', 'change_email'];

export function sqliteAccountTokenStore(db: SqliteDb): AccountTokenStore & { prune(now: number): void } {
  const removeOfPurpose = db.prepare('DELETE FROM account_tokens WHERE user_id = ? AND purpose = ?');
  const insert = db.prepare('INSERT INTO account_tokens (hash, purpose, user_id, email, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)');
  const take = db.prepare<[string], Row>('DELETE FROM account_tokens WHERE hash = ? RETURNING *');
  const peek = db.prepare<[string], { purpose: AccountTokenPurpose }>('SELECT purpose FROM account_tokens WHERE hash = ?');
  const read = db.prepare<[string], Row>('SELECT * FROM account_tokens WHERE hash = ?');
  const expired = db.prepare('DELETE FROM account_tokens WHERE expires_at <= ?');
  // One IMMEDIATE transaction each (called with .immediate): the write lock is taken first, so
  // the replace and the take are indivisible across processes (the CLI opens the same file).
  const issue = db.transaction((t: AccountTokenRecord) => {
    removeOfPurpose.run(t.userId, t.purpose);
    insert.run(t.hash, t.purpose, t.userId, t.email, t.createdAt, t.expiresAt);
  });
  const consume = db.transaction((hash: string, purposes: readonly AccountTokenPurpose[]) => {
    const found = peek.get(hash);
    if (!found || !purposes.includes(found.purpose)) return null;
    return take.get(hash) ?? null;
  });
  const removeUser = db.transaction((userId: string, purposes: readonly AccountTokenPurpose[]) => {
    let n = 0;
    for (const p of purposes) n += removeOfPurpose.run(userId, p).changes;
    return n;
  });
  return {
    async issueAccountToken(t) {
      issue.immediate(t);
    },
    async consumeAccountToken(hash, purposes, now) {
      const r = consume.immediate(hash, purposes);
      return r && r.expires_at > now ? toRecord(r) : null;
    },
    async peekAccountToken(hash, purposes, now) {
      const r = read.get(hash);
      return r && purposes.includes(r.purpose) && r.expires_at > now ? toRecord(r) : null;
    },
    async deleteAccountTokens(userId, purposes = ALL) {
      return removeUser.immediate(userId, purposes);
    },
    prune(now) {
      expired.run(now);
    },
  };
}
