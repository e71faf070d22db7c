import type pg from 'pg';
import type { AdminKeyRecord } from '../../domain/admin-keys.js';
import type { AdminKeyStore } from '../types.js';
import { int, query } from './pool.js';

interface Row {
  id: string;
  name: string;
  secret_hash: string;
  created_at: string;
  revoked_at: string | null;
}

const toKey = (r: Row): AdminKeyRecord => ({
  id: r.id,
  name: r.name,
  secretHash: r.secret_hash,
  createdAt: int(r.created_at),
  revokedAt: r.revoked_at === null ? null : int(r.revoked_at),
});

export function postgresAdminKeyStore(pool: pg.Pool): AdminKeyStore {
  return {
    async createAdminKey(k) {
      await query(pool, 'INSERT INTO admin_keys (id, name, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)', [k.id, k.name, k.secretHash, k.createdAt, k.revokedAt]);
    },
    async findAdminKey(id) {
      const { rows } = await query<Row>(pool, 'SELECT * FROM admin_keys WHERE id = $1', [id]);
      return rows[0] ? toKey(rows[0]) : null;
    },
    async listAdminKeys() {
      const { rows } = await query<Row>(pool, 'SELECT * FROM admin_keys ORDER BY created_at, id');
      return rows.map(toKey);
    },
    async revokeAdminKey(id, at) {
      const { rowCount } = await query(pool, 'UPDATE admin_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2', [at, id]);
      return (rowCount ?? 0) > 0;
    },
  };
}
