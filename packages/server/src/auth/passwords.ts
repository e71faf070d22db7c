// argon2id with OWASP's minimum (m = 19 MiB, t = 2, p = 1; ASVS 5.0 V11.4.2). @node-rs/argon2
// runs on the libuv thread pool, so hashing never blocks the event loop.
import { hash, verify, type Algorithm } from '@node-rs/argon2';

// Algorithm.Argon2id; the enum is ambient const, so its value is spelled out.
const ARGON2ID = 2 as Algorithm;

export const ARGON2_PARAMS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_PARAMS);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** The PHC string carries its parameters; a hash made with weaker ones is upgraded at the next login. */
export function needsRehash(stored: string): boolean {
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(stored);
  if (!m) return true;
  return Number(m[1]) < ARGON2_PARAMS.memoryCost || Number(m[2]) < ARGON2_PARAMS.timeCost || Number(m[3]) !== ARGON2_PARAMS.parallelism;
}

// A bounded hashing queue (issue 12 item 3: 300-400 parallel sign-ups, each an argon2id hash,
// pushed a real user's login from ~40 ms to 5.5-8.1 s because the queue had no limit). At most
// `concurrency` hashes run at once (more than the cores only makes each one slower), and storm-prone
// work (sign-ups, logins from unknown sources) at most one fewer, so a trusted login never waits
// for a thread; the rest wait in three lanes, served in this order, each admitted only while the
// waiting line is shorter than its share of `depth`, so storm work never takes the places reserved
// for the lanes above it:
//
// - trusted: logins from a source that logged in to the account before (and authenticated
//   re-checks): the whole depth. A real user on their usual device is served next, whatever waits.
// - login: other logins: three quarters.
// - signup: half. Sign-ups never delay a login by more than the hashes already running.
//
// Beyond its share an attempt is refused at once: 503 `busy` + Retry-After, decided before any
// store lookup, so it says nothing about whether the account exists (ASVS 5.0 V6.3.8).
export type HashLane = 'trusted' | 'login' | 'signup';

const LANES: readonly HashLane[] = ['trusted', 'login', 'signup'];
const SHARE: Record<HashLane, number> = { trusted: 1, login: 0.75, signup: 0.5 };

export interface HashTicket {
  /** Runs `work` once a hashing place is free (lane order); the ticket is spent afterwards. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Gives the place back unused (the attempt was refused before hashing); safe after run(). */
  release(): void;
}

export interface PasswordHasher {
  /** Reserves a place in `lane`, or throws 503 busy when the lane's share of the queue is taken. */
  admit(lane: HashLane): HashTicket;
  /** Hashes running and places reserved now, and the most ever reserved at once (for tests and metrics). */
  stats(): { running: number; waiting: number; peakWaiting: number };
}

/** Seconds a refused caller is told to wait: about one turn of the queue. */
export const BUSY_RETRY_AFTER_SEC = 1;

export function passwordHasher(opts: { concurrency: number; depth: number; busy: () => Error }): PasswordHasher {
  let running = 0;
  let waiting = 0;
  let peakWaiting = 0;
  const queues: Record<HashLane, Array<() => void>> = { trusted: [], login: [], signup: [] };
  const stormCap = Math.max(1, opts.concurrency - 1);
  const next = () => {
    for (;;) {
      const lane = LANES.find((l) => queues[l].length > 0 && running < (l === 'trusted' ? opts.concurrency : stormCap));
      if (!lane) return;
      running++;
      queues[lane].shift()!();
    }
  };
  return {
    admit(lane) {
      if (waiting >= Math.max(1, Math.floor(opts.depth * SHARE[lane]))) throw opts.busy();
      waiting++;
      peakWaiting = Math.max(peakWaiting, waiting);
      let state: 'reserved' | 'used' | 'released' = 'reserved';
      return {
        async run(work) {
          if (state !== 'reserved') throw new Error('hash ticket already spent');
          state = 'used';
          await new Promise<void>((resolve) => {
            queues[lane].push(resolve);
            next();
          });
          waiting--;
          try {
            return await work();
          } finally {
            running--;
            next();
          }
        },
        release() {
          if (state !== 'reserved') return;
          state = 'released';
          waiting--;
        },
      };
    },
    stats: () => ({ running, waiting, peakWaiting }),
  };
}
