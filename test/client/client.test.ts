import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';

import {
  createClient,
  LatchkeyError,
  localStorageStorage,
  memoryStorage,
  signedOutReasonOf,
  toStoredTokens,
  type ClientEvents,
  type ClientOptions,
  type LatchkeyClient,
  type StoredTokens,
  type StoredValue,
  type TokenStorage,
} from '../../packages/client/src/index.js';
import { FakeAuthServer, REUSE_DESCRIPTION, type FakeAuthServerOptions } from './fake-auth-server.js';

const PASSWORD = 'correct horse battery staple';
const HOUR = 3_600_000;
let emailCounter = 0;
const freshEmail = () => `user${++emailCounter}@example.com`;

/** A settable local clock, as the `now` option sees it. */
function manualClock(start = Date.now()) {
  const clock = {
    t: start,
    now: () => clock.t,
    advance: (ms: number) => {
      clock.t += ms;
    },
  };
  return clock;
}

async function setup(t: TestContext, serverOptions: FakeAuthServerOptions = {}) {
  const server = await FakeAuthServer.start(serverOptions);
  const clients: LatchkeyClient[] = [];
  t.after(async () => {
    for (const client of clients) client.dispose();
    await server.close();
  });
  const make = (options: Partial<ClientOptions> = {}) => {
    const client = createClient({ baseUrl: server.url, ...options });
    clients.push(client);
    return client;
  };
  return { server, make, api: `${server.url}/api/data` };
}

function recordEvents(client: LatchkeyClient) {
  const log = {
    session: [] as ClientEvents['session'][],
    signedout: [] as ClientEvents['signedout'][],
    refresh: [] as ClientEvents['refresh'][],
  };
  client.on('session', (e) => log.session.push(e));
  client.on('signedout', (e) => log.signedout.push(e));
  client.on('refresh', (e) => log.refresh.push(e));
  return log;
}

