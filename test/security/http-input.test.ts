// HTTP-level hostile input: sizes, content types, repeated parameters, type confusion,
// prototype pollution, deep nesting, huge headers, request smuggling shapes and slow clients.
// Every answer is a clear 4xx in the one error shape, never a 5xx, never a crash (ASVS 5.0
// V1.x/V2.2 input validation, V15.3 mass assignment / prototype pollution).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, refresh, signup, type Res } from '../helpers/http.js';
import type { TestServer } from '../helpers/server.js';
import { assertErrorBody, assertNoInternals, start } from './support.js';

const POST_ROUTES = ['/auth/signup', '/auth/login', '/auth/token', '/auth/revoke'] as const;

let srv: TestServer;
let port: number;
before(async () => {
  srv = await start();
  port = Number(new URL(srv.url).port);
});
after(() => srv.close());

function assert4xx(r: Res, status: number | null, label: string): void {
  if (status === null) assert.ok(r.status >= 400 && r.status < 500, `${label}: ${r.status} ${r.text}`);
  else assert.equal(r.status, status, `${label}: ${r.text}`);
  assertErrorBody(r, label);
}

/** Sends raw bytes and collects whatever comes back until the server closes or `waitMs` passes. */
function raw(text: string | Buffer, waitMs = 2000): Promise<{ response: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let response = '';
    let closed = false;
    const done = () => resolve({ response, closed });
    const timer = setTimeout(() => {
      s.destroy();
      done();
    }, waitMs);
    s.on('data', (d) => (response += d.toString()));
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      clearTimeout(timer);
      done();
    });
    s.write(text);
  });
}

function parseRaw(response: string): { status: number; headers: string; body: any } {
  const [head = '', ...rest] = response.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  let body: any;
  try {
    body = JSON.parse(rest.join('\r\n\r\n'));
  } catch {
    body = undefined;
  }
  return { status, headers: head.toLowerCase(), body };
}

describe('body size and content type', () => {
  it('413 over the body limit on every POST route, JSON and form', async () => {
    const big = 'x'.repeat(40 * 1024);
    for (const route of POST_ROUTES) {
      assert4xx(await call(srv.url, 'POST', route, { json: { email: big, password: big, token: big, grant_type: big } }), 413, `${route} json`);
      assert4xx(await call(srv.url, 'POST', route, { form: `token=${big}&email=${big}` }), 413, `${route} form`);
    }
  });

  it('a lying Content-Length (larger than the limit) is refused before the body is read', async () => {
    const { response } = await raw(`POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{`, 2000);
    const r = parseRaw(response);
    assert.equal(r.status, 413);
    assert.equal(r.body.error_description, 'request body too large');
  });

  it('415 for unsupported content types, including text/plain (a CORS-simple type)', async () => {
    for (const type of ['application/xml', 'text/plain', 'text/plain;charset=UTF-8', 'multipart/form-data; boundary=x', 'application/json-patch+json', 'application/octet-stream', 'text/html']) {
      for (const route of POST_ROUTES) {
        assert4xx(await call(srv.url, 'POST', route, { body: '{"email":"a@b.co","password":"12345678"}', headers: { 'content-type': type } }), 415, `${route} ${type}`);
      }
    }
  });

  it('a body without a Content-Type is 415; no body at all is 400', async () => {
    for (const route of POST_ROUTES) {
      const body = '{"token":"x"}';
      const withBody = parseRaw((await raw(`POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)).response);
      assert.equal(withBody.status, 415, `${route} body without type`);
      assert.deepEqual(Object.keys(withBody.body).sort(), ['error', 'error_description', 'reason']);
      const empty = parseRaw((await raw(`POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)).response);
      assert.equal(empty.status, 400, `${route} no body`);
      assert.equal(empty.body.error, 'invalid_request');
    }
  });

  it('an empty JSON body and malformed JSON are 400', async () => {
    for (const route of POST_ROUTES) {
      for (const body of ['', '{', '{"a":1,}', "{'a':1}", '{"a":1}garbage', '\u0000']) {
        assert4xx(await call(srv.url, 'POST', route, { body, headers: { 'content-type': 'application/json' } }), 400, `${route} ${JSON.stringify(body)}`);
      }
    }
  });
});

