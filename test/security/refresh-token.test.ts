// Refresh-token attacks: every one is invalid_grant (RFC 6749 §5.2), and the side effect each
// must (or must not) have is checked on the real server: who is logged out, who is not, and
// what the store holds afterwards. RFC 9700 §4.14 (rotation, reuse detection), RFC 7009.
import assert from 'node:assert/strict';
import { DpopKey } from '../helpers/dpop.js';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { encodeRefreshToken, REFRESH_TOKEN_LENGTH } from '../../packages/server/src/domain/refresh-token.js';
import { call, refresh, signup, uniqueEmail, type Res } from '../helpers/http.js';
import type { TestServer } from '../helpers/server.js';
import { assertErrorBody, claimsOf, clock, start, startIsolated } from './support.js';

const sidOf = (accessToken: string): string => claimsOf(accessToken).sid;

function assertInvalidGrant(r: Res, label = ''): void {
  assert.equal(r.status, 400, `${label}: ${r.status} ${r.text}`);
  assert.equal(r.body.error, 'invalid_grant', label);
  assertErrorBody(r, label);
}

async function meStatus(srv: TestServer, access: string): Promise<number> {
  return (await call(srv.url, 'GET', '/auth/me', { token: access })).status;
}

/** A live session: its refresh token rotates and its access token works. Consumes nothing it cannot give back. */
async function assertAlive(srv: TestServer, t: { access_token: string; refresh_token: string }, label: string) {
  assert.equal(await meStatus(srv, t.access_token), 200, `${label}: access token`);
  const r = await refresh(srv.url, t.refresh_token);
  assert.equal(r.status, 200, `${label}: refresh ${r.text}`);
  return r.body;
}

/** Refresh-token bytes: version(1) ‖ mac key id(2) ‖ session id(16) ‖ generation(4) ‖ MAC(32). */
function withBytes(token: string, edit: (b: Buffer) => void): string {
  const b = Buffer.from(token, 'base64url');
  edit(b);
  return b.toString('base64url');
}

describe('replay and reuse (grace 0: strict)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await start({ LATCHKEY_REUSE_GRACE: '0', LATCHKEY_CLIENTS: 'app,mobile' });
  });
  after(() => srv.close());

  it('replay after rotation: invalid_grant, whole session revoked, newest tokens dead, other sessions untouched', async () => {
    const u = await signup(srv.url);
    const other = (await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } })).body;
    const r1 = await refresh(srv.url, u.refresh_token);
    const r2 = await refresh(srv.url, r1.body.refresh_token);
    assert.equal(r2.status, 200);
    const replay = await refresh(srv.url, u.refresh_token);
    assertInvalidGrant(replay, 'replay');
    assert.equal(replay.body.error_description, 'refresh token reuse detected; session revoked');
    assertInvalidGrant(await refresh(srv.url, r2.body.refresh_token), 'newest refresh token');
    for (const a of [u.access_token, r1.body.access_token, r2.body.access_token]) assert.equal(await meStatus(srv, a), 401);
    assert.equal(await srv.latchkey.ctx.stores.sessions.getSession(sidOf(u.access_token)), null, 'the session is gone from the store');
    const ev = srv.events('session.reuse_detected').filter((e) => e.sessionId === sidOf(u.access_token));
    assert.equal(ev.length, 1);
    await assertAlive(srv, other, 'the same user’s other session');
  });

  it('concurrent replay of one token: exactly one successor, and the race itself ends the session (no fork)', async () => {
    const u = await signup(srv.url);
    const rs = await Promise.all(Array.from({ length: 30 }, () => refresh(srv.url, u.refresh_token)));
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `statuses ${rs.map((r) => r.status).join(',')}`);
    for (const r of rs.filter((x) => x.status !== 200)) assertInvalidGrant(r, 'loser');
    assertInvalidGrant(await refresh(srv.url, ok[0]!.body.refresh_token), 'the single successor is revoked with its session');
    assert.equal(await meStatus(srv, ok[0]!.body.access_token), 401);
  });
});

