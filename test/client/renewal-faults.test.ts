// Renewal over a network that loses answers (issue 14): @latchkey/client in Node against the REAL
// server (2 s access tokens), through the fault-injecting proxy of the test harness, which lets the
// server process a refresh and then loses its answer (a destroyed socket or a 502), goes offline,
// or forwards. Each scenario reports its figures (failed calls, sign-outs, recovery times) as TAP
// diagnostics. LATCHKEY_RENEWAL_FAULTS_MS sets how long the 5 % loss runs last (default 2 minutes).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';

import {
  createClient,
  isLatchkeyError,
  memoryKeyStore,
  memoryStorage,
  type ClientEvents,
  type FetchLike,
  type LatchkeyClient,
} from '../../packages/client/src/index.js';
import { FaultProxy } from '../harness/fault-proxy.js';
import { removeDir, spawnServer, startServer, tempDataDir } from '../helpers/server.js';

const PASSWORD = 'correct horse battery staple';
const LOAD_MS = Number(process.env.LATCHKEY_RENEWAL_FAULTS_MS ?? 120_000);
const CALL_EVERY_MS = 100;
/**
 * The seed of the 5 % runs. With seed 1 the generator loses 4 of the first 80 token answers:
 * #11 (socket), #55 (socket) and the immediate retry after it, #56 (502: two in a row, as in the
 * issue's second measured failure), #72 (502). A 2-minute run makes about 80 token requests.
 */
const LOSS_SEED = 1;
/** Token answers after which both forms of loss have happened with LOSS_SEED. */
const BOTH_FORMS_AFTER = 57;
let counter = 0;
const freshEmail = () => `renewal-faults-${process.pid}-${++counter}@example.com`;

interface Call {
  start: number;
  end: number;
  ok: boolean;
  status?: number;
  /** `kind/code/reason` of a LatchkeyError, or `call: <message>` when the API call itself failed. */
  error?: string;
}

interface Session {
  client: LatchkeyClient;
  signedOut: ClientEvents['signedout'][];
  refreshes: number;
}

async function world(t: TestContext, env: Record<string, string> = {}, lossRate = 0, now?: () => number) {
  const proxy = await FaultProxy.start({ target: 'http://127.0.0.1:9', tokenLossRate: lossRate, seed: LOSS_SEED });
  const server = await startServer({ LATCHKEY_ACCESS_TTL: '2', LATCHKEY_PUBLIC_URL: proxy.url, ...env }, now ? { now } : {});
  proxy.target = server.url;
  const clients: LatchkeyClient[] = [];
  t.after(async () => {
    for (const c of clients) c.dispose();
    await proxy.close();
    await server.close();
  });
  return { proxy, server, track: (c: LatchkeyClient) => clients.push(c) };
}

async function signedInSession(
  baseUrl: string,
  bound: boolean,
  track: (c: LatchkeyClient) => void,
  extra: { fetch?: FetchLike; storage?: ReturnType<typeof memoryStorage>; keyStore?: ReturnType<typeof memoryKeyStore>; now?: () => number } = {},
): Promise<Session> {
  const client = createClient({
    baseUrl,
    ...(extra.now ? { now: extra.now } : {}),
    storage: extra.storage ?? memoryStorage(),
    dpop: bound ? { keyStore: extra.keyStore ?? memoryKeyStore() } : false,
    ...(extra.fetch ? { fetch: extra.fetch } : {}),
  });
  track(client);
  const session: Session = { client, signedOut: [], refreshes: 0 };
  client.on('signedout', (e) => session.signedOut.push(e));
  client.on('refresh', () => session.refreshes++);
  return session;
}

function describeError(error: unknown): string {
  if (isLatchkeyError(error)) return `${error.kind}/${error.code}/${error.reason ?? '-'}${error.attempts ? ` after ${error.attempts} attempts` : ''}`;
  return `call: ${(error as Error).message}`;
}

/** Calls `url` through the client every 100 ms (each call awaited) until `stop()` says so. */
async function drive(client: LatchkeyClient, url: string, stop: () => boolean): Promise<Call[]> {
  const calls: Call[] = [];
  while (!stop()) {
    const start = Date.now();
    try {
      const res = await client.fetch(url);
      await res.arrayBuffer();
      calls.push({ start, end: Date.now(), ok: res.status === 200, status: res.status });
    } catch (error) {
      calls.push({ start, end: Date.now(), ok: false, error: describeError(error) });
    }
    await delay(Math.max(0, start + CALL_EVERY_MS - Date.now()));
  }
  return calls;
}

