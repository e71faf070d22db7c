import { memoryProofReplay } from '../proof-replay.js';
import { join } from 'node:path';
import { memoryRateLimitStore } from '../memory-rate-limits.js';
import type { Stores } from '../types.js';
import { ensureDataDir, openSqlite } from './database.js';
import { sqliteKeyStore } from './keys.js';
import { sqliteRevocationFeed } from './revocations.js';
import { MAIN_AFTER_COLUMNS, MAIN_COLUMNS, MAIN_SCHEMA, SECRETS_COLUMNS, SECRETS_SCHEMA } from './schema.js';
import { sqliteAdminKeyStore } from './admin-keys.js';
import { sqliteSessionStore } from './sessions.js';
import { sqliteUserStore } from './users.js';
import { sqliteAccountTokenStore } from './account-tokens.js';

export interface SqliteStores extends Stores {
  /** Deletes expired sessions and revocations; run periodically. */
  prune(now: number, idleMs: number): void;
}

export function openSqliteStores(dataDir: string): SqliteStores {
  ensureDataDir(dataDir);
  const main = openSqlite(join(dataDir, 'latchkey.db'), MAIN_SCHEMA, MAIN_COLUMNS, MAIN_AFTER_COLUMNS);
  const secrets = openSqlite(join(dataDir, 'secrets.db'), SECRETS_SCHEMA, SECRETS_COLUMNS);
  const revocations = sqliteRevocationFeed(main);
  const sessions = sqliteSessionStore(main, revocations);
  const accountTokens = sqliteAccountTokenStore(main);
  return {
    users: sqliteUserStore(main),
    sessions,
    revocations,
    keys: sqliteKeyStore(secrets),
    rateLimits: memoryRateLimitStore(),
    proofs: memoryProofReplay(),
    adminKeys: sqliteAdminKeyStore(main),
    accountTokens,
    async health() {
      const ok = (() => {
        try {
          main.prepare('SELECT 1').get();
          secrets.prepare('SELECT 1').get();
          return true;
        } catch {
          return false;
        }
      })();
      return [{ name: 'sqlite', ok }];
    },
    prune(now, idleMs) {
      sessions.prune(now, idleMs);
      revocations.prune(now);
      accountTokens.prune(now);
    },
    async close() {
      revocations.stop();
      main.close();
      secrets.close();
    },
  };
}