function jtiOf(accessToken: string): string {
  return (JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
}

async function current(storage: TokenStorage): Promise<StoredTokens> {
  const tokens = toStoredTokens(await storage.get());
  assert.ok(tokens, 'expected tokens in storage');
  return tokens;
}

function isCode(code: string, status?: number) {
  return (error: unknown) => {
    assert.ok(error instanceof LatchkeyError, `expected LatchkeyError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (status !== undefined) assert.equal(error.status, status);
    return true;
  };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(5);
  }
}

// ---- sign-up, sign-in, typed errors ----------------------------------------------------

test('signup signs in, me() returns the user, and errors carry stable codes', async (t) => {
  const { make } = await setup(t);
  const client = make();
  const events = recordEvents(client);
  const email = freshEmail();

  assert.equal(await client.isSignedIn(), false);
  await assert.rejects(client.me(), isCode('not_signed_in'));
  assert.equal(await client.getAccessToken(), null);

  const user = await client.signup(email, PASSWORD);
  assert.equal(user.email, email);
  assert.equal(await client.isSignedIn(), true);
  assert.deepEqual(events.session.map((e) => e.reason), ['signup']);
  assert.equal(typeof events.session[0]!.sessionId, 'string');
  assert.deepEqual(await client.me(), user);

  await assert.rejects(make().signup(email, PASSWORD), isCode('email_taken', 409));
  await assert.rejects(make().login(email, 'wrong password!'), isCode('invalid_credentials', 401));
  await assert.rejects(make().signup(freshEmail(), 'short'), isCode('invalid_request', 400));

  const other = make();
  await other.login(email, PASSWORD);
  assert.equal((await other.me()).id, user.id);
});

test('login rate limit surfaces as rate_limited with retryAfter', async (t) => {
  const { make } = await setup(t, { maxFailedLogins: 3 });
  const client = make();
  const email = freshEmail();
  await make().signup(email, PASSWORD);
  for (let i = 0; i < 3; i++) await assert.rejects(client.login(email, 'wrong password!'), isCode('invalid_credentials'));
  await assert.rejects(client.login(email, PASSWORD), (error) => {
    isCode('rate_limited', 429)(error);
    assert.equal((error as LatchkeyError).retryAfter, 60);
    return true;
  });
});

test('an unreachable server is a network_error', async (t) => {
  const { server } = await setup(t);
  const url = server.url;
  await server.close();
  const client = createClient({ baseUrl: url });
  t.after(() => client.dispose());
  await assert.rejects(client.login(freshEmail(), PASSWORD), isCode('network_error'));
});

// ---- renewal ---------------------------------------------------------------------------

test('single-flight: 50 concurrent calls near expiry cause exactly one refresh request', async (t) => {
  const { server, make, api } = await setup(t);
  const clock = manualClock();
  const storage = memoryStorage();
  const client = make({ now: clock.now, storage });
  const events = recordEvents(client);
  await client.signup(freshEmail(), PASSWORD);
  const before = await current(storage);

  clock.advance(285_000); // 15 s left of 300: inside the 30 s margin
  server.beforeRefresh = () => delay(50); // keep the refresh in flight while calls pile up

  const responses = await Promise.all(Array.from({ length: 50 }, () => client.fetch(api)));
  const bodies = (await Promise.all(responses.map((r) => r.json()))) as { jti: string }[];

  assert.equal(server.count('POST', '/auth/token'), 1);
  assert.equal(events.refresh.length, 1);
  assert.ok(responses.every((r) => r.status === 200));
  const after = await current(storage);
  assert.notEqual(after.refreshToken, before.refreshToken);
  assert.ok(bodies.every((b) => b.jti === jtiOf(after.accessToken)), 'every call used the renewed token');
  assert.equal(server.stats.invalidToken401, 0);
});

for (const [label, skew] of [
  ['6 hours ahead', 6 * HOUR],
  ['6 hours behind', -6 * HOUR],
] as const) {
  test(`renewal deadline comes from expires_in on the local clock (client clock ${label})`, async (t) => {
    const { server, make, api } = await setup(t);
    const clock = manualClock(Date.now() + skew);
    const storage = memoryStorage();
    const client = make({ now: clock.now, storage });
    const signupAt = clock.t;
    await client.signup(freshEmail(), PASSWORD);
    assert.equal((await current(storage)).expiresAt, signupAt + 300_000);

    // Comparing the JWT exp with this clock would renew on every call (ahead) or never (behind).
    for (let i = 0; i < 3; i++) assert.equal((await client.fetch(api)).status, 200);
    clock.advance(269_000); // 31 s left: outside the margin
    assert.equal((await client.fetch(api)).status, 200);
    assert.equal(server.count('POST', '/auth/token'), 0);

    clock.advance(2_000); // 29 s left: inside the margin
    assert.equal((await client.fetch(api)).status, 200);
    assert.equal(server.count('POST', '/auth/token'), 1);
    assert.equal(server.stats.invalidToken401, 0, 'renewed before the server refused anything');
  });
}

test('default margin is 20 % of the lifetime for short-lived tokens; refreshSkewMs overrides it', async (t) => {
  const { server, make, api } = await setup(t, { accessTtlSec: 60 });
  const clock = manualClock();
  const client = make({ now: clock.now });
  await client.signup(freshEmail(), PASSWORD);
  clock.advance(47_000); // 13 s left; margin is min(30 s, 12 s)
  await client.fetch(api);
  assert.equal(server.count('POST', '/auth/token'), 0);
  clock.advance(2_000); // 11 s left
  await client.fetch(api);
  assert.equal(server.count('POST', '/auth/token'), 1);

  const custom = make({ now: clock.now, refreshSkewMs: 5_000 });
  await custom.login([...server.users.keys()][0]!, PASSWORD);
  clock.advance(54_000); // 6 s left
  await custom.fetch(api);
  assert.equal(server.count('POST', '/auth/token'), 1);
  clock.advance(2_000); // 4 s left
  await custom.fetch(api);
  assert.equal(server.count('POST', '/auth/token'), 2);
});

test('401 invalid_token: renews once and retries once, body included', async (t) => {
  const { server, make } = await setup(t);
  const client = make();
  await client.signup(freshEmail(), PASSWORD);
  server.advance(301_000); // the server now considers the access token expired; the client can't know

  const response = await client.fetch(`${server.url}/api/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hello: 'world' }),
  });
  assert.equal(response.status, 200);
  assert.deepEqual(((await response.json()) as { echo: unknown }).echo, { hello: 'world' });
  assert.equal(server.count('POST', '/api/echo'), 2);
  assert.equal(server.count('POST', '/auth/token'), 1);

  // Many calls hitting 401 together still share one refresh.
  server.advance(301_000);
  const responses = await Promise.all(Array.from({ length: 10 }, () => client.fetch(`${server.url}/api/data`)));
  assert.ok(responses.every((r) => r.status === 200));
  assert.equal(server.count('POST', '/auth/token'), 2);
});

