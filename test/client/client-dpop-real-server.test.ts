// The client's DPoP against the REAL Latchkey server (in-process, SQLite in a temp dir): login
// binds after the nonce retry, refresh and the server's own resource routes take its proofs, a
// copied token is useless and a copy used ends the session, a lost key signs out cleanly.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';

import { createClient, isLatchkeyError, memoryKeyStore, memoryStorage, signedOutReasonOf, toStoredTokens, type ClientEvents, type FetchLike, type LatchkeyClient } from '../../packages/client/src/index.js';
import { jwkThumbprint } from '../../packages/core/src/index.js';
import { freePort } from '../harness/free-port.js';
import { startServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery staple';
let counter = 0;
const freshEmail = () => `client-dpop-real-${process.pid}-${++counter}@example.com`;

interface Sent {
  path: string;
  method: string;
  status: number;
  scheme?: string;
  proof: boolean;
  nonce?: string;
  body?: { error?: string; reason?: string };
}

async function setup(t: TestContext, env: Record<string, string> = {}, rewrite?: (path: string, res: Response) => Response) {
  const port = await freePort();
  const server = await startServer({ PORT: String(port), LATCHKEY_ISSUER: `http://127.0.0.1:${port}`, ...env });
  const clients: LatchkeyClient[] = [];
  t.after(async () => {
    for (const c of clients) c.dispose();
    await server.close();
  });
  const sent: Sent[] = [];
  // Records what went over the wire; the requests themselves are untouched.
  const recording: FetchLike = async (input, init) => {
    const req = new Request(input, init);
    const answer = await fetch(req.clone());
    const res = rewrite ? rewrite(new URL(req.url).pathname, answer) : answer;
    const proof = req.headers.get('dpop');
    const entry: Sent = { path: new URL(req.url).pathname, method: req.method, status: res.status, proof: proof !== null };
    const auth = req.headers.get('authorization');
    if (auth) entry.scheme = auth.split(' ')[0];
    if (proof) {
      const nonce = (JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString('utf8')) as { nonce?: string }).nonce;
      if (nonce !== undefined) entry.nonce = nonce;
    }
    if (!res.ok) entry.body = (await res.clone().json().catch(() => ({}))) as Sent['body'];
    sent.push(entry);
    return res;
  };
  const make = (opts: { storage?: ReturnType<typeof memoryStorage>; keyStore?: ReturnType<typeof memoryKeyStore> } = {}) => {
    const keyStore = opts.keyStore ?? memoryKeyStore();
    const client = createClient({ baseUrl: server.url, storage: opts.storage ?? memoryStorage(), fetch: recording, dpop: { keyStore } });
    clients.push(client);
    return { client, keyStore };
  };
  return { server, make, sent };
}

function signedOut(client: LatchkeyClient): ClientEvents['signedout'][] {
  const log: ClientEvents['signedout'][] = [];
  client.on('signedout', (e) => log.push(e));
  return log;
}

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

test('real server: login binds after one nonce retry (cnf.jkt = our key); refresh and /auth/me take our proofs', async (t) => {
  const { server, make, sent } = await setup(t);
  const storage = memoryStorage();
  const { client, keyStore } = make({ storage });
  const sessions: ClientEvents['session'][] = [];
  client.on('session', (e) => sessions.push(e));
  await client.signup(freshEmail(), PASSWORD);

  const signups = sent.filter((s) => s.path === '/auth/signup');
  assert.deepEqual(signups.map((s) => [s.status, s.proof]), [[400, true], [201, true]], 'challenged for a nonce, then accepted');
  assert.equal(signups[0]!.body?.error, 'use_dpop_nonce');
  assert.ok(signups[1]!.nonce, 'the retry carried the nonce');
  assert.equal(await client.isKeyBound(), true);
  assert.equal(sessions[0]!.keyBound, true);

  const pair = (await keyStore.get())!;
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const jkt = jwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! } as never);
  const first = toStoredTokens(await storage.get())!;
  assert.deepEqual(claims(first.accessToken)['cnf'], { jkt }, 'the access token is bound to our key');

  assert.equal((await client.me()).emailVerified, false);
  const me = sent.filter((s) => s.path === '/auth/me');
  assert.deepEqual(me.map((s) => [s.scheme, s.proof, s.status]), [['DPoP', true, 200]]);

  await client.renewNow();
  const refreshes = sent.filter((s) => s.path === '/auth/token');
  assert.deepEqual(refreshes.map((s) => [s.status, s.proof]), [[200, true]], 'the nonce of the sign-up answer was current: no challenge');
  const second = toStoredTokens(await storage.get())!;
  assert.notEqual(second.refreshToken, first.refreshToken);
  assert.deepEqual(claims(second.accessToken)['cnf'], { jkt });
  const list = await client.fetch(`${server.url}/auth/sessions`);
  assert.equal(list.status, 200, 'auth.fetch to the server itself signs a proof');
  assert.equal(sent.at(-1)!.scheme, 'DPoP');
});

