import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../../auth/context.js';
import { publicUser } from '../../auth/credentials.js';
import { endAllSessions, endSession, listSessions, logout, sessionPageQuery } from '../../auth/sessions.js';
import { Errors } from '../../domain/errors.js';
import { bearerGuard, claimsOf } from '../bearer.js';
import { BEARER_SECURITY } from '../openapi.js';
import {
  endAllQuery,
  endAllSessionsResponses,
  endSessionResponses,
  logoutResponses,
  meResponses,
  noQuery,
  sessionParams,
  sessionsQuery,
  sessionsResponses,
} from '../schemas.js';

const doc = { tags: ['account'], security: BEARER_SECURITY };
const logoutSchema = { ...doc, operationId: 'logout', summary: 'End the caller’s session', response: logoutResponses };
const meSchema = { ...doc, operationId: 'me', summary: 'The caller’s user record', querystring: noQuery, response: meResponses };
const sessionsSchema = { ...doc, operationId: 'listSessions', summary: 'The caller’s sessions, a page at a time (oldest first)', querystring: sessionsQuery, response: sessionsResponses };
const endSessionSchema = { ...doc, operationId: 'endSession', summary: 'End one of the caller’s sessions', params: sessionParams, response: endSessionResponses };
const endAllSchema = {
  ...doc,
  operationId: 'endAllSessions',
  summary: 'End all the caller’s sessions (?others=true: all but the caller’s own)',
  querystring: endAllQuery,
  response: endAllSessionsResponses,
};

export function accountRoutes(app: FastifyInstance, ctx: AuthContext): void {
  const guard = { onRequest: bearerGuard(ctx) };

  app.post('/auth/logout', { ...guard, schema: logoutSchema }, async (req, reply) => {
    const c = claimsOf(req);
    await logout(ctx, c.sub, c.sid);
    return reply.code(204).send();
  });

  app.get('/auth/me', { ...guard, schema: meSchema }, async (req) => {
    const user = await ctx.stores.users.findUserById(claimsOf(req).sub);
    if (!user) throw Errors.invalidToken();
    return { user: publicUser(user) };
  });

  app.get<{ Querystring: { limit?: string; cursor?: string } }>('/auth/sessions', { ...guard, schema: sessionsSchema }, async (req) => {
    const c = claimsOf(req);
    return listSessions(ctx, c.sub, c.sid, sessionPageQuery(req.query));
  });

  app.delete<{ Params: { id: string } }>('/auth/sessions/:id', { ...guard, schema: endSessionSchema }, async (req, reply) => {
    await endSession(ctx, claimsOf(req).sub, req.params.id);
    return reply.code(204).send();
  });

  app.delete<{ Querystring: { others?: 'true' | 'false' } }>(
    '/auth/sessions',
    { ...guard, schema: endAllSchema },
    async (req, reply) => {
      const c = claimsOf(req);
      await endAllSessions(ctx, c.sub, req.query.others === 'true' ? c.sid : undefined);
      return reply.code(204).send();
    },
  );
}
