import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, freePorts } from './free-port.js';

const HOST = '127.0.0.1';
const STARTUP_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 15_000;
const CLUSTER_TIMEOUT_MS = 20_000;
// A port picked by freePort() can be taken by someone else before redis binds it.
const PORT_ATTEMPTS = 5;

export interface RedisStartOptions {
  /** AOF with fsync on every write, so a SIGKILL loses nothing that was acknowledged. */
  appendonly?: boolean;
  /** Fixed port; by default a free one is picked (and re-picked if it turns out to be taken). */
  port?: number;
  /** Existing data dir. Not removed by stop(), since the caller owns it. */
  dir?: string;
  /** More redis-server arguments, e.g. ['--enable-debug-command', 'local'] for DEBUG SLEEP. */
  args?: string[];
}

export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Changes after restart(). */
  readonly pid: number;
  /**
   * Sends `signal` (default SIGKILL, i.e. a crash) and waits for the process
   * to exit. SIGSTOP/SIGCONT only freeze/thaw it, so those return at once.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts again on the same port and dir (so the AOF is replayed); waits for PING. */
  restart(): Promise<void>;
  /** SIGTERM, wait for exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface RedisClusterNode {
  host: '127.0.0.1';
  port: number;
}

export interface RedisClusterProcess {
  readonly nodes: RedisClusterNode[];
  /** The individual servers, for fault tests that kill or restart one node. */
  readonly members: RedisProcess[];
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Nothing started here may outlive the test process, even when a test forgets
// stop() or the run is interrupted.

const liveChildren = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
let exitHooksInstalled = false;

function cleanupSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of ownedDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort: a leftover temp dir is harmless
    }
  }
  ownedDirs.clear();
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

function readLogFrom(logPath: string, offset: number): string {
  try {
    const fd = fs.openSync(logPath, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      // Cap so a chatty log cannot blow up an error message.
      const start = Math.max(offset, size - 64 * 1024);
      const buf = Buffer.alloc(Math.max(0, size - start));
      fs.readSync(fd, buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

class RedisReplyError extends Error {}

/**
 * One command over a raw socket. ioredis would do, but its reconnect logic
 * makes it awkward for "is it up yet?" polling and for failure reporting.
 */
function rawCommand(port: number, args: string[], timeoutMs = 1_000): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (err: Error | null, value?: string | null): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`timeout talking to ${HOST}:${port}`)));
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`connection to ${HOST}:${port} closed`)));
    socket.on('connect', () => {
      let req = `*${args.length}\r\n`;
      for (const a of args) req += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      socket.write(req);
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const head = buf.subarray(1, eol).toString('utf8');
      switch (String.fromCharCode(buf[0] ?? 0)) {
        case '+':
        case ':':
          return finish(null, head);
        case '-':
          return finish(new RedisReplyError(head));
        case '$': {
          const len = Number(head);
          if (len < 0) return finish(null, null);
          if (buf.length < eol + 2 + len + 2) return;
          return finish(null, buf.subarray(eol + 2, eol + 2 + len).toString('utf8'));
        }
        default:
          return finish(new Error(`unexpected reply from ${HOST}:${port}: ${JSON.stringify(buf.toString())}`));
      }
    });
  });
}

interface Running {
  child: ChildProcess;
  pid: number;
  exited: Promise<void>;
  hasExited: () => boolean;
}

class RedisStartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
  }
}

/** Spawns redis-server and resolves once it answers PING with +PONG. */
async function launch(dir: string, port: number, args: string[]): Promise<Running> {
  const logPath = path.join(dir, 'redis.log');
  const logOffset = fileSize(logPath);
  const logFd = fs.openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', logFd, logFd] });
  } finally {
    fs.closeSync(logFd);
  }
  installExitHooks();
  liveChildren.add(child);
  // Unref'd so a forgotten server cannot keep the test process alive; the exit
  // hook kills it instead.
  child.unref();

  let done = false;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    const onGone = (): void => {
      done = true;
      liveChildren.delete(child);
      resolve();
    };
    child.once('exit', onGone);
    child.once('error', (err) => {
      spawnError = err;
      onGone();
    });
  });

  const fail = (why: string): RedisStartError => {
    const log = readLogFrom(logPath, logOffset);
    return new RedisStartError(
      `redis-server on ${HOST}:${port} (dir ${dir}) ${why}\n--- ${logPath} (tail) ---\n${tail(log)}`,
      /address already in use/i.test(log),
    );
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let lastError = '';
  for (;;) {
    if (done) throw fail(spawnError ? `failed to spawn: ${spawnError.message}` : 'exited during startup');
    try {
      if ((await rawCommand(port, ['PING'], 500)) === 'PONG') {
        // The PONG may come from a stranger already on this port while ours
        // is still on its way to dying of EADDRINUSE; keep polling until it does.
        const info = (await rawCommand(port, ['INFO', 'server'], 500)) ?? '';
        if (new RegExp(`^process_id:${child.pid}\\r?$`, 'm').test(info)) break;
        lastError = 'another server answers on this port';
      }
    } catch (err) {
      // -LOADING while the AOF replays, ECONNREFUSED before the listener is up.
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      // Let it die before the caller deletes its dir; ref'd, or an otherwise
      // idle event loop would end the process mid-await.
      child.ref();
      await exited;
      throw fail(`did not answer PING within ${STARTUP_TIMEOUT_MS} ms (last error: ${lastError})`);
    }
    await sleep(50);
  }
  return { child, pid: child.pid ?? -1, exited, hasExited: () => done };
}