describe('replay with the grace window (LATCHKEY_REUSE_GRACE=10)', () => {
  const c = clock();
  let srv: TestServer;
  before(async () => {
    srv = await start({ LATCHKEY_REUSE_GRACE: '10' }, { now: c.now });
  });
  after(() => srv.close());

  it('concurrent presentations of one DPoP-bound token get one and the same successor (no fork)', async () => {
    const key = new DpopKey();
    const u = (await key.signup(srv.url, uniqueEmail())).body;
    const rs = await Promise.all(Array.from({ length: 30 }, () => key.refresh(srv.url, u.refresh_token)));
    assert.ok(rs.every((r) => r.status === 200), rs.map((r) => r.status).join(','));
    assert.equal(new Set(rs.map((r) => r.body.refresh_token)).size, 1, 'one successor');
    const s = await srv.latchkey.ctx.stores.sessions.getSession(sidOf(u.access_token));
    assert.equal(s?.generation, 1, 'the generation advanced exactly once');
    assert.equal((await key.refresh(srv.url, rs[0]!.body.refresh_token)).status, 200, 'the shared successor works');
  });

  it('concurrent presentations of one Bearer token inside the window: 1 rotation + 3 grace answers share one successor, then reuse (no fork)', async () => {
    const u = await signup(srv.url);
    const rs = await Promise.all(Array.from({ length: 30 }, () => refresh(srv.url, u.refresh_token)));
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 4, rs.map((r) => r.status).join(','));
    assert.equal(new Set(ok.map((r) => r.body.refresh_token)).size, 1, 'one successor');
    for (const r of rs) if (r.status !== 200) assert.equal((r.body as { reason?: string }).reason, 'refresh_token_reused');
  });

  it('the predecessor after the window, or any older token, is reuse: session revoked', async () => {
    const u = await signup(srv.url);
    const r1 = (await refresh(srv.url, u.refresh_token)).body;
    c.advance(11_000);
    assertInvalidGrant(await refresh(srv.url, u.refresh_token), 'predecessor after 11 s');
    assertInvalidGrant(await refresh(srv.url, r1.refresh_token), 'successor is dead too');
    assert.equal(await meStatus(srv, r1.access_token), 401);

    const v = await signup(srv.url);
    const v1 = (await refresh(srv.url, v.refresh_token)).body;
    const v2 = (await refresh(srv.url, v1.refresh_token)).body;
    const stale = await Promise.all(Array.from({ length: 10 }, () => refresh(srv.url, v.refresh_token)));
    for (const r of stale) assertInvalidGrant(r, 'generation n-2, concurrently');
    assertInvalidGrant(await refresh(srv.url, v2.refresh_token), 'newest after n-2 replay');
    assert.equal(await meStatus(srv, v2.access_token), 401);
  });
});

