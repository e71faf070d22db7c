// Assembles a running Latchkey from a configuration: stores, keys, revocation set, HTTP app.
import { randomBytes } from 'node:crypto';
import { RevocationFollower, RevocationSet, VerifiedTokenCache } from '@latchkey/core';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import type { AuthContext } from './auth/context.js';
import type { SecurityEventSink } from './auth/events.js';
import { hashPassword } from './auth/passwords.js';
import { buildApp, type AppPlugin } from './http/app.js';
import { KeyRing } from './keys/key-ring.js';
import { demoPlugins } from './demo.js';
import { openStores } from './store/open.js';

export interface Latchkey {
  app: FastifyInstance;
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
  const stores = await openStores(config);
  const keys = new KeyRing(stores.keys, config.alg, (config.accessTtlSec + config.clockLeewaySec) * 1000, now);
  await keys.init();
  const revoked = new RevocationSet(now);
  // The same follower verifiers use: subscribe, load, reload after every reconnect (with backoff).
  const follower = new RevocationFollower(stores.revocations, revoked, now, 1000);
  await follower.ready();
  // Security events are info lines: below that level (warn in production-like runs) the copy of
  // each event is not built at all (it was ~1 % of a refresh's CPU).
  const events: SecurityEventSink = (e) => {
    if (logger.isLevelEnabled('info')) logger.info({ ...e, security: true }, e.event);
  };
  const ctx: AuthContext = {
    config,
    stores,
    keys,
    revoked,
    events,
    now,
    dummyHash: await hashPassword(randomBytes(24).toString('base64url')),
    verifiedTokens: new VerifiedTokenCache(10_000),
  };
  const app = await buildApp(ctx, { logger, plugins: [...demoPlugins(config), ...(opts.plugins ?? [])] });
  const pruneTimer = setInterval(() => {
    try {
      stores.prune(now(), config.sessionIdleSec * 1000);
    } catch (err) {
      logger.warn({ err }, 'prune failed');
    }
  }, 10 * 60_000);
  pruneTimer.unref();
  // Instances sharing a key store pick up a key another instance created (an algorithm change
  // rolled out one instance at a time), so they verify its tokens too.
  const keyReloadTimer = setInterval(() => {
    keys.reload().catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'key reload failed'));
  }, 30_000);
  keyReloadTimer.unref();

  return {
    app,
    ctx,
    async close() {
      clearInterval(pruneTimer);
      clearInterval(keyReloadTimer);
      await app.close();
      await follower.close();
      await stores.close();
    },
  };
}
