// Baseline: a bare Fastify 5 route, POST with a small JSON body in and a small JSON object out.
// Same framework and the same body parsing as Latchkey's token endpoint, and no work at all.
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 0);
const app = Fastify({ logger: false });
app.post('/echo', async (req) => ({ ok: true, got: typeof req.body }));
app.get('/healthz', async () => ({ ok: true }));
await app.listen({ port, host: '127.0.0.1' });
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
