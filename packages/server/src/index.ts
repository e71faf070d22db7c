// `latchkey` as a library: embed the server in your own process (tests, a custom entry point).
// Most deployments use the `latchkey start` command instead.
export { createLatchkey, createLogger, type Latchkey, type StartOptions } from './server.js';
export { loadConfig, ConfigError, type Config } from './config.js';
export { describeStores, type StoreDescription } from './store/describe.js';
