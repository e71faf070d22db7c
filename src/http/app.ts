// The Fastify app: parsing, validation, headers and routing only. Every decision lives in auth/.
import formbody from '@fastify/formbody';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AuthContext } from '../auth/context.ts';
import { errorHandler } from './errors.ts';
import { accountRoutes } from './routes/account.ts';
import { authRoutes } from './routes/auth.ts';
import { healthRoutes } from './routes/health.ts';
import { wellKnownRoutes } from './routes/well-known.ts';

export interface AppOptions {
  logger: Logger;
  /** Extra routes (the demo app) registered by the caller. */
  plugins?: Array<(app: FastifyInstance) => void | Promise<void>>;
}

export async function buildApp(ctx: AuthContext, opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    bodyLimit: ctx.config.bodyLimitBytes,
    trustProxy: ctx.config.trustProxy,
    // Prototype-poisoning payloads are refused, not silently stripped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // Our own onResponse line logs the route pattern only: never a query string, which could
    // carry something secret by mistake.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.decorateRequest('claims', null);
  await app.register(formbody, { bodyLimit: ctx.config.bodyLimitBytes });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not_found', error_description: 'not found' }));

  // Graceful shutdown: a keep-alive connection that was busy when close began would otherwise
  // stay open and hold the process; the response that finishes it also closes it.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  app.addHook('onSend', async (req, reply, payload) => {
    if (closing) reply.header('Connection', 'close');
    reply.header('X-Content-Type-Options', 'nosniff');
    // RFC 6749 §5.1 and ASVS 5.0 V14.3: nothing carrying tokens or user data may be cached.
    if (!reply.hasHeader('Cache-Control')) {
      reply.header('Cache-Control', 'no-store');
      reply.header('Pragma', 'no-cache');
    }
    if (!reply.hasHeader('Content-Security-Policy')) reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    reply.header('Referrer-Policy', 'no-referrer');
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  authRoutes(app, ctx);
  accountRoutes(app, ctx);
  wellKnownRoutes(app, ctx);
  healthRoutes(app, ctx);
  for (const p of opts.plugins ?? []) await p(app);
  return app;
}
