// Choosing a deployment shape is configuration, not code (DESIGN "Deployment shapes"):
//
// | LATCHKEY_REDIS_URL / _CLUSTER | LATCHKEY_DATABASE_URL | sessions, revocation feed, rate limits | users, signing keys, MAC secret |
// |-------------------------------|-----------------------|----------------------------------------|---------------------------------|
// | –                             | –                     | SQLite (data dir)                      | SQLite (data dir): embedded     |
// | set                           | set                   | Redis                                  | PostgreSQL: scale-out           |
// | set                           | –                     | Redis                                  | SQLite (data dir)               |
// | –                             | set                   | PostgreSQL                             | PostgreSQL                      |
//
// Redis without a database URL keeps users and keys in the instance's own data dir: right for a
// single instance (or several sharing one data dir on one host), wrong for instances on several
// hosts, which would each mint their own keys and know only their own users. Scale-out across
// hosts needs LATCHKEY_DATABASE_URL.
//
// A Redis Cluster is named by its seed nodes: LATCHKEY_REDIS_CLUSTER=host1:6379,host2:6379,...
// If LATCHKEY_REDIS_URL is set as well, its credentials, database and TLS (rediss:) apply to every
// cluster node and its host is ignored.
import type { Config } from '../config.js';
// Redis and PostgreSQL adapters load only when configured: the embedded default never loads ioredis
// or pg (measured: `import('latchkey')` 243 -> see BENCHMARKS.md / the consumer test's figures).
import type { PostgresStores } from './postgres/open.js';
import type { RedisStores } from './redis/open.js';
import { openSqliteStores, type SqliteStores } from './sqlite/open.js';
import type { HealthReport, Stores } from './types.js';
import { sealedKeyStore } from './sealed-keys.js';
import { GENERATED_KEK_FILE, loadSecretsKey } from '../secrets/key-encryption-key.js';
import { join } from 'node:path';

export interface OpenedStores extends Stores {
  /** Periodic housekeeping (expired rows); a no-op where the backend expires by itself. */
  prune(now: number, idleMs: number): void;
}

/** /healthz must answer promptly even when a backend hangs rather than refuses. */
const HEALTH_TIMEOUT_MS = 1500;

async function checkWithin(name: string, check: () => Promise<HealthReport[]>): Promise<HealthReport[]> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<HealthReport[]>((resolve) => {
    timer = setTimeout(() => resolve([{ name, ok: false }]), HEALTH_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().catch(() => [{ name, ok: false }]), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Names where the KEK came from, for errors (never the key). */
function kekSource(config: Config): string {
  if (config.secretsKey) return 'LATCHKEY_SECRETS_KEY';
  if (config.secretsKeyFile) return `LATCHKEY_SECRETS_KEY_FILE (${config.secretsKeyFile})`;
  return `the generated key-encryption key (${join(config.dataDir, GENERATED_KEK_FILE)})`;
}

/** Opens the stores the configuration names; key material is sealed under the KEK (./sealed-keys.ts). */
export async function openStores(config: Config): Promise<OpenedStores> {
  const opened = await openBackends(config);
  let kek: Buffer;
  try {
    kek = loadSecretsKey(config);
  } catch (e) {
    await opened.close().catch(() => {});
    throw e;
  }
  return { ...opened, keys: sealedKeyStore(opened.keys, kek, kekSource(config)) };
}

async function openBackends(config: Config): Promise<OpenedStores> {
  const useRedis = config.redisUrl !== null || (config.redisClusterNodes?.length ?? 0) > 0;
  if (!useRedis && config.databaseUrl === null) return openSqliteStores(config.dataDir);

  let redis: RedisStores | null = null;
  let postgres: PostgresStores | null = null;
  let sqlite: SqliteStores | null = null;
  try {
    if (useRedis) {
      const { openRedisStores } = await import('./redis/open.js');
      redis = await openRedisStores({ url: config.redisUrl, clusterNodes: config.redisClusterNodes });
    }
    if (config.databaseUrl !== null) {
      const { openPostgresStores } = await import('./postgres/open.js');
      postgres = await openPostgresStores({ url: config.databaseUrl });
    }
    else sqlite = openSqliteStores(config.dataDir);
  } catch (err) {
    await Promise.allSettled([redis?.close(), postgres?.close(), sqlite?.close()]);
    throw err;
  }

  // Exactly one of postgres / sqlite holds users and keys; Redis, when present, takes the rest.
  const durable = (postgres ?? sqlite)!;
  const ephemeral = redis ?? durable;
  const backends: Array<[string, () => Promise<HealthReport[]>]> = [];
  if (redis) backends.push(['redis', () => redis.health()]);
  if (postgres) backends.push(['postgres', () => postgres.health()]);
  if (sqlite) backends.push(['sqlite', () => sqlite.health()]);

  return {
    users: durable.users,
    keys: durable.keys,
    adminKeys: durable.adminKeys,
    accountTokens: durable.accountTokens,
    sessions: ephemeral.sessions,
    revocations: ephemeral.revocations,
    rateLimits: ephemeral.rateLimits,
    proofs: ephemeral.proofs,
    async health() {
      return (await Promise.all(backends.map(([name, check]) => checkWithin(name, check)))).flat();
    },
    prune(now, idleMs) {
      // Redis expires sessions, revocations and counters by TTL; the SQL tables need sweeping.
      if (postgres) {
        postgres.prune(now, idleMs).catch(() => {
          // Next round retries; expired rows are never served meanwhile (every read checks expiry).
        });
      }
      if (sqlite && !redis) sqlite.prune(now, idleMs);
    },
    async close() {
      const results = await Promise.allSettled([redis?.close(), postgres?.close(), sqlite?.close()]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
