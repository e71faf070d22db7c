// Assembles a running Latchkey from a configuration: stores, keys, revocation set, HTTP app.
import { randomBytes } from 'node:crypto';
import { RevocationFollower, RevocationSet, VerifiedTokenCache, type RevocationSource } from '@latchkey/core';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { accessTokenHorizonMs, keyTimings, type AuthContext } from './auth/context.js';
import type { SecurityEventSink } from './auth/events.js';
import { passwordPolicy } from './auth/common-passwords.js';
import { BUSY_RETRY_AFTER_SEC, hashPassword, passwordHasher } from './auth/passwords.js';
import { Errors } from './domain/errors.js';
import { buildApp, type AppPlugin } from './http/app.js';
import { KeyRing } from './keys/key-ring.js';
import { demoPlugins } from './demo.js';
import { openStores } from './store/open.js';
import { describeStores } from './store/describe.js';
import { buildAdminApp } from './admin/app.js';
import { instrumentStores } from './metrics/instrument-stores.js';
import { createMailer } from './mail/mailer.js';
import { noopMetrics, prometheusMetrics, type Metrics } from './metrics/metrics.js';

export interface Latchkey {
  app: FastifyInstance;
  /** The management listener's app (/metrics, admin API); null when LATCHKEY_ADMIN_PORT is off. The caller listens on it. */
  admin: FastifyInstance | null;
  ctx: AuthContext;
  /** Stops accepting, lets in-flight requests finish, then closes the stores. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  now?: () => number;
  /** Registered after the API routes (the demo app uses this). */
  plugins?: AppPlugin[];
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    // Defence in depth: even if a header or body were ever logged, these never reach the output.
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.refresh_token', '*.access_token', '*.token'],
      censor: '[redacted]',
    },
  });
}

export async function createLatchkey(config: Config, opts: StartOptions = {}): Promise<Latchkey> {
  const logger = opts.logger ?? createLogger(config);
  const now = opts.now ?? Date.now;
  // Metrics are collected only where they can be read: with a management listener.
  const prometheus = config.adminPort === null ? null : prometheusMetrics();
  const metrics: Metrics = prometheus ?? noopMetrics;
  const stores = instrumentStores(await openStores(config), describeStores(config), metrics);
  const horizonMs = accessTokenHorizonMs(config);
  const keys = new KeyRing(stores.keys, config.alg, keyTimings(config), now);
  await keys.init();
  const revoked = new RevocationSet(now);
  // The same follower verifiers use: subscribe, load, reload after every reconnect (with backoff).
  const follower = new RevocationFollower(measuredFeed(stores.revocations, metrics, now, horizonMs), revoked, now, 1000);
  metrics.setSampler({ revokedSessions: () => revoked.size, storesUp: () => stores.health() });
  await follower.ready();
  // Security events are info lines: below that level (warn in production-like runs) the copy of
  // each event is not built at all (it was ~1 % of a refresh's CPU).
  const events: SecurityEventSink = (e) => {
    if (logger.isLevelEnabled('info')) logger.info({ ...e, security: true }, e.event);
  };
  passwordPolicy(); // loaded now rather than by the first sign-up
  const ctx: AuthContext = {
    config,
    stores,
    keys,
    revoked,
    events,
    metrics,
    now,
    dummyHash: await hashPassword(randomBytes(24).toString('base64url')),
    hasher: passwordHasher({ concurrency: config.hashConcurrency, depth: config.hashQueueDepth, busy: () => Errors.busy(BUSY_RETRY_AFTER_SEC) }),
    verifiedTokens: new VerifiedTokenCache(10_000),
    // Wall-clock time, not `now`: retries are scheduled on real timers (a test's clock stands still).
    mailer: createMailer(config, logger),
  };
  const app = await buildApp(ctx, { logger, plugins: [...demoPlugins(config), ...(opts.plugins ?? [])] });
  const admin = prometheus ? await buildAdminApp(ctx, { logger, metrics: prometheus }) : null;
  const pruneTimer = setInterval(() => {
    try {
      stores.prune(now(), config.sessionIdleSec * 1000);
    } catch (err) {
      logger.warn({ err }, 'prune failed');
    }
  }, 10 * 60_000);
  pruneTimer.unref();
  // Instances sharing a key store pick up keys another instance or the CLI added (a pending key or
  // MAC secret, an algorithm change rolled out one instance at a time) well before they are used:
  // the publish lead is at least two reloads. The scheduled rotation runs on every instance; the
  // store lets exactly one of them add the next key.
  const keyTick = async () => {
    await keys.reload();
    if (config.keyRotationSec === null) return;
    const r = await keys.rotateIfDue(config.keyRotationSec * 1000);
    const activatesAt = now() + config.keyPublishLeadSec * 1000;
    if (r.signing !== null) events({ event: 'keys.rotated', actor: 'schedule', keyKind: 'signing', keyId: r.signing, activatesAt });
    if (r.mac !== null) events({ event: 'keys.rotated', actor: 'schedule', keyKind: 'mac', keyId: String(r.mac), activatesAt });
  };
  await keyTick();
  let keyTickRunning = false;
  const keyReloadTimer = setInterval(() => {
    if (keyTickRunning) return;
    keyTickRunning = true;
    keyTick()
      .catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'key reload failed'))
      .finally(() => (keyTickRunning = false));
  }, config.keyReloadSec * 1000);
  keyReloadTimer.unref();

  return {
    app,
    admin,
    ctx,
    async close() {
      clearInterval(pruneTimer);
      clearInterval(keyReloadTimer);
      await Promise.all([app.close(), admin?.close()]);
      await follower.close();
      await ctx.mailer.close();
      await stores.close();
    },
  };
}

/**
 * The store's feed as the follower sees it, timing live messages for
 * latchkey_revocation_feed_lag_seconds: a revocation's `until` is its making time plus the
 * access-token horizon, so the lag is how much later than that horizon's start it arrived.
 */
function measuredFeed(feed: RevocationSource, metrics: Metrics, now: () => number, horizonMs: number): RevocationSource {
  if (!metrics.enabled) return feed;
  return {
    loadActive: (at) => feed.loadActive(at),
    subscribe: (onRevoked, onResync) =>
      feed.subscribe(
        (r, live) => {
          if (live === true) metrics.revocationReceived((now() - (r.until - horizonMs)) / 1000);
          onRevoked(r, live);
        },
        () => {
          metrics.revocationResync();
          onResync();
        },
      ),
  };
}
