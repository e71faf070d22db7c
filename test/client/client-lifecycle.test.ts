// @latchkey/client's account-lifecycle methods against the real server, with mail through a real
// SMTP server: each link is read out of the message the server sent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, isLatchkeyError, memoryStorage, type LatchkeyClient } from '../../packages/client/src/index.js';
import { startSmtp, type SmtpHarness } from '../harness/smtp.js';
import { uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'a sturdy passphrase 42';

describe('@latchkey/client: account lifecycle', () => {
  let smtp: SmtpHarness;
  let srv: TestServer;
  let strict: TestServer;
  const clients: LatchkeyClient[] = [];
  const make = (base = srv.url) => {
    const c = createClient({ baseUrl: base, storage: memoryStorage() });
    clients.push(c);
    return c;
  };
  before(async () => {
    smtp = await startSmtp();
    srv = await startServer({ LATCHKEY_SMTP_URL: smtp.url });
    strict = await startServer({ LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_REQUIRE_VERIFIED_EMAIL: 'true' });
  });
  after(async () => {
    for (const c of clients) c.dispose();
    await Promise.all([srv.close(), strict.close()]);
    await smtp.stop();
  });

  it('verifyEmail and resendVerification; me() says emailVerified', async () => {
    const c = make();
    const email = uniqueEmail();
    const user = await c.signup(email, PASSWORD);
    assert.equal(user.emailVerified, false);
    const first = await smtp.waitFor(email, (m) => /Confirm your email/.test(m.subject));
    await c.resendVerification();
    const second = await smtp.waitFor(email, (m) => /Confirm your email/.test(m.subject) && m.token !== first.token);
    await assert.rejects(c.verifyEmail(first.token!), (e) => isLatchkeyError(e) && e.reason === 'link_token_invalid');
    await c.verifyEmail(second.token!);
    assert.equal((await c.me()).emailVerified, true);
  });

  it('forgotPassword and resetPassword: the session ends, the new password signs in', async () => {
    const c = make();
    const email = uniqueEmail();
    await c.signup(email, PASSWORD);
    const ended = new Promise((resolve) => c.on('signedout', resolve));
    await make().forgotPassword(email);
    await make().forgotPassword(uniqueEmail()); // resolves alike for nobody
    const mail = await smtp.waitFor(email, (m) => /Reset your/.test(m.subject));
    await assert.rejects(make().resetPassword(mail.token!, 'password'), (e) => isLatchkeyError(e) && e.reason === 'password_common' && !e.message.includes(mail.token!));
    await make().resetPassword(mail.token!, 'a new passphrase 99');
    await assert.rejects(c.me());
    await ended;
    const d = make();
    await d.login(email, 'a new passphrase 99');
    assert.equal((await d.me()).email, email);
  });

  it('changePassword, changeEmail (confirmed by the link to the new address) and deleteAccount', async () => {
    const c = make();
    const email = uniqueEmail();
    await c.signup(email, PASSWORD);
    await assert.rejects(c.changePassword('not my password at all', 'x new passphrase'), (e) => isLatchkeyError(e) && e.reason === 'credentials_invalid' && !e.message.includes('not my password'));
    await c.changePassword(PASSWORD, 'a second passphrase 7');
    assert.equal((await c.me()).email, email, 'still signed in');
    const next = uniqueEmail();
    await c.changeEmail(next, 'a second passphrase 7');
    const confirm = await smtp.waitFor(next, (m) => /new email address/.test(m.subject));
    await make().verifyEmail(confirm.token!);
    assert.equal((await c.me()).email, next);
    await c.deleteAccount('a second passphrase 7');
    assert.equal(await c.isSignedIn(), false);
    await assert.rejects(make().login(next, 'a second passphrase 7'), (e) => isLatchkeyError(e, 'invalid_credentials'));
  });

  it('signup against a server that requires a confirmed address resolves without signing in', async () => {
    const c = make(strict.url);
    const email = uniqueEmail();
    const user = await c.signup(email, PASSWORD);
    assert.equal(user.email, email);
    assert.equal(await c.isSignedIn(), false);
    await assert.rejects(c.login(email, PASSWORD), (e) => isLatchkeyError(e) && e.reason === 'email_unverified');
    const mail = await smtp.waitFor(email, (m) => /Confirm your email/.test(m.subject));
    await c.verifyEmail(mail.token!);
    await c.login(email, PASSWORD);
    assert.equal((await c.me()).emailVerified, true);
  });
});
