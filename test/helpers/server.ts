// Starts real Latchkey servers for tests: in-process on a real port (fast, lets a test read the
// security events), or as a child process (for restarts, SIGKILL and SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../../packages/server/src/config.js';
import type { AppPlugin } from '../../packages/server/src/http/app.js';
import { createLatchkey, type Latchkey } from '../../packages/server/src/server.js';
import { freePort } from '../harness/free-port.js';

export interface LogLine {
  level: number;
  msg: string;
  event?: string;
  [k: string]: unknown;
}

export interface TestServer {
  url: string;
  latchkey: Latchkey;
  dataDir: string;
  logs: LogLine[];
  /** Every log line as written, for asserting that no secret ever reaches the log. */
  rawLog(): string;
  events(name: string): LogLine[];
  close(): Promise<void>;
}

/**
 * Every test server signs up far more accounts from 127.0.0.1 than a real source would in one
 * window (LATCHKEY_SIGNUP_IP_LIMIT, default 20 per 600 s); tests of the sign-up limits set their own.
 */
export const TEST_SIGNUP_LIMITS = { LATCHKEY_SIGNUP_IP_LIMIT: '1000000', LATCHKEY_SIGNUP_LIMIT: '1000000' };

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'latchkey-test-'));
}

export async function startServer(env: Record<string, string> = {}, opts: { now?: () => number; plugins?: AppPlugin[] } = {}): Promise<TestServer> {
  const dataDir = env.LATCHKEY_DATA_DIR ?? tempDataDir();
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const config = loadConfig({ PORT: String(port), LATCHKEY_DATA_DIR: dataDir, LATCHKEY_LOG_LEVEL: 'info', ...TEST_SIGNUP_LIMITS, ...env });
  const logs: LogLine[] = [];
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const logger = pino({ level: config.logLevel }, sink);
  const latchkey = await createLatchkey(config, { logger, now: opts.now, plugins: opts.plugins });
  await latchkey.app.listen({ port, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${port}`,
    latchkey,
    dataDir,
    logs,
    rawLog: () => raw,
    events: (name) => logs.filter((l) => l.event === name),
    async close() {
      await latchkey.close();
      if (!env.LATCHKEY_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ChildServer {
  url: string;
  port: number;
  proc: ChildProcess;
  /** The management listener (metrics, admin API), from the "listening" log line; null when off. */
  adminUrl: string | null;
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the built server exactly as `npm start` does (`node packages/server/dist/cli.js start`), waiting for its "listening" line. */
export async function spawnServer(env: Record<string, string>, port?: number): Promise<ChildServer> {
  const p = port ?? (await freePort());
  const proc = spawn(process.execPath, ['packages/server/dist/cli.js', 'start'], {
    cwd: join(import.meta.dirname, '..', '..'),
    // Any free port for the management listener: several servers run side by side in tests.
    env: { ...process.env, PORT: String(p), HOST: '127.0.0.1', LATCHKEY_LOG_LEVEL: 'info', LATCHKEY_ADMIN_PORT: '0', ...TEST_SIGNUP_LIMITS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 20_000;
  while (!out.includes('"msg":"listening"')) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited early:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`server did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  process.once('exit', () => proc.kill('SIGKILL'));
  const adminUrl = /"adminAddress":"([^"]+)"/.exec(out)?.[1] ?? null;
  return { url: `http://127.0.0.1:${p}`, port: p, proc, adminUrl, output: () => out, exited };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
