import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const ENSURE_TIMEOUT_MS = 20_000;
const PG_CTL_TIMEOUT_S = 30;
const PORT_ATTEMPTS = 5;

/** Set when the shared server is unusable and a private cluster stands in for it (see ensurePostgres). */
let standIn: Promise<OwnPostgres> | null = null;
let standInUrl: string | null = null;

export function adminUrl(): string {
  return standInUrl ?? (process.env.LATCHKEY_TEST_PG_ADMIN_URL || DEFAULT_ADMIN_URL);
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Terminates remaining connections and drops the database. Idempotent. */
  drop(): Promise<void>;
}

export interface OwnPostgres {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Fast shutdown, then removes the data dir. Idempotent. */
  stop(): Promise<void>;
  /** Immediate shutdown (no checkpoint, like a crash); data dir is kept. */
  kill(): Promise<void>;
  /** Starts again on the same port and data dir; resolves once it accepts connections. */
  start(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Nothing created here may outlive the test process. pg_ctl puts the
// postmaster in its own session, so unlike redis it does not even get the
// terminal's Ctrl-C.

const pendingDatabases = new Map<string, string>(); // name -> admin url
const liveClusters = new Map<string, () => void>(); // dir -> synchronous teardown
let exitHooksInstalled = false;

function cleanupSync(): void {
  for (const teardown of liveClusters.values()) {
    try {
      teardown();
    } catch {
      // best effort
    }
  }
  liveClusters.clear();
  for (const [name, admin] of pendingDatabases) {
    // Async pg is unusable in an 'exit' handler, hence psql.
    spawnSync('psql', [admin, '-X', '-q', '-c', `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`], {
      stdio: 'ignore',
      timeout: 5_000,
    });
  }
  pendingDatabases.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', cleanupSync);
  // 'exit' does not fire when a signal kills the process. Clean up, then
  // re-raise so the default action still happens, unless someone else is
  // listening and has taken over the decision.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupSync();
      process.removeListener(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

// ---------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // Without a listener, a server-side termination would crash the process.
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh, empty database on the shared server (or its stand-in); drop() it when done. */
export async function createTestDatabase(): Promise<TestDatabase> {
  await ensurePostgres();
  const admin = adminUrl();
  const name = `latchkey_test_${randomBytes(8).toString('hex')}`;
  try {
    await withClient(admin, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
  } catch (err) {
    throw new Error(
      `cannot create test database via ${admin} (${(err as Error).message}); ` +
        'is PostgreSQL running? ensurePostgres() starts the local cluster',
      { cause: err },
    );
  }
  installExitHooks();
  pendingDatabases.set(name, admin);

  const url = new URL(admin);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      // FORCE terminates sessions a test leaked, which would otherwise block the drop.
      await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
      dropped = true;
      pendingDatabases.delete(name);
    },
  };
}

type Probe = { state: 'ready' } | { state: 'down' | 'starting'; detail: string } | { state: 'broken'; error: Error };

async function probe(url: string): Promise<Probe> {
  try {
    await withClient(url, (c) => c.query('SELECT 1'));
    return { state: 'ready' };
  } catch (err) {
    const e = err as Error & { code?: string };
    // 57P03 cannot_connect_now: starting up, shutting down or in recovery.
    if (e.code === '57P03') return { state: 'starting', detail: e.message };
    // Any other SQLSTATE (bad role, missing database, ...) will not fix itself
    // by waiting; socket-level errors might.
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return { state: 'broken', error: e };
    return { state: 'down', detail: e.message };
  }
}

function runFile(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000 }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`.trim();
      if (err) reject(Object.assign(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${out}`), { output: out }));
      else resolve(out);
    });
  });
}

function byVersionDesc(a: string, b: string): number {
  return Number.parseFloat(b) - Number.parseFloat(a);
}

/**
 * Makes sure a PostgreSQL server answers at adminUrl(): the shared one (starting the
 * Debian-packaged local cluster if nothing is listening) or, when that cannot be used at all
 * (not installed, not started, no trust auth for postgres on 127.0.0.1), a private cluster of
 * this process made with initdb. The suite then depends on nothing the machine had running.
 */
export async function ensurePostgres(): Promise<void> {
  if (standIn) {
    await standIn;
    return;
  }
  try {
    await ensureSharedPostgres();
  } catch (err) {
    if (process.env.LATCHKEY_TEST_PG_ADMIN_URL) throw err; // an explicit server must be used as given
    standIn ??= startOwnPostgres();
    const own = await standIn;
    standInUrl = own.url;
    process.stdout.write(`# shared PostgreSQL unusable (${(err as Error).message.split('\n')[0]}); using a private cluster\n`);
  }
}

