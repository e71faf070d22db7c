// Schema migrations, run at every start. Idempotent (each version is applied once, recorded in
// latchkey_migrations) and safe when several instances start together: the whole run holds a
// session-level advisory lock, so the second instance waits, then finds nothing left to do.
// Append new versions; never edit an applied one.
import pg from 'pg';
import { toStoreError } from './pool.js';

/** Advisory lock ids, one namespace per purpose ("LK" in the high bytes). */
export const LOCKS = {
  migrations: 0x4c4b_0001,
  keys: 0x4c4b_0002,
  /** Two-int form (namespace, hashtext(userId)): serialises session creation per user. */
  userSessions: 0x4c4b_0003,
} as const;

const MIGRATIONS: string[] = [
  // 1: users, keys, sessions, revocations, rate limits. Times are ms since the epoch (int8).
  `
  CREATE TABLE users (
    id text PRIMARY KEY,
    email text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at int8 NOT NULL
  );
  CREATE TABLE signing_keys (
    kid text PRIMARY KEY,
    alg text NOT NULL,
    private_jwk text NOT NULL,
    created_at int8 NOT NULL,
    retired_at int8
  );
  CREATE TABLE mac_keys (
    id int4 PRIMARY KEY,
    secret bytea NOT NULL,
    created_at int8 NOT NULL
  );
  CREATE TABLE sessions (
    id text PRIMARY KEY,
    user_id text NOT NULL,
    client_id text NOT NULL,
    generation int8 NOT NULL,
    rotated_at int8 NOT NULL,
    created_at int8 NOT NULL,
    last_used_at int8 NOT NULL,
    expires_at int8 NOT NULL,
    device text NOT NULL
  );
  CREATE INDEX sessions_by_user ON sessions (user_id, created_at, id COLLATE "C");
  CREATE TABLE revocations (
    session_id text PRIMARY KEY,
    until int8 NOT NULL,
    reuse boolean NOT NULL DEFAULT false
  );
  CREATE INDEX revocations_by_until ON revocations (until);
  CREATE TABLE rate_limits (
    key text PRIMARY KEY,
    count int4 NOT NULL,
    reset_at int8 NOT NULL
  );
  `,
  // 2: disabling users (issue 13) and operators' API keys.
  `
  ALTER TABLE users ADD COLUMN disabled_at int8;
  CREATE TABLE admin_keys (
    id text PRIMARY KEY,
    name text NOT NULL,
    secret_hash text NOT NULL,
    created_at int8 NOT NULL,
    revoked_at int8
  );
  `,
  // 3: pending keys (issue 12): when a key starts signing / MACing; NULL on older rows means at
  // creation. Sealing older plaintext rows needs the key-encryption key, so it is done at start
  // by store/sealed-keys.ts, not here.
  `
  ALTER TABLE signing_keys ADD COLUMN activates_at int8;
  ALTER TABLE mac_keys ADD COLUMN activates_at int8;
  `,
  // 4: account lifecycle (issue 10): verified addresses and single-use link tokens (hashes only).
  `
  ALTER TABLE users ADD COLUMN email_verified_at int8;
  CREATE TABLE account_tokens (
    hash text PRIMARY KEY,
    purpose text NOT NULL,
    user_id text NOT NULL,
    email text NOT NULL,
    created_at int8 NOT NULL,
    expires_at int8 NOT NULL
  );
  CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose);
  CREATE INDEX account_tokens_by_expiry ON account_tokens (expires_at);
  `,
  // 5: DPoP-bound sessions (issue 11): the key's stored thumbprint, and grace answers of the generation.
  `
  ALTER TABLE sessions ADD COLUMN key_id text;
  ALTER TABLE sessions ADD COLUMN grace_uses int4 NOT NULL DEFAULT 0;
  ALTER TABLE sessions ADD COLUMN grace_debt int4 NOT NULL DEFAULT 0;
  `,
  // 6: why a session was revoked as stolen (issue 14): copy = a key-bound session's token used
  // without its key. A copy is also written reuse = true, so instances that predate this column
  // still call it a theft.
  `
  ALTER TABLE revocations ADD COLUMN copy boolean NOT NULL DEFAULT false;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export async function migrate(url: string, connectTimeoutMs: number): Promise<void> {
  // Its own connection with generous timeouts: waiting for another instance's migration, or a
  // long DDL, is normal here and must not trip the request-path statement timeout.
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs, statement_timeout: 120_000, application_name: 'latchkey-migrate' });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT pg_advisory_lock($1)', [LOCKS.migrations]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS latchkey_migrations (version int4 PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM latchkey_migrations');
      for (let v = (rows[0]?.v ?? 0) + 1; v <= MIGRATIONS.length; v++) {
        await client.query('BEGIN');
        try {
          await client.query(MIGRATIONS[v - 1]!);
          await client.query('INSERT INTO latchkey_migrations (version) VALUES ($1)', [v]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCKS.migrations]).catch(() => {});
    }
  } catch (err) {
    throw toStoreError(err);
  } finally {
    await client.end().catch(() => {});
  }
}