describe('a parameter given twice (RFC 6749 §3.2)', () => {
  it('form bodies: 400 invalid_request on every route', async () => {
    const u = await signup(srv.url);
    const cases: Array<[string, string]> = [
      ['/auth/signup', 'email=a@example.com&email=b@example.com&password=long%20enough%20pw'],
      ['/auth/login', `email=${encodeURIComponent(u.email)}&password=x&password=${encodeURIComponent(u.password)}`],
      ['/auth/token', `grant_type=refresh_token&refresh_token=${u.refresh_token}&refresh_token=${u.refresh_token}`],
      ['/auth/token', `grant_type=refresh_token&grant_type=refresh_token&refresh_token=${u.refresh_token}`],
      ['/auth/token', `grant_type=refresh_token&refresh_token=${u.refresh_token}&client_id=app&client_id=app`],
      ['/auth/revoke', `token=${u.refresh_token}&token=${u.refresh_token}`],
    ];
    for (const [route, form] of cases) {
      const r = await call(srv.url, 'POST', route, { form });
      assert4xx(r, 400, `${route} ${form.slice(0, 40)}`);
      assert.equal(r.body.error, 'invalid_request');
    }
    assert.equal((await refresh(srv.url, u.refresh_token)).status, 200, 'none of them acted');
  });

  it('JSON bodies with a repeated member: 400 invalid_request (the parser would silently keep the last)', async () => {
    const u = await signup(srv.url);
    const cases: Array<[string, string]> = [
      ['/auth/login', `{"email":"nobody@example.com","email":${JSON.stringify(u.email)},"password":${JSON.stringify(u.password)}}`],
      ['/auth/login', `{"email":${JSON.stringify(u.email)},"password":"x","p\\u0061ssword":${JSON.stringify(u.password)}}`],
      ['/auth/token', `{"grant_type":"refresh_token","refresh_token":"x","refresh_token":${JSON.stringify(u.refresh_token)}}`],
      ['/auth/revoke', `{"token":"x","token":${JSON.stringify(u.refresh_token)}}`],
      ['/auth/signup', `{"email":"a@example.com","password":"long enough pw","password":"other long pw"}`],
    ];
    for (const [route, body] of cases) {
      const r = await call(srv.url, 'POST', route, { body, headers: { 'content-type': 'application/json' } });
      assert4xx(r, 400, `${route} ${body.slice(0, 50)}`);
      assert.equal(r.body.error, 'invalid_request');
    }
    assert.equal((await refresh(srv.url, u.refresh_token)).status, 200, 'none of them acted');
  });

  it('query strings: a repeated or unknown parameter is 400', async () => {
    const u = await signup(srv.url);
    assert4xx(await call(srv.url, 'DELETE', '/auth/sessions?others=true&others=true', { token: u.access_token }), 400, 'others twice');
    assert4xx(await call(srv.url, 'DELETE', '/auth/sessions?others=true&x=1', { token: u.access_token }), 400, 'unknown param');
    assert4xx(await call(srv.url, 'GET', '/auth/me?a=1', { token: u.access_token }), 400, '/auth/me with a query');
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 200, 'nothing was ended');
  });
});

describe('wrong JSON types are 400, never a lookup', () => {
  const shapes: Array<[string, string]> = [
    ['password array', '{"email":"a@example.com","password":["a"]}'],
    ['operator object email', '{"email":{"$ne":null},"password":"long enough pw"}'],
    ['operator object password', '{"email":"a@example.com","password":{"$gt":""}}'],
    ['number email', '{"email":1,"password":"long enough pw"}'],
    ['boolean password', '{"email":"a@example.com","password":true}'],
    ['null members', '{"email":null,"password":null,"token":null,"grant_type":null,"refresh_token":null}'],
    ['token array', '{"token":["a","b"],"grant_type":"refresh_token","refresh_token":["a"]}'],
    ['client_id object', '{"email":"a@example.com","password":"long enough pw","token":"x","grant_type":"refresh_token","refresh_token":"x","client_id":{"a":1}}'],
    ['null', 'null'],
    ['array', '[]'],
    ['array of objects', '[{"email":"a@example.com","password":"long enough pw"}]'],
    ['string', '"email"'],
    ['number', '42'],
    ['true', 'true'],
  ];
  for (const route of POST_ROUTES) {
    it(`${route}`, async () => {
      for (const [what, body] of shapes) {
        const r = await call(srv.url, 'POST', route, { body, headers: { 'content-type': 'application/json' } });
        assert4xx(r, 400, `${route} ${what}`);
      }
    });
  }
});

