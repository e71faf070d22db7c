// The Fastify plugin and the Express/Connect middleware end to end over real HTTP, with tokens
// from a real Latchkey server: RFC 6750 §3 answers for missing, bad and revoked tokens, 503 when
// the issuer cannot be reached on a cold start, claims on the request otherwise.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { createVerifier, latchkeyExpress, type Verifier, type Middleware } from '../../packages/verify/src/index.js';
import { fastifyGuard, latchkeyFastify } from '../../packages/verify/src/fastify.js';
import { forge, goodClaims, signGood, signup, startServer, type TestServer } from './helpers.js';

interface Api {
  url: string;
  close(): Promise<void>;
}

async function fastifyApi(verifier: Verifier): Promise<Api> {
  const app: FastifyInstance = Fastify({ logger: false });
  // Every route of this scope is guarded (the plugin joins the scope it is registered in).
  await app.register(async (scope) => {
    await scope.register(latchkeyFastify, { verifier, realm: 'orders-api' });
    scope.get('/orders', async (req) => ({ sub: req.auth?.sub, sid: req.auth?.sid }));
    scope.post('/orders', async (req) => ({ sub: req.auth?.sub, body: req.body }));
    scope.get('/health', { config: { auth: false } }, async (req) => ({ ok: true, auth: req.auth }));
  });
  // The opt-in form, in a sibling scope: not affected by the guard above.
  await app.register(async (scope) => {
    await scope.register(latchkeyFastify, { verifier, global: false });
    scope.get('/opt-in/public', async () => ({ public: true }));
    scope.get('/opt-in/private', { onRequest: fastifyGuard({ verifier, realm: 'orders-api' }) }, async (req) => ({ sub: req.auth?.sub }));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

async function expressApi(verifier: Verifier): Promise<Api> {
  // A Connect-style chain by hand: the middleware needs nothing from express itself.
  const guard: Middleware = latchkeyExpress({ verifier, realm: 'orders-api' });
  const srv = http.createServer((req, res) => {
    if (req.url === '/health') {
      res.end(JSON.stringify({ ok: true }));
      return;
    }
    guard(req, res, (err) => {
      if (err) {
        res.statusCode = 500;
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sub: (req as { auth?: { sub: string } }).auth?.sub }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

async function call(url: string, authorization?: string, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (authorization !== undefined) headers.set('authorization', authorization);
  const res = await fetch(url, { ...init, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

for (const [name, make] of [
  ['fastify plugin', fastifyApi],
  ['express/connect middleware', expressApi],
] as const) {
  describe(`adapter: ${name}`, () => {
    let server: TestServer;
    let verifier: Verifier;
    let api: Api;

    before(async () => {
      server = await startServer();
      verifier = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch, revocations: server.latchkey.ctx.stores.revocations });
      api = await make(verifier);
    });
    after(async () => {
      await api.close();
      await verifier.close();
      await server.close();
    });

    test('valid token: 200 and the claims on the request', async () => {
      const { access_token, user } = await signup(server);
      const r = await call(`${api.url}/orders`, `Bearer ${access_token}`);
      assert.equal(r.status, 200);
      assert.equal(r.body?.sub, user.id);
      const lower = await call(`${api.url}/orders`, `bearer ${access_token}`); // the scheme is case-insensitive
      assert.equal(lower.status, 200);
    });

    test('no credentials: 401 with a bare challenge, no error code (RFC 6750 §3.1)', async () => {
      for (const auth of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer    ', 'Token abc']) {
        const r = await call(`${api.url}/orders`, auth);
        assert.equal(r.status, 401, String(auth));
        assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="orders-api"', String(auth));
        assert.equal(r.headers.get('cache-control'), 'no-store');
      }
    });

    test('bad tokens: 401 error="invalid_token", the reason never disclosed', async () => {
      const key = server.latchkey.ctx.keys.signingKey();
      const bad = [
        'garbage',
        forge(key, goodClaims(server), { typ: 'JWT' }),
        forge(key, { ...goodClaims(server), aud: 'https://elsewhere.example' }),
        forge(key, { ...goodClaims(server), exp: Math.floor(Date.now() / 1000) - 60 }),
        forge(key, goodClaims(server), { jku: 'http://127.0.0.1:1/jwks' }),
        `${signGood(server)}x`,
        'x'.repeat(9000), // over the 8 KB token limit, under node's header limit
      ];
      for (const token of bad) {
        const r = await call(`${api.url}/orders`, `Bearer ${token}`);
        assert.equal(r.status, 401);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="orders-api", error="invalid_token", error_description="access token is invalid"');
        assert.deepEqual(r.body, { error: 'invalid_token', error_description: 'access token is invalid', reason: 'access_token_invalid' });
      }
    });

    test('revoked session (server logout over the feed): 401 invalid_token', async () => {
      const { access_token } = await signup(server);
      assert.equal((await call(`${api.url}/orders`, `Bearer ${access_token}`)).status, 200);
      const out = await fetch(`${server.base}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
      assert.equal(out.status, 204);
      const r = await call(`${api.url}/orders`, `Bearer ${access_token}`);
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    });

    test('JWKS unreachable on a cold start: 503 temporarily_unavailable with Retry-After', async () => {
      const down = createVerifier({
        issuer: server.issuer,
        audience: server.audience,
        fetch: async () => {
          throw new TypeError('fetch failed');
        },
      });
      const downApi = await make(down);
      try {
        const r = await call(`${downApi.url}/orders`, `Bearer ${signGood(server)}`);
        assert.equal(r.status, 503);
        assert.equal(r.headers.get('retry-after'), '1');
        assert.equal(r.body?.error, 'temporarily_unavailable');
        // No token at all is still the plain challenge, not a 503.
        assert.equal((await call(`${downApi.url}/orders`)).status, 401);
      } finally {
        await downApi.close();
        await down.close();
      }
    });

    test('public routes stay public', async () => {
      const r = await call(`${api.url}/health`);
      assert.equal(r.status, 200);
    });
  });
}

describe('adapter: fastify specifics', () => {
  let server: TestServer;
  let verifier: Verifier;
  let api: Api;
  before(async () => {
    server = await startServer();
    verifier = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch });
    api = await fastifyApi(verifier);
  });
  after(async () => {
    await api.close();
    await verifier.close();
    await server.close();
  });

  test('request.auth is null on an exempt route', async () => {
    const r = await call(`${api.url}/health`, `Bearer ${signGood(server)}`);
    assert.deepEqual(r.body, { ok: true, auth: null });
  });

  test('the guard runs before the body is parsed: an unauthenticated POST never reaches the handler', async () => {
    const r = await call(`${api.url}/orders`, undefined, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"not json' });
    assert.equal(r.status, 401); // not 400: the body was never looked at
    const ok = await call(`${api.url}/orders`, `Bearer ${signGood(server)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body?.body, { n: 1 });
  });

  test('opt-in guard: only the guarded route requires a token', async () => {
    assert.equal((await call(`${api.url}/opt-in/public`)).status, 200);
    assert.equal((await call(`${api.url}/opt-in/private`)).status, 401);
    const r = await call(`${api.url}/opt-in/private`, `Bearer ${signGood(server)}`);
    assert.equal(r.status, 200);
    assert.equal(r.body?.sub, 'user-1');
  });
});
