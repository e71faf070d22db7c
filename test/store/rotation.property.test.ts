// One property holds every adapter's atomic `rotate` to the pure rule (DESIGN "Code shape": "the
// Redis Lua applies the rule the pure decision defines, and one property test holds every adapter
// to the pure function"). The SQL adapters call decideRotation inside their transaction; Redis
// and Redis Cluster run a Lua transcription of it. The same generated cases go to all of them.
//
// A case is a stored session state, a presented token, a clock and a policy. Each adapter gets the
// state the way production gets there: the session is created through the adapter, rotated n
// times on a controlled clock, and its predecessor optionally replayed inside the grace window
// (which moves only lastUsedAt). Generations near MAX_GENERATION cannot be reached that way, so a
// few cases store them directly with createSession, which every adapter keeps unchanged (contract).
// Then one rotate, compared with decideRotation + applyRotation on the same state: the decision,
// the session it returns, and what is stored afterwards.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { newSessionId, newUserId } from '../../packages/server/src/domain/ids.js';
import { BEARER_GRACE_USES, MAX_GRACE_DEBT, MAX_GRACE_USES } from '../../packages/server/src/domain/key-binding.js';
import { MAX_GENERATION } from '../../packages/server/src/domain/refresh-token.js';
import { applyRotation, decideRotation, endsAsTheft, type PresentedToken } from '../../packages/server/src/domain/rotation.js';
import type { SessionPolicy, SessionRecord } from '../../packages/server/src/domain/session.js';
import { openPostgresStores, type PostgresStores } from '../../packages/server/src/store/postgres/open.js';
import { openRedisStores, type RedisStores } from '../../packages/server/src/store/redis/open.js';
import { openSqliteStores, type SqliteStores } from '../../packages/server/src/store/sqlite/open.js';
import type { SessionStore } from '../../packages/server/src/store/types.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, startRedisCluster, type RedisClusterProcess, type RedisProcess } from '../harness/redis.js';

const T0 = 1_800_000_000_000;
const SEC = 1000;
const MIN = 60 * SEC;
const DAY = 24 * 60 * MIN;
const RUNS = 200;

// Setting a state up must never be refused: a grace window and idle timeout longer than any case.
const SETUP: SessionPolicy = { graceMs: 400 * DAY, idleMs: 400 * DAY };
// Redis expires a group key on its own (wall) clock, from the TTL the adapter derives from the
// session's times when it is created, and only ever extends it. Every case's session is created at
// least this long before its absolute end, so no key can lapse while its case runs and turn a
// decision into not_found behind the pure rule's back.
const MIN_TAIL = 10 * MIN;

interface Case {
  exists: boolean;
  /** A UUID user id (16 raw bytes in a Redis record) or any other string (length-prefixed). */
  uuidUser: boolean;
  clientId: string;
  /** 'rotated': generation n reached by n rotations; 'stored': a generation near the maximum, stored as is. */
  setup: { mode: 'rotated'; gaps: number[] } | { mode: 'stored'; generation: number; sinceRotation: number };
  /** ms after the last rotation that the predecessor was replayed in grace (moves lastUsedAt); 0 for none. */
  graceReplayAfter: number;
  /** How many times it was replayed then (a Bearer session takes at most BEARER_GRACE_USES). */
  graceReplays: number;
  /** A DPoP-bound session (issue 11), and whose key's proof comes with the presented token. */
  bound: boolean;
  presentedKey: 'same' | 'other' | 'none';
  /** expiresAt - lastUsedAt. */
  tail: number;
  presentedOffset: number;
  presentedClient: 'same' | 'other';
  policy: SessionPolicy;
  clock: { anchor: 'lastUsed' | 'graceEnd' | 'idleEnd' | 'expiry'; delta: number } | { anchor: 'anywhere'; fraction: number };
}

const CLIENTS = ['app', 'mobile.app', 'c'.repeat(17), 'x'];
const newKeyId = () => randomBytes(16).toString('base64url');