const failed = (calls: Call[]) => calls.filter((c) => !c.ok);
const summary = (calls: Call[]) => failed(calls).map((c) => c.error ?? `status ${c.status}`);

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

// ---- the issue's two measured failures, deterministically ----------------------------------

for (const status of [502, 503]) {
  test(`a tab's renewal answered ${status} while it adopted another tab's newer token: the call goes on with that token (issue 14, first measured failure)`, async (t) => {
    const { proxy, server, track } = await world(t);
    const storage = memoryStorage();
    const keyStore = memoryKeyStore();
    const other = await signedInSession(proxy.url, true, track, { storage, keyStore });
    let armed = false;
    // Tab B's own refresh: tab A renews first (B adopts its tokens through the shared storage), then
    // B's request reaches the server (a grace answer) and B is told `status` instead.
    const tabB: FetchLike = async (input, init) => {
      const req = new Request(input, init);
      if (!armed || new URL(req.url).pathname !== '/auth/token') return fetch(req);
      armed = false;
      await other.client.renewNow();
      const lost = await fetch(req);
      await lost.arrayBuffer();
      return new Response('<html>gateway</html>', { status, headers: status === 503 ? { 'content-type': 'text/html' } : {} });
    };
    const tab = await signedInSession(proxy.url, true, track, { storage, keyStore, fetch: tabB });
    await tab.client.signup(freshEmail(), PASSWORD);
    await delay(1_700); // inside the renewal margin (20 % of 2 s)
    armed = true;
    const res = await tab.client.fetch(`${proxy.url}/auth/me`);
    assert.equal(res.status, 200, 'the call went on with the adopted token');
    assert.equal(armed, false, 'the fault was injected');
    assert.deepEqual([...tab.signedOut, ...other.signedOut], []);
    assert.equal(server.events('session.grace_replay').length, 1, "B's lost request was processed (a grace answer)");
    assert.equal(server.events('session.reuse_detected').length, 0);
  });
}

test('two renewal answers lost in a row with ~400 ms of token life left: 0 failed calls (issue 14, second measured failure)', async (t) => {
  const { proxy, server, track } = await world(t);
  const s = await signedInSession(proxy.url, true, track);
  await s.client.signup(freshEmail(), PASSWORD);
  let stop = false;
  const driving = drive(s.client, `${proxy.url}/auth/me`, () => stop);
  await delay(500);
  proxy.loseNext(1, 'socket');
  proxy.loseNext(1, '502');
  await until(() => proxy.stats.lost.socket + proxy.stats.lost['502'] === 2, 'both answers lost');
  await delay(2_500);
  stop = true;
  const calls = await driving;
  t.diagnostic(`calls ${calls.length}, failed ${failed(calls).length}, sign-outs ${s.signedOut.length}, token requests ${proxy.stats.tokenAnswered}`);
  assert.deepEqual(summary(calls), []);
  assert.deepEqual(s.signedOut, []);
  assert.equal(server.events('session.grace_replay').length, 2, 'each lost answer recovered by asking again with the same token');
});

test('answers lost until the token ran out: callers wait through the back-off and get the successor; a server that keeps failing reaches the app as `server`, the session kept', async (t) => {
  const { proxy, server, track } = await world(t);
  const s = await signedInSession(proxy.url, true, track);
  await s.client.signup(freshEmail(), PASSWORD);
  await delay(2_100); // expired: no usable token, every call must wait for the renewal
  proxy.loseNext(4, 'socket');
  const started = Date.now();
  assert.equal((await s.client.fetch(`${proxy.url}/auth/me`)).status, 200);
  const waited = Date.now() - started;
  assert.equal(proxy.stats.lost.socket, 4);
  t.diagnostic(`4 answers lost, the call waited ${waited} ms`);

  await delay(2_100);
  proxy.loseNext(50, '502');
  const began = Date.now();
  await assert.rejects(s.client.fetch(`${proxy.url}/auth/me`), (error) => {
    assert.ok(isLatchkeyError(error), String(error));
    assert.equal(error.kind, 'server');
    assert.equal(error.code, 'server_error');
    assert.equal(error.status, 502);
    assert.equal(error.attempts, 6, 'the first try, one at once, four after pauses');
    return true;
  });
  const gaveUpAfter = Date.now() - began;
  t.diagnostic(`502 on every renewal: the app saw server_error after ${gaveUpAfter} ms`);
  assert.ok(gaveUpAfter >= 1_875 && gaveUpAfter < 8_000, `back-off within its bounds (${gaveUpAfter} ms)`);
  assert.equal(await s.client.isSignedIn(), true, 'a server failure never signs out');
  assert.deepEqual(s.signedOut, []);
  assert.equal(server.events('session.reuse_detected').length, 0);
});

