// Idempotent: runs at every start.
export const MAIN_SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  rotated_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  device TEXT NOT NULL
);
-- Keyset pages of one user's sessions in (created_at, id) order read only the page (issue 12);
-- it replaces the first index on (user_id, created_at).
DROP INDEX IF EXISTS sessions_by_user;
CREATE INDEX IF NOT EXISTS sessions_by_user_age ON sessions(user_id, created_at, id);
-- reuse: 0 an ordinary end, 1 revoked for reuse (an older refresh token replayed), 2 revoked as a
-- copy (a key-bound session's token used without its key). Releases that predate 2 read any
-- non-zero value as reuse, and the upsert's max() keeps the more specific kind.
CREATE TABLE IF NOT EXISTS revocations (
  session_id TEXT PRIMARY KEY,
  until INTEGER NOT NULL,
  reuse INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS revocations_by_until ON revocations(until);
CREATE TABLE IF NOT EXISTS account_tokens (
  hash TEXT PRIMARY KEY,
  purpose TEXT NOT NULL,
  user_id TEXT NOT NULL,
  email TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS account_tokens_by_user ON account_tokens(user_id, purpose);
CREATE INDEX IF NOT EXISTS account_tokens_by_expiry ON account_tokens(expires_at);
CREATE TABLE IF NOT EXISTS admin_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
`;

/**
 * Columns added after a table first shipped: CREATE TABLE IF NOT EXISTS leaves an existing table
 * as it was, so each is added when missing (SQLite has no ADD COLUMN IF NOT EXISTS).
 */
export const MAIN_COLUMNS: Array<{ table: string; column: string; definition: string }> = [
  { table: 'users', column: 'disabled_at', definition: 'INTEGER' },
  { table: 'users', column: 'email_verified_at', definition: 'INTEGER' },
  // When the row was last written: another process (the `latchkey` CLI) revokes by writing here,
  // and the running server polls for rows newer than it has seen.
  { table: 'revocations', column: 'written_at', definition: 'INTEGER NOT NULL DEFAULT 0' },
  // Which process wrote it: the poll skips its own rows, which it delivered in-process already
  // (reading them back was what held the event loop ~150 ms per poll while 100k sessions ended).
  { table: 'revocations', column: 'writer', definition: "TEXT NOT NULL DEFAULT ''" },
  // DPoP-bound sessions (issue 11): the key's stored thumbprint, and grace answers of the generation.
  { table: 'sessions', column: 'key_id', definition: 'TEXT' },
  { table: 'sessions', column: 'grace_uses', definition: 'INTEGER NOT NULL DEFAULT 0' },
  { table: 'sessions', column: 'grace_debt', definition: 'INTEGER NOT NULL DEFAULT 0' },
];

/** Run after MAIN_COLUMNS: they need the added columns. The poll reads by written_at 4 times a second. */
export const MAIN_AFTER_COLUMNS = `
CREATE INDEX IF NOT EXISTS revocations_by_written ON revocations(written_at);
`;

// Key material lives in its own file so that a copy of the session database alone never holds
// what it takes to mint a refresh token (DESIGN property 2).
export const SECRETS_SCHEMA = `
CREATE TABLE IF NOT EXISTS signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  private_jwk TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER
);
CREATE TABLE IF NOT EXISTS mac_keys (
  id INTEGER PRIMARY KEY,
  secret BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
`;

/** Added with pending keys (issue 12): when a key starts signing / MACing; NULL on older rows means at creation. */
export const SECRETS_COLUMNS: Array<{ table: string; column: string; definition: string }> = [
  { table: 'signing_keys', column: 'activates_at', definition: 'INTEGER' },
  { table: 'mac_keys', column: 'activates_at', definition: 'INTEGER' },
];
