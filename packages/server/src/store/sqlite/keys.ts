// Signing keys and refresh MAC secrets in the secrets file. Every change is one BEGIN IMMEDIATE
// transaction, so processes sharing the file (servers, the CLI) serialise on it.
import { macKeysToDrop, mayRotate } from '../../domain/key-rotation.js';
import type { KeyStore, MacKeyRecord, StoredSigningKey } from '../types.js';
import type { SqliteDb } from './database.js';

interface KeyRow {
  kid: string;
  alg: StoredSigningKey['alg'];
  private_jwk: string;
  created_at: number;
  activates_at: number | null;
  retired_at: number | null;
}

interface MacRow {
  id: number;
  secret: Buffer;
  created_at: number;
  activates_at: number | null;
}

// Rows from before pending keys (no activates_at) were active from their creation.
const toKey = (r: KeyRow): StoredSigningKey => ({
  kid: r.kid,
  alg: r.alg,
  privateJwk: r.private_jwk,
  createdAt: r.created_at,
  activatesAt: r.activates_at ?? r.created_at,
  retiredAt: r.retired_at,
});
const toMac = (r: MacRow): MacKeyRecord => ({ id: r.id, secret: r.secret, createdAt: r.created_at, activatesAt: r.activates_at ?? r.created_at });

export function sqliteKeyStore(db: SqliteDb): KeyStore {
  // Replaced or deleted key material (a legacy plaintext row being sealed, a dropped MAC secret)
  // must not linger in free pages of the file.
  db.pragma('secure_delete = ON');
  // ...nor in WAL frames: after such a write the WAL is checkpointed and truncated (best effort:
  // a reader in another process may hold it back until its next write).
  const flush = () => db.pragma('wal_checkpoint(TRUNCATE)');
  const all = db.prepare<[], KeyRow>('SELECT * FROM signing_keys ORDER BY created_at, kid');
  const unretiredOfAlg = db.prepare<[number, string], KeyRow>('SELECT * FROM signing_keys WHERE (retired_at IS NULL OR retired_at > ?) AND alg = ?');
  const retireUnretired = db.prepare('UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL OR retired_at > ?');
  const insertKey = db.prepare('INSERT INTO signing_keys (kid, alg, private_jwk, created_at, activates_at, retired_at) VALUES (?, ?, ?, ?, ?, NULL)');
  const replaceKey = db.prepare('UPDATE signing_keys SET private_jwk = ? WHERE kid = ? AND private_jwk = ?');
  const macAll = db.prepare<[], MacRow>('SELECT * FROM mac_keys ORDER BY id');
  const macInsert = db.prepare('INSERT INTO mac_keys (id, secret, created_at, activates_at) VALUES (?, ?, ?, ?)');
  const macDelete = db.prepare('DELETE FROM mac_keys WHERE id = ?');
  const macReplace = db.prepare('UPDATE mac_keys SET secret = ? WHERE id = ? AND secret = ?');

  const listKeys = () => all.all().map(toKey);
  const listMac = (): MacKeyRecord[] => macAll.all().map(toMac);
  // Retires what is not yet retired at `at`, then inserts `k`, which takes over at `at`.
  const insertTakingOver = (k: StoredSigningKey, at: number) => {
    retireUnretired.run(at, at);
    insertKey.run(k.kid, k.alg, k.privateJwk, k.createdAt, k.activatesAt);
  };
  const ensure = db.transaction((alg: string, candidate: () => StoredSigningKey, now: number) => {
    if (!unretiredOfAlg.get(now, alg)) insertTakingOver(candidate(), now);
    return listKeys();
  });
  const rotate = db.transaction((next: StoredSigningKey, now: number, guard: Parameters<KeyStore['rotateSigningKey']>[2]) => {
    const rotated = mayRotate(listKeys().map((k) => k.activatesAt), now, guard);
    if (rotated) insertTakingOver(next, next.activatesAt);
    return { rotated, keys: listKeys() };
  });
  const ensureMac = db.transaction((c: MacKeyRecord): MacKeyRecord[] => {
    if (macAll.all().length === 0) macInsert.run(c.id, c.secret, c.createdAt, c.activatesAt);
    return listMac();
  });
  const rotateMac = db.transaction((candidate: (id: number) => MacKeyRecord, now: number, dropBefore: number, guard: Parameters<KeyStore['rotateMacKey']>[3]) => {
    const before = listMac();
    const rotated = mayRotate(before.map((m) => m.activatesAt), now, guard);
    if (rotated) {
      const c = candidate(Math.max(0, ...before.map((m) => m.id)) + 1);
      macInsert.run(c.id, c.secret, c.createdAt, c.activatesAt);
    }
    const drop = macKeysToDrop(listMac(), dropBefore);
    for (const id of drop) macDelete.run(id);
    return { rotated, dropped: drop.length, keys: listMac() };
  });

  return {
    async ensureActiveSigningKey(alg, candidate, now) {
      return ensure.immediate(alg, candidate, now);
    },
    async rotateSigningKey(next, now, guard) {
      return rotate.immediate(next, now, guard);
    },
    async listSigningKeys() {
      return listKeys();
    },
    async replaceSigningKeyMaterial(kid, expected, next) {
      const replaced = replaceKey.run(next, kid, expected).changes === 1;
      if (replaced) flush();
      return replaced;
    },
    async listMacKeys() {
      return listMac();
    },
    async ensureMacKeys(candidate) {
      return ensureMac.immediate(candidate);
    },
    async rotateMacKey(candidate, now, dropBefore, guard) {
      const { rotated, dropped, keys } = rotateMac.immediate(candidate, now, dropBefore, guard);
      if (dropped > 0) flush();
      return { rotated, keys };
    },
    async replaceMacSecret(id, expected, next) {
      const replaced = macReplace.run(next, id, expected).changes === 1;
      if (replaced) flush();
      return replaced;
    },
  };
}
