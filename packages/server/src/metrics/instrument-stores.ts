// Times every store round trip for latchkey_store_operation_duration_seconds, by wrapping the
// store objects' methods once at start (not a Proxy per call). Subscriptions and health checks are
// not round trips of the request path and are left alone.
import type { Stores } from '../store/types.js';
import type { StoreDescription } from '../store/describe.js';
import type { Metrics } from './metrics.js';

type AnyAsync = (...args: unknown[]) => Promise<unknown>;

function timed<T extends object>(target: T, store: string, metrics: Metrics, skip: ReadonlySet<string> = new Set()): T {
  const out = Object.create(target) as Record<string, unknown>;
  for (const name of Object.keys(target)) {
    const fn = (target as Record<string, unknown>)[name];
    if (typeof fn !== 'function' || skip.has(name)) continue;
    const call = fn as AnyAsync;
    out[name] = function (this: unknown, ...args: unknown[]) {
      const started = performance.now();
      const settle = (ok: boolean) => metrics.storeCall(store, name, (performance.now() - started) / 1000, ok);
      const result = call.apply(target, args);
      // Synchronous methods (none on the request path today) are passed through untimed.
      if (!(result instanceof Promise)) return result;
      return result.then(
        (v) => {
          settle(true);
          return v;
        },
        (e: unknown) => {
          settle(false);
          throw e;
        },
      );
    };
  }
  return out as T;
}

export function instrumentStores<S extends Stores>(stores: S, where: StoreDescription, metrics: Metrics): S {
  if (!metrics.enabled) return stores;
  const sessionStore = where.sessions === 'redis-cluster' ? 'redis' : where.sessions;
  return {
    ...stores,
    users: timed(stores.users, where.users, metrics),
    keys: timed(stores.keys, where.users, metrics),
    accountTokens: timed(stores.accountTokens, where.users, metrics),
    sessions: timed(stores.sessions, sessionStore, metrics),
    rateLimits: timed(stores.rateLimits, sessionStore, metrics),
    proofs: timed(stores.proofs, sessionStore, metrics),
    revocations: timed(stores.revocations, sessionStore, metrics, new Set(['subscribe'])),
  };
}
