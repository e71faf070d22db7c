// Three tabs of the demo sharing one DPoP key (IndexedDB, one per origin and profile), with 2 s
// access tokens, calling the API through auth.fetch every 100 ms for LATCHKEY_TABS_MINUTES
// (default 10, what CI runs): no call fails, no tab signs out, and the server rotated the session
// all along. Then a copy of the refresh token, replayed from another browser context (another
// IndexedDB, so not this key) with a proof by the thief's own key, kills the session in every tab
// within 1 s (issue 11, "Tests": Chromium).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { demoStats, launchChromium, type DemoStats } from '../helpers/browser.js';
import { uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';


interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  dpopJkt?: string;
}

const MINUTES = Number(process.env.LATCHKEY_TABS_MINUTES ?? '10');
assert.ok(Number.isFinite(MINUTES) && MINUTES > 0, 'LATCHKEY_TABS_MINUTES must be a positive number');
const ACCESS_TTL_S = 2;
const PASSWORD = 'correct horse battery staple';

interface ThiefAnswer {
  status: number;
  error: string;
  reason: string;
  nonceChallenges: number;
}

/**
 * The thief's replay, run in its own browser context: a proof by a key of its own (the best a
 * copy allows), following the server's nonce challenge like any DPoP client (RFC 9449 §8).
 * Plain JavaScript, so that it runs in the page as written (no transpiler helpers), and
 * independent of the client library.
 */
const THIEF_REPLAY = `async (refreshToken) => {
  const b64 = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const json = (v) => b64(new TextEncoder().encode(JSON.stringify(v)));
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const htu = location.origin + '/auth/token';
  let nonce = null;
  const answer = { status: 0, error: '', reason: '', nonceChallenges: 0 };
  for (let i = 0; i < 2; i++) {
    const payload = { jti: crypto.randomUUID(), htm: 'POST', htu, iat: Math.floor(Date.now() / 1000) };
    if (nonce) payload.nonce = nonce;
    const input = json({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } }) + '.' + json(payload);
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(input));
    const r = await fetch('/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: input + '.' + b64(sig) },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
    const body = await r.json();
    Object.assign(answer, { status: r.status, error: body.error ?? '', reason: body.reason ?? '' });
    if (body.error !== 'use_dpop_nonce') break;
    answer.nonceChallenges++;
    nonce = r.headers.get('dpop-nonce');
  }
  return answer;
}`;

const stats = demoStats;
const stored = (p: Page) => p.evaluate(() => JSON.parse(localStorage.getItem('latchkey.tokens') ?? 'null') as StoredTokens | null);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The access token's claims, read (not verified) to see what the server bound it to. */
function claimsOf(jwt: string): { sid?: string; cnf?: { jkt?: string } } {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sid?: string; cnf?: { jkt?: string } };
}

/** How the server saw the demo's API calls: by Authorization scheme and by status. */
const pings = { dpop: 0, bearer: 0, other: 0, ok: 0, refused: 0 };

let srv: TestServer;
let browser: Browser;
before(async () => {
  srv = await startServer(
    { LATCHKEY_ACCESS_TTL: String(ACCESS_TTL_S), LATCHKEY_DEMO: 'true' },
    {
      plugins: [
        (app) => {
          app.addHook('onResponse', async (req, reply) => {
            if (!req.url.startsWith('/demo/api/ping')) return;
            const scheme = /^(\S+) /.exec(String(req.headers.authorization ?? ''))?.[1]?.toLowerCase();
            if (scheme === 'dpop' && typeof req.headers.dpop === 'string') pings.dpop++;
            else if (scheme === 'bearer') pings.bearer++;
            else pings.other++;
            if (reply.statusCode === 200) pings.ok++;
            else pings.refused++;
          });
        },
      ],
    },
  );
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await srv?.close();
});

/** One tab signs up; the others open the page and adopt the session (and the key) from it. */
async function threeTabs(context: BrowserContext): Promise<Page[]> {
  const url = `${srv.url}/demo/?interval=100`;
  const first = await context.newPage();
  await first.goto(url);
  await first.fill('#email', uniqueEmail());
  await first.fill('#password', PASSWORD);
  await first.click('#signup');
  await first.waitForSelector('#signed-in:not([hidden])');
  const others = await Promise.all([1, 2].map(() => context.newPage()));
  for (const p of others) {
    await p.goto(url);
    await p.waitForSelector('#signed-in:not([hidden])');
  }
  return [first, ...others];
}

