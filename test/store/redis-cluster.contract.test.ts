// The same contract on a real 3-master Redis Cluster: every script must touch one slot only,
// and per-user operations must work while the user's sessions live on other masters.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { newSessionId, newUserId } from '../../src/domain/ids.ts';
import { storeContract } from '../../src/store/contract.ts';
import { openRedisStores, type RedisStores } from '../../src/store/redis/open.ts';
import { startRedisCluster, type RedisClusterProcess } from '../harness/redis.ts';
import { redisContractSubject } from './redis-subject.ts';

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000;
let cluster: RedisClusterProcess;
const seeds = () => cluster.nodes.map((n) => `${n.host}:${n.port}`);

before(async () => {
  cluster = await startRedisCluster(3);
});
after(async () => {
  await cluster.stop();
});

storeContract('redis cluster', () =>
  redisContractSubject(() => openRedisStores({ clusterNodes: seeds(), prefix: 'lk:contract:', idleMs: 24 * HOUR })),
);

describe('redis cluster layout', () => {
  let redis: RedisStores;
  before(async () => {
    redis = await openRedisStores({ clusterNodes: seeds(), prefix: 'lk:layout:', idleMs: 24 * HOUR });
  });
  after(async () => {
    await redis.close();
  });

  it('spreads one user’s sessions over several masters and still lists, caps and ends them', async () => {
    const userId = newUserId();
    const ids = Array.from({ length: 12 }, () => newSessionId());
    for (const [i, id] of ids.entries()) {
      await redis.sessions.createSession(
        { id, userId, clientId: 'app', generation: 0, rotatedAt: T0 + i, createdAt: T0 + i, lastUsedAt: T0 + i, expiresAt: T0 + HOUR, device: 'd' },
        null,
      );
    }
    const perNode = await Promise.all(
      cluster.nodes.map(async (n) => {
        const r = new Redis({ host: n.host, port: n.port, lazyConnect: true });
        await r.connect();
        try {
          return (await r.keys('lk:layout:{*}')).length;
        } finally {
          r.disconnect();
        }
      }),
    );
    assert.ok(perNode.filter((c) => c > 0).length >= 2, `sessions on one master only: ${perNode.join(',')}`);
    const extra = newSessionId();
    const { evicted } = await redis.sessions.createSession(
      { id: extra, userId, clientId: 'app', generation: 0, rotatedAt: T0 + 99, createdAt: T0 + 99, lastUsedAt: T0 + 99, expiresAt: T0 + HOUR, device: 'd' },
      3,
    );
    assert.deepEqual(evicted, ids.slice(0, 10));
    const listed = await redis.sessions.listSessions(userId, T0 + 100, { graceMs: 0, idleMs: HOUR });
    assert.deepEqual(
      listed.map((s) => s.id),
      [...ids.slice(10), extra],
    );
    for (const id of ids.slice(0, 10)) assert.equal(await redis.sessions.getSession(id), null);
    assert.deepEqual((await redis.sessions.deleteUserSessions(userId)).sort(), [...ids.slice(10), extra].sort());
  });

  it('holds the per-user cap under concurrent logins while the sessions sit on different masters', async () => {
    const userId = newUserId();
    const made = Array.from({ length: 20 }, (_, i) => ({
      id: newSessionId(),
      userId,
      clientId: 'app',
      generation: 0,
      rotatedAt: T0 + i,
      createdAt: T0 + i,
      lastUsedAt: T0 + i,
      expiresAt: T0 + HOUR,
      device: 'd',
    }));
    const results = await Promise.all(made.map((s) => redis.sessions.createSession(s, 2)));
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
