import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../../auth/context.js';
import { publicUser } from '../../auth/credentials.js';
import { endAllSessions, endSession, listSessions, logout } from '../../auth/sessions.js';
import { Errors } from '../../domain/errors.js';
import { bearerGuard, claimsOf } from '../bearer.js';
import { endAllQuery, noQuery, sessionParams } from '../schemas.js';

export function accountRoutes(app: FastifyInstance, ctx: AuthContext): void {
  const guard = { onRequest: bearerGuard(ctx) };

  app.post('/auth/logout', guard, async (req, reply) => {
    const c = claimsOf(req);
    await logout(ctx, c.sub, c.sid);
    return reply.code(204).send();
  });

  app.get('/auth/me', { ...guard, schema: { querystring: noQuery } }, async (req) => {
    const user = await ctx.stores.users.findUserById(claimsOf(req).sub);
    if (!user) throw Errors.invalidToken();
    return { user: publicUser(user) };
  });

  app.get('/auth/sessions', { ...guard, schema: { querystring: noQuery } }, async (req) => {
    const c = claimsOf(req);
    return { sessions: await listSessions(ctx, c.sub, c.sid) };
  });

  app.delete<{ Params: { id: string } }>('/auth/sessions/:id', { ...guard, schema: { params: sessionParams } }, async (req, reply) => {
    await endSession(ctx, claimsOf(req).sub, req.params.id);
    return reply.code(204).send();
  });

  app.delete<{ Querystring: { others?: 'true' | 'false' } }>(
    '/auth/sessions',
    { ...guard, schema: { querystring: endAllQuery } },
    async (req, reply) => {
      const c = claimsOf(req);
      await endAllSessions(ctx, c.sub, req.query.others === 'true' ? c.sid : undefined);
      return reply.code(204).send();
    },
  );
}
