// The contract on a single redis-server of this file's own, then what the contract cannot see:
// TTLs, fail-fast outages and recovery, the feed's resync, and eviction under concurrency.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { StoreUnavailableError } from '../../packages/server/src/domain/errors.js';
import { newSessionId, newUserId, sessionTag, userTag } from '../../packages/server/src/domain/ids.js';
import { isSessionLive, type SessionPolicy, type SessionRecord } from '../../packages/server/src/domain/session.js';
import {
  healthContract,
  openForSuite,
  rateLimitStoreContract,
  proofReplayContract,
  revocationFeedContract,
  sampleSession,
  sessionRevocationContract,
  sessionStoreContract,
} from '../../packages/server/src/store/contract.js';
import { loadConfig } from '../../packages/server/src/config.js';
import { openStores } from '../../packages/server/src/store/open.js';
import { keyLayout } from '../../packages/server/src/store/redis/keys.js';
import { openRedisStores, type RedisStores } from '../../packages/server/src/store/redis/open.js';
import { NUMBER_LOCALS, RECORD_LUA, REPACKED } from '../../packages/server/src/store/redis/scripts.js';
import { encodeRecord, encodeUserId, RECORD_NUMBERS, recordNumbersOf } from '../../packages/server/src/store/redis/session-record.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const policy: SessionPolicy = { graceMs: 0, idleMs: DAY };
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

// Redis holds sessions, rate limits and the feed; users and keys are never its job (DESIGN
// "Deployment shapes"), so it runs those suites only.
describe('store contract: redis', () => {
  const stores = openForSuite(async () => {
    const opened = await openRedisStores({ url: server.url, prefix: `lk:t${Date.now()}:` });
    return { stores: opened, cleanup: () => opened.close() };
  });
  sessionStoreContract(() => stores().sessions);
  sessionRevocationContract(() => stores());
  revocationFeedContract(() => stores().revocations);
  rateLimitStoreContract(() => stores().rateLimits);
  proofReplayContract(() => stores().proofs);
  healthContract(stores);
});

