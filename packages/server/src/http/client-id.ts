import type { Config } from '../config.js';
import { Errors } from '../domain/errors.js';

/** A request without client_id is for the first configured client (DESIGN: LATCHKEY_CLIENTS). */
export function resolveClientId(config: Config, given: string | undefined): string {
  if (given === undefined) return config.clients[0]!;
  if (!config.clients.includes(given)) throw Errors.unknownClient();
  return given;
}
