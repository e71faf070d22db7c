import { join } from 'node:path';
import { memoryRateLimitStore } from '../memory-rate-limits.ts';
import type { Stores } from '../types.ts';
import { ensureDataDir, openSqlite } from './database.ts';
import { sqliteKeyStore } from './keys.ts';
import { sqliteRevocationFeed } from './revocations.ts';
import { MAIN_SCHEMA, SECRETS_SCHEMA } from './schema.ts';
import { sqliteSessionStore } from './sessions.ts';
import { sqliteUserStore } from './users.ts';

export interface SqliteStores extends Stores {
  /** Deletes expired sessions and revocations; run periodically. */
  prune(now: number, idleMs: number): void;
}

export function openSqliteStores(dataDir: string): SqliteStores {
  ensureDataDir(dataDir);
  const main = openSqlite(join(dataDir, 'latchkey.db'), MAIN_SCHEMA);
  const secrets = openSqlite(join(dataDir, 'secrets.db'), SECRETS_SCHEMA);
  const sessions = sqliteSessionStore(main);
  const revocations = sqliteRevocationFeed(main);
  return {
    users: sqliteUserStore(main),
    sessions,
    revocations,
    keys: sqliteKeyStore(secrets),
    rateLimits: memoryRateLimitStore(),
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
    },
    async close() {
      main.close();
      secrets.close();
    },
  };
}