test('a 401 that persists after renewal is returned, not looped on, and signs out as revoked', async (t) => {
  const { server, make, api } = await setup(t);
  const client = make();
  const events = recordEvents(client);
  await client.signup(freshEmail(), PASSWORD);
  server.rejectAllAccessTokens = true;

  const response = await client.fetch(api);
  assert.equal(response.status, 401);
  assert.equal(server.count('GET', '/api/data'), 2);
  assert.equal(server.count('POST', '/auth/token'), 1);
  assert.deepEqual(events.signedout, [{ reason: 'revoked' }]);

  await assert.rejects(client.fetch(api), isCode('not_signed_in'));
  assert.equal(server.count('GET', '/api/data'), 2);
});

test('a 401 without error="invalid_token" is passed through without renewing', async (t) => {
  const { server, make } = await setup(t);
  const clock = manualClock();
  const client = make({ now: clock.now, fetch: async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).pathname === '/api/plain-401') {
      return new Response('{"error":"nope"}', { status: 401, headers: { 'www-authenticate': 'Bearer realm="api"' } });
    }
    return fetch(request);
  } });
  await client.signup(freshEmail(), PASSWORD);
  const response = await client.fetch(`${server.url}/api/plain-401`);
  assert.equal(response.status, 401);
  assert.equal(server.count('POST', '/auth/token'), 0);
  assert.equal(await client.isSignedIn(), true);
});

test('transient refresh failure inside the margin keeps using the still-valid token, with backoff', async (t) => {
  const { server, make, api } = await setup(t);
  const clock = manualClock();
  const client = make({ now: clock.now });
  const events = recordEvents(client);
  await client.signup(freshEmail(), PASSWORD);
  clock.advance(285_000);
  server.tokenEndpointUnavailable = true;

  assert.equal((await client.fetch(api)).status, 200);
  assert.equal((await client.fetch(api)).status, 200);
  assert.equal(server.count('POST', '/auth/token'), 1, 'backs off instead of retrying on every call');
  clock.advance(6_000);
  assert.equal((await client.fetch(api)).status, 200);
  assert.equal(server.count('POST', '/auth/token'), 2);

  clock.advance(10_000); // past the local deadline: no valid token left to fall back on
  await assert.rejects(client.fetch(api), isCode('temporarily_unavailable', 503));
  assert.equal(await client.isSignedIn(), true, 'a transient failure never signs out');
  assert.deepEqual(events.signedout, []);

  server.tokenEndpointUnavailable = false;
  assert.equal((await client.fetch(api)).status, 200);
});

// ---- several tabs, lockless ------------------------------------------------------------

