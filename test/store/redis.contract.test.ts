// The contract on a single redis-server of this file's own, then what the contract cannot see:
// TTLs, fail-fast outages and recovery, the feed's resync, and eviction under concurrency.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { StoreUnavailableError } from '../../src/domain/errors.ts';
import { newSessionId, newUserId } from '../../src/domain/ids.ts';
import type { SessionRecord } from '../../src/domain/session.ts';
import { sampleSession, storeContract } from '../../src/store/contract.ts';
import { loadConfig } from '../../src/config.ts';
import { openStores } from '../../src/store/open.ts';
import { keyLayout } from '../../src/store/redis/keys.ts';
import { openRedisStores, type RedisStores } from '../../src/store/redis/open.ts';
import { startRedis, type RedisProcess } from '../harness/redis.ts';
import { redisContractSubject } from './redis-subject.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let server: RedisProcess;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const session = (over: Partial<SessionRecord> = {}) => sampleSession(Date.now(), over);

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function elapsed<T>(p: Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const t = Date.now();
  const [result] = await Promise.allSettled([p]);
  return { ms: Date.now() - t, result: result! };
}

storeContract('redis', () => redisContractSubject(() => openRedisStores({ url: server.url, prefix: `lk:t${Date.now()}:`, idleMs: 24 * HOUR })));

describe('redis adapter beyond the contract', () => {
  let redis: RedisStores;
  let admin: Redis;
  const keys = keyLayout('lk:extra:');
  before(async () => {
    redis = await openRedisStores({ url: server.url, prefix: 'lk:extra:', idleMs: DAY });
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    admin.disconnect();
    await redis.close();
  });

  it('keeps only fixed-size fields and sets TTLs from the absolute and idle deadlines', async () => {
    const s = session();
    await redis.sessions.createSession(s, null);
    assert.deepEqual(Object.keys(await admin.hgetall(keys.session(s.id))).sort(), ['c', 'd', 'e', 'g', 'l', 'r', 't', 'u']);
    const ttl = await admin.pttl(keys.session(s.id));
    assert.ok(ttl > DAY - 5000 && ttl <= DAY, `idle deadline first: ${ttl}`);
    const indexTtl = await admin.pttl(keys.userIndex(s.userId));
    assert.ok(indexTtl > 29 * DAY && indexTtl <= 30 * DAY, `index lives as long as the session can: ${indexTtl}`);
    // Near its absolute end the session's TTL follows that end, not the idle timeout.
    const late = s.expiresAt - 60_000;
    const out = await redis.sessions.rotate(s.id, { generation: 0, clientId: 'app' }, late, { graceMs: 0, idleMs: 60 * DAY });
    assert.equal(out.decision.kind, 'rotate');
    const lateTtl = await admin.pttl(keys.session(s.id));
    assert.ok(lateTtl > 55_000 && lateTtl <= 60_000, `absolute end first: ${lateTtl}`);
  });

  it('does not store a session that is already over', async () => {
    const s = session({ expiresAt: Date.now() - 1 });
    assert.deepEqual(await redis.sessions.createSession(s, null), { evicted: [] });
    assert.equal(await admin.exists(keys.session(s.id), keys.userIndex(s.userId)), 0);
  });

  it('holds the per-user cap under concurrent logins: each eviction decided once, the newest survive', async () => {
    const userId = newUserId();
    const t0 = Date.now();
    const made = Array.from({ length: 20 }, (_, i) => session({ userId, createdAt: t0 + i, rotatedAt: t0 + i, lastUsedAt: t0 + i }));
    const results = await Promise.all(made.map((s) => redis.sessions.createSession(s, 3)));
    const evicted = results.flatMap((r) => r.evicted);
    assert.equal(new Set(evicted).size, evicted.length, 'no session evicted twice');
    const live = (await redis.sessions.listSessions(userId, Date.now(), { graceMs: 0, idleMs: DAY })).map((s) => s.id);
    assert.equal(live.length, 3);
    assert.deepEqual([...live, ...evicted].sort(), made.map((s) => s.id).sort(), 'every session either lives or was reported evicted');
    for (const id of evicted) assert.equal(await redis.sessions.getSession(id), null);
  });

  it('finishes an eviction that a crash left half done, and drops index entries of vanished sessions', async () => {
    const userId = newUserId();
    const [a, b, c] = [0, 1, 2].map((i) => session({ userId, createdAt: Date.now() + i }));
    for (const s of [a!, b!, c!]) await redis.sessions.createSession(s, null);
    // As if a login had marked `a` for eviction and died before deleting it.
    await admin.zadd(keys.userIndex(userId), 'XX', -1, a!.id);
    // As if `b` had expired by TTL.
    await admin.del(keys.session(b!.id));
    const listed = await redis.sessions.listSessions(userId, Date.now(), { graceMs: 0, idleMs: DAY });
    assert.deepEqual(
      listed.map((s) => s.id),
      [c!.id],
    );
    assert.equal(await admin.exists(keys.session(a!.id)), 0, 'the marked session is deleted');
    assert.deepEqual(await admin.zrange(keys.userIndex(userId), 0, -1), [c!.id]);
  });

  it('delivers revocations made while the feed connection was down, after it reconnects', async () => {
    const got = new Set<string>();
    let resyncs = 0;
    const stop = redis.revocations.subscribe(
      (r) => got.add(r.sessionId),
      () => resyncs++,
    );
    try {
      await until('first subscribe', () => resyncs === 1);
      const before = { sessionId: newSessionId(), until: Date.now() + HOUR };
      await redis.revocations.add(before);
      await until('live delivery', () => got.has(before.sessionId));
      await admin.client('KILL', 'TYPE', 'pubsub');
      const meanwhile = { sessionId: newSessionId(), until: Date.now() + HOUR, reuse: true };
      await redis.revocations.add(meanwhile);
      await until('resync after reconnect', () => resyncs >= 2);
      await until('the revocation made meanwhile', () => got.has(meanwhile.sessionId));
      assert.ok((await redis.revocations.loadActive(Date.now())).some((r) => r.sessionId === meanwhile.sessionId && r.reuse === true));
    } finally {
      stop();
    }
  });
});

