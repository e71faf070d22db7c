// Every route of the HTTP API against a real server on a real port.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, refresh, signup, uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let B: string;
before(async () => {
  srv = await startServer({ LATCHKEY_CLIENTS: 'app,mobile' });
  B = srv.url;
});
after(() => srv.close());

function assertNoStore(h: Headers) {
  assert.equal(h.get('cache-control'), 'no-store');
  assert.equal(h.get('x-content-type-options'), 'nosniff');
}

describe('POST /auth/signup', () => {
  it('creates the user and a session: 201 with user and RFC 6749 §5.1 token response', async () => {
    const email = uniqueEmail();
    const r = await call(B, 'POST', '/auth/signup', { json: { email: `  ${email.toUpperCase()} `, password: 'long enough pw' } });
    assert.equal(r.status, 201);
    assertNoStore(r.headers);
    assert.equal(r.body.user.email, email, 'email is trimmed and lower-cased');
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(r.body.expires_in, 300);
    assert.equal(typeof r.body.access_token, 'string');
    assert.equal(typeof r.body.refresh_token, 'string');
    assert.equal(r.body.user.passwordHash, undefined);
  });

  it('answers 409 email_taken for an existing email, whatever its case', async () => {
    const u = await signup(B);
    const r = await call(B, 'POST', '/auth/signup', { json: { email: u.email.toUpperCase(), password: 'another password' } });
    assert.equal(r.status, 409);
    assert.equal(r.body.error, 'email_taken');
  });

  for (const [what, body] of [
    ['a short password', { email: 'short@example.com', password: '1234567' }],
    ['a 1025-character password', { email: 'long@example.com', password: 'p'.repeat(1025) }],
    ['an email over 254 characters', { email: `${'a'.repeat(250)}@example.com`, password: 'long enough pw' }],
    ['a malformed email', { email: 'not-an-email', password: 'long enough pw' }],
    ['a missing password', { email: 'x@example.com' }],
    ['a non-string password', { email: 'x@example.com', password: ['long enough pw'] }],
    ['an operator object as email', { email: { $ne: null }, password: 'long enough pw' }],
  ] as const) {
    it(`refuses ${what} with 400 invalid_request`, async () => {
      const r = await call(B, 'POST', '/auth/signup', { json: body });
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'invalid_request');
      assert.equal(typeof r.body.error_description, 'string');
    });
  }

  it('accepts a 1024-character password, checked exactly as typed', async () => {
    const pw = 'p'.repeat(1023) + 'q';
    const u = await signup(B, uniqueEmail(), pw);
    assert.equal((await call(B, 'POST', '/auth/login', { json: { email: u.email, password: pw } })).status, 200);
    const truncated = await call(B, 'POST', '/auth/login', { json: { email: u.email, password: pw.slice(0, 1023) } });
    assert.equal(truncated.status, 401);
  });
});

describe('POST /auth/login', () => {
  it('logs in with the right password and starts a new session', async () => {
    const u = await signup(B);
    const r = await call(B, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
    assert.equal(r.status, 200);
    assertNoStore(r.headers);
    assert.equal(r.body.token_type, 'Bearer');
    const sessions = await call(B, 'GET', '/auth/sessions', { token: r.body.access_token });
    assert.equal(sessions.body.sessions.length, 2);
  });

  it('answers an unknown user and a wrong password identically', async () => {
    const u = await signup(B);
    const wrong = await call(B, 'POST', '/auth/login', { json: { email: u.email, password: 'wrong password' } });
    const unknown = await call(B, 'POST', '/auth/login', { json: { email: uniqueEmail(), password: 'wrong password' } });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.text, unknown.text);
    assert.deepEqual(wrong.body, { error: 'invalid_credentials', error_description: 'email or password is incorrect', reason: 'credentials_invalid' });
  });

  it('accepts form-encoded credentials too', async () => {
    const u = await signup(B);
    const r = await call(B, 'POST', '/auth/login', { form: new URLSearchParams({ email: u.email, password: u.password }).toString() });
    assert.equal(r.status, 200);
  });
});

describe('Bearer routes', () => {
  it('GET /auth/me returns the caller', async () => {
    const u = await signup(B);
    const r = await call(B, 'GET', '/auth/me', { token: u.access_token });
    assert.equal(r.status, 200);
    assertNoStore(r.headers);
    assert.equal(r.body.user.email, u.email);
    assert.equal(r.body.user.id, u.user.id);
  });

  it('without credentials: 401 with a bare RFC 6750 challenge', async () => {
    const r = await call(B, 'GET', '/auth/me');
    assert.equal(r.status, 401);
    // RFC 9449 §7.1: the DPoP scheme is offered beside Bearer (LATCHKEY_DPOP is not off).
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="latchkey", DPoP algs="[^"]+"$/);
  });

  it('with a bad token: 401 invalid_token challenge', async () => {
    for (const token of ['garbage', 'a.b.c', 'x'.repeat(9000)]) {
      const r = await call(B, 'GET', '/auth/me', { token });
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="latchkey", error="invalid_token"/);
      assert.equal(r.body.error, 'invalid_token');
    }
  });

  it('refuses a refresh token used as an access token', async () => {
    const u = await signup(B);
    const r = await call(B, 'GET', '/auth/me', { token: u.refresh_token });
    assert.equal(r.status, 401);
  });
});

