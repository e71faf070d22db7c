// Issue 10, email verification, through a real SMTP server: the tests read the link out of the
// message the server really sent and follow it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSmtp, type SmtpHarness } from '../harness/smtp.js';
import { call, refresh, uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'a sturdy passphrase 42';
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
const isVerifyMail = (m: { subject: string }) => /Confirm your email/.test(m.subject);

describe('email verification', () => {
  let smtp: SmtpHarness;
  let srv: TestServer;
  let t = Date.now();
  before(async () => {
    smtp = await startSmtp();
    srv = await startServer({ LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_APP_URL: 'https://app.example.test/account/', LATCHKEY_MAIL_RETRY_MAX: '1' }, { now: () => t });
  });
  after(async () => {
    await srv.close();
    await smtp.stop();
  });

  it('sign-up sends a link; following it verifies the address: /auth/me and the access token say so', async () => {
    const email = uniqueEmail();
    const s = await call(srv.url, 'POST', '/auth/signup', { json: { email, password: PASSWORD } });
    assert.equal(s.status, 201);
    assert.equal(s.body.user.email_verified, false);
    assert.equal(claims(s.body.access_token).email_verified, false);
    const mail = await smtp.waitFor(email, isVerifyMail);
    assert.match(mail.link!, /^https:\/\/app\.example\.test\/account\/verify-email\?token=[A-Za-z0-9_-]{43}$/);
    assert.ok(mail.html.includes(mail.link!), 'the HTML part has the same link');

    const v = await call(srv.url, 'POST', '/auth/email/verify', { json: { token: mail.token } });
    assert.equal(v.status, 204, v.text);
    const me = await call(srv.url, 'GET', '/auth/me', { token: s.body.access_token });
    assert.equal(me.body.user.email_verified, true);
    const r = await refresh(srv.url, s.body.refresh_token);
    assert.equal(claims(r.body.access_token).email_verified, true, 'a refreshed access token carries the new state');
    const login = await call(srv.url, 'POST', '/auth/login', { json: { email, password: PASSWORD } });
    assert.equal(claims(login.body.access_token).email_verified, true);
    assert.equal(srv.events('email.verified').at(-1)?.userId, s.body.user.id);

    const again = await call(srv.url, 'POST', '/auth/email/verify', { json: { token: mail.token } });
    assert.equal(again.status, 400, 'single use');
    assert.deepEqual(again.body, { error: 'invalid_token', error_description: 'the link is invalid, used or expired', reason: 'link_token_invalid' });
    assert.equal(again.headers.get('www-authenticate'), null, 'not a Bearer challenge');
    const raw = srv.rawLog();
    assert.ok(!raw.includes(mail.token!) && !raw.includes(email), 'neither the token nor the address is logged');
  });

  it('a bad, unknown or expired token is the same 400', async () => {
    for (const token of ['x', 'A'.repeat(43), 'A'.repeat(600)]) {
      const r = await call(srv.url, 'POST', '/auth/email/verify', { json: { token } });
      assert.equal(r.status, 400, token);
      assert.ok(['link_token_invalid', 'request_invalid'].includes(r.body.reason));
    }
    const email = uniqueEmail();
    assert.equal((await call(srv.url, 'POST', '/auth/signup', { json: { email, password: PASSWORD } })).status, 201);
    const mail = await smtp.waitFor(email, isVerifyMail);
    t += 24 * 3_600_000;
    const r = await call(srv.url, 'POST', '/auth/email/verify', { json: { token: mail.token } });
    assert.equal(r.body.reason, 'link_token_invalid', 'after 24 hours');
  });

  it('resend: a new link kills the older; once verified nothing more is sent; more than 5 an hour is 429', async () => {
    const email = uniqueEmail();
    const s = await call(srv.url, 'POST', '/auth/signup', { json: { email, password: PASSWORD } });
    const first = await smtp.waitFor(email, isVerifyMail);
    assert.equal((await call(srv.url, 'POST', '/auth/email/verify/resend', { token: s.body.access_token })).status, 202);
    const second = await smtp.waitFor(email, (m) => isVerifyMail(m) && m.token !== first.token);
    assert.equal((await call(srv.url, 'POST', '/auth/email/verify', { json: { token: first.token } })).body.reason, 'link_token_invalid', 'the older link is dead');
    for (let i = 0; i < 4; i++) assert.equal((await call(srv.url, 'POST', '/auth/email/verify/resend', { token: s.body.access_token })).status, 202);
    const limited = await call(srv.url, 'POST', '/auth/email/verify/resend', { token: s.body.access_token });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    const deadline = Date.now() + 5000;
    while (smtp.messages.filter((m) => m.to.includes(email)).length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const latest = smtp.messages.filter((m) => m.to.includes(email)).at(-1)!;
    assert.equal((await call(srv.url, 'POST', '/auth/email/verify', { json: { token: latest.token } })).status, 204, 'the newest link works');
    assert.notEqual(latest.token, second.token);
    const count = smtp.messages.filter((m) => m.to.includes(email)).length;
    t += 2 * 3_600_000;
    const fresh = await call(srv.url, 'POST', '/auth/login', { json: { email, password: PASSWORD } });
    assert.equal((await call(srv.url, 'POST', '/auth/email/verify/resend', { token: fresh.body.access_token })).status, 202);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(smtp.messages.filter((m) => m.to.includes(email)).length, count, 'nothing sent for a verified address');
  });

  it('SMTP down during sign-up: the sign-up answers as fast, and the link arrives once SMTP is back', async () => {
    const upEmail = uniqueEmail();
    let t0 = performance.now();
    assert.equal((await call(srv.url, 'POST', '/auth/signup', { json: { email: upEmail, password: PASSWORD } })).status, 201);
    const up = performance.now() - t0;
    await smtp.waitFor(upEmail, isVerifyMail);
    await smtp.stop();
    try {
      const email = uniqueEmail();
      t0 = performance.now();
      assert.equal((await call(srv.url, 'POST', '/auth/signup', { json: { email, password: PASSWORD } })).status, 201);
      const down = performance.now() - t0;
      // Sign-up costs one argon2 hash either way; SMTP is never on the request's path.
      assert.ok(down < up * 3 + 200, `sign-up took ${down.toFixed(0)} ms with SMTP down vs ${up.toFixed(0)} ms up`);
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(smtp.messages.filter((m) => m.to.includes(email)).length, 0);
      const back = Date.now();
      await smtp.start();
      const mail = await smtp.waitFor(email, isVerifyMail, 8000);
      assert.ok(mail.receivedAt - back < 4000, `arrived ${mail.receivedAt - back} ms after SMTP came back`);
      assert.equal((await call(srv.url, 'POST', '/auth/email/verify', { json: { token: mail.token } })).status, 204);
    } finally {
      await smtp.start();
    }
  });
});

describe('LATCHKEY_REQUIRE_VERIFIED_EMAIL', () => {
  let smtp: SmtpHarness;
  let srv: TestServer;
  before(async () => {
    smtp = await startSmtp();
    srv = await startServer({ LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_REQUIRE_VERIFIED_EMAIL: 'true' });
  });
  after(async () => {
    await srv.close();
    await smtp.stop();
  });

  it('sign-up is 202 without a session; login is refused after the password check until the address is confirmed', async () => {
    const email = uniqueEmail();
    const s = await call(srv.url, 'POST', '/auth/signup', { json: { email, password: PASSWORD } });
    assert.equal(s.status, 202);
    assert.deepEqual(Object.keys(s.body), ['user']);
    const wrong = await call(srv.url, 'POST', '/auth/login', { json: { email, password: 'not the password at all' } });
    assert.equal(wrong.status, 401, 'a wrong password learns nothing about verification');
    const unverified = await call(srv.url, 'POST', '/auth/login', { json: { email, password: PASSWORD } });
    assert.equal(unverified.status, 403);
    assert.equal(unverified.body.error, 'access_denied');
    assert.equal(unverified.body.reason, 'email_unverified');
    assert.equal(srv.events('login.unverified_email').length, 1);
    const mail = await smtp.waitFor(email, isVerifyMail);
    assert.equal((await call(srv.url, 'POST', '/auth/email/verify', { json: { token: mail.token } })).status, 204);
    const ok = await call(srv.url, 'POST', '/auth/login', { json: { email, password: PASSWORD } });
    assert.equal(ok.status, 200);
    assert.equal(claims(ok.body.access_token).email_verified, true);
  });
});
