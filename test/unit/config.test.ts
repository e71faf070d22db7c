import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../packages/server/src/config.js';
import { TEST_SECRETS_KEY } from '../helpers/secrets.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    assert.equal(c.port, 3000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.issuer, 'http://localhost:3000');
    assert.equal(c.audience, c.issuer);
    assert.equal(c.dataDir, './data');
    assert.equal(c.accessTtlSec, 300);
    assert.equal(c.reuseGraceSec, 10);
    assert.equal(c.sessionTtlSec, 30 * 86400);
    assert.equal(c.sessionIdleSec, 7 * 86400);
    assert.equal(c.maxSessions, 100, "a bounded default (issue 12)");
    assert.deepEqual(c.clients, ['app']);
    assert.equal(c.alg, 'EdDSA');
    assert.equal(c.clockLeewaySec, 5);
    assert.equal(c.redisUrl, null);
    assert.equal(c.databaseUrl, null);
  });

  it('reads every variable', () => {
    const c = loadConfig({
      PORT: '8080',
      LATCHKEY_ISSUER: 'https://auth.example.com',
      LATCHKEY_AUDIENCE: 'api',
      LATCHKEY_ACCESS_TTL: '60',
      LATCHKEY_REUSE_GRACE: '0',
      LATCHKEY_MAX_SESSIONS: '1',
      LATCHKEY_CLIENTS: 'web, mobile',
      LATCHKEY_ALG: 'RS256',
      LATCHKEY_REDIS_URL: 'redis://127.0.0.1:6380',
      LATCHKEY_DATABASE_URL: 'postgres://u:p@127.0.0.1/db',
      LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY,
    });
    assert.equal(c.port, 8080);
    assert.equal(c.issuer, 'https://auth.example.com');
    assert.equal(c.audience, 'api');
    assert.equal(c.reuseGraceSec, 0);
    assert.equal(c.maxSessions, 1);
    assert.deepEqual(c.clients, ['web', 'mobile']);
    assert.equal(c.alg, 'RS256');
  });

  const bad: Array<[string, string]> = [
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['LATCHKEY_ACCESS_TTL', '-5'],
    ['LATCHKEY_ACCESS_TTL', '1.5'],
    ['LATCHKEY_REUSE_GRACE', 'ten'],
    ['LATCHKEY_ALG', 'HS256'],
    ['LATCHKEY_ALG', 'none'],
    ['LATCHKEY_ISSUER', 'not a url'],
    ['LATCHKEY_ISSUER', 'https://x.example/?q=1'],
    ['LATCHKEY_CLIENTS', 'a,,b'],
    ['LATCHKEY_MAX_SESSIONS', '0'],
    ['LATCHKEY_REDIS_URL', 'http://127.0.0.1'],
    ['LATCHKEY_DATABASE_URL', 'mysql://x'],
    ['LATCHKEY_TRUST_PROXY', 'maybe'],
    ['LATCHKEY_LOG_LEVEL', 'loud'],
  ];
  for (const [name, value] of bad) {
    it(`refuses ${name}=${value} with a message naming the variable`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${name}: expected `),
      );
    });
  }

  it('never echoes a password from a connection URL', () => {
    assert.throws(
      () => loadConfig({ LATCHKEY_DATABASE_URL: 'mysql://user:hunter2@db/x' }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('hunter2'),
    );
  });
});

describe('configuration: secrets and key rotation (issue 12)', () => {
  const pgUrl = 'postgres://u:p@127.0.0.1/db';

  it('defaults: rotation every 30 days, published an hour ahead, reloaded every 30 s, no KEK (embedded generates one)', () => {
    const c = loadConfig({});
    assert.equal(c.keyRotationSec, 30 * 86400);
    assert.equal(c.keyPublishLeadSec, 3600);
    assert.equal(c.keyReloadSec, 30);
    assert.equal(c.secretsKey, null);
    assert.equal(c.secretsKeyFile, null);
    assert.equal(loadConfig({ LATCHKEY_KEY_ROTATION: 'off' }).keyRotationSec, null);
  });

  it('with LATCHKEY_DATABASE_URL a KEK is required, and the message names the variable', () => {
    assert.throws(
      () => loadConfig({ LATCHKEY_DATABASE_URL: pgUrl }),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith('LATCHKEY_SECRETS_KEY: expected ') && /LATCHKEY_SECRETS_KEY_FILE/.test(e.message),
    );
    assert.ok(loadConfig({ LATCHKEY_DATABASE_URL: pgUrl, LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY }).secretsKey?.length === 32);
    assert.equal(loadConfig({ LATCHKEY_DATABASE_URL: pgUrl, LATCHKEY_SECRETS_KEY_FILE: '/run/secrets/kek' }).secretsKeyFile, '/run/secrets/kek');
  });

  it('takes base64url, padded base64 and hex of 32 bytes; refuses anything else without echoing it', () => {
    const bytes = Buffer.alloc(32, 0xfb);
    for (const form of [bytes.toString('base64url'), bytes.toString('base64'), bytes.toString('hex')]) {
      assert.ok(loadConfig({ LATCHKEY_SECRETS_KEY: form }).secretsKey!.equals(bytes), form);
    }
    for (const bad of ['short', Buffer.alloc(31).toString('base64url'), Buffer.alloc(33).toString('hex'), `${bytes.toString('hex')}zz`]) {
      assert.throws(
        () => loadConfig({ LATCHKEY_SECRETS_KEY: bad }),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith('LATCHKEY_SECRETS_KEY: expected ') && !e.message.includes(bad),
      );
    }
    assert.throws(() => loadConfig({ LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY, LATCHKEY_SECRETS_KEY_FILE: '/x' }), /LATCHKEY_SECRETS_KEY: expected either/);
  });

  it('refuses a lead shorter than two reloads, and a rotation interval not longer than the lead', () => {
    assert.throws(() => loadConfig({ LATCHKEY_KEY_RELOAD: '30', LATCHKEY_KEY_PUBLISH_LEAD: '59' }), /^ConfigError|LATCHKEY_KEY_PUBLISH_LEAD: expected at least twice/);
    assert.equal(loadConfig({ LATCHKEY_KEY_RELOAD: '1', LATCHKEY_KEY_PUBLISH_LEAD: '2' }).keyPublishLeadSec, 2);
    assert.throws(() => loadConfig({ LATCHKEY_KEY_ROTATION: '3600' }), /LATCHKEY_KEY_ROTATION: expected off, or more seconds than LATCHKEY_KEY_PUBLISH_LEAD/);
    assert.throws(() => loadConfig({ LATCHKEY_KEY_ROTATION: 'weekly' }), /LATCHKEY_KEY_ROTATION: expected/);
  });
});
