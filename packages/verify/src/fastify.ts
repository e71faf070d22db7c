// Fastify adapter: verifies the Bearer token in onRequest (before the body is even read, so an
// unauthenticated caller cannot make us parse a large body) and puts the claims on `request.auth`.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { bearerTokenFrom, toRfc6750, VerifyError } from './errors.js';
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
  return async function latchkeyGuard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const token = bearerTokenFrom(req.headers.authorization);
    if (token === null) {
      await reject(reply, new VerifyError('invalid_token', 'missing_token'), realm);
      return;
    }
    try {
      req.auth = await verifier.verify(token);
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
