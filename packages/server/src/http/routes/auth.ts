import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { nonceToOffer } from '../../auth/dpop.js';
import { dpopRequest } from '../dpop-request.js';
import type { AuthContext } from '../../auth/context.js';
import { login, signup } from '../../auth/credentials.js';
import { refresh } from '../../auth/refresh.js';
import { revokeRefreshToken } from '../../auth/sessions.js';
import type { ClientInfo } from '../../auth/start-session.js';
import { AuthError, Errors } from '../../domain/errors.js';
import { sendError } from '../errors.js';
import { resolveClientId } from '../client-id.js';
import { loginBody, loginResponses, revokeBody, revokeResponses, signupBody, signupResponses, tokenBody, tokenResponses } from '../schemas.js';

interface Credentials {
  email: string;
  password: string;
  client_id?: string;
}

// formbody is registered app-wide, so every body route takes both.
const consumes = ['application/json', 'application/x-www-form-urlencoded'];
const tags = ['auth'];

const signupSchema = { tags, operationId: 'signup', summary: 'Create an account and its first session', consumes, body: signupBody, response: signupResponses };

const loginSchema = {
  tags,
  operationId: 'login',
  summary: 'Log in: a new session',
  description:
    'A first-party login endpoint, not the OAuth password grant. Failed attempts are limited per account and source, per account, and per source.',
  consumes,
  body: loginBody,
  response: loginResponses,
};

const tokenSchema = {
  tags,
  operationId: 'token',
  summary: 'RFC 6749 token endpoint: refresh, rotating the refresh token',
  description:
    'grant_type=refresh_token only. A refresh token is single-use: its successor comes back with a new access token. Replaying an older one ' +
    '(after the LATCHKEY_REUSE_GRACE window) revokes the whole session. A refresh token is bound to the client_id it was issued to.',
  consumes,
  body: tokenBody,
  response: tokenResponses,
};

const revokeSchema = { tags, operationId: 'revoke', summary: 'RFC 7009 revocation of a refresh token: ends its session', consumes, body: revokeBody, response: revokeResponses };

function clientInfo(ctx: AuthContext, req: FastifyRequest, given: string | undefined): ClientInfo {
  return { clientId: resolveClientId(ctx.config, given), userAgent: req.headers['user-agent'], ip: req.ip, dpop: dpopRequest(req) };
}

/** §8.1: every answer of these endpoints, errors included, carries the nonce for the next proof. */
function offerNonce(ctx: AuthContext, reply: FastifyReply): void {
  const nonce = nonceToOffer(ctx);
  if (nonce) reply.header('DPoP-Nonce', nonce);
}

export function authRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.post<{ Body: Credentials }>('/auth/signup', { schema: signupSchema }, async (req, reply) => {
    offerNonce(ctx, reply);
    const result = await signup(ctx, req.body, clientInfo(ctx, req, req.body.client_id));
    // 202: the account exists but waits for its address (LATCHKEY_REQUIRE_VERIFIED_EMAIL).
    return reply.code(result.access_token === undefined ? 202 : 201).send(result);
  });

  // Not the OAuth password grant (RFC 9700 §2.4 forbids it): a first-party login endpoint.
  app.post<{ Body: Credentials }>('/auth/login', { schema: loginSchema }, async (req, reply) => {
    offerNonce(ctx, reply);
    return login(ctx, req.body, clientInfo(ctx, req, req.body.client_id));
  });

  app.post<{ Body: { grant_type: string; refresh_token?: string; client_id?: string } }>(
    '/auth/token',
    { schema: tokenSchema },
    async (req, reply) => {
      offerNonce(ctx, reply);
      const { grant_type, refresh_token, client_id } = req.body;
      if (grant_type !== 'refresh_token') {
        throw Errors.unsupportedGrant();
      }
      if (refresh_token === undefined) throw Errors.invalidRequest('refresh_token is required');
      const result = await refresh(ctx, refresh_token, resolveClientId(ctx.config, client_id), dpopRequest(req));
      return result instanceof AuthError ? sendError(reply, result.code, result.reason, result.publicDescription) : result;
    },
  );

  // RFC 7009 §2.2: 200 whether or not the token was known or valid.
  app.post<{ Body: { token: string; client_id?: string } }>('/auth/revoke', { schema: revokeSchema }, async (req, reply) => {
    await revokeRefreshToken(ctx, req.body.token, resolveClientId(ctx.config, req.body.client_id));
    return reply.code(200).send({});
  });
}
