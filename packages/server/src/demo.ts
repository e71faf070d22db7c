// The demo web app (web/ in the repository): a page that walks through the whole flow in a real
// browser, served by the server itself. The build (scripts/build-demo.mjs) bundles it with the
// client library into ../demo/, which the package ships.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Config } from './config.js';
import type { AuthContext } from './auth/context.js';
import type { AppPlugin } from './http/app.js';
import { bearerGuard, claimsOf } from './http/bearer.js';

// One level up from both src/ (tests on sources) and dist/ (the installed package).
const DEMO = join(import.meta.dirname, '..', 'demo');
// The page only loads its own script and style, and calls its own origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const LOOPBACK = ['127.0.0.1', '::1', '::ffff:127.0.0.1'];

function demoRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.get('/', async (_req, reply) => reply.redirect('/demo/'));
  app.get('/demo', async (_req, reply) => reply.redirect('/demo/'));

  const page = async (_req: unknown, reply: FastifyReply) => {
    reply.header('Content-Security-Policy', CSP).header('Cache-Control', 'no-cache').type('text/html; charset=utf-8');
    return readFile(join(DEMO, 'index.html'), 'utf8');
  };
  app.get('/demo/', page);
  // Where the default LATCHKEY_APP_URL's links land: the same page, which reads `token` from the query.
  app.get('/demo/verify-email', page);
  app.get('/demo/reset-password', page);
  app.get('/demo/style.css', async (_req, reply) => {
    reply.header('Cache-Control', 'no-cache').type('text/css; charset=utf-8');
    return readFile(join(DEMO, 'style.css'), 'utf8');
  });
  app.get('/demo/app.js', async (_req, reply) => {
    reply.header('Cache-Control', 'no-cache').type('text/javascript; charset=utf-8');
    return readFile(join(DEMO, 'app.js'), 'utf8');
  });

  // The dev outbox (no LATCHKEY_SMTP_URL): the messages' links carry tokens that sign in as their
  // recipients, so only a caller on this machine may list them: a loopback peer, asking for a
  // loopback host name, with no sign of a proxy in between (a relay on the same host is a loopback
  // peer too; none of these headers is trusted for anything else here).
  app.get('/demo/api/outbox', async (req, reply) => {
    const outbox = ctx.mailer.outbox;
    const peer = req.socket.remoteAddress ?? '';
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const relayed = ['x-forwarded-for', 'x-forwarded-host', 'x-real-ip', 'forwarded', 'via'].some((h) => req.headers[h] !== undefined);
    const local = LOOPBACK.includes(peer) && ['localhost', '127.0.0.1', '[::1]'].includes(host) && !relayed;
    if (outbox === null || !local) return reply.code(404).send({ error: 'not_found', error_description: 'not found', reason: 'not_found' });
    return { messages: outbox.list() };
  });

  // The "protected API" the page calls on a timer: any Bearer-protected route would do.
  app.get('/demo/api/ping', { onRequest: bearerGuard(ctx) }, async (req) => {
    const c = claimsOf(req);
    return { ok: true, sessionId: c.sid, expiresAt: c.exp, serverTime: Math.floor(ctx.now() / 1000) };
  });
}

export function demoPlugins(config: Config): AppPlugin[] {
  return config.demo ? [demoRoutes] : [];
}
