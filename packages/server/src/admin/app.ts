// The management listener: /metrics and the admin API, on their own port (LATCHKEY_ADMIN_HOST /
// LATCHKEY_ADMIN_PORT, loopback by default), never the public one, so a firewall mistake on the
// public side cannot expose them and a public route can never be reached through them.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AuthContext } from '../auth/context.js';
import type { PrometheusMetrics } from '../metrics/metrics.js';
import { errorHandler, sendError } from '../http/errors.js';
import { adminRoutes } from './routes.js';

export type AdminPlugin = (app: FastifyInstance, ctx: AuthContext) => void | Promise<void>;

export async function buildAdminApp(ctx: AuthContext, opts: { logger: Logger; metrics: PrometheusMetrics; plugins?: AdminPlugin[] }): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger.child({ listener: 'admin' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  });
  // The public API's error bodies and reasons: {error, error_description, reason}.
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((_req, reply) => sendError(reply, 'not_found', 'not_found', 'not found'));
  app.addHook('onResponse', (req, reply, done) => {
    // One line per admin call (the security events say what was done and by which key).
    if (req.url !== '/metrics') req.log.info({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: reply.statusCode, ip: req.ip }, 'admin request');
    done();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.header('Cache-Control', 'no-store');
    reply.header('X-Content-Type-Options', 'nosniff');
    done(null, payload);
  });
  // Prometheus text exposition format 0.0.4; scrapers need no credentials on this listener.
  app.get('/metrics', async (_req, reply) => {
    return reply.type(opts.metrics.contentType).send(await opts.metrics.scrape());
  });
  adminRoutes(app, ctx);
  for (const p of opts.plugins ?? []) await p(app, ctx);
  return app;
}
