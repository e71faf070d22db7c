import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../packages/server/src/config.js';

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