/** Every tab holds the same DPoP-bound session: the client says so, the page shows it, the token carries cnf.jkt. */
async function assertKeyBound(tabs: Page[]): Promise<StoredTokens> {
  const held = await Promise.all(tabs.map(stored));
  const t = held[0]!;
  assert.ok(t.dpopJkt, 'the session is bound to a key');
  for (const [i, tab] of tabs.entries()) {
    const s = await stats(tab);
    assert.equal(s.keyBound, true, `tab ${i}: client.isKeyBound()`);
    assert.equal(await tab.getAttribute('#binding', 'data-bound'), 'dpop', `tab ${i}: the page shows the binding`);
    assert.equal(held[i]!.sessionId, t.sessionId, `tab ${i}: one session`);
    assert.equal(held[i]!.dpopJkt, t.dpopJkt, `tab ${i}: one key`);
  }
  assert.equal(claimsOf(t.accessToken).cnf?.jkt, t.dpopJkt, 'the access token is bound to that key (RFC 9449 §6)');
  // Sent as a plain Bearer token, without the key's proof, it opens nothing.
  const asBearer = await fetch(`${srv.url}/auth/me`, { headers: { authorization: `Bearer ${t.accessToken}` } });
  assert.equal(asBearer.status, 401);
  assert.equal(((await asBearer.json()) as { reason?: string }).reason, 'access_token_bound');
  return t;
}

