// Fastify adapter: verifies the Bearer or DPoP credentials in onRequest (before the body is even
// read, so an unauthenticated caller cannot make us parse a large body) and puts the claims on
// `request.auth`.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { toRfc6750, VerifyError } from './errors.js';
import { checkPublicUrl, publicRequestUrl } from './request-url.js';
import type { VerifiedClaims, Verifier } from './verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified access token's claims; null on routes the guard does not cover. */
    auth: VerifiedClaims | null;
  }
  interface FastifyContextConfig {
    /** `false` exempts the route from the plugin's guard (a public route). */
    auth?: boolean;
  }
}

export interface FastifyGuardOptions {
  verifier: Verifier;
  /** RFC 6750 §3 realm in the challenge. */
  realm?: string;
  /**
   * The API's public base URL (e.g. `https://api.example.com`, or with a path prefix), which DPoP
   * proofs name in `htu`. Set it behind a proxy. Default: Fastify's `request.protocol` and
   * `request.host`, which trust the Host header (and X-Forwarded-Proto/-Host when Fastify's
   * `trustProxy` says so).
   */
  publicUrl?: string;
}

export interface LatchkeyFastifyOptions extends FastifyGuardOptions {
  /**
   * Guard every route of the scope the plugin is registered in (default true); a route opts out
   * with `config: { auth: false }`. With false, add `fastifyGuard(...)` to routes yourself.
   */
  global?: boolean;
}

async function reject(reply: FastifyReply, err: VerifyError, realm: string | undefined): Promise<FastifyReply> {
  const r = toRfc6750(err, { realm });
  return reply.code(r.status).headers(r.headers).send(r.body);
}

/** A route hook (`onRequest` or `preHandler`) that requires a valid access token. */
export function fastifyGuard(opts: FastifyGuardOptions) {
  const { verifier, realm } = opts;
  toRfc6750(new VerifyError('invalid_token', 'malformed'), { realm }); // a bad realm fails at setup, not per request
  const publicUrl = checkPublicUrl(opts.publicUrl, 'latchkeyFastify');
  return async function latchkeyGuard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      req.auth = await verifier.verifyRequest({
        authorization: req.headers.authorization,
        dpop: req.headers.dpop,
        method: req.method,
        // req.url is the whole request target, whatever prefix the route was registered under.
        url: publicRequestUrl(publicUrl, req.protocol, req.host, req.url),
      });
    } catch (e) {
      if (!(e instanceof VerifyError)) throw e;
      await reject(reply, e, realm);
    }
  };
}

const plugin: FastifyPluginAsync<LatchkeyFastifyOptions> = async (app, opts) => {
  if (!app.hasRequestDecorator('auth')) app.decorateRequest('auth', null);
  if (opts.global === false) return;
  const guard = fastifyGuard(opts);
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config?.auth === false) return;
    await guard(req, reply);
  });
};
// Not encapsulated (what fastify-plugin does): the decoration and guard apply to the scope that
// registers the plugin, so `app.register(latchkeyFastify, ...)` protects the routes beside it.
(plugin as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')] = 'latchkey-verify';

/** `await app.register(latchkeyFastify, { verifier })`: every route in that scope requires a valid token. */
export const latchkeyFastify = plugin;
