// Every contract suite on PostgreSQL alone (users, keys, sessions, feed, rate limits), in a throwaway
// database on the local server; plus what only PostgreSQL has: migrations under concurrent starts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StoreUnavailableError } from '../../packages/server/src/domain/errors.js';
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
import { SCHEMA_VERSION } from '../../packages/server/src/store/postgres/migrations.js';
import { openPostgresStores, type PostgresStores } from '../../packages/server/src/store/postgres/open.js';
import { createTestDatabase, ensurePostgres, startOwnPostgres, type TestDatabase } from '../harness/postgres.js';

const HOUR = 3_600_000;

describe('store contract: postgres', () => {
  const stores = openForSuite(async () => {
    await ensurePostgres();
    const db = await createTestDatabase();
    const opened = await openPostgresStores({ url: db.url });
    return {
      stores: opened,
      async cleanup() {
        await opened.close();
        await db.drop();
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('postgres adapter beyond the contract', () => {
  let db: TestDatabase;
  before(async () => {
    await ensurePostgres();
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });

  it('migrates once when several instances start at the same moment, and they share keys', async () => {
    const instances = await Promise.all(Array.from({ length: 6 }, () => openPostgresStores({ url: db.url })));
    try {
      const { rows } = await instances[0]!.pool.query('SELECT version FROM latchkey_migrations ORDER BY version');
      assert.deepEqual(
        rows.map((r) => r.version),
        Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      );
      const macs = await Promise.all(instances.map((s, i) => s.keys.ensureMacKeys({ id: 1, secret: Buffer.alloc(32, i), createdAt: i, activatesAt: i })));
      for (const m of macs) assert.ok(m[0]!.secret.equals(macs[0]![0]!.secret), 'one MAC secret for every instance');
    } finally {
      await Promise.all(instances.map((s) => s.close()));
    }
  });

  it('a rolling upgrade past migration 6: an older instance’s writes read as before, and it reads a copy as a reuse', async () => {
    const stores = await openPostgresStores({ url: db.url });
    const heard = new Map<string, string | undefined>();
    let resyncs = 0;
    const stop = stores.revocations.subscribe(
      (r, live) => {
        if (live !== false) heard.set(r.sessionId, r.theft);
      },
      () => resyncs++,
    );
    try {
      await until('listening', () => resyncs >= 1);
      const until_ = Date.now() + HOUR;
      // The previous release's statement and payload, as it shipped (no copy column, no c).
      const old = (sid: string, reuse: boolean) =>
        stores.pool.query(
          `WITH up AS (
             INSERT INTO revocations (session_id, until, reuse) VALUES ($1, $2, $3)
             ON CONFLICT (session_id) DO UPDATE
               SET until = greatest(revocations.until, excluded.until), reuse = revocations.reuse OR excluded.reuse
           )
           SELECT pg_notify($4, $5)`,
          [sid, until_, reuse, 'latchkey_revoked', JSON.stringify({ s: sid, u: until_, ...(reuse ? { r: true } : {}) })],
        );
      await old('old-reuse', true);
      await old('old-ended', false);
      await stores.revocations.add({ sessionId: 'new-copy', until: until_, theft: 'copy' });
      await until('live delivery', () => heard.size >= 3);
      assert.equal(heard.get('old-reuse'), 'reuse');
      assert.equal(heard.get('old-ended'), undefined);
      assert.equal(heard.get('new-copy'), 'copy');
      const loaded = new Map((await stores.revocations.loadActive(Date.now())).map((r) => [r.sessionId, r.theft]));
      assert.equal(loaded.get('old-reuse'), 'reuse');
      assert.equal(loaded.get('old-ended'), undefined);
      assert.equal(loaded.get('new-copy'), 'copy');
      // What the previous release reads of the copy: its columns and its payload, a theft.
      const { rows } = await stores.pool.query<{ reuse: boolean }>('SELECT session_id, until, reuse FROM revocations WHERE session_id = $1', ['new-copy']);
      assert.equal(rows[0]?.reuse, true);
      // Its later reuse-flagged upsert of the same session keeps the kind.
      await old('new-copy', true);
      assert.equal((await stores.revocations.loadActive(Date.now())).find((r) => r.sessionId === 'new-copy')?.theft, 'copy');
    } finally {
      stop();
      await stores.close();
    }
  });

  it('redelivers what was revoked while the LISTEN connection was cut', async () => {
    const stores = await openPostgresStores({ url: db.url });
    const got = new Set<string>();
    let resyncs = 0;
    const stop = stores.revocations.subscribe(
      (r) => got.add(r.sessionId),
      () => resyncs++,
    );
    try {
      await until('listening', () => resyncs === 1);
      await stores.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'latchkey-feed' AND datname = current_database()`);
      const meanwhile = { sessionId: 'meanwhile-revoked-session', until: Date.now() + HOUR, theft: 'copy' as const };
      await stores.revocations.add(meanwhile);
      await until('resync', () => resyncs >= 2);
      await until('the revocation made meanwhile', () => got.has(meanwhile.sessionId));
    } finally {
      stop();
      await stores.close();
    }
  });
});

describe('postgres outages', () => {
  it('answers StoreUnavailableError within ~2 s while PostgreSQL is down, and recovers by itself', async () => {
    const own = await startOwnPostgres();
    let stores: PostgresStores | undefined;
    try {
      stores = await openPostgresStores({ url: own.url });
      const s = stores;
      await s.users.createUser({ id: 'u1', email: 'a@example.com', passwordHash: 'h', createdAt: 1 });
      await own.kill();
      for (const op of [s.users.findUserByEmail('a@example.com'), s.keys.listSigningKeys(), s.rateLimits.hit('k', 1000, Date.now())]) {
        const t = Date.now();
        const [r] = await Promise.allSettled([op]);
        assert.ok(r!.status === 'rejected' && r!.reason instanceof StoreUnavailableError, String((r as PromiseRejectedResult).reason));
        assert.ok(Date.now() - t < 2000, `failed after ${Date.now() - t} ms`);
      }
      assert.deepEqual(await s.health(), [{ name: 'postgres', ok: false }]);
      await own.start();
      await until('queries succeed again', async () => (await s.health())[0]!.ok);
      assert.equal((await s.users.findUserByEmail('a@example.com'))?.id, 'u1');
    } finally {
      await stores?.close();
      await own.stop();
    }
  });
});

describe('postgres connection errors are told apart from bad statements', () => {
  it('maps connection failures to StoreUnavailableError and leaves constraint errors alone', async () => {
    const { isUnavailable } = await import('../../packages/server/src/store/postgres/pool.js');
    assert.equal(isUnavailable(Object.assign(new Error('x'), { code: '08006' })), true);
    assert.equal(isUnavailable(Object.assign(new Error('x'), { code: '57P01' })), true);
    assert.equal(isUnavailable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isUnavailable(new Error('timeout exceeded when trying to connect')), true);
    assert.equal(isUnavailable(Object.assign(new Error('dup'), { code: '23505' })), false);
    assert.equal(isUnavailable(Object.assign(new Error('syntax'), { code: '42601' })), false);
  });
});
