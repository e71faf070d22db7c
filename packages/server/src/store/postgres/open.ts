import { rateLimitProofReplay } from '../proof-replay.js';
import { postgresAdminKeyStore } from './admin-keys.js';
import type pg from 'pg';
import type { HealthReport, KeyStore, Stores, UserStore } from '../types.js';
import { postgresKeyStore } from './keys.js';
import { migrate } from './migrations.js';
import { createPool, DEFAULT_PG_TIMEOUTS, query, type PostgresTimeouts } from './pool.js';
import { postgresRateLimitStore, type PostgresRateLimitStore } from './rate-limits.js';
import { postgresRevocationFeed, type PostgresRevocationFeed } from './revocations.js';
import { postgresSessionStore, type PostgresSessionStore } from './sessions.js';
import { postgresUserStore } from './users.js';
import { postgresAccountTokenStore } from './account-tokens.js';

export interface PostgresStoreOptions {
  url: string;
  timeouts?: Partial<PostgresTimeouts>;
  poolSize?: number;
}

export interface PostgresStores extends Stores {
  users: UserStore;
  keys: KeyStore;
  sessions: PostgresSessionStore;
  revocations: PostgresRevocationFeed;
  rateLimits: PostgresRateLimitStore;
  pool: pg.Pool;
  health(): Promise<HealthReport[]>;
  /** Deletes expired sessions, revocations and rate-limit windows. */
  prune(now: number, idleMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Migrates (serialised across instances), then opens the pool. A bad URL fails here, at start. */
export async function openPostgresStores(opts: PostgresStoreOptions): Promise<PostgresStores> {
  const timeouts = { ...DEFAULT_PG_TIMEOUTS, ...opts.timeouts };
  // Start-up may wait for a database that is still booting next to us (compose, CI).
  await migrate(opts.url, Math.max(timeouts.connectTimeoutMs, 5000));
  const pool = createPool(opts.url, timeouts, opts.poolSize);
  const sessions = postgresSessionStore(pool);
  const revocations = postgresRevocationFeed(pool, {
    connectionString: opts.url,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    query_timeout: timeouts.statementTimeoutMs,
    keepAlive: true,
  });
  const rateLimits = postgresRateLimitStore(pool);
  const accountTokens = postgresAccountTokenStore(pool);
  return {
    users: postgresUserStore(pool),
    keys: postgresKeyStore(pool),
    adminKeys: postgresAdminKeyStore(pool),
    accountTokens,
    sessions,
    revocations,
    rateLimits,
    proofs: rateLimitProofReplay(rateLimits),
    pool,
    async health() {
      try {
        await query(pool, 'SELECT 1');
        return [{ name: 'postgres', ok: true }];
      } catch {
        return [{ name: 'postgres', ok: false }];
      }
    },
    async prune(now, idleMs) {
      await Promise.all([sessions.prune(now, idleMs), revocations.prune(now), rateLimits.prune(now), accountTokens.prune(now)]);
    },
    async close() {
      revocations.stopAll();
      await pool.end();
    },
  };
}