describe('redis adapter beyond the contract', () => {
  let redis: RedisStores;
  let admin: Redis;
  const keys = keyLayout('lk:extra:');
  before(async () => {
    redis = await openRedisStores({ url: server.url, prefix: 'lk:extra:' });
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    admin.disconnect();
    await redis.close();
  });

  it('keeps a user’s sessions in one group hash, two fixed fields each, with a TTL that covers the longest', async () => {
    const now = Date.now();
    // Near its absolute end the session's deadline is that end, not the idle timeout.
    const s = session({ expiresAt: now + 60_000 });
    const group = keys.sessionGroup(sessionTag(s.id));
    await redis.sessions.createSession(s, null, policy);
    assert.equal(sessionTag(s.id), userTag(s.userId));
    const stored = await admin.hgetallBuffer(group);
    assert.deepEqual(Object.keys(stored).sort(), [s.id.slice(4), `${s.id.slice(4)}:`].sort());
    assert.equal(stored[s.id.slice(4)]!.length, 50, 'numbers, UUID and client id: no token material');
    assert.equal(stored[`${s.id.slice(4)}:`]!.toString(), s.device);
    // A DPoP-bound session has a third field: its key id's 16 bytes, nothing else of the key.
    const bound = session({ keyId: 'AAECAwQFBgcICQoLDA0ODw' });
    await redis.sessions.createSession(bound, null, policy);
    const boundFields = await admin.hgetallBuffer(keys.sessionGroup(sessionTag(bound.id)));
    assert.deepEqual(boundFields[`${bound.id.slice(4)};`], Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'));
    await redis.sessions.deleteSession(bound.id);
    assert.equal(await admin.hexists(keys.sessionGroup(sessionTag(bound.id)), `${bound.id.slice(4)};`), 0, 'deleted with its session');
    const ttl = await admin.pttl(group);
    assert.ok(ttl > 55_000 && ttl <= 60_000, `absolute end first: ${ttl}`);
    // A second session of the user that lives longer extends the group's TTL to its idle deadline...
    await redis.sessions.createSession(session({ userId: s.userId }), null, policy);
    const extended = await admin.pttl(group);
    assert.ok(extended > DAY - 5000 && extended <= DAY, `idle deadline of the longer one: ${extended}`);
    // ...and neither a shorter session nor a rotation near an absolute end shortens it.
    await redis.sessions.createSession(session({ userId: s.userId, expiresAt: now + 1000 }), null, policy);
    const out = await redis.sessions.rotate(s.id, { generation: 0, clientId: 'app' }, Date.now(), { graceMs: 0, idleMs: DAY });
    assert.equal(out.decision.kind, 'rotate');
    assert.ok((await admin.pttl(group)) > DAY - 5000, 'the group’s TTL is never shortened');
  });

  // The scripts read records only through helpers generated from the codec's layout; this holds
  // them to encodeRecord at every field's extremes, which ordinary sessions never reach.
  it('reads every part of a record where the codec wrote it, and repacks it unchanged, at each field’s extremes', async () => {
    const probe = `${RECORD_LUA}
local a = ARGV[1]
${NUMBER_LOCALS}
return {${RECORD_NUMBERS.map((n) => n.name).join(', ')}, userOf(a), clientOf(a), ${REPACKED}, pastDeadline(a, tonumber(ARGV[2]), tonumber(ARGV[3])) and 1 or 0}`;
    const bytes = (min: number, max: number) => (x: string) => Buffer.byteLength(x) >= min && Buffer.byteLength(x) <= max;
    const time = fc.integer({ min: 0, max: 2 ** 48 - 1 });
    const records = fc.record({
      generation: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      rotatedAt: time,
      createdAt: time,
      lastUsedAt: time,
      expiresAt: time,
      graceUses: fc.integer({ min: 0, max: 3 }),
      graceDebt: fc.integer({ min: 0, max: 63 }),
      userId: fc.oneof(fc.constant(null), fc.string({ unit: 'binary', minLength: 1, maxLength: 255 }).filter(bytes(1, 255))),
      clientId: fc.string({ unit: 'binary', maxLength: 255 }).filter(bytes(0, 255)),
      now: time,
      // Mostly on a deadline, give or take 1 ms: where `>=` and `>` part ways.
      nearDeadline: fc.option(fc.integer({ min: -1, max: 1 }), { freq: 3 }),
      idleMs: fc.integer({ min: 1, max: 2 ** 40 }),
    });
    await fc.assert(
      fc.asyncProperty(records, async ({ userId, now: anyTime, nearDeadline, idleMs, ...numbers }) => {
        const s = sampleSession(0, { ...numbers, userId: userId ?? newUserId() });
        const now = nearDeadline === null ? anyTime : Math.max(0, Math.min(s.expiresAt, s.lastUsedAt + idleMs) + nearDeadline);
        const record = encodeRecord(s);
        const [...got] = (await admin.callBuffer('EVAL', probe, '0', record, now, idleMs)) as Array<number | Buffer>;
        assert.deepEqual(got.slice(0, RECORD_NUMBERS.length), RECORD_NUMBERS.map((n) => recordNumbersOf(s)[n.name]));
        assert.deepEqual(got.slice(RECORD_NUMBERS.length), [encodeUserId(s.userId), Buffer.from(s.clientId), record, isSessionLive(s, now, idleMs) ? 0 : 1]);
      }),
      { numRuns: 200 },
    );
  });

  it('does not store a session that is already over', async () => {
    const s = session({ expiresAt: Date.now() - 1 });
    assert.deepEqual(await redis.sessions.createSession(s, null, policy), { evicted: [] });
    assert.equal(await admin.exists(keys.sessionGroup(sessionTag(s.id))), 0);
  });

  it('refuses a session id that does not carry its user’s tag, and treats malformed ids as unknown', async () => {
    const s = session({ id: newSessionId(newUserId()) });
    await assert.rejects(redis.sessions.createSession(s, null, policy), /tag/);
    for (const id of ['', 'short', 'x'.repeat(23), `${'a'.repeat(21)}!`]) {
      assert.equal(await redis.sessions.getSession(id), null);
      assert.equal(await redis.sessions.deleteSession(id), null);
      assert.equal((await redis.sessions.rotate(id, { generation: 0, clientId: 'app' }, Date.now(), { graceMs: 0, idleMs: DAY })).decision.kind, 'not_found');
    }
  });

  it('holds the per-user cap under concurrent logins: each eviction decided once, the newest survive', async () => {
    const userId = newUserId();
    const t0 = Date.now();
    const made = Array.from({ length: 20 }, (_, i) => session({ userId, createdAt: t0 + i, rotatedAt: t0 + i, lastUsedAt: t0 + i }));
    const results = await Promise.all(made.map((s) => redis.sessions.createSession(s, 3, policy)));
    const evicted = results.flatMap((r) => r.evicted);
    assert.equal(new Set(evicted).size, evicted.length, 'no session evicted twice');
    const live = (await redis.sessions.listSessions(userId, Date.now(), { graceMs: 0, idleMs: DAY })).map((s) => s.id);
    assert.equal(live.length, 3);
    assert.deepEqual([...live, ...evicted].sort(), made.map((s) => s.id).sort(), 'every session either lives or was reported evicted');
    for (const id of evicted) assert.equal(await redis.sessions.getSession(id), null);
  });

  it('keeps users who share a group apart, and drops the group’s sessions past their deadline on the next write', async () => {
    // Two users whose ids hash to the same 3-byte tag (a birthday search over ~5k random ids).
    const seen = new Map<string, string>();
    let pair: [string, string] | null = null;
    while (!pair) {
      const u = newUserId();
      const other = seen.get(userTag(u));
      if (other) pair = [other, u];
      else seen.set(userTag(u), u);
    }
    const [alice, bob] = pair;
    const group = keys.sessionGroup(userTag(alice));
    const now = Date.now();
    const at = (userId: string, t: number, over: Partial<SessionRecord> = {}) =>
      session({ userId, createdAt: t, lastUsedAt: t, rotatedAt: t, ...over });
    const [a1, a2, b1] = [at(alice, now), at(alice, now + 1), at(bob, now + 2)];
    const bEnding = at(bob, now - 5, { expiresAt: now + 200 });
    for (const x of [a1!, a2!, b1!, bEnding]) await redis.sessions.createSession(x, null, policy);
    assert.equal(await admin.hlen(group), 8, 'one hash holds both users’ sessions');
    await sleep(300);

    // Cap of 1 for bob: his session past its end is dropped (not counted, not reported), his
    // oldest live one is evicted, alice's stay.
    const b2 = at(bob, Date.now());
    assert.deepEqual(await redis.sessions.createSession(b2, 1, policy), { evicted: [b1!.id] });
    assert.equal(await admin.hexists(group, bEnding.id.slice(4)), 0, 'the ended session left the hash');
    const listed = async (u: string) => (await redis.sessions.listSessions(u, Date.now(), { graceMs: 0, idleMs: DAY })).map((x) => x.id);
    assert.deepEqual(await listed(alice), [a1!.id, a2!.id]);
    assert.deepEqual(await listed(bob), [b2.id]);
    assert.deepEqual(await redis.sessions.deleteSessions(bob, [b2.id, a1!.id]), [b2.id], 'only bob’s own, though alice’s shares the hash');
    assert.deepEqual(await redis.sessions.deleteSessions(alice, [a1!.id]), [a1!.id]);
    assert.deepEqual(await listed(alice), [a2!.id]);
    assert.equal(await admin.hlen(group), 2);
  });

  it('indexes a group past 64 sessions; a login without a cap then tidies only the oldest few, so its cost does not grow with the group', async () => {
    const userId = newUserId();
    const group = keys.sessionGroup(userTag(userId));
    const index = Buffer.concat([Buffer.from(`${group}>`), encodeUserId(userId)]);
    const now = Date.now();
    const ending = Array.from({ length: 150 }, (_, i) => session({ userId, createdAt: now + i, lastUsedAt: now + i, expiresAt: now + 300 }));
    await Promise.all(ending.map((x) => redis.sessions.createSession(x, null, policy)));
    await redis.sessions.createSession(session({ userId, createdAt: now + 1000 }), null, policy);
    assert.equal(await admin.hlen(group), 2 * 151 + 1, 'two fields per session and the index version');
    assert.equal(await admin.hget(group, 'v'), '2');
    assert.equal(await admin.zcard(index), 151, 'every session in the user’s index');
    await sleep(400);
    await redis.sessions.createSession(session({ userId, createdAt: now + 2000 }), null, policy);
    const removed = 151 - ((await admin.hlen(group)) - 1) / 2 + 1;
    assert.equal(removed, 32, `removed ${removed} of 150 ended sessions`);
    assert.equal(await admin.zcard(index), 152 - 32, 'the index follows the hash exactly');
    // Listing drops the dead it meets, and there are fewer than a batch of them.
    assert.equal((await redis.sessions.listSessions(userId, Date.now(), { graceMs: 0, idleMs: DAY })).length, 2);
    assert.equal(await admin.hlen(group), 5);
    assert.equal(await admin.zcard(index), 2);
  });

  it('indexes a group written before the index existed in bounded steps, losing no session', async () => {
    const userId = newUserId();
    const other = newUserId();
    const tag = userTag(userId);
    const group = keys.sessionGroup(tag);
    const now = Date.now();
    // What the old code left: records in the hash, no version field, no index (written raw here).
    const legacy = Array.from({ length: 1200 }, (_, i) => session({ userId, createdAt: now + i }));
    const pipe = admin.pipeline();
    for (const x of legacy) pipe.hset(group, x.id.slice(4), encodeRecord(x), `${x.id.slice(4)}:`, x.device);
    pipe.pexpire(group, DAY);
    await pipe.exec();
    const theirs = { ...session({ userId: other }), id: tag + newSessionId(other).slice(4) };
    await admin.hset(group, theirs.id.slice(4), encodeRecord(theirs), `${theirs.id.slice(4)}:`, theirs.device);
    const page = await redis.sessions.listSessions(userId, now + 5000, policy, { limit: 1000 });
    assert.deepEqual(page.map((x) => x.id), legacy.slice(0, 1000).map((x) => x.id));
    assert.equal(await admin.hget(group, 'v'), '2');
    const rest = await redis.sessions.listSessions(userId, now + 5000, policy, { limit: 1000, after: { createdAt: page.at(-1)!.createdAt, id: page.at(-1)!.id } });
    assert.deepEqual(rest.map((x) => x.id), legacy.slice(1000).map((x) => x.id));
    const theirIndex = Buffer.concat([Buffer.from(`${group}>`), encodeUserId(other)]);
    assert.deepEqual(await admin.zrange(theirIndex, 0, -1), [theirs.id.slice(4)], 'another user’s record in the group got its own index');
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
      const before = { sessionId: newSessionId(newUserId()), until: Date.now() + HOUR };
      await redis.revocations.add(before);
      await until('live delivery', () => got.has(before.sessionId));
      await admin.client('KILL', 'TYPE', 'pubsub');
      const meanwhile = { sessionId: newSessionId(newUserId()), until: Date.now() + HOUR, theft: 'copy' as const };
      await redis.revocations.add(meanwhile);
      await until('resync after reconnect', () => resyncs >= 2);
      await until('the revocation made meanwhile', () => got.has(meanwhile.sessionId));
      assert.ok((await redis.revocations.loadActive(Date.now())).some((r) => r.sessionId === meanwhile.sessionId && r.theft === 'copy'));
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
    redis = await openRedisStores({ url: own.url, prefix: 'lk:outage:' });
  });
  after(async () => {
    await redis.close();
    await own.stop();
  });

  it('answers StoreUnavailableError within ~1 s while Redis is down or hung, and recovers by itself', async () => {
    const s = session();
    await redis.sessions.createSession(s, null, policy);
    let resyncs = 0;
    const stop = redis.revocations.subscribe(
      () => {},
      () => resyncs++,
    );
    await until('feed up', () => resyncs === 1);

    await own.kill('SIGKILL');
    const ops: Array<() => Promise<unknown>> = [
      () => redis.sessions.rotate(s.id, { generation: 0, clientId: 'app' }, Date.now(), { graceMs: 0, idleMs: DAY }),
      () => redis.sessions.createSession(session(), null, policy),
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
    await redis.sessions.createSession(s, null, policy);
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
      await stores.sessions.createSession(s, null, policy);
      const probe = new Redis(own.url);
      assert.equal(await probe.exists(`lk:s{${sessionTag(s.id)}}`), 1, 'the session is in Redis under the default prefix');
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