describe('tokens that are not this session’s current one', () => {
  const c = clock();
  let srv: TestServer;
  before(async () => {
    srv = await start({ LATCHKEY_CLIENTS: 'app,mobile', LATCHKEY_SESSION_TTL: '120', LATCHKEY_SESSION_IDLE: '60', LATCHKEY_ACCESS_TTL: '30' }, { now: c.now });
  });
  after(() => srv.close());

  it('another user’s session id spliced into your token is refused, and neither user is affected', async () => {
    const a = await signup(srv.url);
    const b = await signup(srv.url);
    const bSid = Buffer.from(sidOf(b.access_token), 'base64url');
    const spliced = withBytes(a.refresh_token, (buf) => bSid.copy(buf, 3));
    assertInvalidGrant(await refresh(srv.url, spliced), 'spliced');
    // Same with the generation pushed forward.
    assertInvalidGrant(await refresh(srv.url, withBytes(spliced, (buf) => buf.writeUInt32BE(5, 19))), 'spliced, generation 5');
    await assertAlive(srv, b, 'victim');
    await assertAlive(srv, a, 'attacker’s own session (a forged token revokes nothing)');
  });

  it('reuse on one user’s session never touches another user', async () => {
    const a = await signup(srv.url);
    const b = await signup(srv.url);
    const a1 = (await refresh(srv.url, a.refresh_token)).body;
    await refresh(srv.url, a1.refresh_token);
    c.advance(11_000);
    assertInvalidGrant(await refresh(srv.url, a.refresh_token), 'reuse of a');
    await assertAlive(srv, b, 'b after a’s reuse');
    c.advance(1_000);
  });

  it('another client’s token: invalid_grant, and the owner’s session is not revoked by the attempt', async () => {
    const u = await signup(srv.url);
    const r = await refresh(srv.url, u.refresh_token, 'mobile');
    assertInvalidGrant(r, 'presented by mobile');
    assert.equal(r.body.error_description, 'refresh token was issued to another client');
    const unknown = await refresh(srv.url, u.refresh_token, 'evil-client');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, 'invalid_client');
    await assertAlive(srv, u, 'owner');
  });

  it('a session ended by the user, or by logout, refuses its refresh token (grace does not resurrect it)', async () => {
    const u = await signup(srv.url);
    const l = (await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } })).body;
    const l1 = (await refresh(srv.url, l.refresh_token)).body;
    assert.equal((await call(srv.url, 'DELETE', `/auth/sessions/${sidOf(l.access_token)}`, { token: u.access_token })).status, 204);
    assertInvalidGrant(await refresh(srv.url, l1.refresh_token), 'ended session, current token');
    assertInvalidGrant(await refresh(srv.url, l.refresh_token), 'ended session, predecessor inside grace');

    const m = await signup(srv.url);
    const m1 = (await refresh(srv.url, m.refresh_token)).body;
    assert.equal((await call(srv.url, 'POST', '/auth/logout', { token: m1.access_token })).status, 204);
    assertInvalidGrant(await refresh(srv.url, m1.refresh_token), 'after logout, current');
    assertInvalidGrant(await refresh(srv.url, m.refresh_token), 'after logout, predecessor inside grace');
    assert.equal(await meStatus(srv, m1.access_token), 401);
  });

  it('expired (absolute) and idle-expired sessions are invalid_grant "session expired"', async () => {
    const idle = await signup(srv.url);
    c.advance(61_000);
    const r = await refresh(srv.url, idle.refresh_token);
    assertInvalidGrant(r, 'idle');
    assert.equal(r.body.error_description, 'session expired');

    const busy = await signup(srv.url);
    let t = busy.refresh_token;
    for (let i = 0; i < 3; i++) {
      c.advance(35_000);
      const n = await refresh(srv.url, t);
      assert.equal(n.status, 200, `used within idle, ${i}`);
      t = n.body.refresh_token;
    }
    c.advance(16_000);
    const abs = await refresh(srv.url, t);
    assertInvalidGrant(abs, 'absolute');
    assert.equal(abs.body.error_description, 'session expired');
  });

  it('tampered, truncated, extended or re-encoded tokens are refused, and the genuine token keeps working', async () => {
    const u = await signup(srv.url);
    const t = u.refresh_token;
    assert.equal(t.length, REFRESH_TOKEN_LENGTH);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const bad: Array<[string, string]> = [
      ['version byte', withBytes(t, (b) => (b[0] = 2))],
      ['MAC key id', withBytes(t, (b) => b.writeUInt16BE(b.readUInt16BE(1) + 1, 1))],
      ['session id bit', withBytes(t, (b) => (b[10]! ^= 1))],
      ['generation + 1', withBytes(t, (b) => b.writeUInt32BE(b.readUInt32BE(19) + 1, 19))],
      ['generation max', withBytes(t, (b) => b.writeUInt32BE(0xffffffff, 19))],
      ['MAC last bit', withBytes(t, (b) => (b[b.length - 1]! ^= 1))],
      ['MAC zeroed', withBytes(t, (b) => b.fill(0, 23))],
      ['truncated by one', t.slice(0, -1)],
      ['truncated to half', t.slice(0, 37)],
      ['extended', `${t}A`],
      ['padded', `${t}==`],
      ['standard alphabet', Buffer.from(t, 'base64url').toString('base64')],
      ['upper-cased', t.toUpperCase()],
      ['altered unused bits', t.slice(0, -1) + alphabet[alphabet.indexOf(t.at(-1)!) ^ 1]],
      ['with whitespace', ` ${t}`],
      ['empty-ish', 'A'],
      ['a JWT', u.access_token],
      ['random bytes of the right length', randomBytes(55).toString('base64url')],
    ];
    for (const [what, x] of bad) {
      if (x === t) continue;
      assertInvalidGrant(await refresh(srv.url, x), what);
    }
    const r = await refresh(srv.url, t);
    assert.equal(r.status, 200, 'the genuine token was not harmed by any of the above');
  });

  it('a well-formed token under our MAC for a future generation or a missing session: invalid_grant, nothing revoked', async () => {
    const u = await signup(srv.url);
    const mac = srv.latchkey.ctx.keys.mac;
    const future = encodeRefreshToken(mac, { sessionId: sidOf(u.access_token), generation: 7 });
    assertInvalidGrant(await refresh(srv.url, future), 'future generation');
    assert.equal(srv.events('session.future_generation').filter((e) => e.sessionId === sidOf(u.access_token)).length, 1);
    const ghost = encodeRefreshToken(mac, { sessionId: randomBytes(16).toString('base64url'), generation: 0 });
    assertInvalidGrant(await refresh(srv.url, ghost), 'no such session');
    await assertAlive(srv, u, 'the session the future token named');
  });

  it('a token minted by another Latchkey deployment (another MAC secret) is refused', async () => {
    const other = await startIsolated();
    try {
      const foreign = await signup(other.url);
      const r = await refresh(srv.url, foreign.refresh_token);
      assertInvalidGrant(r, 'foreign token');
      assert.equal(r.body.error_description, 'refresh token is invalid', 'refused by the MAC, before any store lookup');
    } finally {
      await other.close();
    }
  });

  it('a refresh token is not an access token, and an access token is not a refresh token', async () => {
    const u = await signup(srv.url);
    const r = await call(srv.url, 'GET', '/auth/me', { headers: { authorization: `Bearer ${u.refresh_token}` } });
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_token');
    assertInvalidGrant(await refresh(srv.url, u.access_token), 'access token as refresh token');
    await assertAlive(srv, u, 'owner');
  });
});

