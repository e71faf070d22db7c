// `latchkey start`: configuration from the environment, the server, signals. SIGTERM and SIGINT
// stop it cleanly: stop accepting, finish in-flight requests, close the stores, exit 0; a stop
// that takes longer than 10 s exits 1.
//
// Started by npm or npx (`npx latchkey start`, a script `latchkey start`), the server is not the
// process a supervisor signals: npm runs a bin through `sh -c` and forwards SIGTERM only to that
// shell, and Debian's dash does not exec its last command, so the shell dies and the server would
// live on, orphaned (issue 9). So under npm the server also stops when the process that started it
// is gone: its parent id changes when it is orphaned.
import { ConfigError, loadConfig, type Config } from '../config.js';
import { createLatchkey, createLogger } from '../server.js';
import { describeStores, storeSummary } from '../store/describe.js';

export async function start(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
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
  const adminAddress = latchkey.admin && config.adminPort !== null ? await latchkey.admin.listen({ port: config.adminPort, host: config.adminHost }) : null;
  logger.info({ address, adminAddress, issuer: config.issuer, stores: describeStores(config) }, 'listening');
  // One line for the person at the terminal, on stderr so stdout stays pure JSON for log shippers.
  const demo = config.demo ? `, demo at ${address}/demo/` : '';
  const admin = adminAddress ? `; management (metrics, admin API) on ${adminAddress}` : '';
  process.stderr.write(`Latchkey listening on ${address}${demo}; stores: ${storeSummary(config)}${admin}\n`);

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
  if (env.npm_command !== undefined || env.npm_lifecycle_event !== undefined) {
    onOrphaned(() => void stop('parent exited'));
  }
}

const ORPHAN_CHECK_MS = 250;

function onOrphaned(callback: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      callback();
    }
  }, ORPHAN_CHECK_MS);
  timer.unref();
}
