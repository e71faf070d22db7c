// The Fastify app: parsing, validation, headers and routing only. Every decision lives in auth/.
import formbody from '@fastify/formbody';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuthContext } from '../auth/context.js';
import { assertNoDuplicateKeys } from '@latchkey/core';
import { clientErrorHandler, errorHandler, errorReasonOf, sendError } from './errors.js';
import { openApiRoute, registerOpenApi } from './openapi.js';
import { accountRoutes } from './routes/account.js';
import { authRoutes } from './routes/auth.js';
import { lifecycleRoutes } from './routes/lifecycle.js';
import { healthRoutes } from './routes/health.js';
import { registerCors, sameOriginOrListed } from './origins.js';
import { wellKnownRoutes } from './routes/well-known.js';

export type AppPlugin = (app: FastifyInstance, ctx: AuthContext) => void | Promise<void>;

export interface AppOptions {
  logger: Logger;
  /** Extra routes (the demo app) registered by the caller. */
  plugins?: Array<AppPlugin>;
}

/**
 * One request's log line (ASVS 5.0 V16.2): the route pattern, never the raw URL with its query; for
 * an unmatched route its path only (cut to 200 characters); the stable reason of a refusal; the
 * client IP as LATCHKEY_TRUST_PROXY sees it. Never a header, body, token or email.
 */
function requestLine(req: FastifyRequest, reply: FastifyReply, route: string): Record<string, unknown> {
  const line: Record<string, unknown> = { method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime), ip: req.ip };
  const reason = errorReasonOf(reply);
  if (reason !== null) line.reason = reason;
  if (route === 'unmatched') line.path = req.url.split('?', 1)[0]!.slice(0, 200);
  return line;
}

/** Headers every response carries; also applied where Fastify answers without running onSend hooks. */
function hardenHeaders(reply: FastifyReply): void {
  reply.header('X-Content-Type-Options', 'nosniff');
  // RFC 6749 §5.1 and ASVS 5.0 V14.3: nothing carrying tokens or user data may be cached.
  if (!reply.hasHeader('Cache-Control')) {
    reply.header('Cache-Control', 'no-store');
    reply.header('Pragma', 'no-cache');
  }
  if (!reply.hasHeader('Content-Security-Policy')) reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  reply.header('Referrer-Policy', 'no-referrer');
}

export async function buildApp(ctx: AuthContext, opts: AppOptions): Promise<FastifyInstance> {
  const requestTimeout = ctx.config.requestTimeoutSec * 1000;
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    // A per-request child logger (for reqId) costs a redaction pass over its bindings on every
    // request; it is only worth it when per-request lines are logged at all (level info).
    childLoggerFactory: (logger, bindings, childOpts) => (opts.logger.isLevelEnabled('info') ? logger.child(bindings, childOpts) : logger),
    bodyLimit: ctx.config.bodyLimitBytes,
    trustProxy: ctx.config.trustProxy,
    // Prototype-poisoning payloads are refused, not silently stripped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    requestTimeout,
    connectionTimeout: 60_000,
    // Node only looks for timed-out requests every connectionsCheckingInterval (30 s by default),
    // which would let a slow client hold its connection far past requestTimeout.
    http: { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(30_000, Math.max(250, requestTimeout / 4)) },
    clientErrorHandler,
    // A bad URL (e.g. `%ZZ`) or an over-long path parameter otherwise gets Fastify's own body,
    // which echoes the path and names internals. These replies skip the onSend hooks.
    frameworkErrors: (err, req, reply) => {
      hardenHeaders(reply as FastifyReply);
      return errorHandler(err, req as FastifyRequest, reply as FastifyReply);
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // Our own onResponse line logs the route pattern only: never a query string, which could
    // carry something secret by mistake.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.decorateRequest('claims', null);
  await registerOpenApi(app);
  await app.register(formbody, { bodyLimit: ctx.config.bodyLimitBytes });
  // Form and JSON only: text/plain (a CORS-simple type Fastify parses by default) is a 415.
  // A JSON body naming a member twice is a parameter given twice (RFC 6749 §3.2): JSON.parse
  // would keep the last, while a proxy or WAF in front may have judged the first.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, raw, done) => {
    const body = raw as string;
    parseJson(req, body, (err, value) => {
      if (err) return done(err, undefined);
      try {
        assertNoDuplicateKeys(body);
      } catch {
        return done(Object.assign(new Error('JSON body repeats a member or nests too deep'), { statusCode: 400 }), undefined);
      }
      done(null, value);
    });
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((_req, reply) => sendError(reply, 'not_found', 'not_found', 'not found'));

  // Graceful shutdown: a keep-alive connection that was busy when close began would otherwise
  // stay open and hold the process; the response that finishes it also closes it.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  // Callback-style hooks: an async hook costs a promise per request on every route.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('Connection', 'close');
    hardenHeaders(reply);
    done(null, payload);
  });
  const logRequests = opts.logger.isLevelEnabled('info');
  if (logRequests || ctx.metrics.enabled) {
    app.addHook('onResponse', (req, reply, done) => {
      const route = req.routeOptions.url ?? 'unmatched';
      if (ctx.metrics.enabled) ctx.metrics.request(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
      if (logRequests) req.log.info(requestLine(req, reply, route), 'request');
      done();
    });
  }

  await registerCors(app, ctx.config);
  // Every /auth/ route takes credentials or acts on an account: foreign browser origins are refused.
  const originGuard = sameOriginOrListed(ctx.config);
  app.addHook('onRequest', (req, reply, done) => (req.url.startsWith('/auth/') ? originGuard(req, reply, done) : done()));

  authRoutes(app, ctx);
  accountRoutes(app, ctx);
  lifecycleRoutes(app, ctx);
  wellKnownRoutes(app, ctx);
  healthRoutes(app, ctx);
  openApiRoute(app);
  for (const p of opts.plugins ?? []) await p(app, ctx);
  return app;
}
