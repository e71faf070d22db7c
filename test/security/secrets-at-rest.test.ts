// Issue 12, finding 6: a dump of every store, taken without the key-encryption key, holds no
// private signing key and no refresh MAC secret. Dumps: the embedded data dir's SQLite files as
// bytes (WAL and shared memory included, the server still running), and in scale-out pg_dump of
// the database plus every Redis key's value. Each 32-byte window (raw, and decoded from base64 /
// base64url / hex runs) is tried as an Ed25519 seed against the JWKS and as the MAC key of live
// refresh tokens (test/helpers/secret-scan.ts). A positive control shows the scan finds both when
// they are there. Also: legacy plaintext rows are sealed in place without losing a key, a KEK
// that cannot open the keys (or a row moved to another kid) stops the start, and the data dir
// and secrets files are refused when others can write (or, the KEK, read) them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../../packages/server/src/config.js';
import { createLatchkey } from '../../packages/server/src/server.js';
import { parseSecretsKey } from '../../packages/server/src/secrets/key-encryption-key.js';
import { isSealed, isSealedText, unseal, unsealText } from '../../packages/server/src/secrets/seal.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { call, refresh, signup } from '../helpers/http.js';
import { scanForSecrets, type ScanTargets } from '../helpers/secret-scan.js';
import { TEST_SECRETS_KEY } from '../helpers/secrets.js';
import { startServer, tempDataDir, type TestServer } from '../helpers/server.js';

async function jwksPublics(url: string): Promise<Buffer[]> {
  const r = await call(url, 'GET', '/.well-known/jwks.json');
  return (r.body.keys as Array<{ kty: string; x: string }>).filter((k) => k.kty === 'OKP').map((k) => Buffer.from(k.x, 'base64url'));
}

/**
 * Live material of several generations: sessions and refresh tokens under two MAC secrets and
 * access tokens of two signing keys (rotated with no lead, so the second is in use at once).
 */
async function liveTokens(srv: TestServer): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < 3; i++) {
    const u = await signup(srv.url);
    tokens.push((await refresh(srv.url, u.refresh_token)).body.refresh_token);
  }
  await srv.latchkey.ctx.keys.rotate({ leadMs: 0 });
  await srv.latchkey.ctx.keys.rotateMac({ leadMs: 0 });
  for (let i = 0; i < 3; i++) tokens.push((await signup(srv.url)).refresh_token);
  const ids = new Set(tokens.map((t) => Buffer.from(t, 'base64url').readUInt16BE(1)));
  assert.deepEqual([...ids].sort(), [1, 2], 'tokens under both MAC secrets');
  return tokens;
}

function assertNothingUsable(dumps: Buffer[], targets: ScanTargets): void {
  const r = scanForSecrets(dumps, targets);
  assert.ok(r.windowsTried > 100, `the scan looked at something (${r.windowsTried} windows)`);
  assert.deepEqual({ signingSeeds: r.signingSeeds, macSecrets: r.macSecrets }, { signingSeeds: 0, macSecrets: 0 }, 'private signing keys / MAC secrets (per live token) found in the dump');
}

/** The scan is not vacuous: the same material, written as the old code stored it, is found. */
function assertScanFindsPlaintext(srv: TestServer, targets: ScanTargets): void {
  const jwk = JSON.stringify(srv.latchkey.ctx.keys.signingKey().privateKey.export({ format: 'jwk' }));
  const mac = srv.latchkey.ctx.keys.mac.current.secret;
  const r = scanForSecrets([Buffer.from(`{"private_jwk":${JSON.stringify(jwk)},"secret":"\\\\x${mac.toString('hex')}"}`)], targets);
  assert.equal(r.signingSeeds, 1);
  assert.ok(r.macSecrets >= 3, `found the MAC secret for the tokens it made (${r.macSecrets})`);
}

const fileBytes = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f !== 'secrets.key')
    .map((f) => readFileSync(join(dir, f)));