describe('prototype pollution (checked in the server’s own process)', () => {
  it('__proto__ and constructor.prototype payloads in JSON, form and query strings pollute nothing', async () => {
    const u = await signup(srv.url);
    const jsonBodies = [
      '{"__proto__":{"polluted":1},"email":"a@example.com","password":"long enough pw"}',
      '{"\\u005f_proto__":{"polluted":1},"email":"a@example.com","password":"long enough pw"}',
      '{"constructor":{"prototype":{"polluted":1}},"email":"a@example.com","password":"long enough pw"}',
      '{"email":"a@example.com","password":"long enough pw","client_id":"app","x":{"__proto__":{"polluted":1}}}',
      '{"token":"x","nested":{"constructor":{"prototype":{"polluted":1}}}}',
      '[{"__proto__":{"polluted":1}}]',
    ];
    for (const route of POST_ROUTES) {
      for (const body of jsonBodies) {
        const r = await call(srv.url, 'POST', route, { body, headers: { 'content-type': 'application/json' } });
        assert4xx(r, 400, `${route} ${body.slice(0, 40)}`);
      }
      for (const form of ['__proto__[polluted]=1&token=x', '__proto__.polluted=1&token=x', 'constructor[prototype][polluted]=1&token=x', '__proto__=polluted&token=x', 'toString=1&hasOwnProperty=1&token=x']) {
        const r = await call(srv.url, 'POST', route, { form });
        assert.ok(r.status < 500, `${route} ${form}: ${r.status}`);
      }
    }
    for (const q of ['__proto__[polluted]=1', 'constructor[prototype][polluted]=1', '__proto__.polluted=1']) {
      const r = await call(srv.url, 'DELETE', `/auth/sessions?${q}`, { token: u.access_token });
      assert4xx(r, 400, q);
      assert.equal((await call(srv.url, 'GET', `/.well-known/jwks.json?${q}`)).status, 200);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    assert.equal((Object as unknown as Record<string, unknown>).polluted, undefined);
    // The server still behaves: sign-up, login and the session survive.
    assert.equal((await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } })).status, 200);
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 200);
  });
});

