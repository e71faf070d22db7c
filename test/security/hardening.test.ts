// Response hardening: no caching of anything carrying tokens or user data (RFC 6749 §5.1,
// RFC 6750 §5.3, ASVS 5.0 V14.3), nosniff on every answer, and no stack traces or internal
// messages in any response, even when the code underneath fails (ASVS 5.0 V16.5).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { StoreUnavailableError } from '../../packages/server/src/domain/errors.js';
import { call, refresh, signup, type Res } from '../helpers/http.js';
import { spawnServer, tempDataDir, removeDir, type TestServer } from '../helpers/server.js';
import { assertErrorBody, assertNoInternals, claimsOf, start } from './support.js';

let srv: TestServer;
before(async () => {
  srv = await start({ LATCHKEY_CLIENTS: 'app,mobile' });
});
after(() => srv.close());

function assertNoStore(r: Res, label: string): void {
  assert.equal(r.headers.get('cache-control'), 'no-store', `${label}: cache-control ${r.headers.get('cache-control')}`);
  assert.equal(r.headers.get('pragma'), 'no-cache', label);
}

function assertHardened(r: Res, label: string): void {
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff', `${label}: nosniff`);
  // ASVS 5.0 V4.1.1: a body always says what it is, charset included.
  if (r.text) assert.match(r.headers.get('content-type') ?? '', /^application\/json; charset=utf-8$/i, `${label}: content-type`);
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer', label);
  assert.ok(r.headers.get('content-security-policy'), `${label}: CSP`);
  assert.equal(r.headers.get('x-powered-by'), null, label);
  assert.equal(r.headers.get('server'), null, label);
  assertNoInternals(r.text, label);
}

describe('every response', () => {
  it('token and user-data responses are no-store; every response is nosniff with no internals', async () => {
    const u = await signup(srv.url);
    const su = await call(srv.url, 'POST', '/auth/signup', { json: { email: `x${Date.now()}@example.com`, password: 'long enough pw' } });
    const li = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
    const sid = claimsOf(li.body.access_token).sid;
    const tokenCarrying: Array<[string, Res]> = [
      ['signup 201', su],
      ['login 200', li],
      ['token 200 (form)', await call(srv.url, 'POST', '/auth/token', { form: `grant_type=refresh_token&refresh_token=${li.body.refresh_token}` })],
      ['token 200 (json)', await refresh(srv.url, u.refresh_token)],
      ['me 200', await call(srv.url, 'GET', '/auth/me', { token: u.access_token })],
      ['sessions 200', await call(srv.url, 'GET', '/auth/sessions', { token: u.access_token })],
      ['revoke 200', await call(srv.url, 'POST', '/auth/revoke', { form: 'token=garbage' })],
      ['delete session 204', await call(srv.url, 'DELETE', `/auth/sessions/${sid}`, { token: u.access_token })],
      ['healthz 200', await call(srv.url, 'GET', '/healthz')],
    ];
    const errors: Array<[string, Res]> = [
      ['login 401', await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: 'wrong password' } })],
      ['signup 409', await call(srv.url, 'POST', '/auth/signup', { json: { email: u.email, password: 'long enough pw' } })],
      ['signup 400', await call(srv.url, 'POST', '/auth/signup', { json: { email: 'nope', password: 'long enough pw' } })],
      ['token 400 invalid_grant', await refresh(srv.url, 'garbage')],
      ['token 400 unsupported_grant_type', await call(srv.url, 'POST', '/auth/token', { form: 'grant_type=password&username=a&password=b' })],
      ['token 400 invalid_client', await refresh(srv.url, li.body.refresh_token, 'nope')],
      ['me 401 missing', await call(srv.url, 'GET', '/auth/me')],
      ['me 401 invalid', await call(srv.url, 'GET', '/auth/me', { token: 'a.b.c' })],
      ['session 404', await call(srv.url, 'DELETE', '/auth/sessions/unknown', { token: u.access_token })],
      ['route 404', await call(srv.url, 'GET', '/admin')],
      ['method 404', await call(srv.url, 'PUT', '/auth/me')],
      ['413', await call(srv.url, 'POST', '/auth/login', { json: { password: 'x'.repeat(64 * 1024) } })],
      ['415', await call(srv.url, 'POST', '/auth/login', { body: '<x/>', headers: { 'content-type': 'application/xml' } })],
      ['400 bad JSON', await call(srv.url, 'POST', '/auth/login', { body: '{', headers: { 'content-type': 'application/json' } })],
      ['400 bad URL', await call(srv.url, 'DELETE', '/auth/sessions/%ZZ', { token: u.access_token })],
      ['431', await call(srv.url, 'GET', '/auth/me', { headers: { 'x-big': 'a'.repeat(40_000) } })],
    ];
    for (const [label, r] of [...tokenCarrying, ...errors]) {
      assertHardened(r, label);
      assertNoStore(r, label);
    }
    for (const [label, r] of tokenCarrying) assert.ok(r.status < 300, `${label}: ${r.status} ${r.text}`);
    for (const [label, r] of errors) {
      assert.ok(r.status >= 400, label);
      assertErrorBody(r, label);
    }
  });

  it('public, cacheable documents carry no user data: JWKS and RFC 8414 metadata', async () => {
    for (const path of ['/.well-known/jwks.json', '/.well-known/oauth-authorization-server']) {
      const r = await call(srv.url, 'GET', path);
      assertHardened(r, path);
      assert.match(r.headers.get('cache-control') ?? '', /^public, max-age=\d+$/, path);
      assert.doesNotMatch(r.text, /"d"|"p"|"q"|"dp"|"dq"|"qi"|@/, `${path} carries private or user data`);
    }
  });

  it('the demo page’s token-carrying API is no-store too (child process, demo on)', async () => {
    const dir = tempDataDir();
    const child = await spawnServer({ LATCHKEY_DATA_DIR: dir, LATCHKEY_DEMO: 'true' });
    try {
      const u = await signup(child.url);
      const ping = await call(child.url, 'GET', '/demo/api/ping', { token: u.access_token });
      assert.equal(ping.status, 200);
      assertHardened(ping, 'demo ping');
      assertNoStore(ping, 'demo ping');
      const page = await call(child.url, 'GET', '/demo/');
      assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
      assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    } finally {
      child.proc.kill('SIGTERM');
      await child.exited;
      removeDir(dir);
    }
  });
});

