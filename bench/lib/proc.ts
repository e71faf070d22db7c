// Child processes for the benchmark: servers under test and a private redis-server. Every child is
// started by us, tracked by pid, and stopped by pid (SIGTERM, then SIGKILL after a grace period).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => ok(port));
    });
  });
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `latchkey-bench-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Child {
  name: string;
  proc: ChildProcess;
  /** Everything the child printed (capped), for error messages. */
  output(): string;
  /** Lines the child printed on stdout, as they arrive. */
  onLine(fn: (line: string) => void): void;
  exited: Promise<number | null>;
  stop(graceMs?: number): Promise<void>;
}

export function startChild(name: string, command: string, args: string[], env: Record<string, string>): Child {
  const proc = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > 20_000) out = out.slice(-20_000);
  };
  const lineFns: Array<(line: string) => void> = [];
  let pending = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    keep(chunk);
    pending += chunk.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      for (const fn of lineFns) fn(line);
    }
  });
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((ok) => proc.once('exit', (code) => ok(code)));
  return {
    name,
    proc,
    output: () => out,
    onLine: (fn) => lineFns.push(fn),
    exited,
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a TypeScript entry point under node with the tsx loader (no npx/tsx wrapper process). */
export function startNodeTs(name: string, script: string, env: Record<string, string>, nodeFlags: string[] = []): Child {
  return startChild(name, process.execPath, [...nodeFlags, '--conditions=latchkey-source', '--import', 'tsx', script], env);
}

/** Runs a JavaScript entry point under plain node, as users run the built server. */
export function startNode(name: string, args: string[], env: Record<string, string>, nodeFlags: string[] = []): Child {
  return startChild(name, process.execPath, [...nodeFlags, ...args], env);
}

/** Polls a URL until it answers with `status`, or fails with the child's output. */
export async function waitForHttp(child: Child, url: string, status = 200, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited (${child.proc.exitCode}):\n${child.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === status) return;
      last = `status ${res.status}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(100);
  }
  throw new Error(`${child.name} not ready at ${url} within ${timeoutMs} ms (${last}):\n${child.output()}`);
}

/** Resolves with the first stdout line that parses as JSON with `ready: true`. */
export function waitForReadyLine<T>(child: Child, timeoutMs = 60_000): Promise<T> {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${child.name} did not report ready within ${timeoutMs} ms:\n${child.output()}`)), timeoutMs);
    child.onLine((line) => {
      if (!line.startsWith('{')) return;
      try {
        const msg = JSON.parse(line) as { ready?: boolean };
        if (msg.ready) {
          clearTimeout(timer);
          ok(msg as T);
        }
      } catch {
        /* not our line */
      }
    });
    void child.exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`${child.name} exited (${code}) before ready:\n${child.output()}`));
    });
  });
}

export { sleep };

let clockTicks = 0;
/** CPU time (user + system, all threads) a process has used so far, in ms; null if unreadable. */
export function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    if (!clockTicks) {
      try {
        clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
      } catch {
        clockTicks = 100;
      }
    }
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime field 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return null;
  }
}

/** Measures the CPU a set of processes (and this one) spend between start() and stop(). */
export function cpuMeter(pids: Array<number | undefined>) {
  let t0: Array<number | null> = [];
  let self0 = process.cpuUsage();
  let result: { serverCpuMs: number | null; generatorCpuMs: number } | null = null;
  return {
    start() {
      t0 = pids.map(processCpuMs);
      self0 = process.cpuUsage();
    },
    stop() {
      const t1 = pids.map(processCpuMs);
      let server: number | null = 0;
      for (let i = 0; i < pids.length; i++) {
        const a = t0[i];
        const b = t1[i];
        if (a === null || a === undefined || b === null || b === undefined || server === null) server = null;
        else server += b - a;
      }
      const self = process.cpuUsage(self0);
      result = { serverCpuMs: server, generatorCpuMs: (self.user + self.system) / 1000 };
    },
    get result() {
      return result;
    },
  };
}