test('a renewal left unanswered (a stalled network) counts as lost after renewalTimeoutMs and is retried: the call succeeds once it passes', async (t) => {
  const { proxy, track } = await world(t);
  const client = createClient({ baseUrl: proxy.url, storage: memoryStorage(), dpop: { keyStore: memoryKeyStore() }, renewalTimeoutMs: 300 });
  track(client);
  let refreshes = 0;
  client.on('refresh', () => refreshes++);
  await client.signup(freshEmail(), PASSWORD);
  await delay(2_100);
  proxy.goOffline(1_500, 'stall');
  const started = Date.now();
  assert.equal((await client.fetch(`${proxy.url}/auth/me`)).status, 200);
  const took = Date.now() - started;
  t.diagnostic(`stalled 1.5 s: the call took ${took} ms, ${refreshes} renewal requests`);
  assert.ok(took >= 1_400, `it waited for the network (${took} ms)`);
  assert.ok(refreshes >= 3, `timed out and retried (${refreshes} requests)`);
  assert.equal(await client.isSignedIn(), true);
});

// ---- 5 % of refresh answers lost, minutes of calls -----------------------------------------

for (const bound of [true, false]) {
  test(`5 % of refresh answers lost (socket and 502), a call every 100 ms for ${LOAD_MS / 1000} s, ${bound ? 'DPoP-bound' : 'Bearer'}: 0 failed calls, 0 sign-outs`, async (t) => {
    const { proxy, server, track } = await world(t, {}, 0.05);
    const s = await signedInSession(proxy.url, bound, track);
    await s.client.signup(freshEmail(), PASSWORD);
    assert.equal(await s.client.isKeyBound(), bound);
    const end = Date.now() + LOAD_MS;
    const calls = await drive(s.client, `${proxy.url}/auth/me`, () => Date.now() >= end);
    const lost = proxy.stats.lost.socket + proxy.stats.lost['502'];
    t.diagnostic(
      `${bound ? 'bound' : 'bearer'}: calls ${calls.length}, failed ${failed(calls).length}, sign-outs ${s.signedOut.length}, ` +
        `token answers ${proxy.stats.tokenAnswered}, lost ${lost} (socket ${proxy.stats.lost.socket}, 502 ${proxy.stats.lost['502']}), ` +
        `grace answers ${server.events('session.grace_replay').length}, slowest call ${Math.max(...calls.map((c) => c.end - c.start))} ms`,
    );
    assert.deepEqual(summary(calls), []);
    assert.deepEqual(s.signedOut, []);
    if (proxy.stats.tokenAnswered >= BOTH_FORMS_AFTER) assert.ok(proxy.stats.lost.socket >= 1 && proxy.stats.lost['502'] >= 1, 'both forms of loss happened');
    else t.diagnostic(`only ${proxy.stats.tokenAnswered} token answers: too short a run for both forms of loss (${BOTH_FORMS_AFTER})`);
    assert.equal(server.events('session.grace_replay').length, lost, 'every lost answer was recovered with the same successor');
    assert.equal(server.events('session.reuse_detected').length, 0);
    assert.ok(calls.length >= (LOAD_MS / CALL_EVERY_MS) * 0.8, `the calls kept their pace (${calls.length})`);
  });
}

// ---- a lost answer, then offline for longer than the grace window ---------------------------

// The server's clock cannot be moved for this: a DPoP proof's iat is checked against it, and the
// client signs with the real time. So real time, kept short: a 2 s grace window, 10 s offline.
const OFFLINE_MS = 10_000;

