import type { AdminKeyRecord } from '../../domain/admin-keys.js';
import type { AdminKeyStore } from '../types.js';
import type { SqliteDb } from './database.js';

interface Row {
  id: string;
  name: string;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
}

const toKey = (r: Row): AdminKeyRecord => ({ id: r.id, name: r.name, secretHash: r.secret_hash, createdAt: r.created_at, revokedAt: r.revoked_at });

export function sqliteAdminKeyStore(db: SqliteDb): AdminKeyStore {
  const insert = db.prepare('INSERT INTO admin_keys (id, name, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)');
  const byId = db.prepare<[string], Row>('SELECT * FROM admin_keys WHERE id = ?');
  const all = db.prepare<[], Row>('SELECT * FROM admin_keys ORDER BY created_at, id');
  const revoke = db.prepare('UPDATE admin_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?');
  return {
    async createAdminKey(k) {
      insert.run(k.id, k.name, k.secretHash, k.createdAt, k.revokedAt);
    },
    async findAdminKey(id) {
      const r = byId.get(id);
      return r ? toKey(r) : null;
    },
    async listAdminKeys() {
      return all.all().map(toKey);
    },
    async revokeAdminKey(id, at) {
      return revoke.run(at, id).changes > 0;
    },
  };
}