describe('a dump without the key-encryption key holds no usable key', { timeout: 120_000 }, () => {
  it('embedded: the SQLite files (WAL included) of a running server', async () => {
    const srv = await startServer();
    try {
      const tokens = await liveTokens(srv);
      const targets = { ed25519Public: await jwksPublics(srv.url), refreshTokens: tokens };
      assert.equal(targets.ed25519Public.length, 2);
      assert.ok(existsSync(join(srv.dataDir, 'secrets.db-wal')), 'the WAL is part of the dump');
      assertNothingUsable(fileBytes(srv.dataDir), targets);
      assertScanFindsPlaintext(srv, targets);
    } finally {
      await srv.close();
    }
  });

  describe('scale-out: pg_dump and every Redis value', () => {
    let redis: RedisProcess;
    let db: TestDatabase;
    before(async () => {
      await ensurePostgres();
      [redis, db] = await Promise.all([startRedis(), createTestDatabase()]);
    });
    after(async () => {
      await redis?.stop();
      await db?.drop();
    });

    it('finds nothing', async () => {
      const srv = await startServer({ LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY });
      try {
        const tokens = await liveTokens(srv);
        const targets = { ed25519Public: await jwksPublics(srv.url), refreshTokens: tokens };
        const dumps = [pgDump(db.url), ...(await redisValues(redis.url))];
        assert.ok(dumps[0]!.includes('mac_keys'), 'pg_dump holds the key tables');
        assertNothingUsable(dumps, targets);
        assertScanFindsPlaintext(srv, targets);
      } finally {
        await srv.close();
      }
    });

    it('seals legacy plaintext rows in place: tokens from before keep working, and the dump is clean after', async () => {
      // One issuer across the restart (by default it names the port).
      const env = { LATCHKEY_DATABASE_URL: db.url, LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY, LATCHKEY_REDIS_URL: redis.url, LATCHKEY_ISSUER: 'http://latchkey.test' };
      const first = await startServer(env);
      const u = await signup(first.url);
      await first.close();
      await unsealPostgresRows(db.url);
      assert.ok(pgDump(db.url).toString().includes('"d":"'), 'the store is back in the old plaintext form');
      const srv = await startServer(env);
      try {
        assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 200, 'an access token signed before the upgrade');
        const next = await refresh(srv.url, u.refresh_token);
        assert.equal(next.status, 200, 'a refresh token made before the upgrade');
        assertNothingUsable([pgDump(db.url)], { ed25519Public: await jwksPublics(srv.url), refreshTokens: [next.body.refresh_token] });
      } finally {
        await srv.close();
      }
    });
  });
});