const caseArb: fc.Arbitrary<Case> = fc.record({
  exists: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  uuidUser: fc.boolean(),
  clientId: fc.constantFrom(...CLIENTS),
  setup: fc.oneof(
    { weight: 9, arbitrary: fc.record({ mode: fc.constant('rotated' as const), gaps: fc.array(fc.integer({ min: 0, max: 2 * DAY }), { maxLength: 5 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        mode: fc.constant('stored' as const),
        generation: fc.integer({ min: MAX_GENERATION - 2, max: MAX_GENERATION }),
        sinceRotation: fc.integer({ min: 0, max: 2 * DAY }),
      }),
    },
  ),
  graceReplayAfter: fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 60 * SEC }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 * DAY }) },
  ),
  graceReplays: fc.integer({ min: 1, max: 5 }),
  bound: fc.boolean(),
  presentedKey: fc.oneof({ weight: 4, arbitrary: fc.constant('same' as const) }, { weight: 1, arbitrary: fc.constant('other' as const) }, { weight: 1, arbitrary: fc.constant('none' as const) }),
  tail: fc.integer({ min: MIN_TAIL, max: 30 * DAY }),
  // Mostly the current token or its predecessor, where rotate, grace and reuse part ways.
  presentedOffset: fc.oneof(
    { weight: 3, arbitrary: fc.constant(0) },
    { weight: 4, arbitrary: fc.constant(-1) },
    { weight: 1, arbitrary: fc.integer({ min: -3, max: -2 }) },
    { weight: 2, arbitrary: fc.constant(1) },
  ),
  presentedClient: fc.oneof({ weight: 7, arbitrary: fc.constant('same' as const) }, { weight: 1, arbitrary: fc.constant('other' as const) }),
  policy: fc.record({
    graceMs: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 60 * SEC }) }),
    idleMs: fc.integer({ min: SEC, max: 30 * DAY }),
  }),
  clock: fc.oneof(
    // On a boundary of the rule, give or take a little: where `<`, `<=` and `>=` part ways.
    {
      weight: 10,
      arbitrary: fc.record({
        anchor: fc.oneof(
          { weight: 3, arbitrary: fc.constant('lastUsed' as const) },
          { weight: 3, arbitrary: fc.constant('graceEnd' as const) },
          { weight: 2, arbitrary: fc.constant('idleEnd' as const) },
          { weight: 2, arbitrary: fc.constant('expiry' as const) },
        ),
        delta: fc.oneof(fc.integer({ min: -2, max: 2 }), fc.integer({ min: -MIN, max: MIN })),
      }),
    },
    { weight: 1, arbitrary: fc.record({ anchor: fc.constant('anywhere' as const), fraction: fc.double({ min: -0.1, max: 1.2, noNaN: true }) }) },
  ),
});

/** One case per decision kind (the last: the generation counter's end), run first whatever the random ones reach. */
const base: Case = {
  exists: true,
  uuidUser: true,
  clientId: 'app',
  setup: { mode: 'rotated', gaps: [MIN, MIN] },
  graceReplayAfter: 0,
  graceReplays: 1,
  bound: false,
  presentedKey: 'none',
  tail: DAY,
  presentedOffset: 0,
  presentedClient: 'same',
  policy: { graceMs: 10 * SEC, idleMs: DAY },
  clock: { anchor: 'lastUsed', delta: SEC },
};
const EXAMPLES: Case[] = [
  base,
  { ...base, presentedOffset: -1, graceReplayAfter: SEC, clock: { anchor: 'graceEnd', delta: 0 } },
  { ...base, presentedOffset: -1, clock: { anchor: 'graceEnd', delta: 1 } },
  { ...base, presentedOffset: 1 },
  { ...base, presentedClient: 'other' },
  { ...base, exists: false },
  { ...base, clock: { anchor: 'expiry', delta: 0 } },
  { ...base, tail: 2 * DAY, clock: { anchor: 'idleEnd', delta: 0 } },
  { ...base, uuidUser: false, setup: { mode: 'stored', generation: MAX_GENERATION, sinceRotation: MIN } },
  // Issue 11: a Bearer generation's grace answers run out; a bound session's do not, nor its window.
  { ...base, presentedOffset: -1, graceReplayAfter: SEC, graceReplays: 3, clock: { anchor: 'lastUsed', delta: 1 } },
  { ...base, bound: true, presentedKey: 'same', presentedOffset: -1, graceReplayAfter: SEC, graceReplays: 5, clock: { anchor: 'graceEnd', delta: DAY / 2 } },
  { ...base, bound: true, presentedKey: 'other' },
  { ...base, bound: true, presentedKey: 'none', presentedOffset: -1 },
  { ...base, presentedKey: 'same' },
];

