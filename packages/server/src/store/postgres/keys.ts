// Signing keys and the refresh-token MAC secret, shared by every instance. Each change runs in one
// transaction holding a transaction-scoped advisory lock, so instances starting together agree on
// exactly one active key and one MAC secret (the first to take the lock creates them, the others
// find them) without relying on serialisable isolation.
import type pg from 'pg';
import type { KeyStore, MacKeyRecord, StoredSigningKey } from '../types.js';
import { LOCKS } from './migrations.js';
import { int, query, transaction, type Queryable } from './pool.js';

interface KeyRow {
  kid: string;
  alg: StoredSigningKey['alg'];
  private_jwk: string;
  created_at: string;
  retired_at: string | null;
}

const toKey = (r: KeyRow): StoredSigningKey => ({
  kid: r.kid,
  alg: r.alg,
  privateJwk: r.private_jwk,
  createdAt: int(r.created_at),
  retiredAt: r.retired_at === null ? null : int(r.retired_at),
});

// COLLATE "C": byte order, the same as the SQLite adapter, whatever the database's locale.
const ALL_KEYS = 'SELECT * FROM signing_keys ORDER BY created_at, kid COLLATE "C"';

async function allKeys(db: Queryable): Promise<StoredSigningKey[]> {
  return (await query<KeyRow>(db, ALL_KEYS)).rows.map(toKey);
}

async function insertActive(c: pg.PoolClient, k: StoredSigningKey, now: number): Promise<void> {
  await query(c, 'UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL', [now]);
  await query(c, 'INSERT INTO signing_keys (kid, alg, private_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, NULL)', [
    k.kid,
    k.alg,
    k.privateJwk,
    k.createdAt,
  ]);
}

const lockKeys = (c: pg.PoolClient) => query(c, 'SELECT pg_advisory_xact_lock($1)', [LOCKS.keys]);

export function postgresKeyStore(pool: pg.Pool): KeyStore {
  return {
    ensureActiveSigningKey(alg, candidate, now) {
      return transaction(pool, async (c) => {
        await lockKeys(c);
        const { rows } = await query(c, 'SELECT 1 FROM signing_keys WHERE retired_at IS NULL AND alg = $1', [alg]);
        if (rows.length === 0) await insertActive(c, candidate(), now);
        return allKeys(c);
      });
    },
    rotateSigningKey(next, now) {
      return transaction(pool, async (c) => {
        await lockKeys(c);
        await insertActive(c, next, now);
        return allKeys(c);
      });
    },
    listSigningKeys() {
      return allKeys(pool);
    },
    async listMacKeys() {
      const { rows } = await query<{ id: number; secret: Buffer; created_at: string }>(pool, 'SELECT * FROM mac_keys ORDER BY id');
      return rows.map((r) => ({ id: r.id, secret: r.secret, createdAt: int(r.created_at) }));
    },
    ensureMacKeys(candidate) {
      return transaction(pool, async (c): Promise<MacKeyRecord[]> => {
        await lockKeys(c);
        const existing = await query(c, 'SELECT 1 FROM mac_keys LIMIT 1');
        if (existing.rows.length === 0) {
          await query(c, 'INSERT INTO mac_keys (id, secret, created_at) VALUES ($1, $2, $3)', [candidate.id, candidate.secret, candidate.createdAt]);
        }
        const { rows } = await query<{ id: number; secret: Buffer; created_at: string }>(c, 'SELECT * FROM mac_keys ORDER BY id');
        return rows.map((r) => ({ id: r.id, secret: r.secret, createdAt: int(r.created_at) }));
      });
    },
  };
}
