// The PostgreSQL connection pool, tuned like the Redis client to fail fast: a request waits at most
// ~1 s for a connection and ~2 s for a statement, then gets StoreUnavailableError (HTTP 503)
// instead of hanging while the database is down, and later requests recover by themselves.
import pg from 'pg';
import { StoreUnavailableError } from '../../domain/errors.js';

export interface PostgresTimeouts {
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

export const DEFAULT_PG_TIMEOUTS: PostgresTimeouts = { connectTimeoutMs: 1000, statementTimeoutMs: 2000 };

export function createPool(url: string, t: PostgresTimeouts = DEFAULT_PG_TIMEOUTS, max = 20): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // Also bounds the wait for a free pooled connection, so a saturated pool answers 503 too.
    connectionTimeoutMillis: t.connectTimeoutMs,
    // Server side (cancels the statement, releases its locks) and client side (a server that
    // stopped answering altogether).
    statement_timeout: t.statementTimeoutMs,
    query_timeout: t.statementTimeoutMs + 500,
    // A transaction left open by a dying request must not hold row or advisory locks for long.
    idle_in_transaction_session_timeout: 5000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'latchkey',
  });
  // An idle pooled connection that the server drops emits 'error' on the pool; without a
  // listener that would crash the process. The next checkout simply opens a new one.
  pool.on('error', () => {});
  return pool;
}

// SQLSTATE classes that mean "the database cannot serve now", not "this statement is wrong":
// 08 connection exception, 53 insufficient resources, 57P01-03 shutdown/starting, 57014
// statement timeout (the only cancellation we cause), 40P01 deadlock, 55P03 lock timeout.
const UNAVAILABLE_STATE = /^(08...|53...|57P0[1-3]|57014|40P01|55P03)$/;
const SQLSTATE = /^[0-9A-Z]{5}$/;
const TRANSPORT_MESSAGE = /timeout|terminated|Connection|ECONN|socket|not queryable|pool after calling end/i;

export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && SQLSTATE.test(code)) return UNAVAILABLE_STATE.test(code);
  // Socket errors carry errno codes (ECONNREFUSED, ECONNRESET, ...); pg's own timeouts and
  // "connection terminated" carry none.
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  return TRANSPORT_MESSAGE.test(err.message);
}

export function toStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  return isUnavailable(err) ? new StoreUnavailableError('postgres', err) : err;
}

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export async function query<R extends pg.QueryResultRow>(db: Queryable, text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
  try {
    return await db.query<R>(text, values);
  } catch (err) {
    throw toStoreError(err);
  }
}

/** Runs `fn` in one transaction on one pooled connection; rolls back on any error. */
export async function transaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw toStoreError(err);
  }
  let broken: Error | undefined;
  try {
    await query(client, 'BEGIN');
    const out = await fn(client);
    await query(client, 'COMMIT');
    return out;
  } catch (err) {
    if (isUnavailable(err)) broken = err instanceof Error ? err : new Error(String(err));
    await client.query('ROLLBACK').catch(() => {
      broken ??= new Error('rollback failed');
    });
    throw toStoreError(err);
  } finally {
    // A connection that failed mid-transaction is discarded rather than handed to the next caller.
    client.release(broken);
  }
}

/** int8 columns come back as strings (they may exceed 2^53); ours are ms timestamps and counters. */
export const int = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
