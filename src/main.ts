// Process entry: configuration, server, signals.
import { ConfigError, loadConfig } from './config.ts';
import { createLatchkey, createLogger } from './server.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`latchkey: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger(config);
  const latchkey = await createLatchkey(config, { logger });
  const address = await latchkey.app.listen({ port: config.port, host: config.host });
  logger.info({ address, issuer: config.issuer, store: config.redisUrl || config.redisClusterNodes ? 'redis' : 'sqlite' }, 'listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, 10_000);
    force.unref();
    await latchkey.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`latchkey: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
