// The demo app in a real browser: renewal is invisible across tabs, and theft is still caught.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { demoStats, launchChromium, type DemoStats } from '../helpers/browser.js';
import { uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';


const SCREENSHOTS = new URL('../../docs/screenshots/', import.meta.url).pathname;
const PASSWORD = 'correct horse battery staple';
const stats = demoStats;

async function signUp(page: Page, url: string): Promise<string> {
  const email = uniqueEmail();
  await page.goto(url);
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('#signup');
  await page.waitForSelector('#signed-in:not([hidden])');
  return email;
}

let srv: TestServer;
let browser: Browser;
before(async () => {
  // 2-second access tokens: the tabs renew every ~1.6 s.
  srv = await startServer({ LATCHKEY_ACCESS_TTL: '2', LATCHKEY_DEMO: 'true' });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await srv?.close();
});

describe('demo app in Chromium', () => {
  it('3 tabs of one user calling the API for 60 s with 2 s tokens: 0 failed calls, 0 reuse detections, all signed in', async () => {
    const context = await browser.newContext();
    const url = `${srv.url}/demo/?interval=100`;
    const first = await context.newPage();
    await signUp(first, url);
    const others = await Promise.all([1, 2].map(() => context.newPage()));
    for (const p of others) {
      await p.goto(url);
      await p.waitForSelector('#signed-in:not([hidden])');
    }
    const tabs = [first, ...others];
    for (const [i, tab] of tabs.entries()) {
      // The client's default: the session is bound to this browser's key, and the page says so.
      assert.equal((await stats(tab)).keyBound, true, `tab ${i}`);
      assert.equal(await tab.getAttribute('#binding', 'data-bound'), 'dpop', `tab ${i}`);
      assert.match((await tab.textContent('#binding')) ?? '', /bound to this browser's key \(DPoP\)/);
    }
    const rotatedBefore = srv.events('session.rotated').length;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 60_000));
    const minutes = (Date.now() - t0) / 60_000;
    const all = await Promise.all(tabs.map(stats));
    for (const [i, s] of all.entries()) {
      assert.equal(s.apiFailed, 0, `tab ${i}: ${s.lastError}`);
      assert.equal(s.signedOut, null, `tab ${i} signed out`);
      assert.ok(s.apiOk > 100, `tab ${i} made ${s.apiOk} calls`);
      assert.equal(await tabs[i]!.isVisible('#signed-in'), true);
      assert.equal(await tabs[i]!.getAttribute('#binding', 'data-bound'), 'dpop', `tab ${i} still key-bound`);
    }
    assert.equal(srv.events('session.reuse_detected').length, 0);
    const refreshes = all.reduce((n, s) => n + s.refreshRequests, 0);
    const rotations = srv.events('session.rotated').length - rotatedBefore;
    const perTabMinute = refreshes / tabs.length / minutes;
    // Reported for BENCHMARKS.md ("client refresh requests per tab-minute").
    console.log(`# 3-tab renewal: ${refreshes} refresh requests, ${rotations} rotations in ${minutes.toFixed(2)} min = ${perTabMinute.toFixed(1)} refresh requests per tab-minute; API calls ${all.map((s) => s.apiOk).join('/')}`);
    assert.ok(rotations > 20, `the session kept rotating (${rotations})`);
    await first.screenshot({ path: `${SCREENSHOTS}signed-in.png`, fullPage: true });
    await context.close();
  });

  it('theft: a copied refresh token replayed after the victim renewed signs the victim out (dpop_key_mismatch: a copy without the key) within 1 s, and the thief is refused', async () => {
    const victim = await browser.newContext();
    const url = `${srv.url}/demo/?interval=100`;
    const tabs = [await victim.newPage(), await victim.newPage()];
    await signUp(tabs[0]!, url);
    await tabs[1]!.goto(url);
    await tabs[1]!.waitForSelector('#signed-in:not([hidden])');

    const { stolen, sid } = await tabs[0]!.evaluate(() => {
      const t = JSON.parse(localStorage.getItem('latchkey.tokens')!) as { refreshToken: string; sessionId: string };
      return { stolen: t.refreshToken, sid: t.sessionId };
    });
    // Wait until the server has rotated the victim's session twice: the copy is then older than
    // the predecessor the grace window honours (two tabs renewing at once count as one rotation).
    const rotations = () => srv.events('session.rotated').filter((e) => e.sessionId === sid).length;
    const renewedFrom = rotations();
    const deadline = Date.now() + 15_000;
    while (rotations() < renewedFrom + 2) {
      assert.ok(Date.now() < deadline, 'victim did not renew');
      await new Promise((r) => setTimeout(r, 100));
    }

    const thief = await browser.newContext();
    const thiefPage = await thief.newPage();
    await thiefPage.goto(`${srv.url}/demo/`);
    const replay = async () =>
      thiefPage.evaluate(async (token) => {
        const r = await fetch('/auth/token', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }),
        });
        return { status: r.status, body: await r.json() };
      }, stolen);
    const theftAt = Date.now();
    const attempt = await replay();
    assert.equal(attempt.status, 400);
    // The demo's sessions are DPoP-bound (the client's default): a copy used from another browser,
    // which has no key, is refused as a copy and the session revoked; its holders hear that kind.
    assert.equal(attempt.body.reason, 'dpop_key_mismatch');

    for (const [i, tab] of tabs.entries()) {
      await tab.waitForFunction(() => (window as unknown as { __latchkeyDemo: DemoStats }).__latchkeyDemo.signedOut !== null, null, { timeout: 5000 });
      const s = await stats(tab);
      assert.equal(s.signedOut?.reason, 'dpop_key_mismatch', `tab ${i}`);
      assert.ok(s.signedOut!.at - theftAt <= 1000, `tab ${i} signed out ${s.signedOut!.at - theftAt} ms after the theft`);
      assert.equal(await tab.isVisible('#signed-out'), true);
    }
    assert.equal((await replay()).status, 400, 'the thief stays refused');
    assert.ok(srv.events('session.key_mismatch').length >= 1);
    await tabs[0]!.screenshot({ path: `${SCREENSHOTS}reuse-detected.png`, fullPage: true });
    await victim.close();
    await thief.close();
  });

  it('the "simulate theft" button, sessions list with end buttons, and a phone-width layout', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.goto(`${srv.url}/demo/`);
    await page.screenshot({ path: `${SCREENSHOTS}sign-in-phone.png`, fullPage: true });
    const email = await signUp(page, `${srv.url}/demo/`);
    assert.equal(await page.textContent('#who'), email);

    // A second device: its session shows up with an End button, which ends it.
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await otherPage.goto(`${srv.url}/demo/`);
    await otherPage.fill('#email', email);
    await otherPage.fill('#password', PASSWORD);
    await otherPage.click('#login');
    await otherPage.waitForSelector('#signed-in:not([hidden])');
    await page.click('#refresh-sessions');
    await page.waitForSelector('#sessions button[data-session-id]');
    assert.equal(await page.locator('#sessions li').count(), 2);
    await page.screenshot({ path: `${SCREENSHOTS}sessions-phone.png`, fullPage: true });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no horizontal scrolling at phone width (${width}px)`);
    await page.click('#sessions button[data-session-id]');
    await page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 1);
    await otherPage.waitForFunction(() => (window as unknown as { __latchkeyDemo: DemoStats }).__latchkeyDemo.signedOut !== null, null, { timeout: 5000 });
    assert.equal((await stats(otherPage)).signedOut?.reason, 'revoked');

    // The button replays this tab's refresh token from "another browser": with a proof by a key
    // of the thief's own, since this one cannot be read out. Refused as a copy; session revoked.
    assert.equal(await page.getAttribute('#binding', 'data-bound'), 'dpop');
    const mismatchesBefore = srv.events('session.key_mismatch').length;
    await page.click('#theft');
    await page.waitForSelector('#signed-out:not([hidden])', { timeout: 5000 });
    const after = await stats(page);
    assert.deepEqual({ status: after.theft?.status, reason: after.theft?.reason }, { status: 400, reason: 'dpop_key_mismatch' });
    assert.equal(after.signedOut!.reason, 'dpop_key_mismatch', 'the tab hears which theft it was');
    assert.ok(after.signedOut!.at - after.theft!.at <= 1000, `signed out ${after.signedOut!.at - after.theft!.at} ms after the replay`);
    assert.equal(srv.events('session.key_mismatch').length, mismatchesBefore + 1);
    const told = (await page.textContent('#notice')) ?? '';
    assert.match(told, /replayed/);
    assert.match(told, /without this one's key/);
    assert.match(told, /dpop_key_mismatch/);
    assert.match(told, /revoked the whole session/);
    assert.match(told, /signed out \(reason: dpop_key_mismatch\)/);
    assert.equal(await page.getAttribute('body', 'data-theft'), 'dpop_key_mismatch');
    await page.screenshot({ path: `${SCREENSHOTS}theft-phone.png`, fullPage: true });
    await other.close();
    await context.close();
  });

  it('a Bearer session (server with LATCHKEY_DPOP=off): the page says so, and "simulate theft" replays an old token, caught as reuse', async () => {
    const bearer = await startServer({ LATCHKEY_ACCESS_TTL: '2', LATCHKEY_DEMO: 'true', LATCHKEY_DPOP: 'off' });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await signUp(page, `${bearer.url}/demo/`);
      assert.equal((await stats(page)).keyBound, false);
      assert.equal(await page.getAttribute('#binding', 'data-bound'), 'bearer');
      assert.match((await page.textContent('#binding')) ?? '', /Bearer/);
      await page.click('#theft');
      await page.waitForSelector('#signed-out:not([hidden])', { timeout: 5000 });
      const after = await stats(page);
      assert.deepEqual({ status: after.theft?.status, reason: after.theft?.reason }, { status: 400, reason: 'refresh_token_reused' });
      assert.equal(after.signedOut?.reason, 'reuse_detected');
      assert.match((await page.textContent('#notice')) ?? '', /old refresh token of this session was replayed/);
      assert.equal(bearer.events('session.reuse_detected').length, 1);
      assert.equal(bearer.events('session.key_mismatch').length, 0);
    } finally {
      await context.close();
      await bearer.close();
    }
  });
});
