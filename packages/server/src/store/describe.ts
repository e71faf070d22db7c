// Which stores a configuration uses, in words for the start-up line and the log. The same rule
// as ./open.ts: Redis takes sessions, rate limits and the feed when configured; PostgreSQL takes
// users and keys when configured; SQLite in the data directory holds whatever is left.
import type { Config } from '../config.js';

export interface StoreDescription {
  /** Where sessions, rate limits and the revocation feed live. */
  sessions: 'redis' | 'redis-cluster' | 'postgres' | 'sqlite';
  /** Where users, signing keys and the refresh MAC secret live. */
  users: 'postgres' | 'sqlite';
}

export function describeStores(config: Config): StoreDescription {
  const cluster = (config.redisClusterNodes?.length ?? 0) > 0;
  const users = config.databaseUrl !== null ? 'postgres' : 'sqlite';
  const sessions = cluster ? 'redis-cluster' : config.redisUrl !== null ? 'redis' : users;
  return { sessions, users };
}

/** "sqlite (./data)" or "sessions on redis, users and keys on postgres": never a URL (it may hold a password). */
export function storeSummary(config: Config): string {
  const d = describeStores(config);
  if (d.sessions === 'sqlite' && d.users === 'sqlite') return `sqlite (${config.dataDir})`;
  if (d.sessions === 'postgres') return 'postgres';
  const users = d.users === 'sqlite' ? `sqlite (${config.dataDir})` : d.users;
  return `sessions on ${d.sessions}, users and keys on ${users}`;
}
