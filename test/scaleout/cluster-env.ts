// A scale-out deployment for tests: N server processes sharing one Redis and one PostgreSQL.
import { spawnServer, type ChildServer } from '../helpers/server.js';
import { TEST_SECRETS_KEY } from '../helpers/secrets.js';

export interface Fleet {
  instances: ChildServer[];
  /** Round-robin over the instances, as a load balancer would. */
  next(): string;
  /** Starts instance `i` again (after it was killed) on its port with the fleet's environment. */
  restart(i: number): Promise<ChildServer>;
  stop(): Promise<void>;
}

export async function startFleet(n: number, env: Record<string, string>): Promise<Fleet> {
  // One issuer and one key-encryption key for all: tokens from any instance are valid on every other.
  const shared = { LATCHKEY_ISSUER: 'http://latchkey.test', LATCHKEY_LOG_LEVEL: 'info', LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY, ...env };
  const instances: ChildServer[] = [];
  for (let i = 0; i < n; i++) instances.push(await spawnServer(shared));
  let rr = 0;
  return {
    instances,
    next: () => instances[rr++ % instances.length]!.url,
    async restart(i) {
      instances[i] = await spawnServer(shared, instances[i]!.port);
      return instances[i];
    },
    async stop() {
      await Promise.all(
        instances.map(async (s) => {
          if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
          await s.exited;
        }),
      );
    },
  };
}

/** Counts security events of one kind across the fleet's logs. */
export function countEvents(fleet: Fleet, event: string): number {
  return fleet.instances.reduce((n, s) => n + s.output().split('\n').filter((l) => l.includes(`"event":"${event}"`)).length, 0);
}
