// Rate-limit state cannot be flushed or dodged (issue 12 item 4), and one account cannot log in
// without bound (item 1's successful-login limit). ASVS 5.0 V6.1.1, V6.3.1.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { login as loginUseCase } from '../../packages/server/src/auth/credentials.js';
import { AuthError } from '../../packages/server/src/domain/errors.js';
import { call, signup, type Res } from '../helpers/http.js';
import type { TestServer } from '../helpers/server.js';
import { clock, start, startIsolated } from './support.js';

const WINDOW = 60;
const freshEmail = () => `rl-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
const LIMIT = 2;

function login(srv: TestServer, email: string, password: string, forwardedFor: string): Promise<Res> {
  return call(srv.url, 'POST', '/auth/login', { json: { email, password }, headers: { 'x-forwarded-for': forwardedFor } });
}

function assert429(r: Res, label: string): void {
  assert.equal(r.status, 429, `${label}: ${r.status} ${r.text}`);
  assert.equal(r.body.reason, 'rate_limited', label);
  assert.ok(Number(r.headers.get('retry-after')) >= 1, `${label}: Retry-After ${r.headers.get('retry-after')}`);
}


/** Suites on the embedded store only (startIsolated): the scale-out battery would run them again unchanged. */
const EMBEDDED_ONLY = { skip: process.env.LATCHKEY_SECURITY_ENV ? 'embedded store only; it ran in the embedded battery' : false };

describe('the embedded limiter cannot be flushed (LATCHKEY_LOGIN_ACCOUNT_LIMIT=2: account ceiling 20)', EMBEDDED_ONLY, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startIsolated({ LATCHKEY_LOGIN_ACCOUNT_LIMIT: String(LIMIT), LATCHKEY_LOGIN_WINDOW: '900', LATCHKEY_LOG_LEVEL: 'warn' });
  });
  after(() => srv.close());

  it('102k refused attempts from fresh IPv6 /64s neither evict the victim’s counters nor let one more guess through', async () => {
    const victim = await signup(srv.url);
    // The server's own context, with a sink that counts the guesses that reached the password
    // check (102k log lines through the test's JSON log would cost more than the flood itself).
    let guessesChecked = 0;
    const ctx = { ...srv.latchkey.ctx, events: (e: { event: string; userId?: string }) => void (e.event === 'login.failed' && e.userId === victim.user.id && guessesChecked++) };
    const attempt = (ip: string) => loginUseCase(ctx, { email: victim.email, password: 'guess' }, { clientId: 'app', ip, userAgent: undefined });
    // Distributed guessing up to the account's ceiling (ten sources, two guesses each).
    for (let s = 0; s < 10; s++) for (let i = 0; i < LIMIT; i++) await attempt(`203.0.113.${s}`).catch(() => {});
    assert.equal(guessesChecked, 20, 'the ceiling was reached');
    const statuses = new Map<string, number>();
    for (let i = 0; i < 102_000; i++) {
      const ip = `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;
      try {
        await attempt(ip);
        statuses.set('ok', (statuses.get('ok') ?? 0) + 1);
      } catch (e) {
        const k = e instanceof AuthError ? e.code : String(e);
        statuses.set(k, (statuses.get(k) ?? 0) + 1);
      }
    }
    assert.deepEqual([...statuses], [['rate_limited', 102_000]], 'every flood attempt was refused');
    assert.equal(guessesChecked, 20, 'no guess past the ceiling reached the password check');
    await assert.rejects(attempt('2001:db8:ffff::1'), (e: AuthError) => e.code === 'rate_limited', 'still locked for new sources after the flood');
  });
});

