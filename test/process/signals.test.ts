// `npm start` and the `latchkey` command under a process supervisor's signals. Docker, systemd and
// pm2 send SIGTERM to the process they started: npm runs the start script through `sh -c`, and
// Debian's dash does not exec the last command, so unless the script execs the server itself,
// the shell dies and the server lives on, orphaned (issue 9; measured on the tsx-based start).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '../harness/free-port.js';
import { removeDir, tempDataDir } from '../helpers/server.js';
import { TEST_SECRETS_KEY } from '../helpers/secrets.js';

const REPO = join(import.meta.dirname, '..', '..');

async function answers(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(500) });
    return true;
  } catch {
    return false;
  }
}

async function startAndTerm(command: string, args: string[]): Promise<{ out: string; stoppedAfterMs: number }> {
  const port = await freePort();
  const dataDir = tempDataDir();
  const proc = spawn(command, args, {
    cwd: REPO,
    env: { ...process.env, PORT: String(port), LATCHKEY_DATA_DIR: dataDir, LATCHKEY_LOG_LEVEL: 'info', LATCHKEY_ADMIN_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  try {
    const deadline = Date.now() + 60_000;
    while (!(await answers(port))) {
      assert.ok(Date.now() < deadline, `did not start:\n${out}`);
      assert.equal(proc.exitCode, null, `exited early:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const sent = Date.now();
    proc.kill('SIGTERM');
    while (await answers(port)) {
      assert.ok(Date.now() - sent < 10_000, `${command} ${args.join(' ')}: the server still answers 10 s after SIGTERM`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const stoppedAfterMs = Date.now() - sent;
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    assert.notEqual(proc.exitCode ?? proc.signalCode, null, 'the signalled process itself exits');
    return { out, stoppedAfterMs };
  } finally {
    proc.kill('SIGKILL');
    await exited;
    removeDir(dataDir);
  }
}

describe('signals', { timeout: 180_000 }, () => {
  it('SIGTERM to the `npm start` process stops the server cleanly within 10 s', async (t) => {
    const { out, stoppedAfterMs } = await startAndTerm('npm', ['start']);
    t.diagnostic(`npm start: stopped ${stoppedAfterMs} ms after SIGTERM`);
    assert.match(out, /"msg":"stopped"/, 'stopped by its own shutdown, not killed');
    assert.match(out, /Latchkey listening on http:\/\/127\.0\.0\.1:\d+, demo at http:\/\/127\.0\.0\.1:\d+\/demo\/; stores: sqlite \(/);
  });

  it('SIGTERM to `latchkey start` stops the server cleanly within 10 s', async () => {
    const { out } = await startAndTerm(process.execPath, ['packages/server/dist/cli.js', 'start']);
    assert.match(out, /"msg":"stopped"/);
  });

  it('latchkey --help lists the commands; an unknown command or option exits 2 with the help', () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ['packages/server/dist/cli.js', ...args], { cwd: REPO, encoding: 'utf8' });
    const help = cli('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: latchkey <command>/);
    assert.match(help.stdout, /\n {2}start +run the server/);
    assert.equal(cli('start', '--help').status, 0);
    const unknown = cli('frobnicate');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const badOption = cli('start', '--nope');
    assert.equal(badOption.status, 2);
    assert.match(badOption.stderr, /Unknown option '--nope'/);
    assert.equal(cli().status, 2, 'no command: the help, on stderr, exit 2');
    assert.match(cli('--version').stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it('the start line names PostgreSQL and Redis when they are configured (never their URLs)', async () => {
    const { storeSummary } = await import('../../packages/server/src/store/describe.js');
    const { loadConfig } = await import('../../packages/server/src/config.js');
    const scaled = loadConfig({ LATCHKEY_REDIS_URL: 'redis://:secret@127.0.0.1:6379', LATCHKEY_DATABASE_URL: 'postgres://u:pw@127.0.0.1/db', LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY });
    assert.equal(storeSummary(scaled), 'sessions on redis, users and keys on postgres');
    assert.equal(storeSummary(loadConfig({ LATCHKEY_REDIS_CLUSTER: '127.0.0.1:7000,127.0.0.1:7001', LATCHKEY_DATA_DIR: '/srv/lk' })), 'sessions on redis-cluster, users and keys on sqlite (/srv/lk)');
    assert.equal(storeSummary(loadConfig({ LATCHKEY_DATA_DIR: '/srv/lk' })), 'sqlite (/srv/lk)');
    assert.equal(storeSummary(loadConfig({ LATCHKEY_DATABASE_URL: 'postgres://u:pw@127.0.0.1/db', LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY })), 'postgres');
  });
});
