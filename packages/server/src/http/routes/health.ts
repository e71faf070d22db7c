import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../../auth/context.js';
import { healthResponses } from '../schemas.js';

const healthSchema = { tags: ['operations'], operationId: 'health', summary: 'Whether the process and its stores answer', response: healthResponses };

export function healthRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.get('/healthz', { schema: healthSchema }, async (_req, reply) => {
    const checks = await ctx.stores.health();
    const ok = checks.every((c) => c.ok);
    return reply.code(ok ? 200 : 503).send({
      status: ok ? 'ok' : 'degraded',
      checks: Object.fromEntries(checks.map((c) => [c.name, c.ok ? 'ok' : 'down'])),
    });
  });
}
