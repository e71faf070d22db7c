import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';

/** The demo web app's routes, when enabled (see web/). */
export function demoPlugins(_config: Config): Array<(app: FastifyInstance) => void | Promise<void>> {
  return [];
}