describe('DPoP in three tabs of the demo (Chromium)', () => {
  it(`3 tabs sharing the IndexedDB key, ${ACCESS_TTL_S} s tokens, API every 100 ms for ${MINUTES} min: 0 failed calls, 0 sign-outs, bound all along`, { timeout: (MINUTES * 60 + 120) * 1000 }, async () => {
    const context = await browser.newContext();
    const tabs = await threeTabs(context);
    const { sessionId } = await assertKeyBound(tabs);
    const rotations = () => srv.events('session.rotated').filter((e) => e.sessionId === sessionId).length;
    // Timers of hidden pages are throttled (to once a minute after five minutes): the run is only
    // meaningful if every tab stays visible, as pages of one headless browser are.
    const visibility = () => Promise.all(tabs.map((p) => p.evaluate(() => document.visibilityState)));
    assert.deepEqual(await visibility(), ['visible', 'visible', 'visible']);

    const rotatedBefore = rotations();
    const graceBefore = srv.events('session.grace_replay').length;
    const pingsBefore = { ...pings };
    const t0 = Date.now();
    const end = t0 + MINUTES * 60_000;
    const first = await Promise.all(tabs.map(stats));
    let last = first;
    // Checked every 10 s rather than only at the end: a failure says when, and a stalled tab
    // (throttled, or its loop stuck) cannot hide behind the others' totals.
    while (Date.now() < end) {
      await sleep(Math.min(10_000, end - Date.now()));
      const now = await Promise.all(tabs.map(stats));
      const at = `${((Date.now() - t0) / 1000).toFixed(0)} s in`;
      for (const [i, s] of now.entries()) {
        assert.equal(s.signedOut, null, `tab ${i} signed out ${at}: ${JSON.stringify(s.signedOut)}`);
        assert.equal(s.apiFailed, 0, `tab ${i}: ${s.apiFailed} failed calls ${at} (last: ${s.lastError})`);
        assert.ok(s.apiOk - last[i]!.apiOk >= 10, `tab ${i} made only ${s.apiOk - last[i]!.apiOk} calls in the 10 s before ${at}`);
      }
      last = now;
    }
    const seconds = (Date.now() - t0) / 1000;

    const all = await Promise.all(tabs.map(stats));
    for (const [i, s] of all.entries()) {
      assert.equal(s.apiFailed, 0, `tab ${i}: ${s.lastError}`);
      assert.equal(s.signedOut, null, `tab ${i} signed out`);
      assert.equal(await tabs[i]!.isVisible('#signed-in'), true);
    }
    assert.deepEqual(await visibility(), ['visible', 'visible', 'visible'], 'the tabs stayed visible');
    const after = await assertKeyBound(tabs);
    assert.equal(after.sessionId, sessionId, 'still the session signed up with');
    assert.equal(srv.events('session.reuse_detected').length, 0);
    assert.equal(srv.events('session.key_mismatch').length, 0);

    const rotated = rotations() - rotatedBefore;
    const calls = all.reduce((n, s, i) => n + s.apiOk - first[i]!.apiOk, 0);
    const served = { dpop: pings.dpop - pingsBefore.dpop, bearer: pings.bearer - pingsBefore.bearer, other: pings.other - pingsBefore.other, refused: pings.refused - pingsBefore.refused };
    const refreshes = all.reduce((n, s, i) => n + s.refreshRequests - first[i]!.refreshRequests, 0);
    console.log(
      `# ${tabs.length} DPoP tabs, ${seconds.toFixed(0)} s: API calls ${all.map((s, i) => s.apiOk - first[i]!.apiOk).join('/')} (server: ${served.dpop} DPoP, ${served.bearer} Bearer, ${served.refused} refused and retried by the client); ` +
        `${refreshes} refresh requests, ${rotated} rotations, ${srv.events('session.grace_replay').length - graceBefore} grace answers`,
    );
    // Every call carried a proof: a bound token is never sent as Bearer.
    assert.equal(served.bearer + served.other, 0, 'every API call was DPoP');
    assert.ok(served.dpop >= calls, `the server saw ${served.dpop} DPoP calls for ${calls} successful ones`);
    // A 2 s token that kept working for the whole run was renewed at least every 2 s: the chain
    // rotated (not only grace answers). 0.8 leaves room for the run's edges.
    const expected = seconds / ACCESS_TTL_S;
    assert.ok(rotated >= 0.8 * expected, `${rotated} rotations in ${seconds.toFixed(0)} s (at least ${Math.ceil(0.8 * expected)} expected)`);
    await context.close();
  });

  it('the refresh token copied into another browser context (no key of this session) and replayed: every tab signs out with the theft reason within 1 s', { timeout: 60_000 }, async () => {
    const victim = await browser.newContext();
    const tabs = await threeTabs(victim);
    const { sessionId } = await assertKeyBound(tabs);
    // Let the tabs renew a few times first: the copy is then taken from a live, rotating session.
    const rotations = () => srv.events('session.rotated').filter((e) => e.sessionId === sessionId).length;
    const from = rotations();
    const deadline = Date.now() + 15_000;
    while (rotations() < from + 2) {
      assert.ok(Date.now() < deadline, 'the tabs did not renew');
      await sleep(100);
    }
    // What a thief with read access to one tab's storage gets (the key itself cannot be read out).
    const copy = (await stored(tabs[1]!))!;

    // Another context is another profile: its IndexedDB holds no key of this session.
    const thief = await browser.newContext();
    const thiefPage = await thief.newPage();
    await thiefPage.goto(`${srv.url}/demo/`);
    const thiefKeys = await thiefPage.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const open = indexedDB.open('latchkey-dpop');
          open.onsuccess = () => {
            const db = open.result;
            const stores = Array.from({ length: db.objectStoreNames.length }, (_, i) => db.objectStoreNames.item(i)!);
            if (stores.length === 0) return resolve(0);
            const count = db.transaction(stores, 'readonly').objectStore(stores[0]!).count();
            count.onsuccess = () => resolve(count.result);
            count.onerror = () => resolve(-1);
          };
          open.onerror = () => resolve(-1);
        }),
    );
    assert.equal(thiefKeys, 0, "the thief's browser holds no DPoP key");

    // The thief signs its replay with a key of its own (the best a copy allows), following the
    // server's nonce challenge like any DPoP client; written here, not with the client library.
    const replay = () => thiefPage.evaluate(`(${THIEF_REPLAY})(${JSON.stringify(copy.refreshToken)})`) as Promise<ThiefAnswer>;

    const theftAt = Date.now();
    const attempt = await replay();
    assert.equal(attempt.status, 400);
    assert.equal(attempt.error, 'invalid_grant');
    assert.equal(attempt.reason, 'dpop_key_mismatch', 'the copy, with another key, is refused as a copy');
    assert.ok(attempt.nonceChallenges <= 1);

    const outcomes: string[] = [];
    for (const [i, tab] of tabs.entries()) {
      await tab.waitForFunction(() => (window as unknown as { __latchkeyDemo: DemoStats }).__latchkeyDemo.signedOut !== null, null, { timeout: 5000 });
      const s = await stats(tab);
      assert.equal(s.signedOut!.reason, 'dpop_key_mismatch', `tab ${i}: the copy's kind of theft`);
      const late = s.signedOut!.at - theftAt;
      outcomes.push(`${s.signedOut!.reason} after ${late} ms`);
      assert.ok(late <= 1000, `tab ${i} signed out ${late} ms after the theft`);
      assert.equal(s.apiFailed, 0, `tab ${i}: no call failed before the sign-out (${s.lastError})`);
      assert.equal(await tab.isVisible('#signed-out'), true);
      // What is left is the sign-out marker (its reason, for the other tabs): no token.
      assert.equal((await stored(tab))?.refreshToken, undefined, `tab ${i} forgot the tokens`);
    }
    console.log(`# theft from another context: the copy got ${attempt.status} ${attempt.reason}; tabs signed out: ${outcomes.join(', ')}`);
    const mismatches = srv.events('session.key_mismatch').filter((e) => e.sessionId === sessionId);
    assert.equal(mismatches.length, 1, 'the server logged session.key_mismatch for this session');
    // The session is gone: the thief's copy stays refused.
    assert.equal((await replay()).status, 400, 'the thief stays refused');
    assert.equal(srv.rawLog().includes(copy.refreshToken), false, 'the token is not in the log');
    await victim.close();
    await thief.close();
  });
});