function pgDump(url: string): Buffer {
  const r = spawnSync('pg_dump', ['--no-owner', url], { maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

async function redisValues(url: string): Promise<Buffer[]> {
  const r = new Redis(url);
  try {
    const out: Buffer[] = [];
    for (const key of await r.keysBuffer('*')) {
      out.push(key);
      const type = await r.type(key);
      if (type === 'string') out.push((await r.getBuffer(key))!);
      else if (type === 'hash') out.push(...Object.values(await r.hgetallBuffer(key)));
      else if (type === 'zset') out.push(...(await r.zrangeBuffer(key, 0, -1, 'WITHSCORES')));
      else if (type === 'set') out.push(...(await r.smembersBuffer(key)));
      else if (type === 'list') out.push(...(await r.lrangeBuffer(key, 0, -1)));
      else if (type === 'stream') out.push(Buffer.from(JSON.stringify(await r.xrange(key, '-', '+'))));
    }
    return out;
  } finally {
    r.disconnect();
  }
}

const kek = () => parseSecretsKey(TEST_SECRETS_KEY)!;

/** Writes the key rows back as versions before issue 12 stored them: plaintext JWK and raw secret. */
async function unsealPostgresRows(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const row of (await c.query<{ kid: string; private_jwk: string }>('SELECT kid, private_jwk FROM signing_keys')).rows) {
      await c.query('UPDATE signing_keys SET private_jwk = $1 WHERE kid = $2', [unsealText(kek(), row.private_jwk, { purpose: 'signing-key', kid: row.kid }), row.kid]);
    }
    for (const row of (await c.query<{ id: number; secret: Buffer }>('SELECT id, secret FROM mac_keys')).rows) {
      await c.query('UPDATE mac_keys SET secret = $1 WHERE id = $2', [unseal(kek(), row.secret, { purpose: 'mac-key', id: row.id }), row.id]);
    }
    await c.query('UPDATE signing_keys SET activates_at = NULL; UPDATE mac_keys SET activates_at = NULL');
  } finally {
    await c.end();
  }
}

/** The embedded secrets file as versions before issue 12 left it: plaintext rows, no activates_at, no secrets.key. */
function unsealSqlite(dataDir: string): void {
  const key = parseSecretsKey(readFileSync(join(dataDir, 'secrets.key'), 'utf8'))!;
  const db = new Database(join(dataDir, 'secrets.db'));
  for (const row of db.prepare('SELECT kid, private_jwk FROM signing_keys').all() as Array<{ kid: string; private_jwk: string }>) {
    db.prepare('UPDATE signing_keys SET private_jwk = ? WHERE kid = ?').run(unsealText(key, row.private_jwk, { purpose: 'signing-key', kid: row.kid }), row.kid);
  }
  for (const row of db.prepare('SELECT id, secret FROM mac_keys').all() as Array<{ id: number; secret: Buffer }>) {
    db.prepare('UPDATE mac_keys SET secret = ? WHERE id = ?').run(unseal(key, row.secret, { purpose: 'mac-key', id: row.id }), row.id);
  }
  db.exec('ALTER TABLE signing_keys DROP COLUMN activates_at; ALTER TABLE mac_keys DROP COLUMN activates_at');
  db.close();
  unlinkSync(join(dataDir, 'secrets.key'));
}

const startIn = (dir: string, env: Record<string, string> = {}) => startServer({ LATCHKEY_DATA_DIR: dir, LATCHKEY_ISSUER: 'http://latchkey.test', ...env });

describe('upgrade, wrong keys and file modes (embedded)', { timeout: 60_000 }, () => {
  it('seals a legacy plaintext secrets file in place: old tokens keep working, no plaintext left in the file or its WAL', async () => {
    const dir = tempDataDir();
    try {
      const first = await startIn(dir);
      const u = await signup(first.url);
      await first.close();
      unsealSqlite(dir);
      const legacy = new Database(join(dir, 'secrets.db'), { readonly: true });
      assert.ok(!isSealedText((legacy.prepare('SELECT private_jwk FROM signing_keys').get() as { private_jwk: string }).private_jwk));
      legacy.close();

      const srv = await startIn(dir);
      try {
        assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 200, 'an access token signed before the upgrade');
        const next = await refresh(srv.url, u.refresh_token);
        assert.equal(next.status, 200, 'a refresh token made before the upgrade');
        assert.ok(statSync(join(dir, 'secrets.key')).isFile(), 'a KEK was generated');
        const check = new Database(join(dir, 'secrets.db'), { readonly: true });
        assert.ok(isSealedText((check.prepare('SELECT private_jwk FROM signing_keys').get() as { private_jwk: string }).private_jwk));
        assert.ok(isSealed((check.prepare('SELECT secret FROM mac_keys').get() as { secret: Buffer }).secret));
        check.close();
        assertNothingUsable(fileBytes(dir), { ed25519Public: await jwksPublics(srv.url), refreshTokens: [u.refresh_token, next.body.refresh_token] });
      } finally {
        await srv.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a KEK that cannot open the stored keys stops the start, naming the variable, and creates nothing', async () => {
    const dir = tempDataDir();
    try {
      const first = await startIn(dir, { LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY });
      await first.close();
      const before = (new Database(join(dir, 'secrets.db'), { readonly: true }).prepare('SELECT count(*) AS n FROM signing_keys').get() as { n: number }).n;
      const other = Buffer.alloc(32, 1).toString('base64url');
      await assert.rejects(
        createLatchkey(loadConfig({ LATCHKEY_DATA_DIR: dir, LATCHKEY_SECRETS_KEY: other, LATCHKEY_ADMIN_PORT: 'off' })),
        (e: Error) => e.name === 'SecretsKeyError' && /LATCHKEY_SECRETS_KEY cannot decrypt signing key/.test(e.message) && !e.message.includes(other),
      );
      // The data dir's generated key is not the one either: same refusal, no new key.
      await assert.rejects(createLatchkey(loadConfig({ LATCHKEY_DATA_DIR: dir, LATCHKEY_ADMIN_PORT: 'off' })), /cannot decrypt/);
      const db = new Database(join(dir, 'secrets.db'), { readonly: true });
      assert.equal((db.prepare('SELECT count(*) AS n FROM signing_keys').get() as { n: number }).n, before);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a sealed row moved to another kid (or a MAC id) does not open: AAD binds each ciphertext to its row', async () => {
    const dir = tempDataDir();
    try {
      const srv = await startIn(dir);
      await srv.latchkey.ctx.keys.rotate({ leadMs: 0 });
      await srv.close();
      const db = new Database(join(dir, 'secrets.db'));
      const [a, b] = db.prepare('SELECT kid, private_jwk FROM signing_keys').all() as Array<{ kid: string; private_jwk: string }>;
      db.prepare('UPDATE signing_keys SET private_jwk = ? WHERE kid = ?').run(b!.private_jwk, a!.kid);
      db.close();
      await assert.rejects(startIn(dir), /cannot decrypt signing key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('creates the data dir 0700 and the generated KEK 0600; refuses group/world-writable dirs and files, and a readable KEK file', async () => {
    const parent = tempDataDir();
    const dir = join(parent, 'data');
    try {
      const srv = await startIn(dir);
      await srv.close();
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(statSync(join(dir, 'secrets.key')).mode & 0o777, 0o600);
      assert.equal(statSync(join(dir, 'secrets.db')).mode & 0o777, 0o600);

      const refused = async (path: string, mode: number, fix: RegExp, env: Record<string, string> = {}) => {
        const was = statSync(path).mode & 0o777;
        chmodSync(path, mode);
        try {
          await assert.rejects(startIn(dir, env), (e: Error) => fix.test(e.message));
        } finally {
          chmodSync(path, was);
        }
      };
      await refused(dir, 0o777, /data directory .* mode 777.*chmod 700/);
      await refused(dir, 0o770, /chmod 700/);
      await refused(join(dir, 'secrets.db'), 0o666, /secrets\.db has mode 666.*chmod 600/);
      await refused(join(dir, 'latchkey.db'), 0o620, /latchkey\.db has mode 620.*chmod 600/);
      await refused(join(dir, 'secrets.key'), 0o644, /key-encryption key file .*secrets\.key has mode 644.*chmod 600/);
      const keyFile = join(parent, 'kek');
      spawnSync('sh', ['-c', `umask 077; printf '%s\\n' '${TEST_SECRETS_KEY}' > '${keyFile}'`]);
      await refused(keyFile, 0o640, /kek has mode 640.*chmod 600/, { LATCHKEY_SECRETS_KEY_FILE: keyFile });
      chmodSync(dir, 0o755); // readable by others is the operator's choice; writable is not
      const ok = await startIn(dir);
      await ok.close();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