test('two tabs refreshing at once: no reuse detection, one commits and the other adopts', async (t) => {
  const { server, make, api } = await setup(t);
  const clock = manualClock();
  const storage = memoryStorage();
  const tabA = make({ now: clock.now, storage });
  const tabB = make({ now: clock.now, storage });
  const eventsA = recordEvents(tabA);
  const eventsB = recordEvents(tabB);
  await tabA.signup(freshEmail(), PASSWORD);
  assert.deepEqual(eventsB.session.map((e) => e.reason), ['adopted']);

  for (let round = 0; round < 3; round++) {
    clock.advance(285_000);
    server.beforeRefresh = () => delay(20);
    const [a, b] = await Promise.all([tabA.fetch(api), tabB.fetch(api)]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
  }

  assert.equal(server.stats.reuseDetected, 0);
  assert.deepEqual([...eventsA.signedout, ...eventsB.signedout], []);
  const stored = await current(storage);
  assert.equal(await tabA.getAccessToken(), stored.accessToken);
  assert.equal(await tabB.getAccessToken(), stored.accessToken);
  const commits = [...eventsA.session, ...eventsB.session].filter((e) => e.reason === 'refresh');
  assert.equal(commits.length, 3, 'exactly one tab commits per round; the other adopts');
  // Both tabs really did send the same token each round; the grace window gave both the same successor.
  assert.equal(server.count('POST', '/auth/token'), 6);
  assert.equal(server.stats.graceReplays, 3);
  assert.equal((await tabB.fetch(api)).status, 200);
});

test('a tab that sees another tab renew adopts its tokens without a request of its own', async (t) => {
  const { server, make, api } = await setup(t);
  const clock = manualClock();
  const storage = memoryStorage();
  const tabA = make({ now: clock.now, storage });
  const tabB = make({ now: clock.now, storage });
  const eventsB = recordEvents(tabB);
  await tabA.signup(freshEmail(), PASSWORD);
  clock.advance(285_000);

  await tabA.fetch(api);
  const body = (await (await tabB.fetch(api)).json()) as { jti: string };
  assert.equal(server.count('POST', '/auth/token'), 1);
  assert.equal(eventsB.refresh.length, 0);
  assert.equal(body.jti, jtiOf((await current(storage)).accessToken));
});

test('storage without change notifications: re-reading before refresh avoids a second refresh (strict server)', async (t) => {
  const { server, make, api } = await setup(t, { graceSec: 0 });
  const clock = manualClock();
  const shared = memoryStorage();
  const silent: TokenStorage = { get: () => shared.get(), set: (tokens) => shared.set(tokens) };
  const tabA = make({ now: clock.now, storage: silent });
  const tabB = make({ now: clock.now, storage: silent });
  await tabA.signup(freshEmail(), PASSWORD);
  assert.equal(await tabB.isSignedIn(), true); // B now holds generation 0 in memory
  clock.advance(285_000);

  await tabA.fetch(api); // 0 -> 1
  assert.equal((await tabB.fetch(api)).status, 200); // would replay 0 -> reuse, if it didn't re-read
  assert.equal(server.count('POST', '/auth/token'), 1);
  assert.equal(server.stats.reuseDetected, 0);
});

test('invalid_grant while another tab stored a newer sign-in: adopt it instead of signing out', async (t) => {
  const { server, make, api } = await setup(t);
  const clock = manualClock();
  const shared = memoryStorage();
  const silent: TokenStorage = { get: () => shared.get(), set: (tokens) => shared.set(tokens) };
  const tabA = make({ now: clock.now, storage: silent });
  const tabB = make({ now: clock.now, storage: silent });
  const eventsB = recordEvents(tabB);
  const email = freshEmail();
  await tabA.signup(email, PASSWORD);
  await tabB.isSignedIn();
  const oldSession = (await current(shared)).sessionId!;
  server.expireSession(oldSession);
  clock.advance(285_000);
  server.beforeRefresh = async () => {
    server.beforeRefresh = undefined;
    await tabA.login(email, PASSWORD); // lands while B's refresh is in flight
  };

  const response = await tabB.fetch(api);
  assert.equal(response.status, 200);
  const body = (await response.json()) as { sid: string };
  assert.notEqual(body.sid, oldSession);
  assert.deepEqual(eventsB.signedout, []);
  assert.ok(eventsB.session.some((e) => e.reason === 'adopted'));
});

test('localStorageStorage shares tokens between tabs via storage events and BroadcastChannel', async (t) => {
  const fakeLocalStorage = new Map<string, string>();
  const storageArea = {
    getItem: (key: string) => fakeLocalStorage.get(key) ?? null,
    setItem: (key: string, value: string) => void fakeLocalStorage.set(key, String(value)),
    removeItem: (key: string) => void fakeLocalStorage.delete(key),
  };
  const windowEvents = new EventTarget();
  const globals = globalThis as Record<string, unknown>;
  globals['localStorage'] = storageArea;
  globals['addEventListener'] = windowEvents.addEventListener.bind(windowEvents);
  globals['removeEventListener'] = windowEvents.removeEventListener.bind(windowEvents);
  t.after(() => {
    delete globals['localStorage'];
    delete globals['addEventListener'];
    delete globals['removeEventListener'];
  });

  const { make, api } = await setup(t);
  const tabA = make({ storage: localStorageStorage() });
  const tabB = make({ storage: localStorageStorage() });
  const eventsB = recordEvents(tabB);
  await tabA.signup(freshEmail(), PASSWORD);
  await waitFor(() => eventsB.session.length === 1, 'tab B to adopt over BroadcastChannel');
  assert.equal((await tabB.fetch(api)).status, 200);

  // The `storage` event path (another tab wrote; no BroadcastChannel message involved).
  const adapter = localStorageStorage('other.key');
  const seen: StoredValue[] = [];
  const unsubscribe = adapter.subscribe!((tokens) => seen.push(tokens));
  t.after(unsubscribe);
  const written: StoredTokens = { accessToken: 'a.b.c', refreshToken: 'r', expiresAt: 1 };
  fakeLocalStorage.set('other.key', JSON.stringify(written));
  windowEvents.dispatchEvent(Object.assign(new Event('storage'), { key: 'other.key', storageArea }));
  windowEvents.dispatchEvent(Object.assign(new Event('storage'), { key: 'unrelated', storageArea }));
  assert.deepEqual(seen, [written]);

  fakeLocalStorage.set('other.key', '{corrupt');
  assert.equal(adapter.get(), null, 'corrupted storage reads as signed out');
});

// ---- ending sessions -------------------------------------------------------------------

test('replaying an old refresh token: the victim is signed out with reuse_detected', async (t) => {
  const { server, make, api } = await setup(t);
  const clock = manualClock();
  const storage = memoryStorage();
  const client = make({ now: clock.now, storage });
  const events = recordEvents(client);
  await client.signup(freshEmail(), PASSWORD);
  const copied = (await current(storage)).refreshToken;

  // Someone holding a copy rotates first; later the legitimate client presents the old token.
  const stolen = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: copied }),
  });
  assert.equal(stolen.status, 200);
  const thief = (await stolen.json()) as { refresh_token: string };
  server.advance(11_000); // beyond the grace window
  clock.advance(285_000);

  await assert.rejects(client.fetch(api), isCode('invalid_grant', 400));
  assert.deepEqual(events.signedout, [{ reason: 'reuse_detected' }]);
  assert.equal(toStoredTokens(await storage.get()), null, 'no tokens left');
  assert.equal(signedOutReasonOf(await storage.get()), 'reuse_detected', 'other tabs can read why');
  assert.equal(server.stats.reuseDetected, 1);

  const thiefRetry = await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: thief.refresh_token }),
  });
  assert.equal(thiefRetry.status, 400, 'the whole session is revoked, including the thief’s chain');
  assert.equal(REUSE_DESCRIPTION, 'refresh token reuse detected; session revoked');
});