for (const bound of [true, false]) {
  test(`a refresh answer lost, then offline ${OFFLINE_MS / 1000} s (grace 2 s), then back: ${bound ? 'DPoP-bound: continues, 0 sign-outs' : 'Bearer: signed out as reuse (documented)'}`, async (t) => {
    const { proxy, server, track } = await world(t, { LATCHKEY_REUSE_GRACE: '2' });
    const s = await signedInSession(proxy.url, bound, track);
    await s.client.signup(freshEmail(), PASSWORD);
    let stop = false;
    const driving = drive(s.client, `${proxy.url}/auth/me`, () => stop);
    await delay(1_000);
    let offlineAt = 0;
    proxy.loseNext(1, 'socket', () => {
      offlineAt = Date.now();
      proxy.goOffline(OFFLINE_MS);
    });
    await until(() => offlineAt > 0, 'the lost answer');
    await until(() => !proxy.offline, 'back online', OFFLINE_MS + 2_000);
    const onlineAt = Date.now();
    await delay(4_000);
    stop = true;
    const calls = await driving;
    const whileOffline = calls.filter((c) => c.end < onlineAt);
    const after = calls.filter((c) => c.end >= onlineAt);
    const firstOkAfter = after.find((c) => c.ok);
    const kinds = [...new Set(failed(whileOffline).map((c) => c.error ?? `status ${c.status}`))];
    t.diagnostic(
      `${bound ? 'bound' : 'bearer'}: failed while offline ${failed(whileOffline).length} (${kinds.join('; ')}), failed after ${failed(after).length}, ` +
        `sign-outs ${JSON.stringify(s.signedOut)}, recovery ${firstOkAfter ? `${firstOkAfter.end - onlineAt} ms` : 'none'}`,
    );
    // While offline: the API calls themselves fail as plain fetch does, renewals as `network`; never the session.
    for (const c of failed(whileOffline)) assert.match(c.error ?? '', /^(call: |network\/network_error)/, c.error);
    assert.equal(calls.filter((c) => c.ok && c.start > offlineAt + 50 && c.end < onlineAt).length, 0, 'nothing got through while offline');

    if (bound) {
      assert.deepEqual(s.signedOut, []);
      assert.deepEqual(summary(after), []);
      assert.ok(firstOkAfter);
      const grace = server.events('session.grace_replay');
      assert.equal(grace.length, 1, 'the predecessor, presented with the key 10 s after the rotation, got the same successor');
      assert.equal(server.events('session.reuse_detected').length, 0);
    } else {
      // Documented: for a Bearer session the predecessor after the grace window is reuse. The
      // server revokes the session; the client signs out with reuse_detected, once.
      assert.deepEqual(s.signedOut, [{ reason: 'reuse_detected' }]);
      // The call waiting in the renewal's back-off when the network came back gets the reason; every later one `not_signed_in`.
      assert.equal(after[0]?.error, 'session/invalid_grant/refresh_token_reused');
      assert.ok(after.slice(1).every((c) => c.error === 'session/not_signed_in/-'), JSON.stringify(summary(after.slice(1, 3))));
      t.diagnostic(`bearer: the reuse error reached the app ${after[0]!.end - onlineAt} ms after the network came back`);
      assert.equal(server.events('session.reuse_detected').length, 1);
      assert.equal(server.events('session.grace_replay').length, 0);
      assert.equal(await s.client.isSignedIn(), false);
    }
  });
}

