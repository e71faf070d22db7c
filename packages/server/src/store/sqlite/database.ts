import Database from 'better-sqlite3';
import { closeSync, openSync, chmodSync } from 'node:fs';
import { assertPrivateFile, ensurePrivateDir } from '../../secrets/file-modes.js';

export type SqliteDb = Database.Database;

/**
 * Opens (creating if needed) a SQLite file readable by its owner only: it holds password hashes
 * or key material (ASVS 5.0 V13/V14: protect secrets at rest). WAL lets readers run beside the
 * single writer; synchronous=NORMAL keeps every commit across a process crash (SIGKILL), and can
 * lose only the last commits on a power loss, where a rolled-back rotation shows up as a
 * "future generation" refusal, never as a fork.
 */
export function openSqlite(path: string, schema: string, columns: Array<{ table: string; column: string; definition: string }> = [], afterColumns = ''): SqliteDb {
  // A file others could write may already hold someone else's keys or users: refuse, never fix silently.
  for (const f of [path, `${path}-wal`, `${path}-shm`]) assertPrivateFile(f, 'the database file', { readable: true });
  closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec(schema);
  for (const c of columns) {
    const has = (db.prepare(`PRAGMA table_info(${c.table})`).all() as Array<{ name: string }>).some((r) => r.name === c.column);
    if (!has) db.exec(`ALTER TABLE ${c.table} ADD COLUMN ${c.column} ${c.definition}`);
  }
  if (afterColumns) db.exec(afterColumns);
  return db;
}

/** Creates the data dir 0700, or refuses an existing one that group or others can write. */
export function ensureDataDir(dir: string): void {
  ensurePrivateDir(dir);
}
