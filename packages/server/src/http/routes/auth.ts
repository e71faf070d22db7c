import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthContext } from '../../auth/context.js';
import { login, signup } from '../../auth/credentials.js';
import { refresh } from '../../auth/refresh.js';
import { revokeRefreshToken } from '../../auth/sessions.js';
import type { ClientInfo } from '../../auth/start-session.js';
import { AuthError, Errors } from '../../domain/errors.js';
import { sendError } from '../errors.js';
import { resolveClientId } from '../client-id.js';
import { loginBody, revokeBody, signupBody, tokenBody } from '../schemas.js';

interface Credentials {
  email: string;
  password: string;
  client_id?: string;
}

function clientInfo(ctx: AuthContext, req: FastifyRequest, given: string | undefined): ClientInfo {
  return { clientId: resolveClientId(ctx.config, given), userAgent: req.headers['user-agent'], ip: req.ip };
}

export function authRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.post<{ Body: Credentials }>('/auth/signup', { schema: { body: signupBody } }, async (req, reply) => {
    const result = await signup(ctx, req.body, clientInfo(ctx, req, req.body.client_id));
    return reply.code(201).send(result);
  });

  // Not the OAuth password grant (RFC 9700 §2.4 forbids it): a first-party login endpoint.
  app.post<{ Body: Credentials }>('/auth/login', { schema: { body: loginBody } }, async (req) => {
    return login(ctx, req.body, clientInfo(ctx, req, req.body.client_id));
  });

  app.post<{ Body: { grant_type: string; refresh_token?: string; client_id?: string } }>(
    '/auth/token',
    { schema: { body: tokenBody } },
    async (req, reply) => {
      const { grant_type, refresh_token, client_id } = req.body;
      if (grant_type !== 'refresh_token') {
        throw Errors.unsupportedGrant();
      }
      if (refresh_token === undefined) throw Errors.invalidRequest('refresh_token is required');
      const result = await refresh(ctx, refresh_token, resolveClientId(ctx.config, client_id));
      return result instanceof AuthError ? sendError(reply, result.code, result.reason, result.publicDescription) : result;
    },
  );

  // RFC 7009 §2.2: 200 whether or not the token was known or valid.
  app.post<{ Body: { token: string; client_id?: string } }>('/auth/revoke', { schema: { body: revokeBody } }, async (req, reply) => {
    await revokeRefreshToken(ctx, req.body.token, resolveClientId(ctx.config, req.body.client_id));
    return reply.code(200).send({});
  });
}
