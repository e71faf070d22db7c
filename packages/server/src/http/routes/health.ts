import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../../auth/context.js';

export function healthRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.get('/healthz', async (_req, reply) => {
    const checks = await ctx.stores.health();
    const ok = checks.every((c) => c.ok);
    return reply.code(ok ? 200 : 503).send({
      status: ok ? 'ok' : 'degraded',
      checks: Object.fromEntries(checks.map((c) => [c.name, c.ok ? 'ok' : 'down'])),
    });
  });
}