describe('behind a trusted proxy, one client is one source whatever the spelling (X-Forwarded-For)', () => {
  const c = clock();
  let srv: TestServer;
  before(async () => {
    srv = await start(
      { LATCHKEY_LOGIN_ACCOUNT_LIMIT: String(LIMIT), LATCHKEY_LOGIN_WINDOW: String(WINDOW), LATCHKEY_TRUST_PROXY: 'true' },
      { now: c.now },
    );
  });
  after(() => srv.close());

  const spelledAlike = async (label: string, spellings: string[]) => {
    const u = await signup(srv.url);
    for (let i = 0; i < LIMIT; i++) assert.equal((await login(srv, u.email, 'guess', spellings[i % spellings.length]!)).status, 401, `${label}: guess ${i + 1}`);
    for (const s of spellings) assert429(await login(srv, u.email, 'guess', s), `${label}: ${s} is the same source`);
    c.advance(WINDOW * 1000);
  };

  it('IPv4 with a port: each port is the same client', () =>
    spelledAlike('ipv4:port', ['198.51.100.9:40001', '198.51.100.9:40002', '198.51.100.9', '198.51.100.9:1']));

  it('bracketed IPv6 with a port, and the rest of its /64', () =>
    spelledAlike('[v6]:port', ['[2001:db8::1]:40001', '[2001:db8::1]:40002', '2001:db8::1', '[2001:db8:0:0:ffff::9]', '2001:DB8:0:0:1::1%eth0']));

  it('IPv4-mapped IPv6 in every spelling (dotted, hex, upper case, expanded) is the IPv4 address', () =>
    spelledAlike('mapped', [
      '::ffff:198.51.100.7',
      '::ffff:c633:6407',
      '::FFFF:C633:6407',
      '0:0:0:0:0:ffff:c633:6407',
      '0000:0000:0000:0000:0000:FFFF:C633:6407',
      '[::ffff:c633:6407]:8080',
      '198.51.100.7',
    ]));

  it('two IPv4 clients written as hex IPv4-mapped addresses stay two sources (they used to share one /64)', async () => {
    const u = await signup(srv.url);
    for (let i = 0; i < LIMIT; i++) await login(srv, u.email, 'guess', '::ffff:c633:6401');
    assert429(await login(srv, u.email, 'guess', '::ffff:c633:6401'), 'the guesser');
    assert.equal((await login(srv, u.email, u.password, '::ffff:c633:6402')).status, 200, 'another client is not locked out');
    c.advance(WINDOW * 1000);
  });

  it('garbage in X-Forwarded-For is one shared source, not a fresh budget per string', () =>
    spelledAlike('garbage', ['garbage-1', 'garbage-2', 'not an address', '198.51.100.9:99999']));

});

describe('successful logins per account (LATCHKEY_LOGIN_SUCCESS_LIMIT=3 per 60 s)', () => {
  const c = clock();
  let srv: TestServer;
  before(async () => {
    srv = await start({ LATCHKEY_LOGIN_SUCCESS_LIMIT: '3', LATCHKEY_LOGIN_WINDOW: String(WINDOW), LATCHKEY_TRUST_PROXY: 'true' }, { now: c.now });
  });
  after(() => srv.close());

  it('the 4th successful login in the window is 429 + Retry-After with no session made; other accounts and the next window are not affected', async () => {
    const u = await signup(srv.url);
    const other = await signup(srv.url);
    for (let i = 0; i < 3; i++) assert.equal((await login(srv, u.email, u.password, `198.51.100.${60 + i}`)).status, 200, `login ${i + 1}`);
    const sessionsBefore = srv.events('session.created').length;
    const r = await login(srv, u.email, u.password, '198.51.100.70');
    assert429(r, 'over the successful-login limit');
    assert.equal(r.body.error_description, 'too many logins to this account; retry later');
    assert.ok(Number(r.headers.get('retry-after')) <= WINDOW);
    assert.equal(srv.events('session.created').length, sessionsBefore, 'no session for the refused login');
    // A wrong password still answers 401: the limit shows only to someone who knows the password.
    assert.equal((await login(srv, u.email, 'wrong password', '198.51.100.70')).status, 401);
    assert.equal((await login(srv, other.email, other.password, '198.51.100.70')).status, 200, 'another account');
    c.advance(WINDOW * 1000);
  });
});

