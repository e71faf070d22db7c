// Login rate limits in PostgreSQL (ASVS 5.0 V6.3.1), for deployments without Redis: one upsert per
// hit, so concurrent failures of one account on several instances each count exactly once.
import type pg from 'pg';
import type { RateLimitStore } from '../types.js';
import { int, query } from './pool.js';

export interface PostgresRateLimitStore extends RateLimitStore {
  prune(now: number): Promise<void>;
}

export function postgresRateLimitStore(pool: pg.Pool): PostgresRateLimitStore {
  return {
    async hit(key, windowMs, now) {
      // A lapsed window restarts at this hit, as if its row had expired.
      const { rows } = await query<{ count: number; reset_at: string }>(
        pool,
        `INSERT INTO rate_limits AS r (key, count, reset_at) VALUES ($1, 1, $2::int8 + $3::int8)
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN r.reset_at <= $2::int8 THEN 1 ELSE r.count + 1 END,
           reset_at = CASE WHEN r.reset_at <= $2::int8 THEN $2::int8 + $3::int8 ELSE r.reset_at END
         RETURNING count, reset_at`,
        [key, now, windowMs],
      );
      return { count: rows[0]!.count, resetAt: int(rows[0]!.reset_at) };
    },
    async peek(key, now) {
      const { rows } = await query<{ count: number; reset_at: string }>(pool, 'SELECT count, reset_at FROM rate_limits WHERE key = $1 AND reset_at > $2', [
        key,
        now,
      ]);
      return rows[0] ? { count: rows[0].count, resetAt: int(rows[0].reset_at) } : null;
    },
    async reset(key) {
      await query(pool, 'DELETE FROM rate_limits WHERE key = $1', [key]);
    },
    async undo(key, now) {
      // Each statement is atomic under the row lock: the decrement never goes below 0, and the
      // removal only takes a row that is still at 0 (a hit in between keeps it).
      const { rowCount } = await query(pool, 'UPDATE rate_limits SET count = count - 1 WHERE key = $1 AND reset_at > $2::int8 AND count > 0', [key, now]);
      if (rowCount) await query(pool, 'DELETE FROM rate_limits WHERE key = $1 AND count <= 0', [key]);
    },
    async prune(now) {
      await query(pool, 'DELETE FROM rate_limits WHERE reset_at <= $1', [now]);
    },
  };
}
