// Runs node scripts in their own processes, asynchronously: a server the test started in-process
// or as a child must keep answering meanwhile (spawnSync would block its event loop).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '..', '..');

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `node <args>` in `cwd`, killed after `timeoutMs`. */
export function runNode(args: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** The built `latchkey` command. */
export function latchkeyCli(env: Record<string, string>, ...args: string[]): Promise<Ran> {
  return runNode(['packages/server/dist/cli.js', ...args], { cwd: REPO, env });
}
