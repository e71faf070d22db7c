// Issue 5 asks for the whole security battery on the Redis + PostgreSQL shape as well as on the
// embedded default: run test/security again, every server it starts pointed at a private Redis
// and a throwaway PostgreSQL database (test/security/support.ts reads LATCHKEY_SECURITY_ENV).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { createTestDatabase, ensurePostgres } from '../harness/postgres.js';
import { startRedis } from '../harness/redis.js';
import { TEST_SECRETS_KEY } from '../helpers/secrets.js';

const root = join(import.meta.dirname, '..', '..');

function withoutTestContext(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _ignored, ...rest } = env;
  return rest;
}

it('the security battery passes on Redis + PostgreSQL', async () => {
  await ensurePostgres();
  const redis = await startRedis();
  const db = await createTestDatabase();
  try {
    const files = readdirSync(join(root, 'test', 'security'))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => join('test', 'security', f));
    assert.ok(files.length >= 5, files.join(','));
    const r = spawnSync(process.execPath, ['--conditions=latchkey-source', '--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
      cwd: root,
      // Without NODE_TEST_CONTEXT the nested runner reports on its own instead of to this one.
      env: { ...withoutTestContext(process.env), LATCHKEY_SECURITY_ENV: JSON.stringify({ LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY }) },
      encoding: 'utf8',
      timeout: 300_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    const summary = out.split('\n').filter((l) => /^ℹ (tests|pass|fail) /.test(l));
    console.log(`# security battery on Redis + PostgreSQL: ${summary.join('; ')}`);
    assert.equal(r.status, 0, out.slice(-4000));
    const passed = Number(/ℹ pass (\d+)/.exec(out)?.[1]);
    assert.ok(passed >= 100, `only ${passed} tests ran`);
  } finally {
    await redis.stop();
    await db.drop();
  }
});
