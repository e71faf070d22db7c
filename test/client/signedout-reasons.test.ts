// The `signedout` reason names why the session ended (issue 14 item 3), against the REAL server
// (in-process, SQLite): a copy of a key-bound session used without its key → dpop_key_mismatch,
// an older refresh token replayed → reuse_detected, the session's idle timeout → expired; in every
// tab that shares the storage, not only the one whose refresh found out.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';

import { createClient, isLatchkeyError, memoryKeyStore, memoryStorage, signedOutReasonOf, toStoredTokens, type ClientEvents, type LatchkeyClient } from '../../packages/client/src/index.js';
import type { OpenedStores } from '../../packages/server/src/store/open.js';
import { startServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery staple';
const IDLE_S = 60;
let counter = 0;
const freshEmail = () => `signedout-reasons-${process.pid}-${++counter}@example.com`;

async function setup(t: TestContext, env: Record<string, string> = {}) {
  const serverClock = { offset: 0 };
  const clientClock = { offset: 0 };
  const server = await startServer(env, { now: () => Date.now() + serverClock.offset });
  const clients: LatchkeyClient[] = [];
  t.after(async () => {
    for (const c of clients) c.dispose();
    await server.close();
  });
  // Tabs of one browser: one token storage, one key store.
  const storage = memoryStorage();
  const keyStore = memoryKeyStore();
  const tab = (dpop = true) => {
    const client = createClient({ baseUrl: server.url, storage, now: () => Date.now() + clientClock.offset, ...(dpop ? { dpop: { keyStore } } : { dpop: false }) });
    clients.push(client);
    const out: ClientEvents['signedout'][] = [];
    client.on('signedout', (e) => out.push(e));
    return { client, out };
  };
  return { server, serverClock, clientClock, storage, tab };
}

const thiefRefresh = (base: string, refreshToken: string) =>
  fetch(`${base}/auth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }) });

test('a copy of a key-bound session used without the key: both tabs sign out with dpop_key_mismatch', async (t) => {
  const { server, storage, tab } = await setup(t);
  const a = tab();
  const b = tab();
  await a.client.signup(freshEmail(), PASSWORD);
  assert.ok(toStoredTokens(await storage.get())?.dpopJkt, 'bound');
  const copy = toStoredTokens(await storage.get())!.refreshToken;
  const thief = await thiefRefresh(server.url, copy);
  assert.equal(((await thief.json()) as { reason?: string }).reason, 'dpop_key_mismatch');
  await assert.rejects(a.client.renewNow(), (e) => isLatchkeyError(e, 'invalid_grant') && e.reason === 'dpop_key_mismatch');
  assert.deepEqual(a.out, [{ reason: 'dpop_key_mismatch' }]);
  assert.deepEqual(b.out, [{ reason: 'dpop_key_mismatch' }], 'the other tab, through the storage');
  assert.equal(signedOutReasonOf(await storage.get()), 'dpop_key_mismatch');
  assert.equal(await b.client.isSignedIn(), false);
});

test('an older refresh token replayed: both tabs sign out with reuse_detected', async (t) => {
  const { server, storage, tab } = await setup(t, { LATCHKEY_REUSE_GRACE: '0' });
  // Bearer: the thief replays without a proof, and what it replays is an older token, not a copy of the current one.
  const a = tab(false);
  const b = tab(false);
  await a.client.signup(freshEmail(), PASSWORD);
  const stolen = toStoredTokens(await storage.get())!.refreshToken;
  await a.client.renewNow();
  const thief = await thiefRefresh(server.url, stolen);
  assert.equal(((await thief.json()) as { reason?: string }).reason, 'refresh_token_reused');
  await assert.rejects(a.client.renewNow(), (e) => isLatchkeyError(e, 'invalid_grant') && e.reason === 'refresh_token_reused');
  assert.deepEqual(a.out, [{ reason: 'reuse_detected' }]);
  assert.deepEqual(b.out, [{ reason: 'reuse_detected' }]);
});

test('the session idle past LATCHKEY_SESSION_IDLE: both tabs sign out with expired, not as a theft or an ended session', async (t) => {
  const { serverClock, storage, tab } = await setup(t, { LATCHKEY_SESSION_IDLE: String(IDLE_S) });
  // Bearer: a server clock moved ahead would put a bound client's proofs out of the server's window.
  const a = tab(false);
  const b = tab(false);
  await a.client.signup(freshEmail(), PASSWORD);
  serverClock.offset += (IDLE_S + 1) * 1000;
  await assert.rejects(a.client.renewNow(), (e) => isLatchkeyError(e, 'invalid_grant') && e.reason === 'session_expired');
  assert.deepEqual(a.out, [{ reason: 'expired' }]);
  assert.deepEqual(b.out, [{ reason: 'expired' }]);
  assert.equal(signedOutReasonOf(await storage.get()), 'expired');
});

test('a session the store already removed after its idle deadline: expired too (the deadline the server gave), not revoked', async (t) => {
  const { server, serverClock, clientClock, storage, tab } = await setup(t, { LATCHKEY_SESSION_IDLE: String(IDLE_S) });
  const a = tab(false);
  await a.client.signup(freshEmail(), PASSWORD);
  assert.ok((await storage.get() as { sessionExpiresAt?: number }).sessionExpiresAt, 'the token response carried refresh_expires_in');
  serverClock.offset += (IDLE_S + 1) * 1000;
  clientClock.offset += (IDLE_S + 1) * 1000;
  // What Redis's TTL or the SQL prune does on its own: the session is gone, not just over.
  (server.latchkey.ctx.stores as OpenedStores).prune(Date.now() + serverClock.offset, IDLE_S * 1000);
  await assert.rejects(a.client.renewNow(), (e) => isLatchkeyError(e, 'invalid_grant') && e.reason === 'session_ended');
  assert.deepEqual(a.out, [{ reason: 'expired' }]);
});

test('a session ended before its deadline still signs out as revoked', async (t) => {
  const { server, storage, tab } = await setup(t, { LATCHKEY_SESSION_IDLE: String(IDLE_S) });
  const a = tab(false);
  await a.client.signup(freshEmail(), PASSWORD);
  const held = (await storage.get()) as { refreshToken: string };
  await fetch(`${server.url}/auth/revoke`, { method: 'POST', body: new URLSearchParams({ token: held.refreshToken }) });
  await assert.rejects(a.client.renewNow(), (e) => isLatchkeyError(e, 'invalid_grant') && e.reason === 'session_ended');
  assert.deepEqual(a.out, [{ reason: 'revoked' }]);
});