test('real server: copied tokens are useless; the copied refresh token used without the key ends the session', async (t) => {
  const { server, make } = await setup(t);
  const storage = memoryStorage();
  const { client } = make({ storage });
  const out = signedOut(client);
  await client.login(await signupRaw(server.url), PASSWORD);
  const stolen = toStoredTokens(await storage.get())!;

  const asBearer = await fetch(`${server.url}/auth/me`, { headers: { authorization: `Bearer ${stolen.accessToken}` } });
  assert.equal(asBearer.status, 401, 'a bound access token is refused as Bearer');
  assert.match(asBearer.headers.get('www-authenticate') ?? '', /^DPoP /);
  assert.equal(((await asBearer.json()) as { reason?: string }).reason, 'access_token_bound');

  const thief = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stolen.refreshToken }),
  });
  assert.equal(thief.status, 400);
  assert.equal(((await thief.json()) as { reason?: string }).reason, 'dpop_key_mismatch');

  assert.equal(server.events('session.key_mismatch').length, 1);

  // The server revoked the session as a copy: every holder of it hears dpop_key_mismatch, and the
  // victim's client says so (not reuse_detected, which is an older token replayed).
  await assert.rejects(client.renewNow(), (e) => isLatchkeyError(e, 'invalid_grant') && e.reason === 'dpop_key_mismatch');
  assert.deepEqual(out, [{ reason: 'dpop_key_mismatch' }]);
  assert.equal(signedOutReasonOf(await storage.get()), 'dpop_key_mismatch', 'other tabs read the same reason');
  assert.equal(await client.isSignedIn(), false);
});

test('real server: tokens without their key (site data cleared) → dpop_key_lost, the session is not revoked as a copy', async (t) => {
  const { server, make, sent } = await setup(t);
  const storage = memoryStorage();
  const { client } = make({ storage });
  await client.login(await signupRaw(server.url), PASSWORD);
  client.dispose();
  const before = sent.length;

  const { client: reloaded } = make({ storage }); // a fresh, empty key store
  const out = signedOut(reloaded);
  await assert.rejects(reloaded.renewNow(), (e) => isLatchkeyError(e, 'invalid_grant') && e.reason === 'dpop_key_lost');
  assert.deepEqual(out, [{ reason: 'dpop_key_lost' }]);
  assert.equal(sent.length, before, 'nothing sent with a foreign key');
  assert.equal(server.events('session.key_mismatch').length, 0);

  await reloaded.login((await signupRaw(server.url)), PASSWORD);
  assert.equal((await reloaded.fetch(`${server.url}/auth/me`)).status, 200, 'signing in again binds to a new key');
});

test('real server: dpop: false and LATCHKEY_DPOP=off both give Bearer sessions that work as before', async (t) => {
  const { server, make, sent } = await setup(t, { LATCHKEY_DPOP: 'off' });
  const { client } = make();
  await client.login(await signupRaw(server.url), PASSWORD);
  assert.equal(await client.isKeyBound(), false, 'the server answered Bearer to our proof');
  assert.equal((await client.fetch(`${server.url}/auth/me`)).status, 200);
  assert.equal(sent.at(-1)!.scheme, 'Bearer');
  await client.renewNow();
  assert.equal((await client.fetch(`${server.url}/auth/me`)).status, 200);
});

test('real server: a refresh whose nonce the server no longer accepts is challenged and retried once with the new one', async (t) => {
  // The nonce of the sign-up answer is swapped for an expired-looking one on its way to the client,
  // as a tab idle past the nonce's step (5 to 10 minutes) would hold.
  const stale = 'A'.repeat(30);
  const { server, make, sent } = await setup(t, {}, (path, res) => {
    if (path !== '/auth/signup' || !res.ok || !res.headers.has('dpop-nonce')) return res;
    const headers = new Headers(res.headers);
    headers.set('dpop-nonce', stale);
    return new Response(res.body, { status: res.status, headers });
  });
  const { client } = make();
  await client.signup(freshEmail(), PASSWORD);
  await client.renewNow();
  const refreshes = sent.filter((s) => s.path === '/auth/token');
  assert.deepEqual(refreshes.map((s) => s.status), [400, 200]);
  assert.equal(refreshes[0]!.nonce, stale);
  assert.equal(refreshes[0]!.body?.error, 'use_dpop_nonce');
  assert.ok(refreshes[1]!.nonce && refreshes[1]!.nonce !== stale, 'the retry carried the nonce of the challenge');
  assert.equal((await client.fetch(`${server.url}/auth/me`)).status, 200);
  assert.equal(server.events('session.key_mismatch').length, 0);
});

/** An account made without the client, so the client's own first request is the login. */
async function signupRaw(base: string): Promise<string> {
  const email = freshEmail();
  const res = await fetch(`${base}/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) });
  assert.equal(res.status, 201);
  return email;
}
