// Scale-out shape: a Latchkey server on Redis, and a verifier in "another process" following the
// server's revocation feed through `redisRevocationSource` (the server's own adapter, reused).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { createVerifier, VerifyError } from '../../packages/verify/src/index.js';
import { redisRevocationSource } from '../../packages/verify/src/redis.js';
import { signup, startServer, type TestServer } from './helpers.js';

describe('verify: Redis revocation feed', () => {
  let redis: RedisProcess;
  let server: TestServer;
  before(async () => {
    redis = await startRedis();
    server = await startServer({ LATCHKEY_REDIS_URL: redis.url });
  });
  after(async () => {
    await server?.close();
    await redis?.stop();
  });

  test('logout on the server reaches a separate verifier over Redis pub/sub within milliseconds', async () => {
    const source = redisRevocationSource({ url: redis.url });
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, revocations: source });
    try {
      await v.ready();
      const { access_token } = await signup(server);
      await v.verify(access_token);
      const res = await fetch(`${server.base}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
      assert.equal(res.status, 204);
      const t0 = Date.now();
      for (;;) {
        const e = await v.verify(access_token).then(
          () => null,
          (err: unknown) => err,
        );
        if (e) {
          assert.ok(e instanceof VerifyError);
          assert.equal(e.reason, 'revoked');
          break;
        }
        assert.ok(Date.now() - t0 < 2000, 'revocation not delivered within 2 s');
        await new Promise((r) => setTimeout(r, 2));
      }
      console.log(`redis revocation delivered in ${Date.now() - t0} ms`);
    } finally {
      await v.close();
    }
  });

  test('a verifier started after the revocation loads it from the recent-revocations set first', async () => {
    const { access_token } = await signup(server);
    const res = await fetch(`${server.base}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(res.status, 204);
    const v = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, revocations: redisRevocationSource({ url: redis.url }) });
    try {
      await assert.rejects(v.verify(access_token), (e: unknown) => e instanceof VerifyError && e.reason === 'revoked');
    } finally {
      await v.close();
    }
  });

  test('Redis unreachable at start: 503, never an unchecked accept', async () => {
    const v = createVerifier({
      issuer: server.issuer,
      audience: server.audience,
      fetch: server.fetch,
      revocations: redisRevocationSource({ url: 'redis://127.0.0.1:1', connectWaitMs: 300 }),
    });
    try {
      const { access_token } = await signup(server);
      await assert.rejects(v.verify(access_token), (e: unknown) => e instanceof VerifyError && e.code === 'temporarily_unavailable' && e.reason === 'revocations_unavailable');
    } finally {
      await v.close();
    }
  });
});
