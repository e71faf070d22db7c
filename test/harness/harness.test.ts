import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
// Named import: with module=NodeNext the default import of this CJS package is
// typed as the module namespace, which is not constructable.
import { Redis } from 'ioredis';
import pg from 'pg';
import { startRedis, startRedisCluster } from './redis.js';
import { adminUrl, createTestDatabase, ensurePostgres, startOwnPostgres } from './postgres.js';

async function withRedis<T>(url: string, fn: (r: Redis) => Promise<T>): Promise<T> {
  // Fail fast instead of retrying forever if the server is not there.
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

async function query(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end().catch(() => {});
  }
}

// The four scenarios are independent, so run them side by side to keep the file fast.
test('harness', { concurrency: true }, async (t) => {
  await t.test('redis with appendonly keeps acknowledged writes across kill -9', async () => {
    const redis = await startRedis({ appendonly: true });
    try {
      assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
      await withRedis(redis.url, async (r) => {
        assert.equal(await r.set('latchkey:k', 'v1'), 'OK');
        assert.equal(await r.get('latchkey:k'), 'v1');
        assert.deepEqual(await r.config('GET', 'appendonly'), ['appendonly', 'yes']);
        assert.deepEqual(await r.config('GET', 'appendfsync'), ['appendfsync', 'always']);
      });
      const oldPid = redis.pid;
      await redis.kill('SIGKILL');
      await assert.rejects(withRedis(redis.url, (r) => r.ping()));
      await redis.restart();
      assert.notEqual(redis.pid, oldPid);
      await withRedis(redis.url, async (r) => {
        assert.equal(await r.get('latchkey:k'), 'v1');
      });
    } finally {
      await redis.stop();
    }
    assert.equal(fs.existsSync(redis.dir), false);
  });

  await t.test('redis without appendonly loses data on kill -9', async () => {
    const redis = await startRedis();
    try {
      await withRedis(redis.url, async (r) => {
        assert.deepEqual(await r.config('GET', 'save'), ['save', '']);
        assert.deepEqual(await r.config('GET', 'appendonly'), ['appendonly', 'no']);
        await r.set('latchkey:k', 'v1');
      });
      await redis.kill();
      await redis.restart();
      await withRedis(redis.url, async (r) => {
        assert.equal(await r.get('latchkey:k'), null);
      });
    } finally {
      await redis.stop();
    }
  });

  await t.test('redis cluster serves keys spread over all masters', async () => {
    const cluster = await startRedisCluster(3);
    const client = new Redis.Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
    try {
      assert.equal(cluster.nodes.length, 3);
      const keys = Array.from({ length: 20 }, (_, i) => `{user:${i}}:session`);
      for (const [i, key] of keys.entries()) assert.equal(await client.set(key, `v${i}`), 'OK');
      for (const [i, key] of keys.entries()) assert.equal(await client.get(key), `v${i}`);

      const sizes = await Promise.all(cluster.nodes.map((n) => withRedis(`redis://${n.host}:${n.port}`, (r) => r.dbsize())));
      assert.equal(sizes.reduce((a, b) => a + b, 0), keys.length);
      assert.ok(
        sizes.filter((s) => s > 0).length >= 2,
        `expected keys on several masters, got ${sizes.join(',')}`,
      );
    } finally {
      client.disconnect();
      await cluster.stop();
    }
  });

  await t.test('throwaway database on the shared server', async () => {
    await ensurePostgres();
    const db = await createTestDatabase();
    try {
      assert.match(db.url, /\/latchkey_test_[0-9a-f]+$/);
      const { rows } = await query(db.url, 'SELECT current_database() AS name');
      assert.equal(rows[0].name, db.name);
      // A leaked connection must not block drop().
      const leaked = new pg.Client({ connectionString: db.url });
      leaked.on('error', () => {});
      await leaked.connect();
      await db.drop();
      await leaked.end().catch(() => {});
    } finally {
      await db.drop();
    }
    const { rows } = await query(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    assert.equal(rows.length, 0);
  });

  await t.test('own postgres survives kill and start', async () => {
    const own = await startOwnPostgres();
    try {
      assert.equal(own.url, `postgres://postgres@127.0.0.1:${own.port}/postgres`);
      assert.deepEqual((await query(own.url, 'SELECT 1 AS one')).rows, [{ one: 1 }]);
      await query(own.url, 'CREATE TABLE t (v text); INSERT INTO t VALUES ($$kept$$)');

      await own.kill();
      await assert.rejects(query(own.url, 'SELECT 1'));

      await own.start();
      assert.deepEqual((await query(own.url, 'SELECT 1 AS one')).rows, [{ one: 1 }]);
      assert.deepEqual((await query(own.url, 'SELECT v FROM t')).rows, [{ v: 'kept' }]);
    } finally {
      await own.stop();
    }
    assert.equal(fs.existsSync(own.dir), false);
  });
});
