// Login abuse: brute force, lockout of others, user enumeration, and credential input bounds.
// ASVS 5.0 V6.1.1/V6.3.1 (throttling that cannot be turned against the user), V6.3.8
// (no enumeration), V6.2.x (password length, no truncation); RFC 9700 §4.x.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { ACCOUNT_CEILING_FACTOR, sourceOf } from '../../packages/server/src/auth/login-throttle.js';
import { call, signup, uniqueEmail, type Res } from '../helpers/http.js';
import type { TestServer } from '../helpers/server.js';
import { assertErrorBody, clock, start } from './support.js';

function login(srv: TestServer, email: string, password: string, ip = '198.51.100.1'): Promise<Res> {
  return call(srv.url, 'POST', '/auth/login', { json: { email, password }, headers: { 'x-forwarded-for': ip } });
}

function assert429(r: Res, windowSec: number, label: string): void {
  assert.equal(r.status, 429, `${label}: ${r.status} ${r.text}`);
  assert.deepEqual(r.body, { error: 'rate_limited', error_description: 'too many failed attempts; retry later', reason: 'rate_limited' }, label);
  const retry = Number(r.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= windowSec, `${label}: Retry-After ${r.headers.get('retry-after')}`);
}

const WINDOW = 60;
const LIMIT = 3;

