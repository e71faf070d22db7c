// The contract needs whole Stores; users and keys are not Redis's job, so SQLite fills them in.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContractSubject } from '../../packages/server/src/store/contract.js';
import type { RedisStores } from '../../packages/server/src/store/redis/open.js';
import { openSqliteStores } from '../../packages/server/src/store/sqlite/open.js';
import type { Stores } from '../../packages/server/src/store/types.js';

export async function redisContractSubject(openRedis: () => Promise<RedisStores>): Promise<ContractSubject & { redis: RedisStores }> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-redis-contract-'));
  const sqlite = openSqliteStores(dir);
  const redis = await openRedis();
  const stores: Stores = {
    users: sqlite.users,
    keys: sqlite.keys,
    adminKeys: sqlite.adminKeys,
    sessions: redis.sessions,
    revocations: redis.revocations,
    rateLimits: redis.rateLimits,
    health: () => redis.health(),
    async close() {
      await redis.close();
      await sqlite.close();
    },
  };
  return {
    redis,
    stores,
    async cleanup() {
      await stores.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
