// The Redis contract suites (sessions, rate limits, feed) on a real 3-master Redis Cluster: every
// script must touch one slot only, users' session groups spread over the masters, and a user's
// sessions stay in one slot.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { newSessionId, newUserId, sessionTag } from '../../packages/server/src/domain/ids.js';
import type { SessionPolicy, SessionRecord } from '../../packages/server/src/domain/session.js';
import {
  healthContract,
  openForSuite,
  rateLimitStoreContract,
  proofReplayContract,
  revocationFeedContract,
  sessionRevocationContract,
  sessionStoreContract,
} from '../../packages/server/src/store/contract.js';
import { openRedisStores, type RedisStores } from '../../packages/server/src/store/redis/open.js';
import { startRedisCluster, type RedisClusterProcess } from '../harness/redis.js';

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000;
const policy: SessionPolicy = { graceMs: 0, idleMs: 24 * HOUR };
let cluster: RedisClusterProcess;
const seeds = () => cluster.nodes.map((n) => `${n.host}:${n.port}`);

before(async () => {
  cluster = await startRedisCluster(3);
});
after(async () => {
  await cluster.stop();
});

describe('store contract: redis cluster', () => {
  const stores = openForSuite(async () => {
    const opened = await openRedisStores({ clusterNodes: seeds(), prefix: 'lk:contract:' });
    return { stores: opened, cleanup: () => opened.close() };
  });
  sessionStoreContract(() => stores().sessions);
  sessionRevocationContract(() => stores());
  revocationFeedContract(() => stores().revocations);
  rateLimitStoreContract(() => stores().rateLimits);
  proofReplayContract(() => stores().proofs);
  healthContract(stores);
});

/** A one-hour session of `userId` created at T0 + i. */
const session = (userId: string, i: number): SessionRecord => ({
  id: newSessionId(userId),
  userId,
  clientId: 'app',
  generation: 0,
  rotatedAt: T0 + i,
  createdAt: T0 + i,
  lastUsedAt: T0 + i,
  expiresAt: T0 + HOUR,
  device: 'd',
});

describe('redis cluster layout', () => {
  let redis: RedisStores;
  before(async () => {
    redis = await openRedisStores({ clusterNodes: seeds(), prefix: 'lk:layout:' });
  });
  after(async () => {
    await redis.close();
  });

  it('spreads users over the masters, keeps each user’s sessions in one key, and lists, caps and ends them', async () => {
    const users = Array.from({ length: 30 }, () => newUserId());
    for (const userId of users) {
      await redis.sessions.createSession({ ...session(userId, 0), expiresAt: T0 + HOUR }, null, policy);
    }
    const perNode = await Promise.all(
      cluster.nodes.map(async (n) => {
        const r = new Redis({ host: n.host, port: n.port, lazyConnect: true });
        await r.connect();
        try {
          return (await r.keys('lk:layout:s{*}')).length;
        } finally {
          r.disconnect();
        }
      }),
    );
    assert.equal(perNode.filter((c) => c > 0).length, 3, `users on every master: ${perNode.join(',')}`);

    const userId = users[0]!;
    for (let i = 1; i < 12; i++) await redis.sessions.createSession(session(userId, i), null, policy);
    const all = (await redis.sessions.listSessions(userId, T0 + 100, { graceMs: 0, idleMs: HOUR })).map((s) => s.id);
    assert.equal(all.length, 12);
    assert.equal(new Set(all.map(sessionTag)).size, 1, 'one group for all of the user’s sessions');
    const extra = session(userId, 99);
    const { evicted } = await redis.sessions.createSession(extra, 3, policy);
    assert.deepEqual(evicted, all.slice(0, 10));
    const listed = await redis.sessions.listSessions(userId, T0 + 100, { graceMs: 0, idleMs: HOUR });
    assert.deepEqual(
      listed.map((s) => s.id),
      [...all.slice(10), extra.id],
    );
    for (const id of evicted) assert.equal(await redis.sessions.getSession(id), null);
    assert.deepEqual((await redis.sessions.deleteSessions(userId, listed.map((s) => s.id))).sort(), [...all.slice(10), extra.id].sort());
  });

  it('holds the per-user cap under concurrent logins', async () => {
    const userId = newUserId();
    const made = Array.from({ length: 20 }, (_, i) => session(userId, i));
    const results = await Promise.all(made.map((s) => redis.sessions.createSession(s, 2, policy)));
    const evicted = results.flatMap((r) => r.evicted);
    assert.equal(new Set(evicted).size, evicted.length, 'no session evicted twice');
    const live = (await redis.sessions.listSessions(userId, T0 + 100, { graceMs: 0, idleMs: HOUR })).map((s) => s.id);
    assert.equal(live.length, 2);
    assert.deepEqual([...live, ...evicted].sort(), made.map((s) => s.id).sort());
  });

  it('reports unhealthy when any one master is down', async () => {
    assert.deepEqual(await redis.health(), [{ name: 'redis', ok: true }]);
    const victim = cluster.members[1]!;
    await victim.kill('SIGSTOP');
    try {
      assert.deepEqual(await redis.health(), [{ name: 'redis', ok: false }]);
    } finally {
      await victim.kill('SIGCONT');
    }
  });
});
