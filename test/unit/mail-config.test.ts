// The account-mail configuration (issue 10): validated once at start, errors naming the variable.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../packages/server/src/config.js';
import { accountLink, renderMail } from '../../packages/server/src/mail/templates.js';

describe('mail configuration', () => {
  it('defaults: dev outbox, the product name, From at the issuer host, links to the demo pages', () => {
    const c = loadConfig({ PORT: '4100' });
    assert.equal(c.smtpUrl, null);
    assert.equal(c.productName, 'Latchkey');
    assert.equal(c.mailFrom, '"Latchkey" <no-reply@localhost>');
    assert.equal(c.appUrl, 'http://localhost:4100/demo/');
    assert.equal(c.requireVerifiedEmail, false);
  });

  it('takes smtp:// and smtps:// only, and never echoes a password from the URL', () => {
    assert.equal(loadConfig({ LATCHKEY_SMTP_URL: 'smtps://u:p@mail.example.com:465' }).smtpUrl, 'smtps://u:p@mail.example.com:465');
    assert.throws(() => loadConfig({ LATCHKEY_SMTP_URL: 'http://u:secret@mail.example.com' }), (e) => e instanceof ConfigError && e.variable === 'LATCHKEY_SMTP_URL' && !e.message.includes('secret'));
  });

  it('refuses a From or product name that could inject mail headers', () => {
    for (const from of ['a@b.c\r\nBcc: x@y.z', 'not an address', 'Name <a@b.c>\nX: y']) {
      assert.throws(() => loadConfig({ LATCHKEY_MAIL_FROM: from }), (e) => e instanceof ConfigError && e.variable === 'LATCHKEY_MAIL_FROM', JSON.stringify(from));
    }
    assert.equal(loadConfig({ LATCHKEY_MAIL_FROM: 'Acme <no-reply@acme.test>' }).mailFrom, 'Acme <no-reply@acme.test>');
    for (const name of ['Acme"\r\nBcc: x', 'A<b>', 'x'.repeat(65)]) {
      assert.throws(() => loadConfig({ LATCHKEY_PRODUCT_NAME: name }), (e) => e instanceof ConfigError && e.variable === 'LATCHKEY_PRODUCT_NAME');
    }
    assert.throws(() => loadConfig({ LATCHKEY_REQUIRE_VERIFIED_EMAIL: 'maybe' }), (e) => e instanceof ConfigError && e.variable === 'LATCHKEY_REQUIRE_VERIFIED_EMAIL');
  });

  it('links keep the app URL’s path and carry the token as the token query parameter; HTML is escaped', () => {
    assert.equal(accountLink('https://app.test/account', 'reset-password', 'abc'), 'https://app.test/account/reset-password?token=abc');
    assert.equal(accountLink('https://app.test/', 'verify-email', 'a-b_c'), 'https://app.test/verify-email?token=a-b_c');
    const r = renderMail('reset_password', { productName: 'A&B' }, 'https://app.test/reset-password?token=x&y=1');
    assert.ok(r.html.includes('A&#38;B') && r.html.includes('token=x&#38;y=1') && !r.html.includes('A&B'));
    assert.ok(r.text.includes('https://app.test/reset-password?token=x&y=1'));
  });
});
