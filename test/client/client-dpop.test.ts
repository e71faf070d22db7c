// The client's DPoP (RFC 9449): its proofs checked by core's verifyDpopProof (the checker the
// server and @latchkey/verify share), nonce retries, key storage, and the key-loss sign-outs,
// against the DPoP test double (dpop-double.ts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';

import { accessTokenHash, DpopError, jwkThumbprint, verifyDpopProof } from '../../packages/core/src/index.js';
import {
  createClient,
  isLatchkeyError,
  memoryKeyStore,
  memoryStorage,
  signedOutReasonOf,
  toStoredTokens,
  type ClientEvents,
  type ClientOptions,
  type DpopKeyStore,
  type LatchkeyClient,
} from '../../packages/client/src/index.js';
import { Dpop } from '../../packages/client/src/dpop.js';
import { createDpopProof } from '../../packages/client/src/dpop-proof.js';
import { startDpopDouble, type DoubleOptions } from './dpop-double.js';

const PASSWORD = 'correct horse battery staple';

function decode(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function parts(proof: string) {
  const [h, p] = proof.split('.');
  return { header: decode(h!), payload: decode(p!) };
}

const verifyAt = (proof: string, extra: { htm?: string; htu: string; accessToken?: string; nonce?: string }) =>
  verifyDpopProof(proof, {
    htm: extra.htm ?? 'GET',
    htu: extra.htu,
    maxAgeSec: 60,
    leewaySec: 5,
    now: () => Date.now(),
    ...(extra.accessToken !== undefined ? { accessToken: extra.accessToken } : {}),
    ...(extra.nonce !== undefined ? { nonceValid: (n: string) => n === extra.nonce } : {}),
  });

test('proof format (RFC 9449 §4.2): verified by core; header typ/alg/public jwk only; jti, htm, htu without query, iat, nonce, ath', async () => {
  const dpop = new Dpop(crypto.subtle, { keyStore: memoryKeyStore() });
  const key = (await dpop.keyForSignIn())!;
  assert.equal(key.alg, 'ES256');
  const at = 'an-access-token.with.dots';
  const proof = await createDpopProof(crypto.subtle, key, {
    htm: 'POST',
    url: 'https://API.example.com:443/orders/7?expand=items#top',
    nonce: 'nonce-1',
    accessToken: at,
    iat: Math.floor(Date.now() / 1000),
  });
  const { header, payload } = parts(proof);
  assert.deepEqual(Object.keys(header).sort(), ['alg', 'jwk', 'typ']);
  assert.equal(header['typ'], 'dpop+jwt');
  assert.equal(header['alg'], 'ES256');
  const jwk = header['jwk'] as Record<string, string>;
  assert.deepEqual(Object.keys(jwk).sort(), ['crv', 'kty', 'x', 'y'], 'public members only: no d, no ext/key_ops');
  assert.equal(jwk['crv'], 'P-256');
  assert.equal(payload['htm'], 'POST');
  assert.equal(payload['htu'], 'https://api.example.com/orders/7', 'no query, no fragment, normalised');
  assert.equal(payload['nonce'], 'nonce-1');
  assert.equal(payload['ath'], accessTokenHash(at));
  assert.ok(Number.isInteger(payload['iat']) && Math.abs((payload['iat'] as number) - Date.now() / 1000) < 5, 'iat in seconds');
  assert.match(String(payload['jti']), /^[A-Za-z0-9_-]{22}$/, '16 random bytes, base64url');
  assert.equal(Buffer.from(proof.split('.')[2]!, 'base64url').length, 64, 'ES256 signature is r‖s, 64 bytes');

  const verified = verifyAt(proof, { htm: 'POST', htu: 'https://api.example.com/orders/7', accessToken: at, nonce: 'nonce-1' });
  assert.equal(verified.jkt, key.jkt);
  assert.equal(key.jkt, jwkThumbprint(jwk as never), 'our RFC 7638 thumbprint is core’s');
  assert.throws(() => verifyAt(proof, { htm: 'POST', htu: 'https://api.example.com/orders/7', accessToken: 'another token' }), (e) => e instanceof DpopError && e.reason === 'wrong_ath');
  assert.throws(() => verifyAt(proof, { htm: 'GET', htu: 'https://api.example.com/orders/7' }), (e) => e instanceof DpopError && e.reason === 'wrong_htm');

  const again = await createDpopProof(crypto.subtle, key, { htm: 'POST', url: 'https://api.example.com/x', iat: Math.floor(Date.now() / 1000) });
  assert.notEqual(parts(again).payload['jti'], payload['jti'], 'a fresh jti per proof');
  assert.equal('nonce' in parts(again).payload || 'ath' in parts(again).payload, false, 'nonce and ath only when given');
});

test('the private key is non-extractable; EdDSA (Ed25519) on request, verified by core', async () => {
  const store = memoryKeyStore();
  const key = (await new Dpop(crypto.subtle, { keyStore: store }).keyForSignIn())!;
  assert.equal(key.privateKey.extractable, false);
  await assert.rejects(crypto.subtle.exportKey('jwk', key.privateKey));
  await assert.rejects(crypto.subtle.exportKey('pkcs8', key.privateKey));

  const ed = (await new Dpop(crypto.subtle, { keyStore: memoryKeyStore(), algorithm: 'EdDSA' }).keyForSignIn())!;
  assert.equal(ed.alg, 'EdDSA');
  assert.equal(ed.privateKey.extractable, false);
  assert.deepEqual(Object.keys(ed.jwk).sort(), ['crv', 'kty', 'x']);
  const proof = await createDpopProof(crypto.subtle, ed, { htm: 'GET', url: 'https://a.example/p', iat: Math.floor(Date.now() / 1000) });
  assert.equal(verifyAt(proof, { htu: 'https://a.example/p' }).jkt, ed.jkt);
});

/** A store whose operations take a while, with IndexedDB's `add` semantics: the first writer wins. */
function slowAddOnlyStore(): DpopKeyStore & { writes: number } {
  let pair: CryptoKeyPair | null = null;
  const store = {
    writes: 0,
    async get() {
      await delay(5);
      return pair;
    },
    async set(next: CryptoKeyPair) {
      await delay(5);
      store.writes++;
      pair ??= next;
    },
    async delete() {
      pair = null;
    },
  };
  return store;
}

test('two tabs creating the key at once end up with one key', async () => {
  const store = slowAddOnlyStore();
  const [a, b] = await Promise.all([
    new Dpop(crypto.subtle, { keyStore: store }).keyForSignIn(),
    new Dpop(crypto.subtle, { keyStore: store }).keyForSignIn(),
  ]);
  assert.equal(store.writes, 2, 'both tabs created a key: the race really happened');
  assert.equal(a!.jkt, b!.jkt, 'both read back the winner');
  const stored = (await store.get())!;
  assert.equal(stored.privateKey, a!.privateKey);
});

async function setup(t: TestContext, double: DoubleOptions = {}, clientOptions: Partial<ClientOptions> = {}) {
  const server = await startDpopDouble(double);
  const clients: LatchkeyClient[] = [];
  t.after(async () => {
    for (const c of clients) c.dispose();
    await server.close();
  });
  const make = (more: Partial<ClientOptions> = {}) => {
    const client = createClient({ baseUrl: server.url, dpop: { keyStore: memoryKeyStore() }, ...clientOptions, ...more });
    clients.push(client);
    return client;
  };
  return { server, make };
}

function record(client: LatchkeyClient) {
  const log = { session: [] as ClientEvents['session'][], signedout: [] as ClientEvents['signedout'][] };
  client.on('session', (e) => log.session.push(e));
  client.on('signedout', (e) => log.signedout.push(e));
  return log;
}

test('login binds the session after one nonce retry; refresh and auth.fetch carry proofs by the same key', async (t) => {
  const { server, make } = await setup(t);
  const client = make();
  const log = record(client);
  await client.login('someone@example.com', PASSWORD);

  const logins = server.seen.filter((s) => s.path === '/auth/login');
  assert.equal(logins.length, 2, 'first proof had no nonce, the retry had the one the server gave');
  assert.equal(logins[0]!.status, 400);
  assert.equal(logins[0]!.refused, 'use_nonce');
  assert.equal(logins[1]!.status, 200);
  const jkt = logins[1]!.verified!.jkt;
  assert.equal(server.sessions[0]!.jkt, jkt, 'the server bound the session');
  assert.deepEqual(log.session.map((e) => [e.reason, e.keyBound]), [['login', true]]);
  assert.equal(await client.isKeyBound(), true);

  const res = await client.fetch(`${server.url}/api/data?page=2`, { method: 'GET' });
  assert.equal(res.status, 200);
  const api = server.seen.filter((s) => s.path === '/api/data');
  assert.equal(api.length, 1);
  assert.equal(api[0]!.scheme, 'DPoP');
  assert.equal(api[0]!.verified!.jkt, jkt);
  assert.equal(parts(api[0]!.proof!).payload['htu'], `${server.url}/api/data`);
  assert.equal(parts(api[0]!.proof!).payload['htm'], 'GET');

  await client.renewNow();
  const refreshes = server.seen.filter((s) => s.path === '/auth/token');
  assert.equal(refreshes.length, 1, 'the nonce from the login answer was used: no challenge');
  assert.equal(refreshes[0]!.status, 200);
  assert.equal(refreshes[0]!.verified!.jkt, jkt);
  assert.ok(refreshes[0]!.nonce, 'the refresh proof carried the nonce');
  assert.equal(parts(refreshes[0]!.proof!).payload['ath'], undefined, 'no ath at the token endpoint');
  assert.deepEqual(log.session.map((e) => [e.reason, e.keyBound]), [['login', true], ['refresh', true]]);

  // The renewed access token works with a proof as well, and logout sends one too.
  assert.equal((await client.fetch(`${server.url}/api/data`)).status, 200);
  await client.logout();
  const logout = server.seen.filter((s) => s.path === '/auth/logout');
  assert.equal(logout.length, 1);
  assert.equal(logout[0]!.scheme, 'DPoP');
  assert.equal(logout[0]!.status, 200);
});

test('a resource server nonce challenge (401 use_dpop_nonce) is retried exactly once; the nonce is then remembered', async (t) => {
  const { server, make } = await setup(t, { authNonces: false, resourceNonce: 'required' });
  const client = make();
  await client.signup('someone@example.com', PASSWORD);
  assert.equal(server.seen.filter((s) => s.path === '/auth/signup').length, 1, 'no nonces at this auth server: no retry');

  const body = JSON.stringify({ a: 1 });
  const res = await client.fetch(`${server.url}/api/data`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200);
  let api = server.seen.filter((s) => s.path === '/api/data');
  assert.deepEqual(api.map((s) => s.status), [401, 200]);
  assert.equal(api[0]!.nonce, undefined);
  assert.ok(api[1]!.nonce);
  assert.notEqual(parts(api[0]!.proof!).payload['jti'], parts(api[1]!.proof!).payload['jti'], 'the retry is a new proof');

  assert.equal((await client.fetch(`${server.url}/api/data`)).status, 200);
  api = server.seen.filter((s) => s.path === '/api/data');
  assert.deepEqual(api.map((s) => s.status), [401, 200, 200], 'second call: nonce already known');
});

test('a server that keeps asking for a nonce gets one retry, then the caller sees its 401', async (t) => {
  const { server, make } = await setup(t, { resourceNonce: 'always' });
  const client = make();
  await client.login('someone@example.com', PASSWORD);
  const res = await client.fetch(`${server.url}/api/data`);
  assert.equal(res.status, 401);
  assert.equal(server.seen.filter((s) => s.path === '/api/data').length, 2);
  assert.equal(await client.isSignedIn(), true, 'a nonce challenge is no reason to sign out');
});

test('bound tokens but the key is gone (site data cleared): no proof by a fresh key, sign-out with dpop_key_lost', async (t) => {
  const { server, make } = await setup(t);
  const storage = memoryStorage();
  const first = make({ storage });
  await first.login('someone@example.com', PASSWORD);
  first.dispose();
  const before = server.seen.length;

  // The same tokens, an empty key store: what a reload finds after IndexedDB was cleared.
  const reloaded = make({ storage, dpop: { keyStore: memoryKeyStore() } });
  const log = record(reloaded);
  assert.equal(await reloaded.isKeyBound(), true);
  await assert.rejects(reloaded.fetch(`${server.url}/api/data`), (e) => isLatchkeyError(e, 'invalid_grant') && e.reason === 'dpop_key_lost');
  assert.deepEqual(log.signedout, [{ reason: 'dpop_key_lost' }]);
  assert.equal(signedOutReasonOf(await storage.get()), 'dpop_key_lost', 'other tabs read why');
  assert.equal(server.seen.length, before, 'nothing was sent: no refresh with a foreign key');
  assert.equal(server.sessions[0]!.revoked, false);

  // It signs in again cleanly, with a new key.
  await reloaded.login('someone@example.com', PASSWORD);
  assert.equal((await reloaded.fetch(`${server.url}/api/data`)).status, 200);
});

test('due for renewal without the key: sign-out with dpop_key_lost before any refresh is sent', async (t) => {
  const { server, make } = await setup(t);
  const storage = memoryStorage();
  const first = make({ storage });
  await first.login('someone@example.com', PASSWORD);
  first.dispose();
  const tokens = toStoredTokens(await storage.get())!;
  await storage.set({ ...tokens, expiresAt: Date.now() - 1 });

  const reloaded = make({ storage, dpop: false });
  const log = record(reloaded);
  assert.equal(await reloaded.getAccessToken(), null);
  assert.deepEqual(log.signedout, [{ reason: 'dpop_key_lost' }]);
  assert.equal(server.seen.filter((s) => s.path === '/auth/token').length, 0);
});

test('refresh refused with dpop_key_mismatch (a copy was used elsewhere) → signedout dpop_key_mismatch', async (t) => {
  const { server, make } = await setup(t);
  const storage = memoryStorage();
  const victim = make({ storage });
  const log = record(victim);
  await victim.login('someone@example.com', PASSWORD);

  // A thief with a copy of the refresh token and no key: the server revokes the session.
  const copy = toStoredTokens(await storage.get())!.refreshToken;
  const thief = await fetch(`${server.url}/auth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: copy }) });
  assert.equal(thief.status, 400);
  assert.equal(((await thief.json()) as { reason: string }).reason, 'dpop_key_mismatch');

  await assert.rejects(victim.renewNow(), (e) => isLatchkeyError(e, 'invalid_grant') && e.reason === 'dpop_key_mismatch');
  assert.deepEqual(log.signedout, [{ reason: 'dpop_key_mismatch' }]);
  assert.equal(signedOutReasonOf(await storage.get()), 'dpop_key_mismatch');
});

test('dpop: false signs in Bearer; a server that answers Bearer to a proof gives a Bearer session', async (t) => {
  const { server, make } = await setup(t, { bind: false });
  const off = make({ dpop: false });
  await off.login('someone@example.com', PASSWORD);
  assert.equal(server.seen.at(-1)!.proof, undefined, 'no proof sent');
  assert.equal(await off.isKeyBound(), false);

  const on = make();
  const log = record(on);
  await on.login('someone@example.com', PASSWORD);
  assert.ok(server.seen.at(-1)!.verified, 'a proof was offered');
  assert.equal(await on.isKeyBound(), false, 'token_type Bearer: not bound');
  assert.equal(log.session[0]!.keyBound, false);
  assert.equal((await on.fetch(`${server.url}/api/data`)).status, 200);
  const api = server.seen.at(-1)!;
  assert.equal(api.scheme, 'Bearer');
  assert.equal(api.proof, undefined, 'no proof with a Bearer token');
});

test('two tabs sharing token storage and the default per-process key store both send valid proofs', async (t) => {
  const { server, make } = await setup(t);
  const storage = memoryStorage();
  const tabA = createClient({ baseUrl: server.url, storage });
  const tabB = createClient({ baseUrl: server.url, storage });
  t.after(() => {
    tabA.dispose();
    tabB.dispose();
  });
  void make;
  await tabA.login('someone@example.com', PASSWORD);
  assert.equal((await tabB.fetch(`${server.url}/api/data`)).status, 200);
  await tabB.renewNow();
  assert.equal((await tabA.fetch(`${server.url}/api/data`)).status, 200);
  const jkts = new Set(server.seen.filter((s) => s.verified).map((s) => s.verified!.jkt));
  assert.equal(jkts.size, 1);
});

test('token_type: "DPoP" is accepted only as the answer to a proof, and records the key it is bound to', async () => {
  const { toStoredTokensFromResponse } = await import('../../packages/client/src/token-response.js');
  const body = { access_token: 'at', refresh_token: 'rt', expires_in: 300, token_type: 'DPoP' };
  assert.equal(toStoredTokensFromResponse(body, 0, undefined, 'jkt-1').dpopJkt, 'jkt-1');
  assert.throws(() => toStoredTokensFromResponse(body, 0), (e) => isLatchkeyError(e, 'invalid_response'), 'bound to a key we never offered');
  assert.equal(toStoredTokensFromResponse({ ...body, token_type: 'Bearer' }, 0, undefined, 'jkt-1').dpopJkt, undefined, 'proof offered, Bearer answered');
  assert.throws(() => toStoredTokensFromResponse({ ...body, token_type: 'mac' }, 0, undefined, 'jkt-1'), (e) => isLatchkeyError(e, 'invalid_response'));
  assert.equal(toStoredTokens({ accessToken: 'a', refreshToken: 'r', expiresAt: 1, dpopJkt: 'jkt-1' })?.dpopJkt, 'jkt-1', 'storage keeps the binding');
});

test('a device clock minutes off the server: one retry with the server time from its Date header, then every proof is in its window', async (t) => {
  const { server, make } = await setup(t, { clockOffsetMs: 10 * 60_000 });
  const client = make();
  await client.login('someone@example.com', PASSWORD);
  const logins = server.seen.filter((s) => s.path === '/auth/login');
  assert.deepEqual(
    logins.map((s) => [s.status, s.refused]),
    [[400, 'stale'], [400, 'use_nonce'], [200, undefined]],
    'refused as stale, then the nonce challenge, then accepted',
  );
  assert.ok(Math.abs((parts(logins[2]!.proof!).payload['iat'] as number) - (Date.now() + 600_000) / 1000) < 5, 'iat on the server clock');

  assert.equal((await client.fetch(`${server.url}/api/data`)).status, 200);
  await client.renewNow();
  assert.deepEqual(server.seen.slice(logins.length).map((s) => [s.path, s.status]), [['/api/data', 200], ['/auth/token', 200]], 'no more retries');

  // Clocks that agree are left alone: no offset from the Date header's whole seconds.
  const { server: inSync, make: makeInSync } = await setup(t);
  await makeInSync().login('someone@example.com', PASSWORD);
  assert.deepEqual(inSync.seen.map((s) => s.status), [400, 200]);
  assert.ok(Math.abs((parts(inSync.seen[1]!.proof!).payload['iat'] as number) - Date.now() / 1000) < 3);
});

test('a proof refused for another reason than the clock is retried once with a fresh proof, then given up', async (t) => {
  // Once: a browser re-sending a request whose connection died sends its proof again, which the
  // server refuses as replayed (issue 14, Chromium); a fresh proof is the cure for that, not for this.
  const { server, make } = await setup(t);
  const client = make();
  await client.login('someone@example.com', PASSWORD);
  const before = server.seen.length;
  server.sessions[0]!.jkt = 'a-key-the-session-is-not-bound-to'; // every proof of ours is refused now
  const refused = await client.fetch(`${server.url}/api/data`);
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get('www-authenticate') ?? '', /invalid_dpop_proof/);
  assert.equal(server.seen.length - before, 2, 'one retry with a fresh proof, and no more');
});