describe('POST /auth/token', () => {
  it('rotates (form-encoded, RFC 6749 §6): new access and refresh tokens, old refresh token dead', async () => {
    const u = await signup(B);
    const r = await call(B, 'POST', '/auth/token', { form: `grant_type=refresh_token&refresh_token=${u.refresh_token}` });
    assert.equal(r.status, 200);
    assertNoStore(r.headers);
    assert.equal(r.headers.get('pragma'), 'no-cache');
    assert.notEqual(r.body.refresh_token, u.refresh_token);
    assert.notEqual(r.body.access_token, u.access_token);
    assert.equal((await call(B, 'GET', '/auth/me', { token: r.body.access_token })).status, 200);
  });

  it('rotates with a JSON body', async () => {
    const u = await signup(B);
    const r = await refresh(B, u.refresh_token);
    assert.equal(r.status, 200);
    assert.equal((await refresh(B, r.body.refresh_token)).status, 200);
  });

  it('replay after the grace window: invalid_grant, session revoked, its access tokens refused at once', async () => {
    const local = await startServer({ LATCHKEY_REUSE_GRACE: '0' });
    try {
      const u = await signup(local.url);
      const next = await refresh(local.url, u.refresh_token);
      assert.equal(next.status, 200);
      const replay = await refresh(local.url, u.refresh_token);
      assert.equal(replay.status, 400);
      assert.deepEqual(replay.body, { error: 'invalid_grant', error_description: 'refresh token reuse detected; session revoked', reason: 'refresh_token_reused' });
      const newest = await refresh(local.url, next.body.refresh_token);
      assert.equal(newest.status, 400, 'the newest token is dead too');
      assert.equal(newest.body.error_description, 'refresh token reuse detected; session revoked', 'and its holder learns why');
      assert.equal((await call(local.url, 'GET', '/auth/me', { token: next.body.access_token })).status, 401);
      assert.equal((await call(local.url, 'GET', '/auth/me', { token: u.access_token })).status, 401);
      const events = local.events('session.reuse_detected');
      assert.equal(events.length, 1);
      assert.equal(events[0]!.userId, u.user.id);
    } finally {
      await local.close();
    }
  });

  it('grace replay of the predecessor returns the same successor and a fresh access token', async () => {
    const u = await signup(B);
    const a = await refresh(B, u.refresh_token);
    const b = await refresh(B, u.refresh_token);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(b.body.refresh_token, a.body.refresh_token);
    assert.notEqual(b.body.access_token, a.body.access_token);
    assert.equal((await refresh(B, a.body.refresh_token)).status, 200, 'the shared successor keeps working');
  });

  it('refuses forged, tampered and missing tokens with invalid_grant / invalid_request', async () => {
    const u = await signup(B);
    const tampered = u.refresh_token.slice(0, -2) + (u.refresh_token.endsWith('AA') ? 'BB' : 'AA');
    for (const t of [tampered, 'nonsense', u.refresh_token.slice(0, 40), u.access_token]) {
      const r = await refresh(B, t);
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'invalid_grant');
    }
    const missing = await call(B, 'POST', '/auth/token', { json: { grant_type: 'refresh_token' } });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'invalid_request');
    assert.equal((await refresh(B, u.refresh_token)).status, 200, 'failed attempts did not hurt the real token');
  });

  it('answers unsupported_grant_type for anything but refresh_token, including the password grant', async () => {
    for (const g of ['password', 'authorization_code', 'client_credentials']) {
      const r = await call(B, 'POST', '/auth/token', { form: `grant_type=${g}&username=a&password=b` });
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'unsupported_grant_type');
    }
  });

  it('binds a refresh token to its client: another client gets invalid_grant, unknown client invalid_client', async () => {
    const u = await signup(B);
    const other = await refresh(B, u.refresh_token, 'mobile');
    assert.equal(other.status, 400);
    assert.equal(other.body.error, 'invalid_grant');
    const unknown = await refresh(B, u.refresh_token, 'evil');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, 'invalid_client');
    assert.equal((await refresh(B, u.refresh_token, 'app')).status, 200, 'the owner client still refreshes');
  });

  it('issues tokens for the client named at login', async () => {
    const u = await signup(B);
    const m = await call(B, 'POST', '/auth/login', { json: { email: u.email, password: u.password, client_id: 'mobile' } });
    assert.equal(m.status, 200);
    const claims = JSON.parse(Buffer.from(m.body.access_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.client_id, 'mobile');
    assert.equal((await refresh(B, m.body.refresh_token, 'mobile')).status, 200);
  });

  it('400 for a parameter given twice (RFC 6749 §3.2)', async () => {
    const u = await signup(B);
    const r = await call(B, 'POST', '/auth/token', {
      form: `grant_type=refresh_token&refresh_token=${u.refresh_token}&refresh_token=${u.refresh_token}`,
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_request');
    const g = await call(B, 'POST', '/auth/token', { form: `grant_type=refresh_token&grant_type=refresh_token&refresh_token=${u.refresh_token}` });
    assert.equal(g.status, 400);
  });
});

describe('POST /auth/revoke (RFC 7009)', () => {
  it('ends the session of a genuine refresh token', async () => {
    const u = await signup(B);
    const r = await call(B, 'POST', '/auth/revoke', { form: `token=${u.refresh_token}` });
    assert.equal(r.status, 200);
    assert.equal((await refresh(B, u.refresh_token)).status, 400);
    assert.equal((await call(B, 'GET', '/auth/me', { token: u.access_token })).status, 401);
  });

  it('answers 200 and changes nothing for garbage, unknown tokens, or another client’s token', async () => {
    const u = await signup(B);
    for (const token of ['garbage', u.access_token, 'A'.repeat(74)]) {
      assert.equal((await call(B, 'POST', '/auth/revoke', { json: { token } })).status, 200);
    }
    assert.equal((await call(B, 'POST', '/auth/revoke', { json: { token: u.refresh_token, client_id: 'mobile' } })).status, 200);
    assert.equal((await refresh(B, u.refresh_token)).status, 200);
  });
});

describe('sessions', () => {
  it('lists the caller’s sessions with the current one marked', async () => {
    const u = await signup(B, uniqueEmail());
    await call(B, 'POST', '/auth/login', { json: { email: u.email, password: u.password }, headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0) Firefox/130.0' } });
    const r = await call(B, 'GET', '/auth/sessions', { token: u.access_token });
    assert.equal(r.status, 200);
    assertNoStore(r.headers);
    assert.equal(r.body.sessions.length, 2);
    const [first, second] = r.body.sessions;
    assert.equal(first.current, true);
    assert.equal(second.current, false);
    assert.equal(second.device, 'Firefox 130 on Windows');
    for (const s of r.body.sessions) assert.deepEqual(Object.keys(s).sort(), ['createdAt', 'current', 'device', 'id', 'keyBound', 'lastUsedAt']);
    for (const s of r.body.sessions) assert.equal(s.keyBound, false);
    // Issue 11: no finer than the minute, which tells a thief nothing about when a rotation happened.
    for (const s of r.body.sessions) assert.equal(Date.parse(s.lastUsedAt) % 60_000, 0);
  });

  it('DELETE /auth/sessions/:id ends one session; another user’s or an unknown id is 404', async () => {
    const u = await signup(B);
    const l = await call(B, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
    const list = await call(B, 'GET', '/auth/sessions', { token: u.access_token });
    const other = list.body.sessions.find((s: { current: boolean }) => !s.current);
    const stranger = await signup(B);
    assert.equal((await call(B, 'DELETE', `/auth/sessions/${other.id}`, { token: stranger.access_token })).status, 404);
    assert.equal((await call(B, 'DELETE', '/auth/sessions/nope', { token: u.access_token })).status, 404);
    const del = await call(B, 'DELETE', `/auth/sessions/${other.id}`, { token: u.access_token });
    assert.equal(del.status, 204);
    assert.equal((await call(B, 'GET', '/auth/me', { token: l.body.access_token })).status, 401);
    assert.equal((await refresh(B, l.body.refresh_token)).status, 400);
    assert.equal((await call(B, 'GET', '/auth/me', { token: u.access_token })).status, 200);
  });

  it('DELETE /auth/sessions?others=true ends all but the caller’s; without it ends all', async () => {
    const u = await signup(B);
    const logins = await Promise.all([1, 2].map(() => call(B, 'POST', '/auth/login', { json: { email: u.email, password: u.password } })));
    assert.equal((await call(B, 'DELETE', '/auth/sessions?others=true', { token: u.access_token })).status, 204);
    for (const l of logins) assert.equal((await call(B, 'GET', '/auth/me', { token: l.body.access_token })).status, 401);
    assert.equal((await call(B, 'GET', '/auth/sessions', { token: u.access_token })).body.sessions.length, 1);
    assert.equal((await call(B, 'DELETE', '/auth/sessions', { token: u.access_token })).status, 204);
    assert.equal((await call(B, 'GET', '/auth/me', { token: u.access_token })).status, 401);
    assert.equal((await refresh(B, u.refresh_token)).status, 400);
  });

  it('DELETE /auth/sessions with a bad or repeated query is 400', async () => {
    const u = await signup(B);
    assert.equal((await call(B, 'DELETE', '/auth/sessions?others=yes', { token: u.access_token })).status, 400);
    assert.equal((await call(B, 'DELETE', '/auth/sessions?others=true&others=false', { token: u.access_token })).status, 400);
    assert.equal((await call(B, 'GET', '/auth/me', { token: u.access_token })).status, 200, 'nothing was ended');
  });

  it('POST /auth/logout ends the caller’s session: 204, then access and refresh tokens refused', async () => {
    const u = await signup(B);
    const r = await call(B, 'POST', '/auth/logout', { token: u.access_token });
    assert.equal(r.status, 204);
    assert.equal((await call(B, 'GET', '/auth/me', { token: u.access_token })).status, 401);
    assert.equal((await refresh(B, u.refresh_token)).status, 400);
    assert.equal((await call(B, 'POST', '/auth/logout', { token: u.access_token })).status, 401);
  });
});

describe('discovery and health', () => {
  it('JWKS publishes public keys only, with kid and alg', async () => {
    const r = await call(B, 'GET', '/.well-known/jwks.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.keys.length, 1);
    const k = r.body.keys[0];
    assert.equal(k.kty, 'OKP');
    assert.equal(k.alg, 'EdDSA');
    assert.equal(typeof k.kid, 'string');
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined);
  });

  it('RFC 8414 metadata advertises the refresh grant only', async () => {
    const r = await call(B, 'GET', '/.well-known/oauth-authorization-server');
    assert.equal(r.status, 200);
    assert.equal(r.body.issuer, srv.latchkey.ctx.config.issuer);
    assert.deepEqual(r.body.grant_types_supported, ['refresh_token']);
    assert.equal(r.body.token_endpoint, `${r.body.issuer}/auth/token`);
    assert.equal(r.body.revocation_endpoint, `${r.body.issuer}/auth/revoke`);
    assert.equal(r.body.jwks_uri, `${r.body.issuer}/.well-known/jwks.json`);
  });

  it('/healthz answers 200 with its checks', async () => {
    const r = await call(B, 'GET', '/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'ok', checks: { sqlite: 'ok' } });
  });

  it('unknown routes are 404 JSON', async () => {
    const r = await call(B, 'GET', '/nope');
    assert.equal(r.status, 404);
    assert.equal(r.body.error, 'not_found');
  });
});

describe('malformed HTTP input is a clear 4xx', () => {
  it('413 over the body limit', async () => {
    const r = await call(B, 'POST', '/auth/login', { json: { email: 'a@b.co', password: 'x'.repeat(1024 * 1024) } });
    assert.equal(r.status, 413);
    assert.equal(r.body.error, 'invalid_request');
  });

  it('415 for an unsupported content type', async () => {
    const r = await call(B, 'POST', '/auth/login', { body: '<x/>', headers: { 'content-type': 'application/xml' } });
    assert.equal(r.status, 415);
  });

  it('400 for malformed JSON and for prototype-poisoning payloads', async () => {
    for (const body of ['{"email":', '{"__proto__":{"polluted":1},"email":"a@b.co","password":"12345678"}', '{"constructor":{"prototype":{"polluted":1}},"email":"a@b.co","password":"12345678"}']) {
      const r = await call(B, 'POST', '/auth/login', { body, headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 400, body);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('400 for a JSON body that is not an object', async () => {
    for (const body of ['null', '[]', '"x"', '42']) {
      const r = await call(B, 'POST', '/auth/token', { body, headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 400, body);
    }
  });
});

describe('logging', () => {
  it('emits security events and never writes a token or password to the log', async () => {
    const u = await signup(B);
    const r = await refresh(B, u.refresh_token);
    await call(B, 'POST', '/auth/login', { json: { email: u.email, password: 'wrong password!' } });
    await call(B, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
    const names = new Set(srv.logs.map((l) => l.event).filter(Boolean));
    for (const e of ['session.created', 'session.rotated', 'login.failed', 'login.succeeded']) assert.ok(names.has(e), e);
    const log = srv.rawLog();
    for (const secret of [u.refresh_token, u.access_token, r.body.refresh_token, r.body.access_token, u.password]) {
      assert.ok(!log.includes(secret), 'a secret reached the log');
    }
  });
});
