// The operator commands as an operator runs them: `latchkey users|sessions|keys|admin-keys …` in
// their own processes, against the data directory of an embedded server that is running (what
// they revoke must reach it within a second) and of one that is not.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, signup, uniqueEmail } from '../helpers/http.js';
import { latchkeyCli } from '../helpers/cli.js';
import { removeDir, spawnServer, tempDataDir, type ChildServer } from '../helpers/server.js';

const cli = latchkeyCli;

async function refusedWithin(url: string, token: string, ms: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const r = await call(url, 'GET', '/auth/me', { token });
    if (r.status === 401) return Date.now() - started;
    assert.ok(Date.now() - started < ms, `still accepted after ${ms} ms`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe('latchkey CLI against the embedded store', { timeout: 120_000 }, () => {
  let dataDir: string;
  let server: ChildServer;
  let env: Record<string, string>;

  before(async () => {
    dataDir = tempDataDir();
    env = { LATCHKEY_DATA_DIR: dataDir };
    server = await spawnServer(env);
  });
  after(async () => {
    server.proc.kill('SIGTERM');
    await server.exited;
    removeDir(dataDir);
  });

  it('users disable while the server runs: its access tokens refused within a second, login refused; enable: login works', async (t) => {
    const email = uniqueEmail();
    const u = await signup(server.url, email);
    assert.equal((await call(server.url, 'GET', '/auth/me', { token: u.access_token })).status, 200);
    const d = await cli(env, 'users', 'disable', email, '--json');
    assert.equal(d.status, 0, d.stderr);
    const out = JSON.parse(d.stdout) as { disabled: boolean; sessionsEnded: number };
    assert.equal(out.disabled, true);
    assert.equal(out.sessionsEnded, 1);
    const ms = await refusedWithin(server.url, u.access_token, 1000);
    t.diagnostic(`embedded server refused the disabled user's token ${ms} ms after the CLI returned`);
    assert.match(d.stderr, /"event":"admin.user_disabled".*"actor":"cli"/, 'a security event on stderr');
    assert.doesNotMatch(d.stderr, new RegExp(email.replace(/[.+]/g, '\\$&')), 'no email address in the log');
    const login = await call(server.url, 'POST', '/auth/login', { json: { email, password: u.password } });
    assert.equal(login.body.reason, 'account_disabled');
    assert.equal((await cli(env, 'users', 'enable', u.user.id)).status, 0);
    assert.equal((await call(server.url, 'POST', '/auth/login', { json: { email, password: u.password } })).status, 200);
  });

  it('sessions list and end, users list with search, keys list: human and --json output', async () => {
    const email = uniqueEmail();
    const u = await signup(server.url, email);
    const list = await cli(env, 'sessions', 'list', email, '--json');
    const { sessions, next_cursor } = JSON.parse(list.stdout) as { sessions: Array<{ id: string }>; next_cursor: string | null };
    assert.equal(sessions.length, 1);
    assert.equal(next_cursor, null, 'one page, the last');
    const bad = await cli(env, 'sessions', 'list', email, '--cursor', 'nope');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--cursor is not one this server returned/);
    // Ids are base64url: one may start with '-', so they go after -- (as the CLI's error says).
    assert.equal((await cli(env, 'sessions', 'end', '--', email, sessions[0]!.id)).status, 0);
    const dashed = await cli(env, 'sessions', 'end', email, '-Xq3');
    assert.equal(dashed.status, 2);
    assert.match(dashed.stderr, /an argument that starts with '-' goes after --/);
    await refusedWithin(server.url, u.access_token, 1000);
    const users = await cli(env, 'users', 'list', '--email', email);
    assert.equal(users.status, 0);
    assert.match(users.stdout, /^ID +EMAIL +STATE +CREATED\n/);
    assert.ok(users.stdout.includes(email));
    const keys = await cli(env, 'keys', 'list', '--json');
    const parsed = JSON.parse(keys.stdout) as Array<{ kind: string; state: string }>;
    assert.ok(parsed.some((k) => k.kind === 'signing' && k.state === 'active'));
    assert.doesNotMatch(keys.stdout, /private|secret|"d"/);
  });

  it('admin-keys create prints a key once that the running server accepts; revoke stops it', async () => {
    assert.ok(server.adminUrl);
    const made = await cli(env, 'admin-keys', 'create', 'ops laptop');
    assert.equal(made.status, 0, made.stderr);
    const key = made.stdout.split('\n')[0]!;
    assert.match(key, /^lka_/);
    const r = await call(server.adminUrl, 'GET', '/admin/users', { headers: { authorization: `Bearer ${key}` } });
    assert.equal(r.status, 200);
    const listed = await cli(env, 'admin-keys', 'list');
    assert.match(listed.stdout, /ops laptop/);
    assert.ok(!listed.stdout.includes(key), 'listing never shows a key');
    const id = key.slice(4, 15);
    assert.equal((await cli(env, 'admin-keys', 'revoke', '--', id)).status, 0);
    assert.equal((await call(server.adminUrl, 'GET', '/admin/users', { headers: { authorization: `Bearer ${key}` } })).status, 401);
  });

  it('bad input: unknown user, missing arguments, a bad limit; no server needed', async () => {
    const unknown = await cli(env, 'users', 'show', 'nobody@example.com');
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /not found \(not_found\)/);
    assert.equal((await cli(env, 'users', 'disable')).status, 2);
    assert.equal((await cli(env, 'users', 'list', '--limit', '0')).status, 2);
    const down = await cli({ ...env, LATCHKEY_REDIS_URL: 'redis://127.0.0.1:1' }, 'users', 'list');
    assert.equal(down.status, 1);
    assert.equal(down.stderr, 'latchkey: failed: redis unavailable\n', 'one line, no stack trace');
    const help = await cli(env, 'users', '--help');
    assert.match(help.stdout, /disable +end every session now/);
    // Against a data directory no server is using.
    const idle = tempDataDir();
    try {
      const r = await cli({ LATCHKEY_DATA_DIR: idle }, 'users', 'list', '--json');
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { users: [], next: null });
    } finally {
      removeDir(idle);
    }
  });

  it('keys rotate / rotate-mac on a data dir no server has used yet: the start key is made first, the new one is pending, a second call exits 3', async () => {
    const fresh = tempDataDir();
    try {
      const e = { LATCHKEY_DATA_DIR: fresh };
      const first = await cli(e, 'keys', 'rotate', '--json');
      assert.equal(first.status, 0, first.stderr);
      assert.equal(JSON.parse(first.stdout).rotated, true);
      const again = await cli(e, 'keys', 'rotate');
      assert.equal(again.status, 3);
      assert.match(again.stdout, /already pending/);
      assert.equal((await cli(e, 'keys', 'rotate-mac')).status, 0);
      const states = (JSON.parse((await cli(e, 'keys', 'list', '--json')).stdout) as Array<{ kind: string; state: string }>).map((k) => `${k.kind}:${k.state}`);
      assert.deepEqual(states.sort(), ['mac:active', 'mac:pending', 'signing:active', 'signing:pending']);
      const srv = await spawnServer(e);
      try {
        const u = await call(srv.url, 'POST', '/auth/signup', { json: { email: 'rotate@example.com', password: 'correct horse battery' } });
        assert.equal(u.status, 201, 'the server signs with the active key while the new one is pending');
      } finally {
        srv.proc.kill('SIGTERM');
        await srv.exited;
      }
    } finally {
      removeDir(fresh);
    }
  });
});
