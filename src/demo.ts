// The demo web app (web/): a page that walks through the whole flow in a real browser, served
// by the server itself. Its script is the client library bundled on first request.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import type { AuthContext } from './auth/context.ts';
import type { AppPlugin } from './http/app.ts';
import { bearerGuard, claimsOf } from './http/bearer.ts';

const WEB = join(import.meta.dirname, '..', 'web');
// The page only loads its own script and style, and calls its own origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

let bundle: Promise<string> | null = null;
async function appBundle(): Promise<string> {
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [join(WEB, 'app.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    minify: true,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

function demoRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.get('/', async (_req, reply) => reply.redirect('/demo/'));
  app.get('/demo', async (_req, reply) => reply.redirect('/demo/'));

  app.get('/demo/', async (_req, reply) => {
    reply.header('Content-Security-Policy', CSP).header('Cache-Control', 'no-cache').type('text/html; charset=utf-8');
    return readFile(join(WEB, 'index.html'), 'utf8');
  });
  app.get('/demo/style.css', async (_req, reply) => {
    reply.header('Cache-Control', 'no-cache').type('text/css; charset=utf-8');
    return readFile(join(WEB, 'style.css'), 'utf8');
  });
  app.get('/demo/app.js', async (_req, reply) => {
    bundle ??= appBundle().catch((e: unknown) => {
      bundle = null;
      throw e;
    });
    reply.header('Cache-Control', 'no-cache').type('text/javascript; charset=utf-8');
    return bundle;
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
