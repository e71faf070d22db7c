// Issue 10, forgotten passwords, through a real SMTP server: links are read out of the messages
// the server really sent, and followed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { settleResetRequests } from '../../packages/server/src/auth/password-reset.js';
import { startSmtp, type SmtpHarness } from '../harness/smtp.js';
import { call, refresh, uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'a sturdy passphrase 42';
const NEW_PASSWORD = 'another sturdy passphrase 43';
const isReset = (m: { subject: string }) => /Reset your/.test(m.subject);
const isNotice = (m: { subject: string }) => /password was changed/.test(m.subject);

describe('password reset', () => {
  let smtp: SmtpHarness;
  let srv: TestServer;
  let t = Date.now();
  const forgot = (email: string, headers: Record<string, string> = {}) => call(srv.url, 'POST', '/auth/password/forgot', { json: { email }, headers });
  const reset = (token: string | null, password = NEW_PASSWORD) => call(srv.url, 'POST', '/auth/password/reset', { json: { token, password } });
  async function account() {
    const email = uniqueEmail();
    const s = await call(srv.url, 'POST', '/auth/signup', { json: { email, password: PASSWORD } });
    assert.equal(s.status, 201);
    return { email, ...s.body };
  }
  const resetMails = (email: string) => smtp.messages.filter((m) => m.to.includes(email) && isReset(m));

  before(async () => {
    smtp = await startSmtp();
    // Several clients of one IP in this file: the per-IP limit is exercised on its own below.
    srv = await startServer({ LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_MAIL_RETRY_MAX: '1', LATCHKEY_TRUST_PROXY: 'true' }, { now: () => t });
  });
  after(async () => {
    await srv.close();
    await smtp.stop();
  });

  it('the emailed link sets a new password and ends every session: refresh tokens invalid_grant, access tokens refused at once; a notice follows', async () => {
    const u = await account();
    const second = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: PASSWORD } });
    assert.equal((await forgot(u.email)).status, 202);
    const mail = await smtp.waitFor(u.email, isReset);
    assert.match(mail.link!, /\/demo\/reset-password\?token=[A-Za-z0-9_-]{43}$/);
    assert.equal((await reset(mail.token)).status, 204);
    for (const s of [u, second.body]) {
      assert.equal((await call(srv.url, 'GET', '/auth/me', { token: s.access_token })).body.reason, 'session_revoked');
      const r = await refresh(srv.url, s.refresh_token);
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'invalid_grant');
    }
    await smtp.waitFor(u.email, isNotice);
    assert.equal((await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: PASSWORD } })).status, 401, 'the old password is gone');
    const login = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: NEW_PASSWORD } });
    assert.equal(login.status, 200);
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: login.body.access_token })).body.user.email_verified, true, 'the link proved the address too');
    assert.equal(srv.events('password.reset').at(-1)?.userId, u.user.id);
    // One event per session ended alone, one per batch (with its count) when several end together.
    const ended = [...srv.events('session.revoked'), ...srv.events('sessions.revoked')].filter((e) => e.userId === u.user.id && e.reason === 'password_reset');
    assert.equal(ended.reduce((n, e) => n + (typeof e.count === 'number' ? e.count : 1), 0), 2);
    const raw = srv.rawLog();
    assert.ok(!raw.includes(mail.token!) && !raw.includes(u.email), 'neither the token nor the address is logged');
  });

  it('a link dies after use, after a newer request and after 30 minutes', async () => {
    const u = await account();
    await forgot(u.email);
    const first = await smtp.waitFor(u.email, isReset);
    await forgot(u.email);
    const second = await smtp.waitFor(u.email, (m) => isReset(m) && m.token !== first.token);
    assert.equal((await reset(first.token)).body.reason, 'link_token_invalid', 'a newer request killed it');
    assert.equal((await reset(second.token)).status, 204);
    assert.equal((await reset(second.token, 'yet another passphrase 44')).body.reason, 'link_token_invalid', 'used');
    await forgot(u.email);
    const third = await smtp.waitFor(u.email, (m) => isReset(m) && ![first.token, second.token].includes(m.token));
    t += 30 * 60_000;
    const late = await reset(third.token);
    assert.equal(late.status, 400);
    assert.deepEqual(late.body, { error: 'invalid_token', error_description: 'the link is invalid, used or expired', reason: 'link_token_invalid' });
  });

  it('a new password the rules refuse does not spend the link', async () => {
    const u = await account();
    await forgot(u.email);
    const mail = await smtp.waitFor(u.email, isReset);
    assert.equal((await reset(mail.token, 'password')).body.reason, 'password_common');
    assert.equal((await reset(mail.token, u.email)).body.reason, 'password_matches_email');
    assert.equal((await reset(mail.token)).status, 204);
  });

  it('no enumeration: the same status, body and headers, and the same timing, for an account and for nobody', async () => {
    const u = await account();
    const strip = (h: Headers) => {
      const out: string[] = [];
      h.forEach((v, k) => {
        if (k !== 'date') out.push(`${k}: ${v}`);
      });
      return out.sort();
    };
    const known = await forgot(u.email, { 'x-forwarded-for': '198.51.100.1' });
    const unknown = await forgot(uniqueEmail(), { 'x-forwarded-for': '198.51.100.1' });
    assert.equal(known.status, 202);
    assert.equal(unknown.status, 202);
    assert.equal(known.text, unknown.text);
    assert.deepEqual(strip(known.headers), strip(unknown.headers));
    // Interleaved pairs from distinct sources (no limit in play); medians compared.
    const times: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
    for (let i = 0; i < 30; i++) {
      for (const kind of i % 2 ? (['known', 'unknown'] as const) : (['unknown', 'known'] as const)) {
        const t0 = performance.now();
        const r = await forgot(kind === 'known' ? u.email : uniqueEmail(), { 'x-forwarded-for': `203.0.113.${i}` });
        times[kind].push(performance.now() - t0);
        assert.equal(r.status, 202);
      }
    }
    await settleResetRequests(srv.latchkey.ctx);
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const [k, n] = [median(times.known), median(times.unknown)];
    assert.ok(Math.abs(k - n) < Math.max(2, 0.5 * Math.max(k, n)), `medians: account ${k.toFixed(2)} ms, nobody ${n.toFixed(2)} ms`);
    console.log(`# forgot-password medians over 30 interleaved pairs: account ${k.toFixed(2)} ms, nobody ${n.toFixed(2)} ms`);
  });

  it('limits: beyond 3 links an hour to one address nothing more is sent (still 202); beyond 20 requests an hour from one source, 429', async () => {
    const u = await account();
    const ip = { 'x-forwarded-for': '192.0.2.7' };
    for (let i = 0; i < 5; i++) assert.equal((await forgot(u.email, ip)).status, 202);
    await settleResetRequests(srv.latchkey.ctx);
    await srv.latchkey.ctx.mailer.queue.drained(5000);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(resetMails(u.email).length, 3, 'the address is not flooded');
    for (let i = 5; i < 20; i++) assert.equal((await forgot(uniqueEmail(), ip)).status, 202);
    const limited = await forgot(uniqueEmail(), ip);
    assert.equal(limited.status, 429);
    assert.equal(limited.body.reason, 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await forgot(uniqueEmail(), { 'x-forwarded-for': '192.0.2.8' })).status, 202, 'another source is not affected');
  });

  it('SMTP down during forgot-password: the answer is as fast, and the link arrives once SMTP is back', async () => {
    const u = await account();
    let t0 = performance.now();
    await forgot(uniqueEmail(), { 'x-forwarded-for': '198.51.100.50' });
    const up = performance.now() - t0;
    await smtp.stop();
    try {
      t0 = performance.now();
      assert.equal((await forgot(u.email, { 'x-forwarded-for': '198.51.100.51' })).status, 202);
      const down = performance.now() - t0;
      assert.ok(down < up * 5 + 50, `forgot took ${down.toFixed(1)} ms with SMTP down vs ${up.toFixed(1)} ms up`);
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(resetMails(u.email).length, 0);
      const back = Date.now();
      await smtp.start();
      const mail = await smtp.waitFor(u.email, isReset, 8000);
      console.log(`# reset link delivered ${mail.receivedAt - back} ms after SMTP came back (LATCHKEY_MAIL_RETRY_MAX=1)`);
      assert.ok(mail.receivedAt - back < 4000);
      assert.equal((await reset(mail.token)).status, 204);
    } finally {
      await smtp.start();
    }
  });
});