async function ensureSharedPostgres(): Promise<void> {
  const admin = adminUrl();
  const target = new URL(admin);
  const first = await probe(admin);
  if (first.state === 'ready') return;
  if (first.state === 'broken') {
    throw new Error(`PostgreSQL at ${target.host} is reachable but rejects ${admin}: ${first.error.message}`, {
      cause: first.error,
    });
  }

  let startOutput = '';
  if (first.state === 'down') {
    const local = target.hostname === '127.0.0.1' || target.hostname === 'localhost';
    if (!local || (target.port || '5432') !== '5432') {
      throw new Error(
        `PostgreSQL at ${target.host} is unreachable (${first.detail}); ` +
          'only the local cluster on 127.0.0.1:5432 is started automatically',
      );
    }
    const versions = fs.existsSync('/etc/postgresql') ? fs.readdirSync('/etc/postgresql').sort(byVersionDesc) : [];
    const version = versions[0];
    if (version === undefined) {
      throw new Error(`PostgreSQL at ${target.host} is unreachable (${first.detail}) and no cluster exists in /etc/postgresql`);
    }
    try {
      // The redirect would go through systemd, which containers lack.
      startOutput = await runFile('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
    } catch (err) {
      // "already running" and similar are fine if the server then turns up.
      startOutput = (err as Error).message;
    }
  }

  const deadline = Date.now() + ENSURE_TIMEOUT_MS;
  let last: Probe = first;
  while (Date.now() < deadline) {
    await sleep(250);
    last = await probe(admin);
    if (last.state === 'ready') return;
    if (last.state === 'broken') break;
  }
  const why = last.state === 'broken' ? last.error.message : 'detail' in last ? last.detail : '';
  throw new Error(
    `PostgreSQL at ${target.host} still unusable after ${ENSURE_TIMEOUT_MS} ms: ${why}` +
      (startOutput ? `\npg_ctlcluster said: ${startOutput}` : ''),
  );
}

// ---------------------------------------------------------------------------
// A private server for fault tests, so stopping it cannot disturb anything else.

function findPgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort(byVersionDesc) : [];
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'pg_ctl'))) return bin;
  }
  throw new Error(`no PostgreSQL server binaries (initdb, pg_ctl) under ${root}/*/bin`);
}

function postgresOsUser(): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('running as root but there is no "postgres" OS user to run initdb as');
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const bin = findPgBinDir();
  // initdb and postgres refuse to run as root.
  const asRoot = process.getuid?.() === 0;
  const asPostgres = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];

  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'latchkey-pg-'));
  const dataDir = path.join(dir, 'data');
  const logPath = path.join(dir, 'postgres.log');
  const pgCtl = path.join(bin, 'pg_ctl');
  let port = 0;
  let running = false;

  const run = (cmd: string, args: string[]): Promise<string> => {
    const [c, a] = asPostgres(cmd, args);
    // cwd inside the temp dir: the postgres user may not be able to read the caller's cwd.
    return runFile(c, a, { cwd: dir, timeoutMs: (PG_CTL_TIMEOUT_S + 10) * 1000 });
  };
  const logTail = (): string => {
    try {
      return fs.readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-25).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const pgCtlStop = (mode: 'fast' | 'immediate'): Promise<string> =>
    run(pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w', '-t', String(PG_CTL_TIMEOUT_S)]);
  const pgCtlStart = async (): Promise<void> => {
    const serverOpts = [
      `-p ${port}`,
      `-k '${dir}'`,
      '-c listen_addresses=127.0.0.1',
      // Faults here are process kills, not OS crashes; the page cache survives
      // those, so fsync only costs time.
      '-c fsync=off',
    ].join(' ');
    try {
      await run(pgCtl, ['start', '-D', dataDir, '-o', serverOpts, '-l', logPath, '-w', '-t', String(PG_CTL_TIMEOUT_S)]);
    } catch (err) {
      throw Object.assign(new Error(`${(err as Error).message}\n--- ${logPath} (tail) ---\n${logTail()}`), {
        addressInUse: /could not bind|address already in use/i.test(logTail()),
      });
    }
    running = true;
  };

  const removeDir = (): Promise<void> => fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });

  installExitHooks();
  liveClusters.set(dir, () => {
    if (running) {
      const [c, a] = asPostgres(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10']);
      spawnSync(c, a, { cwd: dir, stdio: 'ignore', timeout: 15_000 });
    }
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  });

  try {
    if (asRoot) {
      const { uid, gid } = postgresOsUser();
      await fsp.chown(dir, uid, gid);
    }
    await run(path.join(bin, 'initdb'), [
      '-D', dataDir,
      '--auth=trust',
      '-U', 'postgres',
      '-E', 'UTF8',
      // C locale: containers often lack the host's locale, and tests should not depend on it.
      '--locale=C',
      '--no-sync',
    ]);
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await pgCtlStart();
        break;
      } catch (err) {
        if (!(err as { addressInUse?: boolean }).addressInUse || attempt >= PORT_ATTEMPTS) throw err;
      }
    }
  } catch (err) {
    liveClusters.delete(dir);
    await removeDir();
    throw err;
  }

  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (running) {
        try {
          await pgCtlStop('fast');
        } catch {
          await pgCtlStop('immediate');
        }
        running = false;
      }
      liveClusters.delete(dir);
      await removeDir();
    },
    async kill() {
      if (stopped) throw new Error('own postgres was stopped; its data dir is gone');
      if (!running) return;
      await pgCtlStop('immediate');
      running = false;
    },
    async start() {
      if (stopped) throw new Error('own postgres was stopped; its data dir is gone');
      if (running) return;
      await pgCtlStart();
    },
  };
}