async function waitForExit(proc: Running, what: string): Promise<void> {
  // Keep the event loop alive while waiting; the child handle is unref'd.
  proc.child.ref();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      proc.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not exit within ${EXIT_TIMEOUT_MS} ms`)), EXIT_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    proc.child.unref();
  }
}

interface ServerSpec {
  opts: RedisStartOptions;
  /** Run as a cluster node. Its bus port is picked explicitly: the default, port+10000, can exceed 65535 or be busy. */
  cluster?: boolean;
}

async function pickPorts(spec: ServerSpec): Promise<{ port: number; busPort?: number }> {
  if (!spec.cluster) return { port: spec.opts.port ?? (await freePort()) };
  // Both at once, so the two cannot coincide.
  const [port, busPort] = await freePorts(2);
  if (port === undefined || busPort === undefined) throw new Error('freePorts(2) returned too few ports');
  return { port, busPort };
}

async function startServer(spec: ServerSpec): Promise<RedisProcess> {
  const { opts } = spec;
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'latchkey-redis-')));
  if (ownsDir) {
    installExitHooks();
    ownedDirs.add(dir);
  }
  const persistence = opts.appendonly
    ? ['--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];

  let port = 0;
  let args: string[] = [];
  let running: Running | undefined;
  for (let attempt = 1; ; attempt++) {
    const picked = await pickPorts(spec);
    port = picked.port;
    args = [
      '--port', String(port),
      '--bind', HOST,
      '--dir', dir,
      // Passed as an argv element; redis-server re-quotes it, so this really means `save ""`.
      '--save', '',
      ...persistence,
      ...(opts.args ?? []),
      ...(picked.busPort === undefined
        ? []
        : [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', '2000',
            '--cluster-port', String(picked.busPort),
          ]),
    ];
    try {
      running = await launch(dir, port, args);
      break;
    } catch (err) {
      const retryable = err instanceof RedisStartError && err.addressInUse && opts.port === undefined;
      if (!retryable || attempt >= PORT_ATTEMPTS) {
        if (ownsDir) {
          ownedDirs.delete(dir);
          await fsp.rm(dir, { recursive: true, force: true });
        }
        throw err;
      }
    }
  }

  let current: Running = running;
  let stopped = false;
  const finalArgs = args;

  return {
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    get pid() {
      return current.pid;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (current.hasExited()) return;
      current.child.kill(signal);
      if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGTSTP') return;
      await waitForExit(current, `redis-server pid ${current.pid}`);
    },
    async restart() {
      if (stopped) throw new Error(`redis on port ${port} was stopped; its dir is gone`);
      if (!current.hasExited()) {
        // Graceful, so an AOF-less instance is not silently wiped by the restart.
        current.child.kill('SIGTERM');
        current.child.kill('SIGCONT');
        await waitForExit(current, `redis-server pid ${current.pid}`);
      }
      current = await launch(dir, port, finalArgs);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (!current.hasExited()) {
        current.child.kill('SIGTERM');
        // A SIGSTOPped server would never act on the SIGTERM.
        current.child.kill('SIGCONT');
        try {
          await waitForExit(current, `redis-server pid ${current.pid}`);
        } catch {
          current.child.kill('SIGKILL');
          await waitForExit(current, `redis-server pid ${current.pid}`);
        }
      }
      if (ownsDir) {
        ownedDirs.delete(dir);
        await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
      }
    },
  };
}

/** A standalone redis-server on 127.0.0.1, in its own temp dir, with RDB snapshots off. */
export function startRedis(opts: RedisStartOptions = {}): Promise<RedisProcess> {
  return startServer({ opts });
}

function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      if (err) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${tail(out)}`));
      else resolve(out);
    });
  });
}

/**
 * `masters` cluster-enabled servers with no replicas, all slots assigned,
 * and every node reporting cluster_state:ok.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcess> {
  if (!Number.isInteger(masters) || masters < 3) {
    throw new Error(`redis-cli --cluster create needs at least 3 masters, got ${masters}`);
  }
  const members: RedisProcess[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(members.map((m) => m.stop()));
  };

  try {
    // One after another: concurrently picked free ports could collide.
    for (let i = 0; i < masters; i++) members.push(await startServer({ opts: { appendonly: false }, cluster: true }));

    await runRedisCli(
      [
        '--cluster', 'create',
        ...members.map((m) => `${HOST}:${m.port}`),
        '--cluster-replicas', '0',
        '--cluster-yes',
      ],
      CLUSTER_TIMEOUT_MS,
    );

    // redis-cli returns once the nodes have met, but the rest of the cluster
    // view spreads by gossip; clients get MOVED/CLUSTERDOWN until it settles.
    const deadline = Date.now() + CLUSTER_TIMEOUT_MS;
    let lastInfo = '';
    for (;;) {
      const infos = await Promise.all(
        members.map((m) => rawCommand(m.port, ['CLUSTER', 'INFO']).catch((e: Error) => `error: ${e.message}`)),
      );
      const ready = infos.every(
        (info) =>
          info !== null &&
          /cluster_state:ok/.test(info) &&
          /cluster_slots_assigned:16384/.test(info) &&
          new RegExp(`cluster_known_nodes:${masters}\\b`).test(info),
      );
      if (ready) break;
      lastInfo = infos.map((info, i) => `[${members[i]?.port}] ${info}`).join('\n');
      if (Date.now() > deadline) {
        throw new Error(`redis cluster not ok within ${CLUSTER_TIMEOUT_MS} ms:\n${lastInfo}`);
      }
      await sleep(100);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  return {
    nodes: members.map((m) => ({ host: HOST, port: m.port })),
    members,
    stop: stopAll,
  };
}
