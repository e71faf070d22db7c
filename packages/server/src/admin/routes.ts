// The admin API (management listener only): the same operations as the `latchkey` CLI, through
// the same use cases (auth/admin.ts). Every route needs an admin API key, `Authorization: Bearer
// lka_…`; every action is a security event naming the key.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthContext } from '../auth/context.js';
import {
  authenticateAdmin,
  createAdminKey,
  deleteUser,
  disableUser,
  enableUser,
  endAllUserSessions,
  endUserSession,
  listAdminKeys,
  listKeys,
  listUserSessions,
  listUsers,
  MAX_PAGE,
  revokeAdminKey,
  rotateMacKeyNow,
  rotateSigningKeyNow,
  showUser,
  type Actor,
} from '../auth/admin.js';
import { sessionPageQuery } from '../auth/sessions.js';

const id = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } as const;
const userParams = { type: 'object', required: ['id'], properties: { id }, additionalProperties: false } as const;
const sessionParams = { type: 'object', required: ['id', 'sid'], properties: { id, sid: id }, additionalProperties: false } as const;
const listQuery = {
  type: 'object',
  properties: {
    limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
    after: { type: 'string', maxLength: 254 },
    email: { type: 'string', minLength: 1, maxLength: 254 },
  },
  additionalProperties: false,
} as const;
const sessionsQuery = {
  type: 'object',
  properties: { limit: { type: 'string', maxLength: 8 }, cursor: { type: 'string', maxLength: 64 } },
  additionalProperties: false,
} as const;
const keyBody = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, additionalProperties: false } as const;

declare module 'fastify' {
  interface FastifyRequest {
    adminActor: Actor | null;
  }
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string' || h.slice(0, 7).toLowerCase() !== 'bearer ') return null;
  return h.slice(7).trim() || null;
}

export function adminRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.decorateRequest('adminActor', null);
  app.register(async (admin) => {
    admin.addHook('onRequest', async (req) => {
      req.adminActor = await authenticateAdmin(ctx, bearer(req));
    });
    const actor = (req: FastifyRequest) => req.adminActor!;
    type P = { Params: { id: string } };

    admin.get<{ Querystring: { limit?: string; after?: string; email?: string } }>('/admin/users', { schema: { querystring: listQuery } }, async (req) =>
      listUsers(ctx, { limit: Math.min(Number(req.query.limit ?? 50), MAX_PAGE), after: req.query.after ?? null, email: req.query.email ?? null }),
    );
    admin.get<P>('/admin/users/:id', { schema: { params: userParams } }, async (req) => ({ user: await showUser(ctx, req.params.id) }));
    admin.post<P>('/admin/users/:id/disable', { schema: { params: userParams } }, async (req) => ({ user: await disableUser(ctx, req.params.id, actor(req)) }));
    admin.post<P>('/admin/users/:id/enable', { schema: { params: userParams } }, async (req) => ({ user: await enableUser(ctx, req.params.id, actor(req)) }));
    admin.delete<P>('/admin/users/:id', { schema: { params: userParams } }, async (req) => deleteUser(ctx, req.params.id, actor(req)));
    admin.get<P & { Querystring: { limit?: string; cursor?: string } }>('/admin/users/:id/sessions', { schema: { params: userParams, querystring: sessionsQuery } }, async (req) =>
      listUserSessions(ctx, req.params.id, sessionPageQuery(req.query)),
    );
    admin.delete<P>('/admin/users/:id/sessions', { schema: { params: userParams } }, async (req) => endAllUserSessions(ctx, req.params.id, actor(req)));
    admin.delete<{ Params: { id: string; sid: string } }>('/admin/users/:id/sessions/:sid', { schema: { params: sessionParams } }, async (req, reply) => {
      await endUserSession(ctx, req.params.id, req.params.sid, actor(req));
      return reply.code(204).send();
    });
    admin.get('/admin/keys', async () => ({ keys: await listKeys(ctx) }));
    // 201 with the new pending key; 200 with rotated: false and the key already pending.
    admin.post('/admin/keys/rotate', async (req, reply) => {
      const r = await rotateSigningKeyNow(ctx, actor(req));
      return reply.code(r.rotated ? 201 : 200).send({ rotation: r });
    });
    admin.post('/admin/keys/rotate-mac', async (req, reply) => {
      const r = await rotateMacKeyNow(ctx, actor(req));
      return reply.code(r.rotated ? 201 : 200).send({ rotation: r });
    });
    admin.get('/admin/admin-keys', async () => ({ adminKeys: await listAdminKeys(ctx) }));
    admin.post<{ Body: { name: string } }>('/admin/admin-keys', { schema: { body: keyBody } }, async (req, reply) =>
      reply.code(201).send({ adminKey: await createAdminKey(ctx, req.body.name, actor(req)) }),
    );
    admin.delete<P>('/admin/admin-keys/:id', { schema: { params: userParams } }, async (req, reply) => {
      await revokeAdminKey(ctx, req.params.id, actor(req));
      return reply.code(204).send();
    });
  });
}
