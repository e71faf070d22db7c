// Signing keys and the refresh-token MAC secrets, shared by every instance. Each change runs in one
// transaction holding a transaction-scoped advisory lock, so instances starting (or rotating)
// together agree on exactly one active key and one MAC secret (the first to take the lock creates
// them, the others find them) without relying on serialisable isolation.
import type pg from 'pg';
import { macKeysToDrop, mayRotate } from '../../domain/key-rotation.js';
import type { KeyStore, MacKeyRecord, StoredSigningKey } from '../types.js';
import { LOCKS } from './migrations.js';
import { int, query, transaction, type Queryable } from './pool.js';

interface KeyRow {
  kid: string;
  alg: StoredSigningKey['alg'];
  private_jwk: string;
  created_at: string;
  activates_at: string | null;
  retired_at: string | null;
}

interface MacRow {
  id: number;
  secret: Buffer;
  created_at: string;
  activates_at: string | null;
}

// Rows from before pending keys (no activates_at) were active from their creation.
const toKey = (r: KeyRow): StoredSigningKey => ({
  kid: r.kid,
  alg: r.alg,
  privateJwk: r.private_jwk,
  createdAt: int(r.created_at),
  activatesAt: int(r.activates_at ?? r.created_at),
  retiredAt: r.retired_at === null ? null : int(r.retired_at),
});
const toMac = (r: MacRow): MacKeyRecord => ({ id: r.id, secret: r.secret, createdAt: int(r.created_at), activatesAt: int(r.activates_at ?? r.created_at) });

// COLLATE "C": byte order, the same as the SQLite adapter, whatever the database's locale.
const ALL_KEYS = 'SELECT * FROM signing_keys ORDER BY created_at, kid COLLATE "C"';

async function allKeys(db: Queryable): Promise<StoredSigningKey[]> {
  return (await query<KeyRow>(db, ALL_KEYS)).rows.map(toKey);
}

async function allMacs(db: Queryable): Promise<MacKeyRecord[]> {
  return (await query<MacRow>(db, 'SELECT * FROM mac_keys ORDER BY id')).rows.map(toMac);
}

/** Retires what is not yet retired at `at`, then inserts `k`, which takes over at `at`. */
async function insertTakingOver(c: pg.PoolClient, k: StoredSigningKey, at: number): Promise<void> {
  await query(c, 'UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL OR retired_at > $1', [at]);
  await query(c, 'INSERT INTO signing_keys (kid, alg, private_jwk, created_at, activates_at, retired_at) VALUES ($1, $2, $3, $4, $5, NULL)', [
    k.kid,
    k.alg,
    k.privateJwk,
    k.createdAt,
    k.activatesAt,
  ]);
}

async function insertMac(c: pg.PoolClient, m: MacKeyRecord): Promise<void> {
  await query(c, 'INSERT INTO mac_keys (id, secret, created_at, activates_at) VALUES ($1, $2, $3, $4)', [m.id, m.secret, m.createdAt, m.activatesAt]);
}

const lockKeys = (c: pg.PoolClient) => query(c, 'SELECT pg_advisory_xact_lock($1)', [LOCKS.keys]);

export function postgresKeyStore(pool: pg.Pool): KeyStore {
  return {
    ensureActiveSigningKey(alg, candidate, now) {
      return transaction(pool, async (c) => {
        await lockKeys(c);
        const { rows } = await query(c, 'SELECT 1 FROM signing_keys WHERE (retired_at IS NULL OR retired_at > $2) AND alg = $1', [alg, now]);
        if (rows.length === 0) await insertTakingOver(c, candidate(), now);
        return allKeys(c);
      });
    },
    rotateSigningKey(next, now, guard) {
      return transaction(pool, async (c) => {
        await lockKeys(c);
        const rotated = mayRotate((await allKeys(c)).map((k) => k.activatesAt), now, guard);
        if (rotated) await insertTakingOver(c, next, next.activatesAt);
        return { rotated, keys: await allKeys(c) };
      });
    },
    listSigningKeys() {
      return allKeys(pool);
    },
    async replaceSigningKeyMaterial(kid, expected, next) {
      const r = await query(pool, 'UPDATE signing_keys SET private_jwk = $1 WHERE kid = $2 AND private_jwk = $3', [next, kid, expected]);
      return r.rowCount === 1;
    },
    listMacKeys() {
      return allMacs(pool);
    },
    ensureMacKeys(candidate) {
      return transaction(pool, async (c): Promise<MacKeyRecord[]> => {
        await lockKeys(c);
        const existing = await query(c, 'SELECT 1 FROM mac_keys LIMIT 1');
        if (existing.rows.length === 0) await insertMac(c, candidate);
        return allMacs(c);
      });
    },
    rotateMacKey(candidate, now, dropBefore, guard) {
      return transaction(pool, async (c) => {
        await lockKeys(c);
        const before = await allMacs(c);
        const rotated = mayRotate(before.map((m) => m.activatesAt), now, guard);
        if (rotated) await insertMac(c, candidate(Math.max(0, ...before.map((m) => m.id)) + 1));
        const drop = macKeysToDrop(await allMacs(c), dropBefore);
        if (drop.length > 0) await query(c, 'DELETE FROM mac_keys WHERE id = ANY($1::int4[])', [drop]);
        return { rotated, keys: await allMacs(c) };
      });
    },
    async replaceMacSecret(id, expected, next) {
      const r = await query(pool, 'UPDATE mac_keys SET secret = $1 WHERE id = $2 AND secret = $3', [next, id, expected]);
      return r.rowCount === 1;
    },
  };
}