describe('sign-up limits per source and overall (LATCHKEY_SIGNUP_IP_LIMIT=3, LATCHKEY_SIGNUP_LIMIT=5)', () => {
  const c = clock();
  let srv: TestServer;
  before(async () => {
    srv = await start({ LATCHKEY_SIGNUP_IP_LIMIT: '3', LATCHKEY_SIGNUP_LIMIT: '5', LATCHKEY_SIGNUP_WINDOW: '600', LATCHKEY_TRUST_PROXY: 'true' }, { now: c.now });
  });
  after(() => srv.close());

  const signupFrom = (ip: string, email = freshEmail()) =>
    call(srv.url, 'POST', '/auth/signup', { json: { email, password: 'correct horse battery' }, headers: { 'x-forwarded-for': ip } });

  it('the 4th sign-up from one source is 429 before any hashing, for a taken address too; other sources go on until the overall limit', async () => {
    const first = await signupFrom('198.51.100.80');
    assert.equal(first.status, 201);
    assert.equal((await signupFrom('198.51.100.80', first.body.user.email)).status, 409, 'a taken address counts like any attempt');
    assert.equal((await signupFrom('198.51.100.80')).status, 201);
    const hashesBefore = srv.latchkey.ctx.hasher.stats();
    const refusedNew = await signupFrom('198.51.100.80');
    const refusedTaken = await signupFrom('198.51.100.80', first.body.user.email);
    assert429(refusedNew, 'a new address');
    assert429(refusedTaken, 'a taken address');
    assert.deepEqual(refusedTaken.body, refusedNew.body, 'the same answer whether the address is taken or not');
    assert.equal(refusedNew.body.error_description, 'too many sign-ups; retry later');
    assert.ok(Number(refusedNew.headers.get('retry-after')) <= 600);
    assert.deepEqual(srv.latchkey.ctx.hasher.stats(), hashesBefore, 'nothing was queued for hashing');
    assert.equal((await signupFrom('2001:db8:5::1')).status, 201, 'another source');
    assert.equal((await signupFrom('2001:db8:6::1')).status, 201, 'the fifth in all');
    assert429(await signupFrom('2001:db8:7::1'), 'over the overall limit, from a fresh source');
    c.advance(600_000);
  });
});

describe('sign-up limits see one client through every spelling (LATCHKEY_SIGNUP_IP_LIMIT=3)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await start({ LATCHKEY_SIGNUP_IP_LIMIT: '3', LATCHKEY_TRUST_PROXY: 'true' });
  });
  after(() => srv.close());

  it('sign-ups from one client count once whatever the port (LATCHKEY_SIGNUP_IP_LIMIT=3)', async () => {
    const spellings = ['198.51.100.40:1000', '198.51.100.40:1001', '::ffff:c633:6428', '[::ffff:198.51.100.40]:9'];
    const rs: Res[] = [];
    for (const [i, s] of spellings.entries()) {
      rs.push(await call(srv.url, 'POST', '/auth/signup', { json: { email: `spelled-${Date.now()}-${i}@example.com`, password: 'correct horse battery' }, headers: { 'x-forwarded-for': s } }));
    }
    assert.deepEqual(rs.map((r) => r.status), [201, 201, 201, 429]);
  });
});

describe('the new limits lapse by themselves (real clock, so every store expires them its own way)', () => {
  it('successful logins and sign-ups are allowed again after their windows', async () => {
    const srv = await start({ LATCHKEY_LOGIN_SUCCESS_LIMIT: '1', LATCHKEY_LOGIN_WINDOW: '2', LATCHKEY_SIGNUP_IP_LIMIT: '2', LATCHKEY_SIGNUP_WINDOW: '2', LATCHKEY_TRUST_PROXY: 'true' });
    try {
      const signupFrom = () => call(srv.url, 'POST', '/auth/signup', { json: { email: freshEmail(), password: 'correct horse battery' }, headers: { 'x-forwarded-for': '198.51.100.90' } });
      const first = await signupFrom();
      assert.equal(first.status, 201);
      const email = JSON.parse(first.text).user.email as string;
      assert.equal((await signupFrom()).status, 201);
      assert429(await signupFrom(), 'sign-up limit');
      assert.equal((await login(srv, email, 'correct horse battery', '198.51.100.91')).status, 200);
      assert429(await login(srv, email, 'correct horse battery', '198.51.100.91'), 'successful-login limit');
      await new Promise((r) => setTimeout(r, 2100));
      assert.equal((await signupFrom()).status, 201, 'sign-up limit lapsed');
      assert.equal((await login(srv, email, 'correct horse battery', '198.51.100.91')).status, 200, 'successful-login limit lapsed');
    } finally {
      await srv.close();
    }
  });
});
