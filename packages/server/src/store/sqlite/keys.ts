import type { KeyStore, MacKeyRecord, StoredSigningKey } from '../types.js';
import type { SqliteDb } from './database.js';

interface KeyRow {
  kid: string;
  alg: StoredSigningKey['alg'];
  private_jwk: string;
  created_at: number;
  retired_at: number | null;
}

const toKey = (r: KeyRow): StoredSigningKey => ({
  kid: r.kid,
  alg: r.alg,
  privateJwk: r.private_jwk,
  createdAt: r.created_at,
  retiredAt: r.retired_at,
});

export function sqliteKeyStore(db: SqliteDb): KeyStore {
  const all = db.prepare<[], KeyRow>('SELECT * FROM signing_keys ORDER BY created_at, kid');
  const activeOfAlg = db.prepare<[string], KeyRow>('SELECT * FROM signing_keys WHERE retired_at IS NULL AND alg = ?');
  const retireActive = db.prepare('UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL');
  const insertKey = db.prepare('INSERT INTO signing_keys (kid, alg, private_jwk, created_at, retired_at) VALUES (?, ?, ?, ?, NULL)');
  const macAll = db.prepare<[], { id: number; secret: Buffer; created_at: number }>('SELECT * FROM mac_keys ORDER BY id');
  const macInsert = db.prepare('INSERT INTO mac_keys (id, secret, created_at) VALUES (?, ?, ?)');

  const insertActive = (k: StoredSigningKey, now: number) => {
    retireActive.run(now);
    insertKey.run(k.kid, k.alg, k.privateJwk, k.createdAt);
  };
  const ensure = db.transaction((alg: string, candidate: () => StoredSigningKey, now: number) => {
    if (!activeOfAlg.get(alg)) insertActive(candidate(), now);
    return all.all().map(toKey);
  });
  const rotate = db.transaction((next: StoredSigningKey, now: number) => {
    insertActive(next, now);
    return all.all().map(toKey);
  });
  const listMac = (): MacKeyRecord[] => macAll.all().map((r) => ({ id: r.id, secret: r.secret, createdAt: r.created_at }));
  const ensureMac = db.transaction((c: MacKeyRecord): MacKeyRecord[] => {
    if (macAll.all().length === 0) macInsert.run(c.id, c.secret, c.createdAt);
    return listMac();
  });

  return {
    async ensureActiveSigningKey(alg, candidate, now) {
      return ensure.immediate(alg, candidate, now);
    },
    async rotateSigningKey(next, now) {
      return rotate.immediate(next, now);
    },
    async listSigningKeys() {
      return all.all().map(toKey);
    },
    async listMacKeys() {
      return listMac();
    },
    async ensureMacKeys(candidate) {
      return ensureMac.immediate(candidate);
    },
  };
}
