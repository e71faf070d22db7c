// Session lifetimes, caps and algorithms, driven by a controllable clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call, refresh, signup } from '../helpers/http.js';
import { startServer } from '../helpers/server.js';

function clock(start = Date.now()) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('session lifetimes', () => {
  it('an idle session ends after LATCHKEY_SESSION_IDLE without use', async () => {
    const c = clock();
    const srv = await startServer({ LATCHKEY_SESSION_IDLE: '3600', LATCHKEY_ACCESS_TTL: '60' }, { now: c.now });
    try {
      const u = await signup(srv.url);
      c.advance(3000_000);
      const r1 = await refresh(srv.url, u.refresh_token);
      assert.equal(r1.status, 200, 'used within the idle timeout');
      c.advance(3600_000);
      const r2 = await refresh(srv.url, r1.body.refresh_token);
      assert.equal(r2.status, 400);
      assert.deepEqual(r2.body, { error: 'invalid_grant', error_description: 'session expired', reason: 'session_expired' });
      assert.equal(srv.events('session.expired')[0]?.reason, 'idle');
    } finally {
      await srv.close();
    }
  });

  it('a session ends at LATCHKEY_SESSION_TTL however often it is used', async () => {
    const c = clock();
    const srv = await startServer({ LATCHKEY_SESSION_TTL: '7200', LATCHKEY_SESSION_IDLE: '3600', LATCHKEY_ACCESS_TTL: '60' }, { now: c.now });
    try {
      const u = await signup(srv.url);
      let token = u.refresh_token;
      for (let i = 0; i < 3; i++) {
        c.advance(1800_000);
        const r = await refresh(srv.url, token);
        assert.equal(r.status, 200, `refresh ${i}`);
        token = r.body.refresh_token;
      }
      c.advance(1800_000);
      const r = await refresh(srv.url, token);
      assert.equal(r.status, 400);
      assert.equal(srv.events('session.expired')[0]?.reason, 'absolute');
      const list = await call(srv.url, 'GET', '/auth/sessions', { token: (await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } })).body.access_token });
      assert.equal(list.body.sessions.length, 1, 'the expired session is not listed');
    } finally {
      await srv.close();
    }
  });

  it('access tokens expire after LATCHKEY_ACCESS_TTL (plus leeway)', async () => {
    const c = clock();
    const srv = await startServer({ LATCHKEY_ACCESS_TTL: '60', LATCHKEY_CLOCK_LEEWAY: '5' }, { now: c.now });
    try {
      const u = await signup(srv.url);
      c.advance(64_000);
      assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 200, 'inside the leeway');
      c.advance(2_000);
      assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 401);
    } finally {
      await srv.close();
    }
  });
});

describe('LATCHKEY_MAX_SESSIONS', () => {
  it('ends the oldest sessions beyond the cap; 1 gives one refresh token per user', async () => {
    const srv = await startServer({ LATCHKEY_MAX_SESSIONS: '1' });
    try {
      const u = await signup(srv.url);
      const l = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
      assert.equal(l.status, 200);
      assert.equal((await refresh(srv.url, u.refresh_token)).status, 400, 'the first session was ended');
      assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 401);
      const list = await call(srv.url, 'GET', '/auth/sessions', { token: l.body.access_token });
      assert.equal(list.body.sessions.length, 1);
      assert.equal((await refresh(srv.url, l.body.refresh_token)).status, 200);
    } finally {
      await srv.close();
    }
  });
});

describe('LATCHKEY_ALG', () => {
  for (const [alg, kty] of [
    ['ES256', 'EC'],
    ['RS256', 'RSA'],
  ] as const) {
    it(`${alg}: issues, verifies and publishes ${kty} keys`, async () => {
      const srv = await startServer({ LATCHKEY_ALG: alg });
      try {
        const u = await signup(srv.url);
        const header = JSON.parse(Buffer.from(u.access_token.split('.')[0]!, 'base64url').toString());
        assert.equal(header.alg, alg);
        assert.equal(header.typ, 'at+jwt');
        assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 200);
        const jwks = await call(srv.url, 'GET', '/.well-known/jwks.json');
        assert.equal(jwks.body.keys[0].kty, kty);
        assert.equal(jwks.body.keys[0].kid, header.kid);
      } finally {
        await srv.close();
      }
    });
  }

  it('switching algorithm keeps the old key published and its tokens valid until they expire', async () => {
    // A fixed issuer: by default it names the port, which differs between the two starts.
    const issuer = 'http://localhost:3000';
    const first = await startServer({ LATCHKEY_ALG: 'EdDSA', LATCHKEY_ISSUER: issuer });
    const dataDir = first.dataDir;
    const u = await signup(first.url);
    await first.latchkey.close();
    const second = await startServer({ LATCHKEY_ALG: 'ES256', LATCHKEY_DATA_DIR: dataDir, LATCHKEY_ISSUER: issuer });
    try {
      const jwks = await call(second.url, 'GET', '/.well-known/jwks.json');
      assert.deepEqual(jwks.body.keys.map((k: { alg: string }) => k.alg).sort(), ['ES256', 'EdDSA']);
      assert.equal((await call(second.url, 'GET', '/auth/me', { token: u.access_token })).status, 200);
      const r = await refresh(second.url, u.refresh_token);
      assert.equal(JSON.parse(Buffer.from(r.body.access_token.split('.')[0]!, 'base64url').toString()).alg, 'ES256');
    } finally {
      await second.close();
      (await import('../helpers/server.js')).removeDir(dataDir);
    }
  });
});

describe('access token claims (RFC 9068 §2.2)', () => {
  it('carries iss sub aud exp iat jti client_id sid email_verified, with typ at+jwt and the RFC 7638 kid', async () => {
    const srv = await startServer({ LATCHKEY_AUDIENCE: 'https://api.example.com' });
    try {
      const u = await signup(srv.url);
      const [h, p] = u.access_token.split('.').slice(0, 2).map((x: string) => JSON.parse(Buffer.from(x, 'base64url').toString()));
      assert.deepEqual(Object.keys(h).sort(), ['alg', 'kid', 'typ']);
      assert.deepEqual(Object.keys(p).sort(), ['aud', 'client_id', 'email_verified', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub']);
      assert.equal(p.email_verified, false, 'until the emailed link is followed');
      assert.equal(p.aud, 'https://api.example.com');
      assert.equal(p.sub, u.user.id);
      assert.equal(p.exp - p.iat, 300);
      const sessions = await call(srv.url, 'GET', '/auth/sessions', { token: u.access_token });
      assert.equal(sessions.body.sessions[0].id, p.sid);
    } finally {
      await srv.close();
    }
  });
});
