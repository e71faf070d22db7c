import type { Config } from '../config.ts';
import { openSqliteStores } from './sqlite/open.ts';
import type { Stores } from './types.ts';

export interface OpenedStores extends Stores {
  /** Periodic housekeeping (expired rows); a no-op where the backend expires by itself. */
  prune(now: number, idleMs: number): void;
}

/** Choosing a deployment shape is configuration, not code. */
export async function openStores(config: Config): Promise<OpenedStores> {
  return openSqliteStores(config.dataDir);
}