describe('login rate limits (LATCHKEY_LOGIN_ACCOUNT_LIMIT=3, LATCHKEY_LOGIN_IP_LIMIT=8, window 60 s)', () => {
  const c = clock();
  let srv: TestServer;
  before(async () => {
    srv = await start(
      { LATCHKEY_LOGIN_ACCOUNT_LIMIT: String(LIMIT), LATCHKEY_LOGIN_IP_LIMIT: '8', LATCHKEY_LOGIN_WINDOW: String(WINDOW), LATCHKEY_TRUST_PROXY: 'true' },
      { now: c.now },
    );
  });
  after(() => srv.close());

  it('per account and source: the 4th attempt is 429 + Retry-After, even with the right password', async () => {
    const u = await signup(srv.url);
    const ip = '198.51.100.10';
    for (let i = 0; i < LIMIT; i++) assert.equal((await login(srv, u.email, 'wrong password', ip)).status, 401, `attempt ${i + 1}`);
    assert429(await login(srv, u.email, 'wrong password', ip), WINDOW, 'over the limit');
    assert429(await login(srv, u.email, u.password, ip), WINDOW, 'right password while throttled');
    assert.ok(srv.events('login.throttled').length >= 2);
    c.advance(WINDOW * 1000);
  });

  it('a success resets the account’s counter', async () => {
    const u = await signup(srv.url);
    const ip = '198.51.100.11';
    for (let i = 0; i < LIMIT - 1; i++) assert.equal((await login(srv, u.email, 'wrong', ip)).status, 401);
    assert.equal((await login(srv, u.email, u.password, ip)).status, 200);
    for (let i = 0; i < LIMIT; i++) assert.equal((await login(srv, u.email, 'wrong', ip)).status, 401, `after reset, attempt ${i + 1}`);
    assert429(await login(srv, u.email, 'wrong', ip), WINDOW, 'counter restarted from zero');
    c.advance(WINDOW * 1000);
  });

  it('an attacker failing from one source cannot lock the user out: the user’s own source still logs in', async () => {
    const victim = await signup(srv.url);
    for (let i = 0; i < LIMIT; i++) await login(srv, victim.email, 'guess', '203.0.113.66');
    assert429(await login(srv, victim.email, 'guess', '203.0.113.66'), WINDOW, 'attacker throttled');
    assert.equal((await login(srv, victim.email, victim.password, '198.51.100.12')).status, 200, 'victim, own IP');
    assert.equal((await login(srv, victim.email, victim.password, '198.51.100.13')).status, 200, 'victim, a new IP');
    c.advance(WINDOW * 1000);
  });

  it('distributed guessing hits the per-account ceiling; a source the user logged in from keeps working; a new source after the window', async () => {
    const victim = await signup(srv.url);
    const home = '198.51.100.20';
    assert.equal((await login(srv, victim.email, victim.password, home)).status, 200, 'the victim has logged in from home before');
    const checkedBefore = srv.events('login.failed').filter((e) => e.userId === victim.user.id).length;
    let throttled = 0;
    for (let s = 0; s < ACCOUNT_CEILING_FACTOR + 2; s++) {
      for (let i = 0; i < LIMIT; i++) if ((await login(srv, victim.email, 'guess', `203.0.113.${s}`)).status === 429) throttled++;
    }
    assert.ok(throttled > 0, 'the ceiling stopped the distributed guessing');
    const guesses = srv.events('login.failed').filter((e) => e.userId === victim.user.id).length - checkedBefore;
    assert.equal(guesses, LIMIT * ACCOUNT_CEILING_FACTOR, 'exactly the ceiling of guesses reached the password check');
    assert429(await login(srv, victim.email, victim.password, '198.51.100.21'), WINDOW, 'a new source during the lock');
    assert.equal((await login(srv, victim.email, victim.password, home)).status, 200, 'the known source logs in despite the lock');
    c.advance(WINDOW * 1000);
    assert.equal((await login(srv, victim.email, victim.password, '198.51.100.22')).status, 200, 'a new source after the window');
  });

  it('per source over all accounts: spraying from one IP is throttled for every account, other IPs are not', async () => {
    const u = await signup(srv.url);
    const ip = '203.0.113.200';
    for (let i = 0; i < 8; i++) assert.equal((await login(srv, uniqueEmail(), 'spray', ip)).status, 401, `spray ${i + 1}`);
    assert429(await login(srv, uniqueEmail(), 'spray', ip), WINDOW, 'ninth from the IP');
    assert429(await login(srv, u.email, u.password, ip), WINDOW, 'even a right password from that IP');
    assert.equal((await login(srv, u.email, u.password, '198.51.100.30')).status, 200, 'other IPs unaffected');
    c.advance(WINDOW * 1000);
  });

  it('successful logins do not use up the per-IP budget (a busy NAT keeps working)', async () => {
    const u = await signup(srv.url);
    for (let i = 0; i < 12; i++) assert.equal((await login(srv, u.email, u.password, '198.51.100.40')).status, 200, `login ${i + 1}`);
    c.advance(WINDOW * 1000);
  });

  it('parallel guesses cannot slip past the limit: of 24 concurrent wrong passwords at most 3 are checked', async () => {
    const u = await signup(srv.url);
    const before = srv.events('login.failed').length;
    const rs = await Promise.all(Array.from({ length: 24 }, () => login(srv, u.email, 'parallel guess', '203.0.113.150')));
    const statuses = rs.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, LIMIT, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 24 - LIMIT);
    assert.equal(srv.events('login.failed').length - before, LIMIT, 'only 3 password checks ran');
    assert.equal((await login(srv, u.email, u.password, '198.51.100.41')).status, 200, 'the user is not locked out');
    c.advance(WINDOW * 1000);
  });

  it('429 says nothing about whether the account exists', async () => {
    const u = await signup(srv.url);
    const unknown = uniqueEmail();
    for (let i = 0; i < LIMIT; i++) {
      await login(srv, u.email, 'x', '203.0.113.210');
      await login(srv, unknown, 'x', '203.0.113.211');
    }
    const a = await login(srv, u.email, 'x', '203.0.113.210');
    const b = await login(srv, unknown, 'x', '203.0.113.211');
    assert.equal(a.status, 429);
    assert.equal(a.text, b.text);
    c.advance(WINDOW * 1000);
  });

  it('counts an IPv6 /64 as one source', () => {
    assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), sourceOf('2001:db8:1:2:ffff:ffff:ffff:fffe'));
    assert.equal(sourceOf('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.notEqual(sourceOf('2001:db8:1:2::1'), sourceOf('2001:db8:1:3::1'));
    assert.equal(sourceOf('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(sourceOf('::1'), '0:0:0:0::/64');
    assert.equal(sourceOf('192.0.2.1'), '192.0.2.1');
  });

  it('an IPv6 attacker rotating addresses inside one /64 stays one source', async () => {
    const victim = await signup(srv.url);
    for (let i = 0; i < LIMIT; i++) await login(srv, victim.email, 'guess', `2001:db8:66:1::${i + 1}`);
    assert429(await login(srv, victim.email, 'guess', '2001:db8:66:1::ffff'), WINDOW, 'same /64');
    assert.equal((await login(srv, victim.email, victim.password, '2001:db8:77:1::1')).status, 200, 'another /64');
    c.advance(WINDOW * 1000);
  });
});

describe('counters decay by themselves (real clock, so every store expires them its own way)', () => {
  it('after the window, the right password works again from a throttled source and a throttled IP', async () => {
    const srv = await start({ LATCHKEY_LOGIN_ACCOUNT_LIMIT: '2', LATCHKEY_LOGIN_IP_LIMIT: '3', LATCHKEY_LOGIN_WINDOW: '2', LATCHKEY_TRUST_PROXY: 'true' });
    try {
      const u = await signup(srv.url);
      for (let i = 0; i < 2; i++) assert.equal((await login(srv, u.email, 'wrong', '198.51.100.50')).status, 401);
      assert429(await login(srv, u.email, u.password, '198.51.100.50'), 2, 'account + source');
      for (let i = 0; i < 3; i++) assert.equal((await login(srv, uniqueEmail(), 'spray', '203.0.113.50')).status, 401);
      assert429(await login(srv, u.email, u.password, '203.0.113.50'), 2, 'source');
      await new Promise((r) => setTimeout(r, 2100));
      assert.equal((await login(srv, u.email, u.password, '198.51.100.50')).status, 200, 'account + source decayed');
      assert.equal((await login(srv, u.email, u.password, '203.0.113.50')).status, 200, 'source decayed');
    } finally {
      await srv.close();
    }
  });
});

describe('client IP behind a proxy (LATCHKEY_TRUST_PROXY)', () => {
  it('with the proxy’s address trusted, a client cannot pick its own rate-limit key by prepending X-Forwarded-For entries', async () => {
    // The test client connects from 127.0.0.1: it plays our proxy, which appends the address it saw.
    const srv = await start({ LATCHKEY_TRUST_PROXY: 'loopback', LATCHKEY_LOGIN_IP_LIMIT: '3', LATCHKEY_LOGIN_ACCOUNT_LIMIT: '100' });
    try {
      const u = await signup(srv.url);
      for (let i = 0; i < 3; i++) assert.equal((await login(srv, uniqueEmail(), 'spray', `10.9.9.${i}, 203.0.113.9`)).status, 401);
      assert429(await login(srv, uniqueEmail(), 'spray', '10.9.9.77, 203.0.113.9'), 900, 'spoofed left entries do not help');
      assert.equal((await login(srv, u.email, u.password, '10.9.9.77, 198.51.100.9')).status, 200, 'another real client');
    } finally {
      await srv.close();
    }
  });

  it('LATCHKEY_TRUST_PROXY takes true/false or proxy addresses/CIDRs, and refuses anything else by name', async () => {
    const { loadConfig } = await import('../../packages/server/src/config.js');
    assert.equal(loadConfig({}).trustProxy, false);
    assert.equal(loadConfig({ LATCHKEY_TRUST_PROXY: 'true' }).trustProxy, true);
    assert.deepEqual(loadConfig({ LATCHKEY_TRUST_PROXY: '10.0.0.0/8, ::1, loopback' }).trustProxy, ['10.0.0.0/8', '::1', 'loopback']);
    for (const bad of ['maybe', '10.0.0.0/33', '2', 'proxy.example.com', '10.0.0.1/8/8']) {
      assert.throws(() => loadConfig({ LATCHKEY_TRUST_PROXY: bad }), /LATCHKEY_TRUST_PROXY/, bad);
    }
  });
});

describe('no user enumeration (ASVS 5.0 V6.3.8)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await start({ LATCHKEY_LOGIN_ACCOUNT_LIMIT: '100000', LATCHKEY_LOGIN_IP_LIMIT: '100000' });
  });
  after(() => srv.close());

  it('unknown user vs wrong password: identical status and body, medians within 10% over 40 interleaved attempts each', async (t) => {
    const u = await signup(srv.url);
    const unknown = uniqueEmail();
    const timed = async (email: string) => {
      const t = performance.now();
      const r = await call(srv.url, 'POST', '/auth/login', { json: { email, password: 'not the password' } });
      return { ms: performance.now() - t, r };
    };
    for (let i = 0; i < 4; i++) await timed(i % 2 ? u.email : unknown); // warm-up
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // A shared 2-core machine can skew one round of ~13 ms requests by more than 10 %, so up to
    // three rounds are measured and one must hold. A real leak (an unknown user answered without
    // an argon2 verification) is ~95 % apart in every round, so it still fails.
    const rounds: string[] = [];
    let best = Infinity;
    for (let round = 0; round < 3 && best > 0.1; round++) {
      const known: number[] = [];
      const missing: number[] = [];
      for (let i = 0; i < 40; i++) {
        const order = i % 2 === 0 ? [u.email, unknown] : [unknown, u.email];
        for (const email of order) {
          const { ms, r } = await timed(email);
          assert.equal(r.status, 401);
          assert.equal(r.text, '{"error":"invalid_credentials","error_description":"email or password is incorrect","reason":"credentials_invalid"}');
          assert.equal(r.headers.get('www-authenticate'), null);
          (email === u.email ? known : missing).push(ms);
        }
      }
      const [mk, mu] = [median(known), median(missing)];
      const spread = Math.abs(mk - mu) / Math.max(mk, mu);
      best = Math.min(best, spread);
      rounds.push(`${mk.toFixed(1)} ms wrong password vs ${mu.toFixed(1)} ms unknown user (${(spread * 100).toFixed(1)}%)`);
    }
    t.diagnostic(`medians: ${rounds.join('; ')}`);
    assert.ok(best <= 0.1, `medians apart by more than 10 % in every round: ${rounds.join('; ')}`);
  });
});