test('expired session maps to expired; session ended elsewhere maps to revoked', async (t) => {
  const { server, make, api } = await setup(t);
  const clock = manualClock();
  const storage = memoryStorage();
  const client = make({ now: clock.now, storage });
  const events = recordEvents(client);
  await client.signup(freshEmail(), PASSWORD);
  server.expireSession((await current(storage)).sessionId!);
  clock.advance(285_000);
  await assert.rejects(client.fetch(api), isCode('invalid_grant'));
  assert.deepEqual(events.signedout, [{ reason: 'expired' }]);

  const storage2 = memoryStorage();
  const other = make({ storage: storage2 });
  const events2 = recordEvents(other);
  await other.signup(freshEmail(), PASSWORD);
  server.revokeSession((await current(storage2)).sessionId!);
  await assert.rejects(other.fetch(api), isCode('invalid_grant')); // 401 -> refresh -> invalid_grant
  assert.deepEqual(events2.signedout, [{ reason: 'revoked' }]);
  assert.equal(await other.getAccessToken(), null);
});

test('logout ends the session on the server and signs out every tab sharing the storage', async (t) => {
  const { server, make, api } = await setup(t);
  const storage = memoryStorage();
  const tabA = make({ storage });
  const tabB = make({ storage });
  const eventsA = recordEvents(tabA);
  const eventsB = recordEvents(tabB);
  await tabA.signup(freshEmail(), PASSWORD);
  const sessionId = (await current(storage)).sessionId!;

  await tabA.logout();
  assert.deepEqual(eventsA.signedout, [{ reason: 'logout' }]);
  assert.deepEqual(eventsB.signedout, [{ reason: 'logout' }]);
  assert.equal(toStoredTokens(await storage.get()), null);
  assert.equal(server.sessions.get(sessionId)!.revoked, true);
  assert.equal(server.count('POST', '/auth/logout'), 1);
  assert.equal(await tabB.isSignedIn(), false);
  await assert.rejects(tabB.fetch(api), isCode('not_signed_in'));
  await tabA.logout(); // idempotent
  assert.equal(eventsA.signedout.length, 1);
});