describe('redis outages', () => {
  let own: RedisProcess;
  let redis: RedisStores;
  before(async () => {
    own = await startRedis({ appendonly: true });
    redis = await openRedisStores({ url: own.url, prefix: 'lk:outage:', idleMs: DAY });
  });
  after(async () => {
    await redis.close();
    await own.stop();
  });

  it('answers StoreUnavailableError within ~1 s while Redis is down or hung, and recovers by itself', async () => {
    const s = session();
    await redis.sessions.createSession(s, null);
    let resyncs = 0;
    const stop = redis.revocations.subscribe(
      () => {},
      () => resyncs++,
    );
    await until('feed up', () => resyncs === 1);

    await own.kill('SIGKILL');
    const ops: Array<() => Promise<unknown>> = [
      () => redis.sessions.rotate(s.id, { generation: 0, clientId: 'app' }, Date.now(), { graceMs: 0, idleMs: DAY }),
      () => redis.sessions.createSession(session(), null),
      () => redis.sessions.listSessions(s.userId, Date.now(), { graceMs: 0, idleMs: DAY }),
      () => redis.rateLimits.hit('k', 60_000, Date.now()),
      () => redis.revocations.add({ sessionId: s.id, until: Date.now() + HOUR }),
    ];
    for (const op of ops) {
      const { ms, result } = await elapsed(op());
      assert.equal(result.status, 'rejected');
      assert.ok((result as PromiseRejectedResult).reason instanceof StoreUnavailableError, String((result as PromiseRejectedResult).reason));
      assert.ok(ms < 1500, `failed after ${ms} ms`);
    }
    assert.deepEqual(await redis.health(), [{ name: 'redis', ok: false }]);

    await own.restart();
    await until('commands succeed again', async () => (await redis.health())[0]!.ok);
    // appendfsync always: the acknowledged session survived the SIGKILL.
    const out = await redis.sessions.rotate(s.id, { generation: 0, clientId: 'app' }, Date.now(), { graceMs: 0, idleMs: DAY });
    assert.equal(out.decision.kind, 'rotate');
    await until('feed resubscribed', () => resyncs >= 2);

    await own.kill('SIGSTOP');
    try {
      const { ms, result } = await elapsed(redis.sessions.getSession(s.id));
      assert.ok(result.status === 'rejected' && result.reason instanceof StoreUnavailableError);
      assert.ok(ms < 1500, `a hung server answered after ${ms} ms`);
    } finally {
      await own.kill('SIGCONT');
    }
    await until('commands succeed after the hang', async () => (await redis.health())[0]!.ok);
    assert.equal((await redis.sessions.getSession(s.id))?.generation, 1);
    stop();
  });

  it('never re-sends a rotation that failed with the connection: the caller got 503, so it must not happen later', async () => {
    const s = session();
    await redis.sessions.createSession(s, null);
    await own.kill('SIGSTOP');
    // The script reaches the frozen server's socket buffer, times out here, and dies with the server.
    const { result } = await elapsed(redis.sessions.rotate(s.id, { generation: 0, clientId: 'app' }, Date.now(), { graceMs: 0, idleMs: DAY }));
    assert.ok(result.status === 'rejected' && result.reason instanceof StoreUnavailableError);
    await own.kill('SIGKILL');
    await own.restart();
    await until('reconnected', async () => (await redis.health())[0]!.ok);
    await sleep(300);
    assert.equal((await redis.sessions.getSession(s.id))?.generation, 0, 'the timed-out rotation was not replayed on reconnect');
    const retry = await redis.sessions.rotate(s.id, { generation: 0, clientId: 'app' }, Date.now(), { graceMs: 0, idleMs: DAY });
    assert.equal(retry.decision.kind, 'rotate', 'the client’s retry with the same token succeeds');
  });
});

describe('openStores with LATCHKEY_REDIS_URL and no database', () => {
  it('puts sessions in Redis and users in SQLite, and reports each within 1.5 s even when Redis hangs', async () => {
    const own = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-open-'));
    const stores = await openStores(loadConfig({ LATCHKEY_REDIS_URL: own.url, LATCHKEY_DATA_DIR: dir }));
    try {
      const s = session();
      await stores.sessions.createSession(s, null);
      const probe = new Redis(own.url);
      assert.equal(await probe.exists(`lk:{${s.id}}`), 1, 'the session is in Redis under the default prefix');
      probe.disconnect();
      assert.deepEqual(await stores.health(), [
        { name: 'redis', ok: true },
        { name: 'sqlite', ok: true },
      ]);
      await own.kill('SIGSTOP');
      const t = Date.now();
      assert.deepEqual(await stores.health(), [
        { name: 'redis', ok: false },
        { name: 'sqlite', ok: true },
      ]);
      assert.ok(Date.now() - t < 1700, `health took ${Date.now() - t} ms`);
      await own.kill('SIGCONT');
    } finally {
      await stores.close();
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
