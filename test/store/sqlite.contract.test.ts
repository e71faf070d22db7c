import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { storeContract } from '../../packages/server/src/store/contract.js';
import { openSqliteStores } from '../../packages/server/src/store/sqlite/open.js';

storeContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-contract-'));
  const stores = openSqliteStores(dir);
  return {
    stores,
    async cleanup() {
      await stores.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('sqlite files holding secrets are readable by their owner only', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-perm-'));
  const stores = openSqliteStores(join(dir, 'data'));
  try {
    for (const f of ['latchkey.db', 'secrets.db']) {
      assert.equal(statSync(join(dir, 'data', f)).mode & 0o777, 0o600, f);
    }
    assert.equal(statSync(join(dir, 'data')).mode & 0o777, 0o700);
  } finally {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