test('logout with a lapsed access token falls back to revoking the refresh token', async (t) => {
  const { server, make } = await setup(t);
  const storage = memoryStorage();
  const client = make({ storage });
  const events = recordEvents(client);
  await client.signup(freshEmail(), PASSWORD);
  const sessionId = (await current(storage)).sessionId!;
  server.advance(301_000);

  await client.logout();
  assert.deepEqual(events.signedout, [{ reason: 'logout' }]);
  assert.equal(server.count('POST', '/auth/revoke'), 1);
  assert.equal(server.sessions.get(sessionId)!.revoked, true);
});

test('listSessions, endOtherSessions, endSession(current)', async (t) => {
  const { make, api } = await setup(t);
  const email = freshEmail();
  const laptop = make();
  const phone = make();
  const phoneEvents = recordEvents(phone);
  const laptopEvents = recordEvents(laptop);
  await laptop.signup(email, PASSWORD);
  await phone.login(email, PASSWORD);

  const sessions = await laptop.listSessions();
  assert.equal(sessions.length, 2);
  assert.equal(sessions.filter((s) => s.current).length, 1);
  const mine = sessions.find((s) => s.current)!;

  await laptop.endOtherSessions();
  await assert.rejects(phone.fetch(api), isCode('invalid_grant'));
  assert.deepEqual(phoneEvents.signedout, [{ reason: 'revoked' }]);
  assert.equal((await laptop.listSessions()).length, 1);

  await laptop.endSession(mine.id);
  assert.deepEqual(laptopEvents.signedout, [{ reason: 'logout' }]);
  assert.equal(await laptop.isSignedIn(), false);
});

// ---- secrecy ---------------------------------------------------------------------------

