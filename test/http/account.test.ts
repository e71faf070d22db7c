// Issue 10: password change, email change and account deletion, with mail through a real SMTP
// server (links read out of the real messages).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { settleResetRequests } from '../../packages/server/src/auth/password-reset.js';
import { startSmtp, type SmtpHarness } from '../harness/smtp.js';
import { call, refresh, uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'a sturdy passphrase 42';
const NEW_PASSWORD = 'another sturdy passphrase 43';

describe('account lifecycle: password change, email change, deletion', () => {
  let smtp: SmtpHarness;
  let srv: TestServer;
  before(async () => {
    smtp = await startSmtp();
    srv = await startServer({ LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_LOGIN_ACCOUNT_LIMIT: '3' });
  });
  after(async () => {
    await srv.close();
    await smtp.stop();
  });
  const post = (path: string, json: unknown, token?: string) => call(srv.url, 'POST', path, { json, token });
  const login = (email: string, password = PASSWORD) => post('/auth/login', { email, password });
  async function account() {
    const email = uniqueEmail();
    const s = await post('/auth/signup', { email, password: PASSWORD });
    assert.equal(s.status, 201);
    const other = await login(email);
    return { email, id: s.body.user.id as string, me: s.body, other: other.body };
  }

  it('password change: needs the current password; every other session ends, this one stays; reset links die; a notice is mailed', async () => {
    const u = await account();
    await post('/auth/password/forgot', { email: u.email });
    await settleResetRequests(srv.latchkey.ctx);
    const resetMail = await smtp.waitFor(u.email, (m) => /Reset your/.test(m.subject));
    const wrong = await post('/auth/password', { current_password: 'not my password at all', new_password: NEW_PASSWORD }, u.me.access_token);
    assert.equal(wrong.status, 403);
    assert.equal(wrong.body.reason, 'credentials_invalid');
    assert.equal((await post('/auth/password', { current_password: PASSWORD, new_password: 'password' }, u.me.access_token)).body.reason, 'password_common');
    assert.equal((await post('/auth/password', { current_password: PASSWORD, new_password: NEW_PASSWORD }, u.me.access_token)).status, 204);
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.other.access_token })).body.reason, 'session_revoked', 'the other session ends at once');
    assert.equal((await refresh(srv.url, u.other.refresh_token)).body.error, 'invalid_grant');
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.me.access_token })).status, 200, 'the caller’s session stays');
    assert.equal((await refresh(srv.url, u.me.refresh_token)).status, 200);
    await smtp.waitFor(u.email, (m) => /password was changed/.test(m.subject));
    assert.equal((await post('/auth/password/reset', { token: resetMail.token, password: 'yet another passphrase' })).body.reason, 'link_token_invalid', 'a reset link dies on a password change');
    assert.equal((await login(u.email)).status, 401);
    assert.equal((await login(u.email, NEW_PASSWORD)).status, 200);
    assert.equal(srv.events('password.changed').at(-1)?.userId, u.id);
  });

  it('a wrong current password counts toward the login throttle of the account', async () => {
    const u = await account();
    for (let i = 0; i < 3; i++) assert.equal((await post('/auth/password', { current_password: `wrong guess ${i}`, new_password: NEW_PASSWORD }, u.me.access_token)).status, 403);
    const limited = await post('/auth/password', { current_password: PASSWORD, new_password: NEW_PASSWORD }, u.me.access_token);
    assert.equal(limited.status, 429, 'even the right password, like a login');
    assert.equal((await login(u.email)).status, 429, 'and the login of that account from this source');
  });

  it('email change: nothing changes until the new address confirms; the old address is told; then login is by the new one', async () => {
    const u = await account();
    const next = uniqueEmail();
    assert.equal((await post('/auth/email', { new_email: next, password: 'not my password at all' }, u.me.access_token)).status, 403);
    assert.equal((await post('/auth/email', { new_email: `x\u200B${next}`, password: PASSWORD }, u.me.access_token)).body.reason, 'email_invisible_character');
    assert.equal((await post('/auth/email', { new_email: u.email.toUpperCase(), password: PASSWORD }, u.me.access_token)).body.reason, 'request_invalid');
    assert.equal((await post('/auth/email', { new_email: next, password: PASSWORD }, u.me.access_token)).status, 202);
    const confirm = await smtp.waitFor(next, (m) => /new email address/.test(m.subject));
    await smtp.waitFor(u.email, (m) => /email address is changing/.test(m.subject));
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.me.access_token })).body.user.email, u.email, 'not yet');
    assert.equal((await login(u.email)).status, 200);
    assert.equal((await post('/auth/email/verify', { token: confirm.token })).status, 204);
    const me = await call(srv.url, 'GET', '/auth/me', { token: u.me.access_token });
    assert.equal(me.body.user.email, next);
    assert.equal(me.body.user.email_verified, true);
    assert.equal((await login(u.email)).status, 401);
    assert.equal((await login(next)).status, 200);
    assert.equal((await post('/auth/signup', { email: u.email, password: PASSWORD })).status, 201, 'the old address is free');
    assert.equal((await post('/auth/email/verify', { token: confirm.token })).body.reason, 'link_token_invalid');
  });

  it('email change races: two accounts changing to one address and a sign-up with it: one wins, the others 409, no 5xx', async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = [await account(), await account()];
      const contested = uniqueEmail();
      assert.equal((await post('/auth/email', { new_email: contested, password: PASSWORD }, a.me.access_token)).status, 202);
      assert.equal((await post('/auth/email', { new_email: contested, password: PASSWORD }, b.me.access_token)).status, 202);
      await srv.latchkey.ctx.mailer.queue.drained(5000);
      const deadline = Date.now() + 5000;
      while (smtp.messages.filter((m) => m.to.includes(contested)).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const [ta, tb] = smtp.messages.filter((m) => m.to.includes(contested)).map((m) => m.token);
      const results = await Promise.all([post('/auth/email/verify', { token: ta }), post('/auth/email/verify', { token: tb }), post('/auth/signup', { email: contested, password: PASSWORD })]);
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 204 || s === 201).length, 1, `one wins: ${statuses}`);
      assert.equal(statuses.filter((s) => s === 409).length, 2, `the others are 409: ${statuses}`);
      for (const r of results) if (r.status === 409) assert.equal(r.body.reason, 'email_taken');
    }
  });

  it('account deletion: needs the password; every session ends at once; the records go; the address can sign up again', async () => {
    const u = await account();
    await post('/auth/password/forgot', { email: u.email });
    await settleResetRequests(srv.latchkey.ctx);
    const pending = await smtp.waitFor(u.email, (m) => /Reset your/.test(m.subject));
    const del = (json: unknown, token: string) => call(srv.url, 'DELETE', '/auth/me', { json, token });
    assert.equal((await del({ password: 'not my password at all' }, u.me.access_token)).status, 403);
    assert.equal((await del({}, u.me.access_token)).status, 400);
    assert.equal((await del({ password: PASSWORD }, u.me.access_token)).status, 204);
    for (const s of [u.me, u.other]) {
      assert.equal((await call(srv.url, 'GET', '/auth/me', { token: s.access_token })).body.reason, 'session_revoked');
      assert.equal((await refresh(srv.url, s.refresh_token)).body.error, 'invalid_grant');
    }
    assert.equal(await srv.latchkey.ctx.stores.users.findUserById(u.id), null, 'the user row is gone');
    assert.equal((await srv.latchkey.ctx.stores.sessions.listSessions(u.id, Date.now(), { graceMs: 0, idleMs: 3_600_000 })).length, 0);
    assert.equal((await login(u.email)).status, 401);
    await smtp.waitFor(u.email, (m) => /account was deleted/.test(m.subject));
    assert.equal(srv.events('account.deleted').at(-1)?.userId, u.id);
    assert.equal((await post('/auth/signup', { email: u.email, password: PASSWORD })).status, 201, 'the address signs up again');
    assert.equal((await post('/auth/password/reset', { token: pending.token, password: NEW_PASSWORD })).body.reason, 'link_token_invalid', 'pending links went with the account');
    const raw = srv.rawLog();
    assert.ok(!raw.includes(u.email) && !raw.includes(pending.token!), 'neither the address nor a token is logged');
  });
});
