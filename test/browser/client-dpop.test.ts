// The client's DPoP key in Chromium: non-extractable, kept in IndexedDB and shared by the
// origin's tabs, surviving a reload; site data cleared under live tokens → signed out with
// `dpop_key_lost`, nothing sent. Server side: the DPoP test double (core's proof checker).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { bundleForBrowser, launchChromium } from '../helpers/browser.js';
import { startDpopDouble } from '../client/dpop-double.js';

const ENTRY = `
import { createClient, isLatchkeyError, localStorageStorage } from './packages/client/src/index.ts';
import { Dpop } from './packages/client/src/dpop.ts';
const signedOut = [];
const client = createClient({ baseUrl: location.origin, storage: localStorageStorage() });
client.on('signedout', (e) => signedOut.push(e.reason));
window.t = {
  async makeKey() {
    const key = await new Dpop(crypto.subtle, {}).keyForSignIn();
    return { jkt: key.jkt, alg: key.alg, extractable: key.privateKey.extractable };
  },
  async exportPrivate() {
    const key = await new Dpop(crypto.subtle, {}).keyForSignIn();
    try { await crypto.subtle.exportKey('jwk', key.privateKey); return 'exported'; } catch (e) { return e.name; }
  },
  async login() {
    await client.login('someone@example.com', 'correct horse battery staple');
    return client.isKeyBound();
  },
  async api() {
    try { return String((await client.fetch('/api/data?x=1')).status); }
    catch (e) { return isLatchkeyError(e) ? e.code + ':' + e.reason : 'other:' + e; }
  },
  isKeyBound: () => client.isKeyBound(),
  signedOut: () => signedOut,
  clearSiteKeys: () => new Promise((resolve) => {
    const r = indexedDB.deleteDatabase('latchkey-dpop');
    r.onsuccess = () => resolve('deleted');
    r.onerror = () => resolve('error');
    r.onblocked = () => resolve('blocked');
  }),
};
`;

type T = Record<string, () => Promise<unknown>>;
const call = <R>(page: Page, name: string) => page.evaluate((n) => (window as unknown as { t: T }).t[n]!(), name) as Promise<R>;

let browser: Browser;
let server: Awaited<ReturnType<typeof startDpopDouble>>;

describe('the DPoP key in Chromium', { timeout: 120_000 }, () => {
  before(async () => {
    server = await startDpopDouble({ page: { js: await bundleForBrowser(ENTRY) } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(context: Awaited<ReturnType<Browser['newContext']>>): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => typeof (window as unknown as { t?: unknown }).t === 'object');
    return page;
  }

  it('one non-extractable key per origin, shared by tabs created at once, kept across reloads', async () => {
    const context = await browser.newContext();
    const [a, b] = await Promise.all([open(context), open(context)]);
    const [ka, kb] = await Promise.all([call<{ jkt: string; alg: string; extractable: boolean }>(a, 'makeKey'), call<{ jkt: string }>(b, 'makeKey')]);
    assert.equal(ka.alg, 'ES256');
    assert.equal(ka.extractable, false);
    assert.equal(ka.jkt, kb.jkt, 'both tabs hold the same key');
    assert.equal(await call(a, 'exportPrivate'), 'InvalidAccessError', 'the private key cannot be read out');

    await a.reload();
    await a.waitForFunction(() => typeof (window as unknown as { t?: unknown }).t === 'object');
    assert.equal((await call<{ jkt: string }>(a, 'makeKey')).jkt, ka.jkt, 'IndexedDB kept it');

    const other = await open(await browser.newContext());
    assert.notEqual((await call<{ jkt: string }>(other, 'makeKey')).jkt, ka.jkt, 'another profile has another key');
  });

  it('a bound session works in every tab and across a reload; cleared site keys → dpop_key_lost, nothing sent', async () => {
    const context = await browser.newContext();
    const a = await open(context);
    assert.equal(await call(a, 'login'), true);
    const b = await open(context);
    assert.equal(await call(b, 'api'), '200', 'the other tab adopts the tokens and signs with the shared key');
    await a.reload();
    await a.waitForFunction(() => typeof (window as unknown as { t?: unknown }).t === 'object');
    assert.equal(await call(a, 'api'), '200');
    const jkts = new Set(server.seen.filter((s) => s.verified && s.path !== '/auth/login').map((s) => s.verified!.jkt));
    assert.equal(jkts.size, 1);
    assert.deepEqual(
      server.seen.filter((s) => s.path === '/api/data').map((s) => [s.scheme, s.status]),
      [['DPoP', 200], ['DPoP', 200]],
    );

    assert.equal(await call(a, 'clearSiteKeys'), 'deleted', 'open connections give way');
    await b.reload();
    await b.waitForFunction(() => typeof (window as unknown as { t?: unknown }).t === 'object');
    const before = server.seen.length;
    assert.equal(await call(b, 'isKeyBound'), true, 'the tokens survived in localStorage');
    assert.equal(await call(b, 'api'), 'invalid_grant:dpop_key_lost');
    assert.deepEqual(await call(b, 'signedOut'), ['dpop_key_lost']);
    assert.equal(server.seen.length, before, 'no request with a fresh key');
    await a.waitForFunction(() => (window as unknown as { t: { signedOut(): string[] } }).t.signedOut().length > 0);
    assert.deepEqual(await call(a, 'signedOut'), ['dpop_key_lost'], 'the other tab learns why through the storage');
  });
});
