// The embedded store survives a hard crash: SIGKILL mid-traffic, restart on the same data dir.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call, refresh, signup } from '../helpers/http.js';
import { removeDir, spawnServer, tempDataDir } from '../helpers/server.js';
import { freePort } from '../harness/free-port.js';

/** The generation a refresh token carries (bytes 19..22 of the decoded token; see packages/server/src/domain/refresh-token.ts). */
function generationOf(refreshToken: string): number {
  return Buffer.from(refreshToken, 'base64url').readUInt32BE(19);
}

describe('persistence', () => {
  it('SIGKILL mid-traffic: every session that got a 200 still refreshes, nothing rotated twice; users, keys and access tokens survive', async () => {
    const dataDir = tempDataDir();
    const port = await freePort();
    const env = { LATCHKEY_DATA_DIR: dataDir, LATCHKEY_ISSUER: `http://localhost:${port}`, LATCHKEY_REUSE_GRACE: '30' };
    try {
      const first = await spawnServer(env, port);
      const users = await Promise.all(Array.from({ length: 20 }, () => signup(first.url)));
      const chains = users.map((u) => ({ user: u, last: u.refresh_token, ok: 0, access: u.access_token }));
      let killed = false;
      const traffic = chains.map(async (c) => {
        while (!killed) {
          try {
            const r = await refresh(first.url, c.last);
            if (r.status !== 200) throw new Error(`unexpected ${r.status} ${r.text}`);
            c.last = r.body.refresh_token;
            c.access = r.body.access_token;
            c.ok++;
          } catch (e) {
            if (killed) return;
            throw e;
          }
        }
      });
      await new Promise((r) => setTimeout(r, 700));
      killed = true;
      first.proc.kill('SIGKILL');
      await first.exited;
      await Promise.all(traffic);
      const total = chains.reduce((n, c) => n + c.ok, 0);
      assert.ok(total > 20, `traffic ran before the kill (${total} refreshes)`);

      const second = await spawnServer(env, port);
      try {
        for (const c of chains) {
          assert.equal((await call(second.url, 'GET', '/auth/me', { token: c.access })).status, 200, 'access token from before the crash');
          const r = await refresh(second.url, c.last);
          assert.equal(r.status, 200, `chain of ${c.user.email}: ${r.text}`);
          // Exactly one rotation per 200 the client saw (a request lost in the crash may have
          // committed; the grace window then hands back that same successor).
          assert.equal(generationOf(r.body.refresh_token), c.ok + 1);
        }
        const login = await call(second.url, 'POST', '/auth/login', { json: { email: users[0]!.email, password: users[0]!.password } });
        assert.equal(login.status, 200, 'users survive');
      } finally {
        second.proc.kill('SIGTERM');
        await second.exited;
      }
    } finally {
      removeDir(dataDir);
    }
  });

  it('SIGTERM: stops accepting, finishes in-flight requests, closes the database, exits 0', async () => {
    const dataDir = tempDataDir();
    try {
      const srv = await spawnServer({ LATCHKEY_DATA_DIR: dataDir });
      const u = await signup(srv.url);
      // A login spends tens of ms in argon2: it is in flight when the signal lands.
      const inflight = call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
      await new Promise((r) => setTimeout(r, 5));
      srv.proc.kill('SIGTERM');
      const r = await inflight;
      assert.equal(r.status, 200);
      const exit = await srv.exited;
      assert.equal(exit.code, 0);
      assert.match(srv.output(), /"msg":"stopped"/);
      await assert.rejects(fetch(`${srv.url}/healthz`), 'no longer accepting');
    } finally {
      removeDir(dataDir);
    }
  });

  it('a bad configuration value stops the process with a message naming the variable', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, ['packages/server/dist/cli.js', 'start'], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: { ...process.env, LATCHKEY_ACCESS_TTL: 'soon' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /LATCHKEY_ACCESS_TTL: expected an integer/);
  });
});
