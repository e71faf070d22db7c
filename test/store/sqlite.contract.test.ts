import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
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

test('sqlite revocations: a copy is stored as reuse = 2, which a release that predates it reads as a reuse; its writes read as before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-kinds-'));
  const stores = openSqliteStores(dir);
  try {
    const until = Date.now() + 3_600_000;
    await stores.revocations.add({ sessionId: 'copy', until, theft: 'copy' });
    await stores.revocations.add({ sessionId: 'reuse', until, theft: 'reuse' });
    await stores.revocations.add({ sessionId: 'ended', until });
    // The previous release's process on the same file: its reader and its upsert, as they shipped.
    const other = new Database(join(dir, 'latchkey.db'));
    try {
      const rows = other.prepare('SELECT session_id, until, reuse FROM revocations').all() as Array<{ session_id: string; reuse: number }>;
      const oldRead = new Map(rows.map((r) => [r.session_id, r.reuse ? 'reuse' : undefined]));
      assert.deepEqual([oldRead.get('copy'), oldRead.get('reuse'), oldRead.get('ended')], ['reuse', 'reuse', undefined]);
      other
        .prepare(
          `INSERT INTO revocations (session_id, until, reuse, written_at, writer) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(session_id) DO UPDATE SET until = max(until, excluded.until), reuse = max(reuse, excluded.reuse), written_at = excluded.written_at, writer = excluded.writer`,
        )
        .run('copy', until, 1, Date.now(), 'old-release');
    } finally {
      other.close();
    }
    const loaded = new Map((await stores.revocations.loadActive(Date.now())).map((r) => [r.sessionId, r.theft]));
    assert.deepEqual([loaded.get('copy'), loaded.get('reuse'), loaded.get('ended')], ['copy', 'reuse', undefined], 'the older writer’s reuse does not erase the copy');
  } finally {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