describe('POST /auth/revoke (RFC 7009)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await start({ LATCHKEY_CLIENTS: 'app,mobile' });
  });
  after(() => srv.close());

  it('garbage is 200 {} and changes nothing', async () => {
    const u = await signup(srv.url);
    for (const token of ['garbage', 'A'.repeat(REFRESH_TOKEN_LENGTH), u.access_token, withBytes(u.refresh_token, (b) => (b[30]! ^= 1)), 'x'.repeat(8192)]) {
      const r = await call(srv.url, 'POST', '/auth/revoke', { form: new URLSearchParams({ token }).toString() });
      assert.equal(r.status, 200, token.slice(0, 20));
      assert.deepEqual(r.body, {});
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
    await assertAlive(srv, u, 'after garbage revocations');
  });

  it('someone else’s token ends only that token’s own session: not the caller’s, not the owner’s other sessions', async () => {
    const caller = await signup(srv.url);
    const owner = await signup(srv.url);
    const ownerOther = (await call(srv.url, 'POST', '/auth/login', { json: { email: owner.email, password: owner.password } })).body;
    const r = await call(srv.url, 'POST', '/auth/revoke', { json: { token: owner.refresh_token }, token: caller.access_token });
    assert.equal(r.status, 200);
    assertInvalidGrant(await refresh(srv.url, owner.refresh_token), 'the revoked token');
    assert.equal(await meStatus(srv, owner.access_token), 401, 'its session’s access token');
    await assertAlive(srv, ownerOther, 'the owner’s other session');
    await assertAlive(srv, caller, 'the caller');
  });

  it('another client’s token: 200 and no effect on it', async () => {
    const u = await signup(srv.url);
    const r = await call(srv.url, 'POST', '/auth/revoke', { json: { token: u.refresh_token, client_id: 'mobile' } });
    assert.equal(r.status, 200);
    await assertAlive(srv, u, 'after a revocation by another client');
  });
});