describe('credential input bounds', () => {
  let srv: TestServer;
  before(async () => {
    srv = await start();
  });
  after(() => srv.close());

  it('a 64-character password works, and is checked exactly as typed', async () => {
    const pw = 'Tr0ub4dor&3-correct-horse-battery-staple-0123456789-abcdefghijkl';
    assert.equal(pw.length, 64);
    const u = await signup(srv.url, uniqueEmail(), pw);
    assert.equal((await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: pw } })).status, 200);
    assert.equal((await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: pw.slice(0, 63) } })).status, 401);
    assert.equal((await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: `${pw} ` } })).status, 401);
  });

  it('a 1 MB password is a fast 413 that never reaches the password hash', async () => {
    const u = await signup(srv.url);
    const failedBefore = srv.events('login.failed').length;
    for (const route of ['/auth/login', '/auth/signup']) {
      const t = performance.now();
      const r = await call(srv.url, 'POST', route, { json: { email: u.email, password: 'p'.repeat(1024 * 1024) } });
      const ms = performance.now() - t;
      assert.equal(r.status, 413, route);
      assertErrorBody(r, route);
      assert.ok(ms < 1000, `${route}: ${ms.toFixed(0)} ms`);
    }
    assert.equal(srv.events('login.failed').length, failedBefore, 'no argon2 verification ran');
    const over = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: 'p'.repeat(1025) } });
    assert.equal(over.status, 400, 'a password over its cap but under the body limit is a clear 400');
    assert.equal(over.body.error, 'invalid_request');
  });

  it('sign-up validates the email form and the password length (8..1024 characters)', async () => {
    const bad: Array<[string, unknown, unknown]> = [
      ['no @', 'plainaddress', 'long enough pw'],
      ['no local part', '@example.com', 'long enough pw'],
      ['no domain dot', 'user@localhost', 'long enough pw'],
      ['two @', 'a@b@example.com', 'long enough pw'],
      ['space inside', 'a b@example.com', 'long enough pw'],
      ['NUL inside', 'a\u0000b@example.com', 'long enough pw'],
      ['newline inside', 'a\nb@example.com', 'long enough pw'],
      ['DEL inside', 'a\u007fb@example.com', 'long enough pw'],
      ['local part over 64', `${'a'.repeat(65)}@example.com`, 'long enough pw'],
      ['over 254', `a@${'b'.repeat(250)}.com`, 'long enough pw'],
      ['empty domain label', 'a@example..com', 'long enough pw'],
      ['empty', '', 'long enough pw'],
      ['7-character password', uniqueEmail(), '1234567'],
      ['4 emoji (8 UTF-16 units, 4 characters)', uniqueEmail(), '😀😀😀😀'],
      ['1025-character password', uniqueEmail(), 'p'.repeat(1025)],
      ['numeric password', uniqueEmail(), 12345678],
    ];
    for (const [what, email, password] of bad) {
      const r = await call(srv.url, 'POST', '/auth/signup', { json: { email, password } });
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.body.error, 'invalid_request', what);
      assertErrorBody(r, what);
    }
    for (const [what, pw] of [
      // Not common, not one repeated character (address-password-hygiene.test.ts).
      ['8 characters', 'kj3h5g7f'],
      ['1024 characters', 'qw'.repeat(512)],
      ['8 emoji', '😀😁😂🤣😃😄😅😆'],
    ] as const) {
      const r = await call(srv.url, 'POST', '/auth/signup', { json: { email: uniqueEmail(), password: pw } });
      assert.equal(r.status, 201, what);
    }
  });

  it('sign-up takes only the fields it owns (mass assignment)', async () => {
    const email = uniqueEmail();
    const r = await call(srv.url, 'POST', '/auth/signup', {
      json: { email, password: 'long enough pw', id: 'admin', passwordHash: '$argon2id$v=19$m=1,t=1,p=1$x$y', createdAt: 0, email_verified: true, emailVerifiedAt: 1, user: { id: 'admin' } },
    });
    assert.equal(r.status, 201);
    assert.notEqual(r.body.user.id, 'admin');
    assert.notEqual(r.body.user.createdAt, new Date(0).toISOString());
    assert.deepEqual(Object.keys(r.body.user).sort(), ['createdAt', 'email', 'email_verified', 'id']);
    assert.equal(r.body.user.email_verified, false, 'an address is verified by its link, not by saying so');
    assert.equal((await call(srv.url, 'POST', '/auth/login', { json: { email, password: 'long enough pw' } })).status, 200, 'the hash is ours, not the one sent');
  });

  it('login refuses an email with control characters as bad input (400), never a store error', async () => {
    for (const email of ['a\u0000b@example.com', 'a\r\nb@example.com']) {
      const r = await call(srv.url, 'POST', '/auth/login', { json: { email, password: 'whatever pw' } });
      assert.equal(r.status, 400);
      assertErrorBody(r);
    }
  });
});
