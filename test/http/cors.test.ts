// CORS and the Origin check (issue 12 item 5). The finding: any web page could make its visitors'
// browsers post logins and sign-ups, because a form-encoded POST needs no preflight (the old code
// answered such a login 200 and started a session); and a cross-origin SPA only ever got
// network_error, since the server sent no CORS headers at all.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, signup, uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example';

let srv: TestServer;

describe('CORS allowlist and foreign origins', () => {
  before(async () => {
    srv = await startServer({ LATCHKEY_CORS_ORIGINS: `${APP}, http://localhost:5173` });
  });
  after(() => srv.close());

  it('a cross-site form login (no preflight needed) is refused before the password is checked', async () => {
    const u = await signup(srv.url);
    const before = srv.events('login.failed').length + srv.events('login.succeeded').length;
    const r = await call(srv.url, 'POST', '/auth/login', {
      form: new URLSearchParams({ email: u.email, password: u.password }).toString(),
      headers: { origin: EVIL },
    });
    assert.equal(r.status, 403);
    assert.deepEqual(r.body, { error: 'access_denied', error_description: 'requests from this origin are not allowed', reason: 'origin_not_allowed' });
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    assert.equal(srv.events('login.failed').length + srv.events('login.succeeded').length, before, 'no password check, no session');
  });

  it('every credential and account endpoint refuses a foreign Origin, and Origin: null', async () => {
    const u = await signup(srv.url);
    const routes: Array<[string, string, { json?: unknown; form?: string; token?: string }]> = [
      ['POST', '/auth/signup', { json: { email: uniqueEmail(), password: 'correct horse battery' } }],
      ['POST', '/auth/login', { json: { email: u.email, password: u.password } }],
      ['POST', '/auth/token', { form: `grant_type=refresh_token&refresh_token=${u.refresh_token}` }],
      ['POST', '/auth/revoke', { form: `token=${u.refresh_token}` }],
      ['POST', '/auth/logout', { token: u.access_token }],
      ['GET', '/auth/me', { token: u.access_token }],
      ['GET', '/auth/sessions', { token: u.access_token }],
      ['DELETE', '/auth/sessions?others=true', { token: u.access_token }],
    ];
    for (const origin of [EVIL, 'null', 'https://app.example.com.evil.example', 'http://app.example.com']) {
      for (const [method, path, opts] of routes) {
        const r = await call(srv.url, method, path, { ...opts, headers: { origin } });
        assert.equal(r.status, 403, `${origin} ${method} ${path}: ${r.status}`);
        assert.equal(r.body.reason, 'origin_not_allowed');
      }
    }
    // Nothing above took effect: the session is alive and its refresh token still works.
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 200);
  });

  it('listed origins get CORS headers and a normal answer; a preflight says what may be sent', async () => {
    const pre = await call(srv.url, 'OPTIONS', '/auth/login', {
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), APP);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match((pre.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /authorization/);
    assert.equal(pre.headers.get('access-control-allow-credentials'), null, 'no cookies: Bearer tokens only');
    const u = await signup(srv.url);
    const login = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password }, headers: { origin: APP } });
    assert.equal(login.status, 200);
    assert.equal(login.headers.get('access-control-allow-origin'), APP);
    const exposed = (login.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    for (const h of ['www-authenticate', 'retry-after', 'dpop-nonce', 'date']) assert.ok(exposed.includes(h), h);
    const me = await call(srv.url, 'GET', '/auth/me', { token: login.body.access_token, headers: { origin: 'http://localhost:5173' } });
    assert.equal(me.status, 200);
    assert.equal(me.headers.get('access-control-allow-origin'), 'http://localhost:5173');
  });

  it("the server's own origin, and requests without Origin (apps, servers, curl) are served", async () => {
    const u = await signup(srv.url);
    const own = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password }, headers: { origin: srv.url } });
    assert.equal(own.status, 200);
    const none = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
    assert.equal(none.status, 200);
    const pub = await call(srv.url, 'GET', '/.well-known/jwks.json', { headers: { origin: EVIL } });
    assert.equal(pub.status, 200, 'public documents are readable by anyone');
  });

  it('LATCHKEY_CORS_ORIGINS takes exact origins only', async () => {
    const { loadConfig } = await import('../../packages/server/src/config.js');
    for (const bad of ['*', 'https://app.example.com/path', 'app.example.com', 'ftp://x.example', 'https://u:p@x.example']) {
      assert.throws(() => loadConfig({ LATCHKEY_CORS_ORIGINS: bad }), /LATCHKEY_CORS_ORIGINS/, bad);
    }
    assert.deepEqual(loadConfig({ LATCHKEY_CORS_ORIGINS: 'https://a.example, http://localhost:5173/' }).corsOrigins, ['https://a.example', 'http://localhost:5173']);
  });
});
