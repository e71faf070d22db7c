// The admin store contract on the adapters that hold users: SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminStoreContract } from '../../packages/server/src/store/admin-contract.js';
import { openPostgresStores } from '../../packages/server/src/store/postgres/open.js';
import { openSqliteStores } from '../../packages/server/src/store/sqlite/open.js';
import { createTestDatabase, ensurePostgres } from '../harness/postgres.js';

adminStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-admin-contract-'));
  const stores = openSqliteStores(dir);
  return {
    stores,
    async cleanup() {
      await stores.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

adminStoreContract('postgres', async () => {
  await ensurePostgres();
  const db = await createTestDatabase();
  const stores = await openPostgresStores({ url: db.url });
  return {
    stores,
    async cleanup() {
      await stores.close();
      await db.drop();
    },
  };
});


it('sqlite: a data directory from before disabling and admin keys is migrated in place at open', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-old-schema-'));
  try {
    // The previous release's tables, as they were.
    const old = new Database(join(dir, 'latchkey.db'));
    old.exec(`CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE revocations (session_id TEXT PRIMARY KEY, until INTEGER NOT NULL, reuse INTEGER NOT NULL DEFAULT 0);
      INSERT INTO users VALUES ('u1', 'old@example.com', '$argon2id$x', 5);
      INSERT INTO revocations VALUES ('s1', 9999999999999, 1);`);
    old.close();
    const stores = openSqliteStores(dir);
    try {
      const u = await stores.users.findUserByEmail('old@example.com');
      assert.equal(u?.id, 'u1');
      assert.equal(u?.disabledAt ?? null, null);
      assert.equal((await stores.users.setUserDisabled('u1', 7))?.disabledAt, 7);
      assert.deepEqual(await stores.revocations.loadActive(0), [{ sessionId: 's1', until: 9999999999999, theft: 'reuse' }]);
      await stores.revocations.add({ sessionId: 's2', until: 9999999999999 });
      assert.equal((await stores.revocations.loadActive(0)).length, 2);
    } finally {
      await stores.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