/** The stored state a case describes, and the steps that bring an adapter to it. */
function plan(c: Case) {
  // Fresh ids per attempt (not part of the case): fast-check replays a case while shrinking a failure.
  const userId = c.uuidUser ? newUserId() : `user-${randomBytes(6).toString('hex')}`;
  const createdAt = T0;
  const rotations: number[] = [];
  let generation: number;
  let rotatedAt: number;
  if (c.setup.mode === 'rotated') {
    let t = createdAt;
    for (const gap of c.setup.gaps) rotations.push((t += gap));
    generation = rotations.length;
    rotatedAt = t;
  } else {
    generation = c.setup.generation;
    rotatedAt = createdAt + c.setup.sinceRotation;
  }
  // Only a predecessor can be replayed in grace: generation 0 has none.
  const graceReplayAt = generation > 0 && c.graceReplayAfter > 0 ? rotatedAt + c.graceReplayAfter : null;
  const graceReplays = graceReplayAt === null ? 0 : c.bound ? c.graceReplays : Math.min(c.graceReplays, BEARER_GRACE_USES);
  const lastUsedAt = graceReplayAt ?? rotatedAt;
  const keyId = c.bound ? newKeyId() : null;
  const state: SessionRecord = {
    id: newSessionId(userId),
    userId,
    clientId: c.clientId,
    generation,
    rotatedAt,
    createdAt,
    lastUsedAt,
    expiresAt: lastUsedAt + c.tail,
    device: 'Firefox 128 on macOS',
    keyId,
    graceUses: Math.min(MAX_GRACE_USES, graceReplays),
    // Setup rotations need no grace answer: the debt is the replays of the last generation.
    graceDebt: Math.min(MAX_GRACE_DEBT, graceReplays),
  };
  const created: SessionRecord =
    c.setup.mode === 'rotated'
      ? { ...state, generation: 0, rotatedAt: createdAt, lastUsedAt: createdAt, graceUses: 0, graceDebt: 0 }
      : { ...state, lastUsedAt: rotatedAt, graceUses: 0, graceDebt: 0 };
  const now = clockOf(c, state);
  const presented: PresentedToken = {
    generation: Math.min(MAX_GENERATION, Math.max(0, generation + c.presentedOffset)),
    clientId: c.presentedClient === 'same' ? c.clientId : CLIENTS.find((x) => x !== c.clientId)!,
    // A Bearer session may be offered a proof too: it stays Bearer (the key is not the session's).
    keyId: c.presentedKey === 'none' ? null : c.presentedKey === 'same' && keyId ? keyId : newKeyId(),
  };
  return { state, created, rotations, graceReplayAt, graceReplays, now, presented };
}

function clockOf(c: Case, s: SessionRecord): number {
  switch (c.clock.anchor) {
    case 'lastUsed':
      return s.lastUsedAt + c.clock.delta;
    case 'graceEnd':
      return s.rotatedAt + c.policy.graceMs + c.clock.delta;
    case 'idleEnd':
      return s.lastUsedAt + c.policy.idleMs + c.clock.delta;
    case 'expiry':
      return s.expiresAt + c.clock.delta;
    case 'anywhere':
      return Math.round(s.createdAt + c.clock.fraction * (s.expiresAt - s.createdAt));
  }
}

