import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  healthContract,
  keyStoreContract,
  openForSuite,
  rateLimitStoreContract,
  proofReplayContract,
  revocationFeedContract,
  sessionRevocationContract,
  sessionStoreContract,
  userStoreContract,
} from '../../packages/server/src/store/contract.js';
import { accountTokenStoreContract, emailVerificationContract } from '../../packages/server/src/store/account-token-contract.js';
import { openSqliteStores } from '../../packages/server/src/store/sqlite/open.js';

// SQLite implements every interface (rate limits in memory: one process, nothing to share).
describe('store contract: sqlite', () => {
  const stores = openForSuite(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-contract-'));
    const opened = openSqliteStores(dir);
    return {
      stores: opened,
      async cleanup() {
        await opened.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
  userStoreContract(() => stores().users);
  sessionStoreContract(() => stores().sessions);
  sessionRevocationContract(() => stores());
  revocationFeedContract(() => stores().revocations);
  keyStoreContract(() => stores().keys);
  rateLimitStoreContract(() => stores().rateLimits);
  proofReplayContract(() => stores().proofs);
  accountTokenStoreContract(() => stores().accountTokens);
  emailVerificationContract(() => stores().users);
  healthContract(stores);
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
