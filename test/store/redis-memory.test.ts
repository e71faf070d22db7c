// Redis memory per session (issue 3: ≤ 300 bytes as the INFO memory delta over 100k sessions, and
// constant across 1,000 rotations), on a redis-server of its own so nothing else moves the figure.
//
// Sessions are created through the adapter. The asserted figure is the worst case: every session
// belongs to a user of its own, so each pays for a whole group key (key, TTL, hash header). Users
// with several sessions share their key, which the second figure shows.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { newUserId, sessionTag } from '../../packages/server/src/domain/ids.js';
import { sampleSession } from '../../packages/server/src/store/contract.js';
import { openRedisStores, type RedisStores } from '../../packages/server/src/store/redis/open.js';
import { keyLayout } from '../../packages/server/src/store/redis/keys.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';

const N = 100_000;
const BATCH = 2_000;
const DAY = 86_400_000;
const keys = keyLayout();
const policy = { graceMs: 10_000, idleMs: 7 * DAY };

let server: RedisProcess;
let stores: RedisStores;
let admin: Redis;

before(async () => {
  server = await startRedis();
  stores = await openRedisStores({ url: server.url });
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
});
after(async () => {
  admin.disconnect();
  await stores.close();
  await server.stop();
});

const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))![1]);

/** INFO delta per session after creating N sessions, `perUser` to a user. */
async function bytesPerSession(perUser: number, bound = false): Promise<{ perSession: number; keys: number }> {
  await admin.flushall();
  const base = await usedMemory();
  const now = Date.now();
  let userId = newUserId();
  for (let off = 0; off < N; off += BATCH) {
    const batch = Array.from({ length: BATCH }, (_, i) => {
      if ((off + i) % perUser === 0) userId = newUserId();
      return sampleSession(now + i, { userId, keyId: bound ? randomBytes(16).toString('base64url') : null });
    });
    // Concurrent calls are auto-pipelined by the adapter's client: one write per batch.
    await Promise.all(batch.map((s) => stores.sessions.createSession(s, null, policy)));
  }
  const perSession = ((await usedMemory()) - base) / N;
  return { perSession, keys: await admin.dbsize() };
}

test(`sessions take at most 300 bytes each over ${N / 1000}k sessions, even with one user per session`, async (t) => {
  const worst = await bytesPerSession(1);
  // 2^24 groups: a few of 100k users share one.
  assert.ok(worst.keys > N * 0.99 && worst.keys <= N, `one group key per user: ${worst.keys}`);
  const shared = await bytesPerSession(3);
  t.diagnostic(`1 session per user: ${worst.perSession.toFixed(1)} B/session`);
  t.diagnostic(`3 sessions per user: ${shared.perSession.toFixed(1)} B/session`);
  assert.ok(worst.perSession <= 300, `${worst.perSession.toFixed(1)} B per session`);
  assert.ok(shared.perSession < worst.perSession, 'a user’s sessions share their key');
  // Issue 11: a DPoP-bound session also keeps its key's 16-byte id.
  const bound = await bytesPerSession(1, true);
  t.diagnostic(`1 DPoP-bound session per user: ${bound.perSession.toFixed(1)} B/session`);
  assert.ok(bound.perSession <= 300, `bound: ${bound.perSession.toFixed(1)} B per session`);
  await admin.flushall();
});

test('memory of a session does not change across 1,000 rotations, and its group stays a listpack', async () => {
  const t0 = Date.now();
  const s = sampleSession(t0);
  const group = keys.sessionGroup(sessionTag(s.id));
  await stores.sessions.createSession(s, null, policy);
  const usage = () => admin.memory('USAGE', group, 'SAMPLES', 0);
  const before = await usage();
  assert.equal(await admin.object('ENCODING', group), 'listpack');
  for (let g = 0; g < 1000; g++) {
    const out = await stores.sessions.rotate(s.id, { generation: g, clientId: 'app' }, t0 + g * 1000, policy);
    assert.equal(out.decision.kind, 'rotate');
  }
  assert.equal((await stores.sessions.getSession(s.id))?.generation, 1000);
  assert.equal(await usage(), before, 'the group hash takes the same memory after 1,000 rotations');
  assert.equal(await admin.object('ENCODING', group), 'listpack');
  assert.equal(await admin.hlen(group), 2, 'two fields, and nothing from old generations');
});

test('the longest device label (64 bytes), a 17-byte client id and a DPoP key id keep the listpack encoding', async () => {
  const s = sampleSession(Date.now(), { device: 'x'.repeat(64), clientId: 'c'.repeat(17), keyId: randomBytes(16).toString('base64url') });
  await stores.sessions.createSession(s, null, policy);
  assert.equal(await admin.object('ENCODING', keys.sessionGroup(sessionTag(s.id))), 'listpack');
  assert.deepEqual(await stores.sessions.getSession(s.id), s);
});