/** Brings `store` to the case's state through the adapter's own operations; checks it got there. */
async function arrange(name: string, store: SessionStore, p: ReturnType<typeof plan>): Promise<void> {
  await store.createSession(p.created, null, SETUP);
  for (const [i, at] of p.rotations.entries()) {
    const out = await store.rotate(p.state.id, { generation: i, clientId: p.state.clientId, keyId: p.state.keyId ?? null }, at, SETUP);
    assert.equal(out.decision.kind, 'rotate', `${name}: setup rotation ${i}`);
  }
  for (let i = 0; p.graceReplayAt !== null && i < p.graceReplays; i++) {
    const out = await store.rotate(p.state.id, { generation: p.state.generation - 1, clientId: p.state.clientId, keyId: p.state.keyId ?? null }, p.graceReplayAt, SETUP);
    assert.equal(out.decision.kind, 'grace', `${name}: setup grace replay ${i}`);
  }
  assert.deepEqual(await store.getSession(p.state.id), p.state, `${name}: the stored state the case describes`);
}

let dir: string;
let sqlite: SqliteStores;
let db: TestDatabase;
let postgres: PostgresStores;
let redisServer: RedisProcess;
let redis: RedisStores;
let cluster: RedisClusterProcess;
let redisCluster: RedisStores;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-rotation-property-'));
  sqlite = openSqliteStores(dir);
  await ensurePostgres();
  db = await createTestDatabase();
  postgres = await openPostgresStores({ url: db.url });
  redisServer = await startRedis();
  redis = await openRedisStores({ url: redisServer.url, prefix: 'lk:prop:' });
  cluster = await startRedisCluster(3);
  redisCluster = await openRedisStores({ clusterNodes: cluster.nodes.map((n) => `${n.host}:${n.port}`), prefix: 'lk:prop:' });
});

after(async () => {
  await Promise.allSettled([sqlite?.close(), postgres?.close(), redis?.close(), redisCluster?.close()]);
  await Promise.allSettled([db?.drop(), redisServer?.stop(), cluster?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test(`every adapter's rotate decides and stores what decideRotation + applyRotation say (${RUNS} cases, each on every adapter)`, async (t) => {
  const adapters = (): Array<[string, SessionStore]> => [
    ['sqlite', sqlite.sessions],
    ['postgres', postgres.sessions],
    ['redis', redis.sessions],
    ['redis cluster', redisCluster.sessions],
  ];
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(caseArb, async (c) => {
      const p = plan(c);
      const stored = c.exists ? p.state : null;
      const decision = decideRotation(stored, p.presented, p.now, c.policy);
      const kept = stored && applyRotation(stored, decision, p.now);
      const returned = kept ?? stored;
      const after = kept ?? (endsAsTheft(decision.kind) || decision.kind === 'expired' ? null : stored);
      const label = decision.kind === 'expired' ? `expired/${decision.reason}` : decision.kind;
      seen.set(label, (seen.get(label) ?? 0) + 1);
      for (const [name, store] of adapters()) {
        if (c.exists) await arrange(name, store, p);
        const out = await store.rotate(p.state.id, p.presented, p.now, c.policy);
        assert.deepEqual(out.decision, decision, `${name}: decision`);
        assert.deepEqual(out.session, returned, `${name}: the session it answers with`);
        assert.deepEqual(await store.getSession(p.state.id), after, `${name}: what is stored afterwards`);
      }
    }),
    { numRuns: RUNS, examples: EXAMPLES.map((c) => [c] as [Case]) },
  );
  t.diagnostic(`decisions: ${JSON.stringify(Object.fromEntries(seen))}`);
  // A property that never reaches a kind of decision says nothing about it.
  const kinds = ['rotate', 'grace', 'reuse', 'key_mismatch', 'future', 'wrong_client', 'not_found', 'expired/absolute', 'expired/idle'];
  for (const k of kinds) assert.ok((seen.get(k) ?? 0) > 0, `no case reached ${k}: ${JSON.stringify(Object.fromEntries(seen))}`);
});
