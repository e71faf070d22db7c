// The demo in Chromium, mail through a real SMTP server: from "forgot password" through the
// emailed link to signed in again; and the verification link, followed in the browser.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { freePort } from '../harness/free-port.js';
import { startSmtp, type SmtpHarness } from '../harness/smtp.js';
import { launchChromium } from '../helpers/browser.js';
import { call, uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new battery staple';

let smtp: SmtpHarness;
let srv: TestServer;
let browser: Browser;
before(async () => {
  smtp = await startSmtp();
  const port = await freePort();
  // The links point at the server's own demo pages (the default LATCHKEY_APP_URL).
  srv = await startServer({ PORT: String(port), LATCHKEY_ISSUER: `http://127.0.0.1:${port}`, LATCHKEY_SMTP_URL: smtp.url, LATCHKEY_DEMO: 'true' });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await srv?.close();
  await smtp?.stop();
});

describe('account lifecycle in the demo, in Chromium', () => {
  it('forgot password → the emailed link → a new password → signed in again', async () => {
    const email = uniqueEmail();
    assert.equal((await call(srv.url, 'POST', '/auth/signup', { json: { email, password: PASSWORD } })).status, 201);
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${srv.url}/demo/`);
    await page.fill('#email', email);
    await page.click('#forgot');
    await page.waitForSelector('#notice:not([hidden])');
    assert.match(await page.textContent('#notice') ?? '', /reset link is on its way/);

    const mail = await smtp.waitFor(email, (m) => /Reset your/.test(m.subject));
    assert.ok(mail.link!.startsWith(`${srv.url}/demo/reset-password?token=`), mail.link!);
    await page.goto(mail.link!);
    await page.waitForSelector('#reset:not([hidden])');
    assert.equal(new URL(page.url()).search, '', 'the token is taken out of the address bar');
    await page.fill('#reset-password', NEW_PASSWORD);
    await page.click('#reset-submit');
    await page.waitForSelector('body[data-reset="done"]');

    await page.fill('#email', email);
    await page.fill('#password', NEW_PASSWORD);
    await page.click('#login');
    await page.waitForSelector('#signed-in:not([hidden])');
    assert.equal(await page.textContent('#who'), email);
    assert.equal(await page.textContent('#verified-state'), 'confirmed', 'the reset link proved the address');
  });

  it('the verification link from the sign-up mail confirms the address in the browser', async () => {
    const page = await (await browser.newContext()).newPage();
    const email = uniqueEmail();
    await page.goto(`${srv.url}/demo/`);
    await page.fill('#email', email);
    await page.fill('#password', PASSWORD);
    await page.click('#signup');
    await page.waitForSelector('#signed-in:not([hidden])');
    assert.equal(await page.textContent('#verified-state'), 'not confirmed yet');
    const mail = await smtp.waitFor(email, (m) => /Confirm your email/.test(m.subject));
    await page.goto(mail.link!);
    await page.waitForSelector('body[data-verified="yes"]');
    await page.waitForSelector('#signed-in:not([hidden])');
    await page.waitForFunction(() => document.getElementById('verified-state')?.textContent === 'confirmed');
  });
});