describe('deep nesting', () => {
  it('100k-deep arrays and objects: 413 under the default 32 KiB limit', async () => {
    for (const body of ['['.repeat(100_000) + ']'.repeat(100_000), '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)]) {
      assert4xx(await call(srv.url, 'POST', '/auth/login', { body, headers: { 'content-type': 'application/json' } }), 413, 'deep');
    }
  });

  it('100k-deep arrays and objects under a 1 MiB limit (LATCHKEY_BODY_LIMIT=1048576): 400, and the server lives on', async () => {
    const big = await start({ LATCHKEY_BODY_LIMIT: String(1024 * 1024) });
    try {
      const bodies = [
        '['.repeat(100_000) + ']'.repeat(100_000),
        '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000),
        '{"email":"a@example.com","password":"long enough pw","x":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}',
        '{"constructor":'.repeat(50_000) + '1' + '}'.repeat(50_000),
        // Unbalanced: the parser must fail, not recurse forever.
        '['.repeat(500_000),
      ];
      for (const route of POST_ROUTES) {
        for (const body of bodies) {
          assert4xx(await call(big.url, 'POST', route, { body, headers: { 'content-type': 'application/json' } }), 400, `${route} deep ${body.slice(0, 20)}`);
        }
      }
      const deepForm = `${'a['.repeat(50_000)}x${']'.repeat(50_000)}=1&token=x`;
      assert.ok((await call(big.url, 'POST', '/auth/revoke', { form: deepForm })).status < 500, 'deep form keys');
      assert.equal((await call(big.url, 'GET', '/healthz')).status, 200);
    } finally {
      await big.close();
    }
  });
});

describe('headers and request framing', () => {
  it('huge headers, many headers and a huge URL: 4xx (431/414) in the error shape, then business as usual', async () => {
    const hugeHeader = await call(srv.url, 'GET', '/healthz', { headers: { 'x-big': 'a'.repeat(64 * 1024) } });
    assert4xx(hugeHeader, 431, 'one huge header');
    const many = await call(srv.url, 'GET', '/healthz', { headers: Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`x-h${i}`, 'v'])) });
    assert4xx(many, 431, 'many headers');
    const url = await call(srv.url, 'GET', `/auth/sessions/${'a'.repeat(100 * 1024)}`);
    assert4xx(url, null, 'huge URL');
    assert.equal(url.headers.get('x-content-type-options'), 'nosniff');
    const cookie = await call(srv.url, 'GET', '/healthz', { headers: { cookie: 'a='.repeat(20_000) } });
    assert4xx(cookie, 431, 'huge cookie');
    assert.equal((await call(srv.url, 'GET', '/healthz')).status, 200);
  });

  it('a bad URL encoding or an over-long path parameter is a plain 400 that echoes nothing', async () => {
    const u = await signup(srv.url);
    for (const path of ['/auth/sessions/%ZZ', '/auth/sessions/%', `/auth/sessions/${'a'.repeat(150)}`, '/auth/sessions/a%00b', '/auth/sessions/..%2f..%2fetc%2fpasswd']) {
      const r = await call(srv.url, 'DELETE', path, { token: u.access_token });
      assert4xx(r, null, path);
      assert.ok(!r.text.includes('ZZ') && !r.text.includes('aaaa') && !r.text.includes('passwd'), `${path} echoed: ${r.text}`);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
    }
  });

  it('smuggling shapes (CL+TE, two CLs, bad chunking, bare LF, bad header name) are refused with 400', async () => {
    const cases = [
      'POST /auth/revoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /auth/revoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n{}{}{',
      'POST /auth/revoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      'POST /auth/revoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
      'GET /healthz HTTP/1.1\r\nHo st: x\r\n\r\n',
      'GET /healthz HTTP/1.1\nHost: x\n\n',
      'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
      '\u0000\u0001\u0002 garbage\r\n\r\n',
    ];
    for (const req of cases) {
      const { response } = await raw(req, 1500);
      const r = parseRaw(response);
      assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(req.slice(0, 60))}: ${response.slice(0, 120)}`);
      if (r.body) assert.deepEqual(Object.keys(r.body).sort(), ['error', 'error_description', 'reason']);
      assertNoInternals(response);
    }
    assert.equal((await call(srv.url, 'GET', '/healthz')).status, 200);
  });
});

describe('slow clients (LATCHKEY_REQUEST_TIMEOUT=2)', () => {
  it('a client trickling headers or a body is cut off within seconds, while others are served meanwhile', async (t) => {
    const slow = await start({ LATCHKEY_REQUEST_TIMEOUT: '2' });
    try {
      const sPort = Number(new URL(slow.url).port);
      const trickle = (head: string, drip: string) =>
        new Promise<{ ms: number; response: string }>((resolve) => {
          const t0 = Date.now();
          const s = net.connect(sPort, '127.0.0.1');
          let response = '';
          s.on('data', (d) => (response += d.toString()));
          s.on('error', () => {});
          const timer = setInterval(() => s.writable && s.write(drip), 200);
          const give = setTimeout(() => s.destroy(), 8000);
          s.on('close', () => {
            clearInterval(timer);
            clearTimeout(give);
            resolve({ ms: Date.now() - t0, response });
          });
          s.write(head);
        });
      const slowHeaders = trickle('POST /auth/login HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n');
      const slowBody = trickle('POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"email":"', 'a');
      // Others are served promptly while the slow sockets hang on.
      const latencies: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t = Date.now();
        assert.equal((await call(slow.url, 'GET', '/healthz')).status, 200);
        latencies.push(Date.now() - t);
        await new Promise((r) => setTimeout(r, 150));
      }
      const [h, b] = await Promise.all([slowHeaders, slowBody]);
      t.diagnostic(`slow headers cut after ${h.ms} ms (${h.response.split('\r\n')[0]}), slow body after ${b.ms} ms (${b.response.split('\r\n')[0]}), others max ${Math.max(...latencies)} ms`);
      assert.ok(h.ms < 5000, `slow headers cut after ${h.ms} ms`);
      assert.ok(b.ms < 5000, `slow body cut after ${b.ms} ms`);
      assert.ok(Math.max(...latencies) < 1000, `others served meanwhile: ${latencies.join(',')} ms`);
      for (const r of [h, b]) {
        if (!r.response) continue; // cut without an answer is fine too
        const p = parseRaw(r.response);
        assert.ok(p.status === 408 || p.status === 400, r.response.slice(0, 100));
        assertNoInternals(r.response);
      }
      assert.equal((await call(slow.url, 'GET', '/healthz')).status, 200);
    } finally {
      await slow.close();
    }
  });
});
