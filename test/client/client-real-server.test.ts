// The client against the REAL Latchkey server (in-process, SQLite in a temp dir), for the
// behaviours where the test double could drift from the server: rotation with the grace
// window, reuse detection and its exact description, Bearer challenges, session routes.
// Clients bind their sessions (DPoP, the default) unless a test needs a Bearer session: a thief
// replaying a token without a proof, or a server clock moved minutes ahead of the proofs' `iat`.
// The DPoP specifics are in client-dpop-real-server.test.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';

import { createClient, LatchkeyError, memoryStorage, toStoredTokens, type ClientEvents, type LatchkeyClient } from '../../packages/client/src/index.js';
import { startServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery staple';
let counter = 0;
const freshEmail = () => `client-real-${process.pid}-${++counter}@example.com`;

async function setup(t: TestContext, env: Record<string, string> = {}) {
  const serverClock = { offset: 0 };
  const server = await startServer(env, { now: () => Date.now() + serverClock.offset });
  const clients: LatchkeyClient[] = [];
  t.after(async () => {
    for (const client of clients) client.dispose();
    await server.close();
  });
  const clientClock = { t: Date.now() };
  const make = (storage = memoryStorage(), dpop = true) => {
    const client = createClient({ baseUrl: server.url, storage, now: () => clientClock.t, dpop });
    clients.push(client);
    return client;
  };
  return { server, make, serverClock, clientClock };
}

function signedOut(client: LatchkeyClient): ClientEvents['signedout'][] {
  const log: ClientEvents['signedout'][] = [];
  client.on('signedout', (e) => log.push(e));
  return log;
}

test('real server: 50 concurrent calls near expiry share one refresh; reuse-free across two tabs', async (t) => {
  const { server, make, clientClock } = await setup(t);
  const storage = memoryStorage();
  const tabA = make(storage);
  const tabB = make(storage);
  let refreshes = 0;
  tabA.on('refresh', () => refreshes++);
  tabB.on('refresh', () => refreshes++);
  await tabA.signup(freshEmail(), PASSWORD);

  clientClock.t += 285_000;
  const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? tabA : tabB).fetch(`${server.url}/auth/me`)));
  assert.ok(responses.every((r) => r.status === 200));
  assert.ok(refreshes <= 2, `at most one refresh per tab, saw ${refreshes}`);
  assert.equal(server.events('session.reuse_detected').length, 0);
  assert.equal(server.events('session.rotated').length, 1, 'one rotation; any second tab got the grace successor');
  assert.equal(await tabA.getAccessToken(), await tabB.getAccessToken());
});

test('real server: 401 invalid_token after server-side expiry renews once and retries', async (t) => {
  const { make, serverClock, server } = await setup(t);
  const client = make(memoryStorage(), false); // Bearer: proofs carry the real time, 311 s behind this server clock
  await client.signup(freshEmail(), PASSWORD);
  serverClock.offset += 301_000 + 10_000; // beyond lifetime and leeway on the server's clock only
  const response = await client.fetch(`${server.url}/auth/me`);
  assert.equal(response.status, 200);
  assert.equal(server.events('session.rotated').length, 1);
});

test('real server: replayed refresh token → reuse_detected; logout → logout; errors are typed', async (t) => {
  const { make, server, serverClock, clientClock } = await setup(t, { LATCHKEY_REUSE_GRACE: '2' });
  const storage = memoryStorage();
  const victim = make(storage, false); // Bearer: the thief below replays within the grace window without a proof
  const victimOut = signedOut(victim);
  const email = freshEmail();
  await victim.signup(email, PASSWORD);
  await assert.rejects(make().signup(email, PASSWORD), (e) => e instanceof LatchkeyError && e.code === 'email_taken');
  await assert.rejects(make().login(email, 'wrong password!'), (e) => e instanceof LatchkeyError && e.code === 'invalid_credentials');

  const copy = toStoredTokens(await storage.get())!.refreshToken;
  const thief = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: copy }),
  });
  assert.equal(thief.status, 200);
  serverClock.offset += 3_000;
  clientClock.t += 285_000;
  await assert.rejects(victim.me(), (e) => e instanceof LatchkeyError && e.code === 'invalid_grant');
  assert.deepEqual(victimOut, [{ reason: 'reuse_detected' }]);
  await delay(10);
  assert.equal(server.events('session.reuse_detected').length, 1);

  const laptop = make();
  const phone = make();
  const phoneOut = signedOut(phone);
  const laptopOut = signedOut(laptop);
  await laptop.login(email, PASSWORD);
  await phone.login(email, PASSWORD);
  const sessions = await laptop.listSessions();
  assert.equal(sessions.filter((s) => s.current).length, 1);
  await laptop.endOtherSessions();
  await assert.rejects(phone.me(), (e) => e instanceof LatchkeyError && e.code === 'invalid_grant');
  assert.deepEqual(phoneOut, [{ reason: 'revoked' }]);
  await laptop.logout();
  assert.deepEqual(laptopOut, [{ reason: 'logout' }]);
  assert.equal(await laptop.isSignedIn(), false);
});

test('real server: after reuse detection every tab sharing the storage signs out with reuse_detected', async (t) => {
  const { make, server, clientClock } = await setup(t, { LATCHKEY_REUSE_GRACE: '0' });
  const storage = memoryStorage();
  // Bearer: against a bound session the thief's proof-less replay is a copy (dpop_key_mismatch,
  // test/client/signedout-reasons.test.ts), never a reuse.
  const tabA = make(storage, false);
  const tabB = make(storage, false);
  const outA = signedOut(tabA);
  const outB = signedOut(tabB);
  await tabA.signup(freshEmail(), PASSWORD);
  const stolen = toStoredTokens(await storage.get())!.refreshToken;
  clientClock.t += 290_000;
  assert.equal((await tabA.fetch(`${server.url}/auth/me`)).status, 200, 'the victim renewed');
  const thief = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stolen }),
  });
  assert.equal(thief.status, 400);
  // Tab A's next call finds out; tab B learns it through the shared storage, not as a plain logout.
  await assert.rejects(tabA.renewNow(), (e) => e instanceof LatchkeyError && e.code === 'invalid_grant');
  assert.deepEqual(outA, [{ reason: 'reuse_detected' }]);
  assert.deepEqual(outB, [{ reason: 'reuse_detected' }]);
  assert.equal(await tabB.isSignedIn(), false);
});