// The same with the real five minutes, on a clock both the server and the client read (the
// server's `now`, the client's `now`), jumped forward while offline. The client signs its DPoP
// proofs with the real time, which the server checks against its clock: a proof age of 600 s
// (LATCHKEY_DPOP_PROOF_AGE, the most it allows) covers the jump. The default grace window (10 s).
for (const bound of [true, false]) {
  test(`a refresh answer lost, then offline 5 minutes (a jumped clock, default grace 10 s), then back: ${bound ? 'DPoP-bound: continues with a fresh access token' : 'Bearer: signed out as reuse'}`, async (t) => {
    const clock = { shift: 0, now: () => Date.now() + clock.shift };
    const { proxy, server, track } = await world(t, { LATCHKEY_DPOP_PROOF_AGE: '600' }, 0, clock.now);
    const s = await signedInSession(proxy.url, bound, track, { now: clock.now });
    await s.client.signup(freshEmail(), PASSWORD);
    let stop = false;
    const driving = drive(s.client, `${proxy.url}/auth/me`, () => stop);
    await delay(1_000);
    let lostAt = 0;
    proxy.loseNext(1, 'socket', () => {
      lostAt = Date.now();
      proxy.goOffline(60_000);
    });
    await until(() => lostAt > 0, 'the lost answer');
    await delay(500);
    clock.shift += 5 * 60_000;
    await delay(500);
    proxy.goOnline();
    const onlineAt = Date.now();
    await delay(3_000);
    stop = true;
    const calls = await driving;
    const after = calls.filter((c) => c.end >= onlineAt);
    const firstOkAfter = after.find((c) => c.ok);
    t.diagnostic(
      `${bound ? 'bound' : 'bearer'} (5 min): failed while offline ${failed(calls.filter((c) => c.end < onlineAt)).length}, failed after ${failed(after).length} ` +
        `(${[...new Set(summary(after))].join('; ')}), sign-outs ${JSON.stringify(s.signedOut)}, recovery ${firstOkAfter ? `${firstOkAfter.end - onlineAt} ms` : 'none'}`,
    );
    if (bound) {
      assert.deepEqual(s.signedOut, []);
      assert.deepEqual(summary(after), []);
      assert.ok(firstOkAfter && after.length >= 20, 'calls went on at their pace');
      assert.equal(server.events('session.grace_replay').length, 1, 'the predecessor, 5 minutes after the rotation, with the key: the same successor');
      assert.equal(server.events('session.reuse_detected').length, 0);
    } else {
      assert.deepEqual(s.signedOut, [{ reason: 'reuse_detected' }]);
      assert.equal(after[0]?.error, 'session/invalid_grant/refresh_token_reused');
      assert.equal(server.events('session.reuse_detected').length, 1);
      assert.equal(await s.client.isSignedIn(), false);
    }
  });
}

// ---- the server restarted under load -------------------------------------------------------

test('the server killed and started again on the same port and data: calls fail only while it is down, 0 sign-outs; recovery measured (bound and Bearer)', async (t) => {
  const dataDir = tempDataDir();
  const proxy = await FaultProxy.start({ target: 'http://127.0.0.1:9' });
  const env = { LATCHKEY_DATA_DIR: dataDir, LATCHKEY_ACCESS_TTL: '2', LATCHKEY_PUBLIC_URL: proxy.url };
  let server = await spawnServer(env);
  proxy.target = server.url;
  const clients: LatchkeyClient[] = [];
  t.after(async () => {
    for (const c of clients) c.dispose();
    server.proc.kill('SIGKILL');
    await server.exited;
    await proxy.close();
    removeDir(dataDir);
  });
  const sessions = [await signedInSession(proxy.url, true, (c) => clients.push(c)), await signedInSession(proxy.url, false, (c) => clients.push(c))];
  for (const s of sessions) await s.client.signup(freshEmail(), PASSWORD);
  let stop = false;
  const driving = sessions.map((s) => drive(s.client, `${proxy.url}/auth/me`, () => stop));
  await delay(5_000);
  const killedAt = Date.now();
  server.proc.kill('SIGKILL');
  await server.exited;
  await delay(3_000); // longer than a token's life: renewals fail meanwhile
  server = await spawnServer(env, server.port);
  const upAt = Date.now();
  await delay(5_000);
  stop = true;
  const results = await Promise.all(driving);
  const figures = results.map((calls, i) => {
    const firstOk = calls.find((c) => c.ok && c.start >= upAt) ?? calls.find((c) => c.ok && c.end >= upAt);
    return {
      session: i === 0 ? 'bound' : 'bearer',
      calls: calls.length,
      failed: failed(calls).length,
      failedAfterUp: calls.filter((c) => !c.ok && c.start >= upAt).map((c) => c.error ?? `status ${c.status}`),
      failedBeforeKill: calls.filter((c) => !c.ok && c.end < killedAt).length,
      recoveryMs: firstOk ? firstOk.end - upAt : null,
      signedOut: sessions[i]!.signedOut,
    };
  });
  t.diagnostic(`down ${upAt - killedAt} ms; ${JSON.stringify(figures)}`);
  for (const f of figures) {
    assert.equal(f.failedBeforeKill, 0, `${f.session}: nothing failed before the kill`);
    assert.deepEqual(f.failedAfterUp, [], `${f.session}: calls started after the server answered again succeed`);
    assert.ok(f.failed > 0, `${f.session}: calls failed while it was down (the scenario happened)`);
    assert.deepEqual(f.signedOut, [], `${f.session}: no sign-out`);
    assert.ok(f.recoveryMs !== null && f.recoveryMs < 2_000, `${f.session}: recovered (${f.recoveryMs} ms)`);
  }
});
