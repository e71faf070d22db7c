// A single-page app on another origin, in Chromium: with its origin in LATCHKEY_CORS_ORIGINS it
// signs up, calls the API, renews and signs out through @latchkey/client; against a server that
// does not list it, the client's error says that CORS is the likely cause (issue 12 item 5).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { bundleForBrowser, launchChromium } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { freePort } from '../harness/free-port.js';

const ENTRY = `
import { createClient, isLatchkeyError, memoryStorage } from './packages/client/src/index.ts';
window.runFlow = async (baseUrl, email) => {
  const steps = [];
  const auth = createClient({ baseUrl, storage: memoryStorage() });
  try {
    await auth.signup(email, 'correct horse battery staple');
  } catch (e) {
    return [isLatchkeyError(e) ? e.code : 'other', e.message];
  }
  steps.push('me:' + (await auth.me()).email);
  steps.push('api:' + (await auth.fetch(baseUrl + '/auth/sessions')).status);
  await auth.renewNow();
  await auth.logout();
  steps.push('signed in:' + (await auth.isSignedIn()));
  return steps;
};
`;

let page: http.Server;
let pageOrigin: string;
let listed: TestServer;
let unlisted: TestServer;
let browser: Browser;

describe('a cross-origin single-page app in Chromium', { timeout: 120_000 }, () => {
  before(async () => {
    const js = await bundleForBrowser(ENTRY);
    page = http.createServer((req, res) => {
      if (req.url === '/app.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(js);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><title>spa</title><script type="module" src="/app.js"></script>');
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
    const port = await freePort();
    listed = await startServer({ PORT: String(port), LATCHKEY_ISSUER: `http://127.0.0.1:${port}`, LATCHKEY_CORS_ORIGINS: pageOrigin });
    unlisted = await startServer();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await listed?.close();
    await unlisted?.close();
    await new Promise<void>((r) => page.close(() => r()));
  });

  async function run(base: string): Promise<string[]> {
    const tab = await browser.newPage();
    try {
      await tab.goto(`${pageOrigin}/`);
      await tab.waitForFunction(() => typeof (window as unknown as { runFlow?: unknown }).runFlow === 'function');
      return await tab.evaluate(
        ([b, e]) => (window as unknown as { runFlow(b: string, e: string): Promise<string[]> }).runFlow(b!, e!),
        [base, `spa-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`],
      );
    } finally {
      await tab.close();
    }
  }

  it('with its origin listed, the whole flow works across origins', async () => {
    const steps = await run(listed.url);
    assert.equal(steps.length, 3, steps.join(' | '));
    assert.match(steps[0]!, /^me:spa-/);
    assert.deepEqual(steps.slice(1), ['api:200', 'signed in:false']);
  });

  it('without it, the client says that CORS is the likely cause', async () => {
    const [code, message] = await run(unlisted.url);
    assert.equal(code, 'network_error');
    assert.match(message!, new RegExp(`check that the server lists ${pageOrigin.replace(/[.:/]/g, '\\$&')} in LATCHKEY_CORS_ORIGINS`));
  });
});
