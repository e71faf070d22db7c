// Starts a Latchkey server (the built packages/server/dist/cli.js, as `npm start` does, minus the npm
// wrapper process; an older checkout's src/main.ts through tsx) on a
// free port with a fresh data directory, and seeds users through the public HTTP API.
import { DpopKey } from '../../test/helpers/dpop.js';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { freePort, startNode, startNodeTs, tempDir, waitForHttp, type Child } from './proc.js';

export interface LatchkeyServer {
  origin: string;
  child: Child;
  dataDir: string;
  stop(): Promise<void>;
}

export interface StartLatchkeyOptions {
  env?: Record<string, string>;
  nodeFlags?: string[];
  /** Run the server from another checkout (A/B of a server change); default: this repository. */
  serverRoot?: string | null;
}

export async function startLatchkey(name: string, opts: StartLatchkeyOptions = {}): Promise<LatchkeyServer> {
  const port = await freePort();
  const data = tempDir(name);
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    LATCHKEY_DATA_DIR: data.path,
    LATCHKEY_LOG_LEVEL: 'warn',
    // Metrics on (the default) on any free port; a scenario sets 'off' to measure their cost.
    LATCHKEY_ADMIN_PORT: '0',
    // seedUsers signs up 50 accounts from 127.0.0.1: far past the per-source sign-up limit
    // (LATCHKEY_SIGNUP_IP_LIMIT, default 20 per 600 s). Checkouts before it ignore these.
    LATCHKEY_SIGNUP_IP_LIMIT: '1000000',
    LATCHKEY_SIGNUP_LIMIT: '1000000',
    // The login scenario logs each of its 50 users in back to back (~40 times each in 12 s on a
    // quiet 2-core box, more on a bigger one): it measures argon2id throughput, not the
    // successful-login limit (LATCHKEY_LOGIN_SUCCESS_LIMIT, default 60 per 900 s).
    LATCHKEY_LOGIN_SUCCESS_LIMIT: '1000000',
    ...opts.env,
  };
  const root = opts.serverRoot ?? '.';
  const cli = join(root, 'packages', 'server', 'dist', 'cli.js');
  // Checkouts from before the packages layout ran src/main.ts through tsx.
  const child = existsSync(cli)
    ? startNode(`latchkey(${name})`, [cli, 'start'], env, opts.nodeFlags)
    : startNodeTs(`latchkey(${name})`, join(root, 'src', 'main.ts'), env, opts.nodeFlags);
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(child, `${origin}/healthz`);
  } catch (e) {
    await child.stop();
    data.remove();
    throw e;
  }
  return {
    origin,
    child,
    dataDir: data.path,
    async stop() {
      await child.stop();
      data.remove();
    },
  };
}

export interface SeededUser {
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

/** Runs `one(i)` for i in 0..n-1, `concurrency` at a time (argon2id is deliberately slow), in order of i. */
async function inParallel<T>(n: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await one(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** Signs up `n` users (a few at a time) and returns their first tokens. */
export async function seedUsers(origin: string, n: number, concurrency = 8): Promise<SeededUser[]> {
  const stamp = Date.now().toString(36);
  return inParallel(n, concurrency, async (i) => {
    const email = `bench-${stamp}-${i}@example.test`;
    const password = `correct horse battery ${i}`;
    const res = await fetch(`${origin}/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'latchkey-bench' },
      body: JSON.stringify({ email, password }),
    });
    const body = (await res.json()) as { access_token?: string; refresh_token?: string };
    if (res.status !== 201 || !body.access_token || !body.refresh_token) {
      throw new Error(`signup ${i} failed: ${res.status} ${JSON.stringify(body)}`);
    }
    return { email, password, accessToken: body.access_token, refreshToken: body.refresh_token };
  });
}

export interface BoundUser extends SeededUser {
  /** The session's DPoP key; its proofs carry the nonce learnt at sign-up (valid 5 to 10 minutes). */
  key: DpopKey;
}

/** Signs up `n` users with a DPoP proof each (following the nonce challenge): DPoP-bound sessions. */
export async function seedBoundUsers(origin: string, n: number, concurrency = 8): Promise<BoundUser[]> {
  const stamp = Date.now().toString(36);
  return inParallel(n, concurrency, async (i) => {
    const key = new DpopKey();
    const email = `bench-dpop-${stamp}-${i}@example.test`;
    const password = `correct horse battery ${i}`;
    const res = await key.signup(origin, email, password);
    if (res.status !== 201 || res.body.token_type !== 'DPoP') throw new Error(`bound signup ${i} failed: ${res.status} ${res.text}`);
    return { email, password, accessToken: res.body.access_token, refreshToken: res.body.refresh_token, key };
  });
}
