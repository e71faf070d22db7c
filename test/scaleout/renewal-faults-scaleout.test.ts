// Renewal over a network that loses answers (issue 14), on three instances sharing one Redis and
// one PostgreSQL: @latchkey/client sessions in Node (DPoP-bound, the default, and Bearer with
// `dpop: false`), 2 s access tokens, a call every 100 ms, through the harness's fault proxy used as
// a round-robin front. The front's URL is the public URL of every instance (LATCHKEY_PUBLIC_URL),
// so a proof names it whichever instance checks it (RFC 9449 §4.3 htu). A lost answer's retry
// usually lands on another instance than the one that rotated: the grace answer comes from the
// shared store. The front skips an upstream that refuses connections and sends idempotent requests
// on to the next one when an upstream fails them (see test/harness/fault-proxy.ts); a POST that
// reached an instance which then died gets a 502, which the client retries as a lost answer (the
// last test kills an instance with a refresh in flight on it to take that path).
// Figures per scenario as TAP diagnostics. LATCHKEY_RENEWAL_FAULTS_MS: how long the 5 % loss run
// lasts (default 2 minutes).
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';

import { createClient, isLatchkeyError, memoryKeyStore, memoryStorage, type ClientEvents, type LatchkeyClient } from '../../packages/client/src/index.js';
import { FaultProxy } from '../harness/fault-proxy.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import type { ChildServer } from '../helpers/server.js';
import { startFleet, type Fleet } from './cluster-env.js';

const PASSWORD = 'correct horse battery staple';
const LOAD_MS = Number(process.env.LATCHKEY_RENEWAL_FAULTS_MS ?? 120_000);
const CALL_EVERY_MS = 100;
const GRACE_S = 2;
const OFFLINE_MS = 10_000;
const LOSS_SEED = 1;

let redis: RedisProcess;
let db: TestDatabase;
let fleet: Fleet;
let front: FaultProxy;
/** Every server process started, the killed ones too: their logs still count. */
const everStarted: ChildServer[] = [];
const clients: LatchkeyClient[] = [];
let counter = 0;
const freshEmail = () => `renewal-scaleout-${process.pid}-${++counter}@example.com`;

before(async () => {
  await ensurePostgres();
  redis = await startRedis();
  db = await createTestDatabase();
  front = await FaultProxy.start({ target: 'http://127.0.0.1:9', seed: LOSS_SEED });
  fleet = await startFleet(3, {
    LATCHKEY_REDIS_URL: redis.url,
    LATCHKEY_DATABASE_URL: db.url,
    LATCHKEY_PUBLIC_URL: front.url,
    LATCHKEY_ACCESS_TTL: '2',
    LATCHKEY_REUSE_GRACE: String(GRACE_S),
  });
  everStarted.push(...fleet.instances);
  front.targets = fleet.instances.map((s) => s.url);
});

after(async () => {
  for (const c of clients) c.dispose();
  await front?.close();
  await fleet?.stop();
  await redis?.stop();
  await db?.drop();
});

interface Call {
  start: number;
  end: number;
  ok: boolean;
  status?: number;
  error?: string;
}

interface Session {
  name: string;
  client: LatchkeyClient;
  signedOut: ClientEvents['signedout'][];
}

async function signedIn(t: TestContext, bound: boolean, name = bound ? 'bound' : 'bearer'): Promise<Session> {
  const client = createClient({ baseUrl: front.url, storage: memoryStorage(), dpop: bound ? { keyStore: memoryKeyStore() } : false });
  clients.push(client);
  t.after(() => client.dispose());
  const session: Session = { name, client, signedOut: [] };
  client.on('signedout', (e) => session.signedOut.push(e));
  await client.signup(freshEmail(), PASSWORD);
  assert.equal(await client.isKeyBound(), bound);
  return session;
}

function describeError(error: unknown): string {
  if (isLatchkeyError(error)) return `${error.kind}/${error.code}/${error.reason ?? '-'}`;
  return `call: ${(error as Error).message}`;
}

