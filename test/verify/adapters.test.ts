// The Fastify plugin and the Express/Connect middleware end to end over real HTTP, with tokens
// from a real Latchkey server: RFC 6750 §3 answers for missing, bad and revoked tokens, 503 when
// the issuer cannot be reached on a cold start, claims on the request otherwise; DPoP-bound
// tokens (RFC 9449 §7) with proofs for the URL the adapter sees, or the public one behind a proxy.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { createVerifier, latchkeyExpress, type Verifier, type Middleware } from '../../packages/verify/src/index.js';
import { fastifyGuard, latchkeyFastify } from '../../packages/verify/src/fastify.js';
import { forge, goodClaims, signBound, signGood, signup, startServer, type TestServer } from './helpers.js';
import { makeProof, proofKey, type ProofKey, type ProofOptions } from '../helpers/dpop-proof.js';

interface Api {
  url: string;
  close(): Promise<void>;
}

interface ApiOptions {
  publicUrl?: string;
}

async function fastifyApi(verifier: Verifier, o: ApiOptions = {}): Promise<Api> {
  const app: FastifyInstance = Fastify({ logger: false });
  // Every route of this scope is guarded (the plugin joins the scope it is registered in).
  await app.register(async (scope) => {
    await scope.register(latchkeyFastify, { verifier, realm: 'orders-api', publicUrl: o.publicUrl });
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

async function expressApi(verifier: Verifier, o: ApiOptions = {}): Promise<Api> {
  // A Connect-style chain by hand: the middleware needs nothing from express itself.
  const guard: Middleware = latchkeyExpress({ verifier, realm: 'orders-api', publicUrl: o.publicUrl });
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

/** A GET written on a raw socket, so that a header can really be sent twice (fetch would join them), or Host be anything. */
async function rawGet(url: string, headerLines: string[], host?: string): Promise<number> {
  const u = new URL(url);
  const sock = net.connect(Number(u.port), u.hostname);
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    sock.on('error', reject);
    sock.on('close', () => resolve());
    sock.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${host ?? u.host}\r\nConnection: close\r\n${headerLines.map((l) => `${l}\r\n`).join('')}\r\n`);
  });
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'))?.[1]);
}

const DPOP_PROOF_CHALLENGE = 'DPoP error="invalid_dpop_proof", error_description="DPoP proof is invalid", algs="ES256 ES384 EdDSA Ed25519 PS256 RS256"';

/** Sends a bound token with a proof of `key` for `htu` (default: the URL called). */
async function callDpop(url: string, token: string, key: ProofKey, o: ProofOptions = {}, init: RequestInit = {}) {
  const dpop = makeProof(key, { htm: init.method ?? 'GET', htu: url, accessToken: token, ...o });
  return call(url, `DPoP ${token}`, { ...init, headers: { ...(init.headers as Record<string, string>), dpop } });
}

function assertProofRefused(r: Awaited<ReturnType<typeof call>>, what: string): void {
  assert.equal(r.status, 401, what);
  assert.equal(r.headers.get('www-authenticate'), DPOP_PROOF_CHALLENGE, what);
  assert.equal(r.body?.reason, 'dpop_proof_invalid', what);
  assert.equal(r.body?.error, 'invalid_dpop_proof', what);
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

    describe('DPoP-bound tokens', () => {
      let key: ProofKey;
      before(() => {
        key = proofKey('ES256');
      });

      test('happy path: DPoP scheme and a proof for this method and URL; the claims on the request', async () => {
        const token = signBound(server, key.jkt);
        const r = await callDpop(`${api.url}/orders`, token, key);
        assert.equal(r.status, 200);
        assert.equal(r.body?.sub, 'user-1');
        // A query string is not part of htu; a POST needs htm POST.
        assert.equal((await callDpop(`${api.url}/orders?page=2`, token, key, { htu: `${api.url}/orders` })).status, 200);
        const post = await callDpop(`${api.url}/orders`, token, key, {}, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
        assert.equal(post.status, 200);
      });

      test('a bound token sent as Bearer: 401 with the DPoP challenge, reason access_token_bound', async () => {
        const token = signBound(server, key.jkt);
        const r = await call(`${api.url}/orders`, `Bearer ${token}`);
        assert.equal(r.status, 401);
        assert.match(r.headers.get('www-authenticate') ?? '', /^DPoP error="invalid_token", error_description="[^"]+", algs="ES256 ES384 EdDSA Ed25519 PS256 RS256"$/);
        assert.equal(r.body?.reason, 'access_token_bound');
        assert.equal(r.headers.get('cache-control'), 'no-store');
      });

      test('an unbound token with the DPoP scheme: 401 invalid_token with the DPoP challenge', async () => {
        const token = signGood(server);
        const r = await callDpop(`${api.url}/orders`, token, key);
        assert.equal(r.status, 401);
        assert.match(r.headers.get('www-authenticate') ?? '', /^DPoP error="invalid_token"/);
        assert.equal(r.body?.reason, 'access_token_invalid');
      });

      test('wrong ath, wrong htm, wrong htu, no proof: 401 invalid_dpop_proof', async () => {
        const token = signBound(server, key.jkt);
        assertProofRefused(await callDpop(`${api.url}/orders`, token, key, { accessToken: signBound(server, key.jkt) }), 'ath of another token');
        assertProofRefused(await callDpop(`${api.url}/orders`, token, key, { htm: 'POST' }), 'htm');
        assertProofRefused(await callDpop(`${api.url}/orders`, token, key, { htu: `${api.url}/orders/other` }), 'htu path');
        assertProofRefused(await callDpop(`${api.url}/orders`, token, key, { htu: 'https://api.example.com/orders' }), 'htu host');
        assertProofRefused(await call(`${api.url}/orders`, `DPoP ${token}`), 'no proof');
      });

      test('a replayed proof is refused', async () => {
        const token = signBound(server, key.jkt);
        const dpop = makeProof(key, { htu: `${api.url}/orders`, accessToken: token });
        assert.equal((await call(`${api.url}/orders`, `DPoP ${token}`, { headers: { dpop } })).status, 200);
        assertProofRefused(await call(`${api.url}/orders`, `DPoP ${token}`, { headers: { dpop } }), 'replay');
      });

      test('a proof by another key than cnf.jkt is refused', async () => {
        const token = signBound(server, key.jkt);
        assertProofRefused(await callDpop(`${api.url}/orders`, token, proofKey('ES256')), 'another key');
        assertProofRefused(await callDpop(`${api.url}/orders`, token, proofKey('EdDSA')), 'another key type');
      });

      test('a cache hit still checks the proof', async () => {
        const token = signBound(server, key.jkt);
        assert.equal((await callDpop(`${api.url}/orders`, token, key)).status, 200);
        assert.equal((await callDpop(`${api.url}/orders`, token, key)).status, 200); // cached token, fresh proof
        assertProofRefused(await call(`${api.url}/orders`, `DPoP ${token}`), 'cached token, no proof');
        assertProofRefused(await callDpop(`${api.url}/orders`, token, proofKey('ES256')), 'cached token, another key');
        assertProofRefused(await callDpop(`${api.url}/orders`, token, key, { htu: `${api.url}/elsewhere` }), 'cached token, wrong htu');
      });

      test('two DPoP header lines, or one with two comma-joined proofs: refused', async () => {
        const token = signBound(server, key.jkt);
        const a = makeProof(key, { htu: `${api.url}/orders`, accessToken: token });
        const b = makeProof(key, { htu: `${api.url}/orders`, accessToken: token });
        assert.equal(await rawGet(`${api.url}/orders`, [`Authorization: DPoP ${token}`, `DPoP: ${a}`, `DPoP: ${b}`]), 401);
        assert.equal(await rawGet(`${api.url}/orders`, [`Authorization: DPoP ${token}`, `DPoP: ${a}, ${b}`]), 401);
        assert.equal(await rawGet(`${api.url}/orders`, [`Authorization: DPoP ${token}`, `DPoP: ${a}`]), 200); // control: a alone is fine
      });
    });

    describe('DPoP behind a proxy (publicUrl)', () => {
      let proxied: Api;
      let key: ProofKey;
      const PUBLIC = 'https://api.public.example/v1';
      before(async () => {
        key = proofKey('EdDSA');
        // The proxy serves https://api.public.example/v1/* and forwards to this process without the prefix.
        proxied = await make(verifier, { publicUrl: PUBLIC });
      });
      after(async () => {
        await proxied.close();
      });

      test("the proof's htu is the public URL: accepted; the URL this process sees: refused", async () => {
        const token = signBound(server, key.jkt);
        const r = await callDpop(`${proxied.url}/orders`, token, key, { htu: `${PUBLIC}/orders` });
        assert.equal(r.status, 200);
        assert.equal(r.body?.sub, 'user-1');
        assert.equal((await callDpop(`${proxied.url}/orders?x=1`, token, key, { htu: 'HTTPS://API.PUBLIC.EXAMPLE:443/v1/orders' })).status, 200);
        assertProofRefused(await callDpop(`${proxied.url}/orders`, token, key), 'internal URL');
        assertProofRefused(await callDpop(`${proxied.url}/orders`, token, key, { htu: `${PUBLIC.replace('/v1', '')}/orders` }), 'without the prefix');
        assertProofRefused(await callDpop(`${proxied.url}/orders`, token, key, { htu: `http://api.public.example/v1/orders` }), 'http, not https');
      });

      test('without publicUrl the Host header decides, and a Host that is not a host matches nothing', async () => {
        const token = signBound(server, key.jkt);
        const port = new URL(api.url).port;
        const proof = (htu: string) => makeProof(key, { htu, accessToken: token });
        assert.equal(await rawGet(`${api.url}/orders`, [`Authorization: DPoP ${token}`, `DPoP: ${proof('http://api.internal.example/orders')}`], 'api.internal.example'), 200);
        assert.equal(await rawGet(`${api.url}/orders`, [`Authorization: DPoP ${token}`, `DPoP: ${proof('http://evil.example/x/orders')}`], `evil.example/x?`), 401);
        assert.equal(await rawGet(`${api.url}/orders`, [`Authorization: DPoP ${token}`, `DPoP: ${proof(`http://127.0.0.1:${port}/orders`)}`], `127.0.0.1:${port}`), 200);
      });

      test('a publicUrl with a query, or not http(s), fails at setup', () => {
        for (const publicUrl of ['https://api.example.com/?x=1', 'ftp://api.example.com', 'not a url', 'https://u:p@api.example.com']) {
          assert.throws(() => latchkeyExpress({ verifier, publicUrl }), TypeError, publicUrl);
          assert.throws(() => fastifyGuard({ verifier, publicUrl }), TypeError, publicUrl);
        }
      });
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

describe('adapter: express specifics', () => {
  let server: TestServer;
  let verifier: Verifier;
  let srv: http.Server;
  let url: string;
  before(async () => {
    server = await startServer();
    verifier = createVerifier({ issuer: server.issuer, audience: server.audience, fetch: server.fetch });
    const guard = latchkeyExpress({ verifier, publicUrl: 'https://api.public.example' });
    // What Express does for `app.use('/api', guard)`: the mount path leaves req.url, originalUrl keeps it.
    srv = http.createServer((req, res) => {
      const r = req as http.IncomingMessage & { originalUrl?: string };
      r.originalUrl = req.url;
      req.url = (req.url ?? '/').slice('/api'.length) || '/';
      guard(r, res, () => res.end('{"ok":true}'));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((r) => srv.close(() => r()));
    await verifier.close();
    await server.close();
  });

  test('under a mount path the proof names the whole path (req.originalUrl)', async () => {
    const key = proofKey('ES256');
    const token = signBound(server, key.jkt);
    assert.equal((await callDpop(`${url}/api/orders`, token, key, { htu: 'https://api.public.example/api/orders' })).status, 200);
    assertProofRefused(await callDpop(`${url}/api/orders`, token, key, { htu: 'https://api.public.example/orders' }), 'path without the mount');
  });
});