describe('methods (ASVS 5.0 V13.4.4, V4.1.4)', () => {
  it('TRACE, TRACK, CONNECT and unregistered methods are refused without echoing the request', async () => {
    const port = Number(new URL(srv.url).port);
    for (const method of ['TRACE', 'TRACK', 'CONNECT', 'PROPFIND', 'PATCH', 'PUT']) {
      const response = await new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        let out = '';
        s.on('data', (d) => (out += d.toString()));
        s.on('error', () => resolve(out));
        s.on('close', () => resolve(out));
        s.write(`${method} /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret-token-value\r\nConnection: close\r\n\r\n`);
      });
      // Node closes a CONNECT outright when nothing listens for tunnels: refused too.
      if (method === 'CONNECT' && response === '') continue;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
      assert.ok(status >= 400 && status < 500, `${method}: ${response.slice(0, 80)}`);
      assert.ok(!response.includes('secret-token-value'), `${method} echoed the request`);
      assertNoInternals(response, method);
    }
  });
});

describe('failures underneath never leak', () => {
  it('an unexpected exception is a bare 500 server_error; its message and stack go to the log only', async () => {
    const u = await signup(srv.url);
    const users = srv.latchkey.ctx.stores.users;
    const original = users.findUserById;
    users.findUserById = async () => {
      throw new Error('SQLITE_CORRUPT: database disk image is malformed at /var/lib/latchkey/secret-path.db');
    };
    try {
      const r = await call(srv.url, 'GET', '/auth/me', { token: u.access_token });
      assert.equal(r.status, 500);
      assert.deepEqual(r.body, { error: 'server_error', error_description: 'internal error', reason: 'internal_error' });
      assertHardened(r, '500');
      assertNoStore(r, '500');
      assert.ok(srv.rawLog().includes('secret-path.db'), 'the detail reached the log');
    } finally {
      users.findUserById = original;
    }
  });

  it('a store outage is 503 temporarily_unavailable with Retry-After and fixed text', async () => {
    const u = await signup(srv.url);
    const sessions = srv.latchkey.ctx.stores.sessions;
    const original = sessions.rotate;
    sessions.rotate = async () => {
      throw new StoreUnavailableError('sqlite', new Error('ECONNREFUSED 10.0.0.7:5432 password=hunter2'));
    };
    try {
      const r = await refresh(srv.url, u.refresh_token);
      assert.equal(r.status, 503);
      assert.deepEqual(r.body, { error: 'temporarily_unavailable', error_description: 'a backing store is unavailable; retry shortly', reason: 'unavailable' });
      assert.equal(r.headers.get('retry-after'), '1');
      assert.ok(!r.text.includes('hunter2') && !r.text.includes('10.0.0.7'));
      assertHardened(r, '503');
    } finally {
      sessions.rotate = original;
    }
    assert.equal((await refresh(srv.url, u.refresh_token)).status, 200, 'works again once the store is back');
  });

  it('no token, password or Authorization header ever reaches the log', async () => {
    const u = await signup(srv.url);
    const r = await refresh(srv.url, u.refresh_token);
    await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: 'a wrong password 123' } });
    await call(srv.url, 'POST', '/auth/revoke', { json: { token: r.body.refresh_token } });
    await call(srv.url, 'GET', '/auth/me', { headers: { authorization: `Bearer ${u.access_token}x` } });
    const log = srv.rawLog();
    for (const secret of [u.access_token, u.refresh_token, r.body.access_token, r.body.refresh_token, u.password, 'a wrong password 123', u.access_token.split('.')[2]!]) {
      assert.ok(!log.includes(secret), `a secret reached the log: ${secret.slice(0, 12)}…`);
    }
  });
});