test('tokens never appear in errors or on the console', async (t) => {
  const consoleCalls: unknown[][] = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    t.mock.method(console, method, (...args: unknown[]) => void consoleCalls.push(args));
  }
  const seenTokens = new Set<string>();
  const recording = (): TokenStorage => {
    const inner = memoryStorage();
    return {
      get: inner.get,
      set(tokens) {
        if (tokens) {
          seenTokens.add(tokens.accessToken);
          seenTokens.add(tokens.refreshToken);
        }
        return inner.set(tokens);
      },
      subscribe: inner.subscribe!,
    };
  };
  const errors: unknown[] = [];
  const capture = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      errors.push(error);
    }
  };

  const { server, make, api } = await setup(t);
  const clock = manualClock();

  // Real-server failures: reuse, revocation, outage, unreachable.
  const reused = recording();
  const a = make({ now: clock.now, storage: reused });
  await a.signup(freshEmail(), PASSWORD);
  await fetch(`${server.url}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: (await current(reused)).refreshToken }),
  });
  server.advance(11_000);
  clock.advance(285_000);
  await capture(a.fetch(api));

  const b = make({ storage: recording() });
  await b.signup(freshEmail(), PASSWORD);
  server.tokenEndpointUnavailable = true;
  server.advance(301_000);
  await capture(b.fetch(api));
  await capture(b.me());
  server.tokenEndpointUnavailable = false;

  // A hostile or buggy server that echoes credentials back in its error descriptions.
  const hostileAccess = `eyJhbGciOiJIUzI1NiJ9.${Buffer.from('{"sid":"s1"}').toString('base64url')}.c2lnbmF0dXJlc2lnbmF0dXJl`;
  const hostileRefresh = 'R'.repeat(10) + 'secret-refresh-token-value';
  seenTokens.add(hostileAccess).add(hostileRefresh);
  const hostileClock = manualClock();
  const hostile = make({
    now: hostileClock.now,
    fetch: async (input, init) => {
      const path = new URL(new Request(input, init).url).pathname;
      const json = (status: number, body: unknown) =>
        new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
      if (path === '/auth/login') {
        const sent = JSON.parse(String(init?.body)) as { password: string };
        if (sent.password !== PASSWORD) {
          return json(401, { error: 'invalid_credentials', error_description: `wrong password ${sent.password}` });
        }
        return json(200, { access_token: hostileAccess, refresh_token: hostileRefresh, token_type: 'Bearer', expires_in: 300 });
      }
      if (path === '/auth/token') {
        return json(400, { error: 'invalid_grant', error_description: `bad ${hostileRefresh} for ${hostileAccess}` });
      }
      return json(500, { error: 'server_error', error_description: `failed for ${hostileAccess}` });
    },
  });
  await capture(hostile.login('x@example.com', 'hunter2-hunter2'));
  seenTokens.add('hunter2-hunter2');
  await hostile.login('x@example.com', PASSWORD);
  await capture(hostile.me());
  hostileClock.advance(285_000);
  await capture(hostile.fetch(`${server.url}/api/data`));

  await server.close();
  const c = make({ storage: recording(), baseUrl: server.url });
  await capture(c.login(freshEmail(), PASSWORD));

  assert.ok(errors.length >= 6, `collected ${errors.length} errors`);
  for (const error of errors) {
    assert.ok(error instanceof LatchkeyError);
    const cause = (error as { cause?: unknown }).cause;
    const text = [error.message, error.stack, String(cause ?? ''), JSON.stringify(error)].join('\n');
    for (const token of seenTokens) assert.ok(!text.includes(token), `error "${error.code}" leaks a secret`);
  }
  assert.ok(errors.some((e) => (e as LatchkeyError).message.includes('[redacted]')));
  assert.deepEqual(consoleCalls, []);
});

// ---- lifecycle -------------------------------------------------------------------------

test('event handlers unsubscribe; dispose detaches from storage and rejects further calls', async (t) => {
  const { make } = await setup(t);
  const storage = memoryStorage();
  const tabA = make({ storage });
  const tabB = make({ storage });
  const seen: string[] = [];
  const off = tabB.on('session', (e) => seen.push(e.reason));
  await tabA.signup(freshEmail(), PASSWORD);
  off();
  await tabA.logout();
  assert.deepEqual(seen, ['adopted']);

  const afterDispose: string[] = [];
  tabB.on('session', (e) => afterDispose.push(e.reason));
  tabB.dispose();
  await tabA.signup(freshEmail(), PASSWORD);
  assert.deepEqual(afterDispose, []);
  await assert.rejects(tabB.isSignedIn(), isCode('client_disposed'));
  await assert.rejects(tabB.fetch('http://127.0.0.1:9/'), isCode('client_disposed'));
});

test('works with an async storage adapter', async (t) => {
  const { make, api } = await setup(t);
  const inner = memoryStorage();
  const slow: TokenStorage = {
    get: async () => {
      await delay(2);
      return inner.get();
    },
    set: async (tokens) => {
      await delay(2);
      inner.set(tokens);
    },
  };
  const client = make({ storage: slow });
  await client.signup(freshEmail(), PASSWORD);
  const reopened = make({ storage: slow }); // e.g. a page reload
  assert.equal(await reopened.isSignedIn(), true);
  assert.equal((await reopened.fetch(api)).status, 200);
});

test('apiOrigins: fetch sends the token only to the listed origins and the server’s own', async (t) => {
  const { make, api } = await setup(t);
  const seen: Array<{ url: string; authorization: string | null; dpop: string | null }> = [];
  const recording = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    seen.push({ url: req.url, authorization: req.headers.get('authorization'), dpop: req.headers.get('dpop') });
    // Other origins are answered here: nothing leaves 127.0.0.1.
    if (!req.url.startsWith(new URL(api).origin)) return new Response('{}', { status: 200 });
    return globalThis.fetch(req);
  };
  const client = make({ apiOrigins: ['https://api.example.test'], fetch: recording });
  await client.signup(freshEmail(), PASSWORD);
  await client.fetch(api);
  await client.fetch('https://api.example.test/orders');
  await client.fetch('https://elsewhere.example.test/track');
  const at = (u: string) => seen.find((s) => s.url.startsWith(u))!;
  assert.match(at(api).authorization ?? '', /^(Bearer|DPoP) /, 'the server’s own origin');
  assert.match(at('https://api.example.test').authorization ?? '', /^(Bearer|DPoP) /, 'a listed origin');
  assert.equal(at('https://elsewhere.example.test').authorization, null, 'no token to an unlisted origin');
  assert.equal(at('https://elsewhere.example.test').dpop, null, 'nor a proof');
});
