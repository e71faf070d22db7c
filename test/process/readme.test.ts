// The README's quick start, run as written against a real `npm start`-style server process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { uniqueEmail } from '../helpers/http.js';
import { removeDir, spawnServer, tempDataDir } from '../helpers/server.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function quickstartScript(): string {
  const m = /<!-- quickstart:begin -->\s*```bash\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(readme);
  if (!m) throw new Error('README has no quickstart block');
  return m[1]!;
}

it('README quick start works against a fresh server and prints what the README says', async () => {
  const dataDir = tempDataDir();
  const srv = await spawnServer({ LATCHKEY_DATA_DIR: dataDir });
  try {
    const email = uniqueEmail();
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', quickstartScript()], {
      env: { ...process.env, BASE: srv.url, EMAIL: email },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 8, r.stdout);
    assert.equal(JSON.parse(lines[0]!).email, email);
    assert.equal(JSON.parse(lines[1]!).email, email);
    assert.deepEqual(
      JSON.parse(lines[2]!).map((s: { current: boolean }) => s.current),
      [false, true],
    );
    assert.deepEqual(lines.slice(3), [
      'end other sessions: 204',
      '{"error":"invalid_grant","error_description":"refresh token reuse detected; session revoked","reason":"refresh_token_reused"}',
      'access token after theft: 401',
      'logout: 204',
      'access token after logout: 401',
    ]);
    // The README's expected-output block shows the same lines.
    for (const l of lines.slice(3)) assert.ok(readme.includes(l), `README expected output lacks: ${l}`);
  } finally {
    srv.proc.kill('SIGTERM');
    await srv.exited;
    removeDir(dataDir);
  }
});

it('README account-lifecycle script works against a fresh server (links from the dev outbox)', async () => {
  const m = /<!-- lifecycle:begin -->\s*```bash\n([\s\S]*?)```\s*<!-- lifecycle:end -->/.exec(readme);
  assert.ok(m, 'README has no lifecycle block');
  const dataDir = tempDataDir();
  const srv = await spawnServer({ LATCHKEY_DATA_DIR: dataDir });
  try {
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', m[1]!], { env: { ...process.env, BASE: srv.url, EMAIL: uniqueEmail() }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, ['signup: 201', 'verify: 204', 'forgot: 202', 'reset: 204', 'change password: 204', 'delete account: 204', 'login after deletion: 401']);
    for (const l of lines) assert.ok(readme.includes(l), `README expected output lacks: ${l}`);
  } finally {
    srv.proc.kill('SIGTERM');
    await srv.exited;
    removeDir(dataDir);
  }
});
