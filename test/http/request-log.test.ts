// Request log lines an operator can use (issue 13 item 5): route pattern, status, duration, the
// stable reason of a refusal, the path of a 404 without its query, the client IP as the
// trusted-proxy setting sees it; never a token, password or email.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, signup } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;

describe('request log lines', () => {
  before(async () => {
    srv = await startServer({ LATCHKEY_TRUST_PROXY: 'loopback' });
  });
  after(() => srv.close());

  const requests = () => srv.logs.filter((l) => l.msg === 'request');

  it('carry route, status, duration, the reason of a refusal and the client IP', async () => {
    const u = await signup(srv.url);
    await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: 'wrong password here' }, headers: { 'x-forwarded-for': '203.0.113.7' } });
    const line = requests().find((l) => l.route === '/auth/login' && l.status === 401);
    assert.ok(line, JSON.stringify(requests().slice(-3)));
    assert.equal(line.reason, 'credentials_invalid');
    assert.equal(line.ip, '203.0.113.7', 'the client behind the trusted proxy');
    assert.equal(typeof line.ms, 'number');
    assert.equal(line.method, 'POST');
    const ok = requests().find((l) => l.route === '/auth/signup' && l.status === 201);
    assert.ok(ok && ok.reason === undefined, 'no reason on a success');
  });

  it('a 404 names its path without the query; nothing secret is written', async () => {
    const u = await signup(srv.url);
    await call(srv.url, 'GET', `/no/such/route?token=${u.refresh_token}&email=${encodeURIComponent(u.email)}`);
    const line = requests().find((l) => l.route === 'unmatched');
    assert.ok(line);
    assert.equal(line.path, '/no/such/route');
    assert.equal(line.reason, 'not_found');
    const raw = srv.rawLog();
    for (const secret of [u.refresh_token, u.access_token, u.email, u.password]) assert.ok(!raw.includes(secret), 'a secret in the log');
  });
});