async function drive(client: LatchkeyClient, stop: () => boolean): Promise<Call[]> {
  const calls: Call[] = [];
  while (!stop()) {
    const start = Date.now();
    try {
      const res = await client.fetch(`${front.url}/auth/me`);
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
const slowest = (calls: Call[]) => Math.max(0, ...calls.map((c) => c.end - c.start));

/** How often `event` is in one instance's log. */
const eventsOf = (s: ChildServer, event: string) => s.output().split('\n').filter((l) => l.includes(`"event":"${event}"`)).length;
const fleetEvents = (event: string) => everStarted.reduce((n, s) => n + eventsOf(s, event), 0);
/** Per instance (A, B, C by port), how often `event` was logged since `since` (counts per process). */
function perInstance(event: string, since: Map<ChildServer, number> = new Map()): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [i, s] of everStarted.entries()) {
    const name = String.fromCharCode(65 + fleet.instances.findIndex((x) => x.port === s.port)) + (i >= 3 ? `(restarted)` : '');
    out[name] = (out[name] ?? 0) + eventsOf(s, event) - (since.get(s) ?? 0);
  }
  return out;
}
const snapshot = (event: string) => new Map(everStarted.map((s) => [s, eventsOf(s, event)]));

function frontSnapshot() {
  return {
    tokenAnswered: front.stats.tokenAnswered,
    lost: front.losses.length,
    byUpstream: Object.fromEntries(Object.entries(front.stats.byUpstream).map(([u, v]) => [u, { ...v }])),
    failovers: front.stats.failovers,
    upstreamDown: front.stats.upstreamDown,
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

// ---- 1. 5 % of refresh answers lost, minutes of calls -----------------------------------------

test(`3 instances: 5 % of refresh answers lost (socket and 502), a call every 100 ms for ${LOAD_MS / 1000} s, bound and Bearer side by side: 0 failed calls, 0 sign-outs, refreshes on every instance`, async (t) => {
  const sessions = [await signedIn(t, true), await signedIn(t, false)];
  const rotated = snapshot('session.rotated');
  const grace = fleetEvents('session.grace_replay');
  const reuseBefore = fleetEvents('session.reuse_detected');
  const before = frontSnapshot();
  const lossesFrom = front.losses.length;
  front.tokenLossRate = 0.05;
  const end = Date.now() + LOAD_MS;
  let results: Call[][];
  try {
    results = await Promise.all(sessions.map((s) => drive(s.client, () => Date.now() >= end)));
  } finally {
    front.tokenLossRate = 0;
  }
  const losses = front.losses.slice(lossesFrom);
  const refreshesLost = losses.filter((l) => l.status === 200).length;
  const graceAnswers = fleetEvents('session.grace_replay') - grace;
  const rotations = perInstance('session.rotated', rotated);
  const tokenAnswers = front.stats.tokenAnswered - before.tokenAnswered;
  t.diagnostic(
    sessions.map((s, i) => `${s.name}: calls ${results[i]!.length}, failed ${failed(results[i]!).length}, sign-outs ${s.signedOut.length}, slowest call ${slowest(results[i]!)} ms`).join('; '),
  );
  t.diagnostic(
    `token answers ${tokenAnswers}, lost ${losses.length} (socket ${losses.filter((l) => l.form === 'socket').length}, 502 ${losses.filter((l) => l.form === '502').length}; ` +
      `refreshes ${refreshesLost}), grace answers ${graceAnswers}, rotations per instance ${JSON.stringify(rotations)}`,
  );
  for (const [i, s] of sessions.entries()) {
    assert.deepEqual(summary(results[i]!), [], `${s.name}: no failed call`);
    assert.deepEqual(s.signedOut, [], `${s.name}: no sign-out`);
    assert.ok(results[i]!.length >= (LOAD_MS / CALL_EVERY_MS) * 0.8, `${s.name}: the calls kept their pace (${results[i]!.length})`);
  }
  assert.equal(graceAnswers, refreshesLost, 'every lost refresh answer was recovered with the same successor (a grace answer, on any instance)');
  assert.equal(fleetEvents('session.reuse_detected'), reuseBefore);
  // Seed 1 loses both forms within the first 57 token answers (see test/client/renewal-faults.test.ts).
  if (tokenAnswers >= 57) assert.ok(losses.some((l) => l.form === 'socket') && losses.some((l) => l.form === '502'), 'both forms of loss happened');
  // Round-robin over all requests: each instance does a share of the rotations.
  const total = Object.values(rotations).reduce((a, b) => a + b, 0);
  if (total >= 30) for (const [name, n] of Object.entries(rotations)) assert.ok(n >= total * 0.1, `instance ${name} did ${n} of ${total} rotations`);
});

// ---- 2. a lost answer, then offline for longer than the grace window ---------------------------

for (const bound of [true, false]) {
  test(`3 instances: a refresh answer lost, then offline ${OFFLINE_MS / 1000} s (grace ${GRACE_S} s), then back: ${bound ? 'bound: continues on whichever instance answers, 0 sign-outs' : 'Bearer: signed out as reuse (documented)'}`, async (t) => {
    const s = await signedIn(t, bound);
    const graceBefore = snapshot('session.grace_replay');
    const reuseBefore = fleetEvents('session.reuse_detected');
    const lossesFrom = front.losses.length;
    let stop = false;
    const driving = drive(s.client, () => stop);
    await delay(1_000);
    let offlineAt = 0;
    front.loseNext(1, 'socket', () => {
      offlineAt = Date.now();
      front.goOffline(OFFLINE_MS);
    });
    await until(() => offlineAt > 0, 'the lost answer');
    await until(() => !front.offline, 'back online', OFFLINE_MS + 2_000);
    const onlineAt = Date.now();
    await delay(4_000);
    stop = true;
    const calls = await driving;
    const whileOffline = calls.filter((c) => c.end < onlineAt);
    const afterward = calls.filter((c) => c.end >= onlineAt);
    const firstOkAfter = afterward.find((c) => c.ok);
    const lost = front.losses[lossesFrom]!;
    const lostOn = String.fromCharCode(65 + fleet.instances.findIndex((x) => x.url === lost.upstream));
    const graceBy = perInstance('session.grace_replay', graceBefore);
    t.diagnostic(
      `${s.name}: answer lost from ${lostOn}; failed while offline ${failed(whileOffline).length} (${[...new Set(summary(whileOffline))].join('; ')}), ` +
        `failed after ${failed(afterward).length} (${[...new Set(summary(afterward))].join('; ')}), sign-outs ${JSON.stringify(s.signedOut)}, ` +
        `recovery ${firstOkAfter ? `${firstOkAfter.end - onlineAt} ms` : 'none'}, grace answers per instance ${JSON.stringify(graceBy)}`,
    );
    for (const c of failed(whileOffline)) assert.match(c.error ?? '', /^(call: |network\/network_error)/, c.error);
    assert.equal(calls.filter((c) => c.ok && c.start > offlineAt + 50 && c.end < onlineAt).length, 0, 'nothing got through while offline');
    assert.equal(lost.status, 200, 'the lost answer was a rotation');
    const graceTotal = Object.values(graceBy).reduce((a, b) => a + b, 0);
    if (bound) {
      assert.deepEqual(s.signedOut, []);
      assert.deepEqual(summary(afterward), []);
      assert.ok(firstOkAfter && afterward.length >= 20, 'calls went on at their pace');
      assert.equal(graceTotal, 1, `the predecessor, ${OFFLINE_MS / 1000} s after the rotation, with the key: the same successor from one instance`);
      assert.equal(fleetEvents('session.reuse_detected'), reuseBefore);
    } else {
      // Documented (packages/client/README.md): past the grace window a Bearer predecessor is reuse.
      assert.deepEqual(s.signedOut, [{ reason: 'reuse_detected' }]);
      assert.equal(afterward[0]?.error, 'session/invalid_grant/refresh_token_reused');
      assert.ok(afterward.slice(1).every((c) => c.error === 'session/not_signed_in/-'), JSON.stringify(summary(afterward.slice(1, 3))));
      t.diagnostic(`bearer: the reuse error reached the app ${afterward[0]!.end - onlineAt} ms after the network came back`);
      assert.equal(fleetEvents('session.reuse_detected'), reuseBefore + 1);
      assert.equal(graceTotal, 0);
      assert.equal(await s.client.isSignedIn(), false);
    }
  });
}

// ---- 3. one instance killed under load, then restarted ----------------------------------------

test('3 instances: one SIGKILLed under load (2 bound + 2 Bearer sessions), then restarted: no call fails, 0 sign-outs, the restarted one takes requests again', async (t) => {
  const sessions = [await signedIn(t, true, 'bound-1'), await signedIn(t, true, 'bound-2'), await signedIn(t, false, 'bearer-1'), await signedIn(t, false, 'bearer-2')];
  const victimIndex = 1;
  const victim = fleet.instances[victimIndex]!;
  const before = frontSnapshot();
  const rotated = snapshot('session.rotated');
  const reuseBefore = fleetEvents('session.reuse_detected');
  let stop = false;
  const driving = sessions.map((s) => drive(s.client, () => stop));
  await delay(5_000);
  const killedAt = Date.now();
  victim.proc.kill('SIGKILL');
  await victim.exited;
  await delay(5_000); // over two token lifetimes: every session renews on the survivors meanwhile
  const restarted = await fleet.restart(victimIndex);
  everStarted.push(restarted);
  const upAt = Date.now();
  const servedBefore = front.stats.byUpstream[victim.url]?.forwarded ?? 0;
  await delay(5_000);
  stop = true;
  const results = await Promise.all(driving);
  const servedAfterRestart = (front.stats.byUpstream[victim.url]?.forwarded ?? 0) - servedBefore;
  const whileDown = results.flat().filter((c) => c.start >= killedAt && c.end < upAt);
  t.diagnostic(
    `down ${upAt - killedAt} ms; ` +
      sessions.map((s, i) => `${s.name}: calls ${results[i]!.length}, failed ${failed(results[i]!).length}, sign-outs ${s.signedOut.length}`).join('; '),
  );
  t.diagnostic(
    `front: failovers ${front.stats.failovers - before.failovers}, POSTs answered 502 (reached the killed instance) ${front.stats.upstreamDown - before.upstreamDown}; ` +
      `slowest call while down ${slowest(whileDown)} ms; requests to the restarted instance ${servedAfterRestart}; rotations per instance ${JSON.stringify(perInstance('session.rotated', rotated))}`,
  );
  for (const [i, s] of sessions.entries()) {
    assert.deepEqual(summary(results[i]!), [], `${s.name}: no failed call`);
    assert.deepEqual(s.signedOut, [], `${s.name}: no sign-out`);
  }
  assert.ok(whileDown.length >= 100, `calls went on while it was down (${whileDown.length})`);
  assert.ok(servedAfterRestart > 0, 'the restarted instance takes requests again');
  assert.equal(fleetEvents('session.reuse_detected'), reuseBefore);
});


test('3 instances: one SIGKILLed while a refresh is in flight on it: the front answers that POST 502 (it may have been processed), the client retries on another instance; no call fails, 0 sign-outs', async (t) => {
  const sessions = [await signedIn(t, true, 'bound-1'), await signedIn(t, true, 'bound-2'), await signedIn(t, false, 'bearer-1'), await signedIn(t, false, 'bearer-2')];
  const victimIndex = 2;
  const victim = fleet.instances[victimIndex]!;
  const before = frontSnapshot();
  const graceBefore = fleetEvents('session.grace_replay');
  const reuseBefore = fleetEvents('session.reuse_detected');
  let killedAt = 0;
  front.onSent = (upstream, path) => {
    if (killedAt === 0 && upstream === victim.url && path === '/auth/token') {
      killedAt = Date.now();
      victim.proc.kill('SIGKILL');
    }
  };
  t.after(() => (front.onSent = undefined));
  let stop = false;
  const driving = sessions.map((s) => drive(s.client, () => stop));
  await until(() => killedAt > 0, 'a refresh sent to the victim', 15_000);
  await victim.exited;
  await delay(3_000);
  await fleet.restart(victimIndex);
  everStarted.push(fleet.instances[victimIndex]!);
  await delay(3_000);
  stop = true;
  const results = await Promise.all(driving);
  const answered502 = front.stats.upstreamDown - before.upstreamDown;
  t.diagnostic(
    `front: POSTs answered 502 ${answered502}, failovers ${front.stats.failovers - before.failovers}; grace answers ${fleetEvents('session.grace_replay') - graceBefore}; ` +
      sessions.map((s, i) => `${s.name}: calls ${results[i]!.length}, failed ${failed(results[i]!).length}, sign-outs ${s.signedOut.length}, slowest ${slowest(results[i]!)} ms`).join('; '),
  );
  assert.ok(answered502 >= 1, 'the refresh in flight on the killed instance was answered 502 by the front');
  for (const [i, s] of sessions.entries()) {
    assert.deepEqual(summary(results[i]!), [], `${s.name}: no failed call`);
    assert.deepEqual(s.signedOut, [], `${s.name}: no sign-out`);
  }
  assert.equal(fleetEvents('session.reuse_detected'), reuseBefore);
});
