// The behavioural suites every store adapter must pass, one per interface of ./types.ts, so an
// adapter runs exactly the interfaces it implements, with its own stores: SQLite and PostgreSQL
// run all of them; Redis and Redis Cluster run sessions, rate limits and the revocation feed.
// Adapters differ in how they are atomic, never in what they answer.
//
// An adapter's test file opens its stores once per file with `openForSuite` inside a
// `describe('store contract: <adapter>')` and hands each suite a getter for one interface:
//
//   describe('store contract: sqlite', () => {
//     const stores = openForSuite(async () => ...);
//     sessionStoreContract(() => stores().sessions);
//     ...
//   });
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EmailTakenError } from '../domain/errors.js';
import { newSessionId, newUserId } from '../domain/ids.js';
import type { SessionPolicy, SessionRecord } from '../domain/session.js';
import { mergeTheft, type Theft } from '@latchkey/core';
import { MAX_SESSION_PAGE, type HealthReport, type KeyStore, type ProofReplayStore, type RateLimitStore, type Revocation, type RevocationFeed, type SessionStore, type StoredSigningKey, type UserStore } from './types.js';

export interface ContractSubject<T> {
  stores: T;
  /** Releases the adapter and anything the factory created (databases, key prefixes). */
  cleanup(): Promise<void>;
}

/**
 * Opens the adapter before the enclosing describe's tests and cleans it up after them; returns
 * a getter, valid from the suites' own `before` hooks on. Call it inside a describe.
 */
export function openForSuite<T>(open: () => Promise<ContractSubject<T>>): () => T {
  let subject: ContractSubject<T> | undefined;
  before(async () => {
    subject = await open();
  });
  after(async () => {
    await subject?.cleanup();
  });
  return () => {
    if (!subject) throw new Error('the adapter is not open yet: read it in a test or hook');
    return subject.stores;
  };
}

const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;
const strict: SessionPolicy = { graceMs: 0, idleMs: 24 * HOUR };
const lenient: SessionPolicy = { graceMs: 10_000, idleMs: 24 * HOUR };

/** A fresh 30-day session of a new user, created (and last used) at `now`; adapter tests use it too. */
export function sampleSession(now: number, over: Partial<SessionRecord> = {}): SessionRecord {
  const userId = over.userId ?? newUserId();
  return {
    id: newSessionId(userId),
    userId,
    clientId: 'app',
    generation: 0,
    rotatedAt: now,
    createdAt: now,
    lastUsedAt: now,
    expiresAt: now + 30 * 24 * HOUR,
    // A typical label from src/domain/device.ts.
    device: 'Chrome 120 on Linux',
    keyId: null,
    graceUses: 0,
    graceDebt: 0,
    ...over,
  };
}

const session = (over: Partial<SessionRecord> = {}) => sampleSession(T0, over);

function signingKey(alg: StoredSigningKey['alg'], createdAt: number): StoredSigningKey {
  return { kid: randomBytes(32).toString('base64url'), alg, privateJwk: '{"kty":"test"}', createdAt, activatesAt: createdAt, retiredAt: null };
}

/** The UserStore contract. SQL adapters only: Redis holds no users. */
export function userStoreContract(subject: () => UserStore): void {
  describe('users', () => {
    let users: UserStore;
    before(() => {
      users = subject();
    });

    it('creates and finds a user by email and id', async () => {
      const u = { id: newUserId(), email: `${randomBytes(6).toString('hex')}@example.com`, passwordHash: '$argon2id$x', createdAt: T0 };
      await users.createUser(u);
      assert.deepEqual(await users.findUserByEmail(u.email), u);
      assert.deepEqual(await users.findUserById(u.id), u);
      assert.equal(await users.findUserByEmail(`nobody-${u.email}`), null);
      assert.equal(await users.findUserById(newUserId()), null);
    });

    it('refuses a second user with the same email, also under concurrency', async () => {
      const email = `${randomBytes(6).toString('hex')}@example.com`;
      const attempts = await Promise.allSettled(
        Array.from({ length: 20 }, () => users.createUser({ id: newUserId(), email, passwordHash: 'h', createdAt: T0 })),
      );
      assert.equal(attempts.filter((a) => a.status === 'fulfilled').length, 1);
      for (const a of attempts) if (a.status === 'rejected') assert.ok(a.reason instanceof EmailTakenError, String(a.reason));
    });

    it('updates a password hash only if it is still the expected one', async () => {
      const u = { id: newUserId(), email: `${randomBytes(6).toString('hex')}@example.com`, passwordHash: 'old', createdAt: T0 };
      await users.createUser(u);
      await users.updatePasswordHash(u.id, 'not-old', 'wrong');
      assert.equal((await users.findUserById(u.id))?.passwordHash, 'old');
      await users.updatePasswordHash(u.id, 'old', 'new');
      assert.equal((await users.findUserById(u.id))?.passwordHash, 'new');
    });
  });
}

/** The SessionStore contract: creation under the cap, the rotation decision applied atomically, deletion. */
export function sessionStoreContract(subject: () => SessionStore): void {
  describe('sessions', () => {
    let sessions: SessionStore;
    before(() => {
      sessions = subject();
    });

    it('stores and returns a session unchanged', async () => {
      const x = session();
      assert.deepEqual(await sessions.createSession(x, null, strict), { evicted: [] });
      assert.deepEqual(await sessions.getSession(x.id), x);
      assert.equal(await sessions.getSession(newSessionId(newUserId())), null);
    });

    it('lists a user’s live sessions oldest first, without expired or idle ones', async () => {
      const userId = newUserId();
      const a = session({ userId, createdAt: T0, lastUsedAt: T0 });
      const b = session({ userId, createdAt: T0 + 1000, lastUsedAt: T0 + 1000 });
      const idle = session({ userId, createdAt: T0 - 2 * 24 * HOUR, lastUsedAt: T0 - 2 * 24 * HOUR, rotatedAt: T0 - 2 * 24 * HOUR });
      const ended = session({ userId, createdAt: T0 - 10, expiresAt: T0 - 1 });
      for (const x of [b, a, idle, ended]) await sessions.createSession(x, null, strict);
      const listed = await sessions.listSessions(userId, T0 + 2000, strict);
      assert.deepEqual(
        listed.map((x) => x.id),
        [a.id, b.id],
      );
      assert.deepEqual(await sessions.listSessions(newUserId(), T0, strict), []);
    });

    it('ends the oldest sessions beyond the per-user cap, atomically with the insert', async () => {
      const userId = newUserId();
      const made = [0, 1, 2].map((i) => session({ userId, createdAt: T0 + i * 1000 }));
      for (const x of made) await sessions.createSession(x, 3, strict);
      const fourth = session({ userId, createdAt: T0 + 3000 });
      const { evicted } = await sessions.createSession(fourth, 2, strict);
      assert.deepEqual(evicted.sort(), [made[0]!.id, made[1]!.id].sort());
      assert.deepEqual(
        (await sessions.listSessions(userId, T0 + 4000, strict)).map((x) => x.id),
        [made[2]!.id, fourth.id],
      );
      assert.equal(await sessions.getSession(made[0]!.id), null);
    });

    // LATCHKEY_MAX_SESSIONS bounds what a user can still use. A session past its deadline cannot
    // be used, so counting it would end a live one in its place (issue: SQLite evicted live A
    // and kept the dead B). Both dead ones sit exactly on their deadline (`now >= deadline`).
    it('counts toward the cap only sessions live at the login: not one idle for the idle timeout, nor one at its absolute end', async () => {
      const userId = newUserId();
      const live = session({ userId, createdAt: T0 - 72 * HOUR, rotatedAt: T0 - HOUR, lastUsedAt: T0 - HOUR });
      const idle = session({ userId, createdAt: T0 - 48 * HOUR, rotatedAt: T0 - 24 * HOUR, lastUsedAt: T0 - 24 * HOUR });
      const ended = session({ userId, createdAt: T0 - 36 * HOUR, rotatedAt: T0 - HOUR, lastUsedAt: T0 - HOUR, expiresAt: T0 });
      for (const x of [live, idle, ended]) await sessions.createSession(x, null, strict);
      const login = session({ userId });
      assert.deepEqual(await sessions.createSession(login, 2, strict), { evicted: [] }, 'nothing live was over the cap, and the dead are not reported');
      assert.deepEqual(await sessions.getSession(live.id), live, 'the live session stays');
      assert.deepEqual(
        (await sessions.listSessions(userId, T0, strict)).map((x) => x.id),
        [live.id, login.id],
      );
    });

    it('counts a session up to the last millisecond of its life, and then evicts the oldest live one', async () => {
      const userId = newUserId();
      const almostIdle = session({ userId, createdAt: T0 - 48 * HOUR, rotatedAt: T0 - 24 * HOUR + 1, lastUsedAt: T0 - 24 * HOUR + 1 });
      const almostEnded = session({ userId, createdAt: T0 - 36 * HOUR, rotatedAt: T0 - HOUR, lastUsedAt: T0 - HOUR, expiresAt: T0 + 1 });
      for (const x of [almostIdle, almostEnded]) await sessions.createSession(x, null, strict);
      const login = session({ userId });
      assert.deepEqual(await sessions.createSession(login, 2, strict), { evicted: [almostIdle.id] });
      assert.deepEqual(
        (await sessions.listSessions(userId, T0, strict)).map((x) => x.id),
        [almostEnded.id, login.id],
      );
    });

    it('rotates the current generation and records when', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      const out = await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 5000, strict);
      assert.equal(out.decision.kind, 'rotate');
      assert.deepEqual(out.session, { ...x, generation: 1, rotatedAt: T0 + 5000, lastUsedAt: T0 + 5000 });
      assert.deepEqual(await sessions.getSession(x.id), out.session);
    });

    it('answers the immediate predecessor inside the grace window with the same generation', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 1000, lenient);
      const again = await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 5000, lenient);
      assert.equal(again.decision.kind, 'grace');
      assert.equal(again.session?.generation, 1);
      assert.equal(again.session?.rotatedAt, T0 + 1000, 'a grace replay does not move the window');
      assert.equal((await sessions.getSession(x.id))?.generation, 1);
    });

    it('treats the predecessor after the grace window as reuse and deletes the session', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 1000, lenient);
      const late = await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 11_001 + 1, lenient);
      assert.equal(late.decision.kind, 'reuse');
      assert.equal(late.session?.userId, x.userId, 'the caller learns whose session it revoked');
      assert.equal(await sessions.getSession(x.id), null);
      const after = await sessions.rotate(x.id, { generation: 1, clientId: 'app' }, T0 + 12_000, lenient);
      assert.equal(after.decision.kind, 'not_found', 'the newest token is dead too');
    });

    it('treats any older generation as reuse, even inside the window', async () => {
      const x = session({ generation: 5, rotatedAt: T0 });
      await sessions.createSession(x, null, strict);
      const out = await sessions.rotate(x.id, { generation: 3, clientId: 'app' }, T0 + 1, lenient);
      assert.equal(out.decision.kind, 'reuse');
      assert.equal(await sessions.getSession(x.id), null);
    });

    it('refuses a future generation without revoking', async () => {
      const x = session({ generation: 2 });
      await sessions.createSession(x, null, strict);
      const out = await sessions.rotate(x.id, { generation: 3, clientId: 'app' }, T0 + 1, strict);
      assert.equal(out.decision.kind, 'future');
      assert.deepEqual(await sessions.getSession(x.id), x);
    });

    it('refuses another client’s token without touching the session', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      const out = await sessions.rotate(x.id, { generation: 0, clientId: 'other' }, T0 + 1, strict);
      assert.equal(out.decision.kind, 'wrong_client');
      assert.deepEqual(await sessions.getSession(x.id), x);
    });

    it('ends expired and idle sessions on use', async () => {
      const abs = session({ expiresAt: T0 + 1000 });
      const idle = session({ lastUsedAt: T0 - 25 * HOUR, createdAt: T0 - 25 * HOUR, rotatedAt: T0 - 25 * HOUR });
      await sessions.createSession(abs, null, strict);
      await sessions.createSession(idle, null, strict);
      const a = await sessions.rotate(abs.id, { generation: 0, clientId: 'app' }, T0 + 1000, strict);
      assert.deepEqual(a.decision, { kind: 'expired', reason: 'absolute' });
      const i = await sessions.rotate(idle.id, { generation: 0, clientId: 'app' }, T0, strict);
      assert.deepEqual(i.decision, { kind: 'expired', reason: 'idle' });
      assert.equal(await sessions.getSession(abs.id), null);
      assert.equal(await sessions.getSession(idle.id), null);
    });

    // Issue 11: DPoP-bound sessions (RFC 9449 §5) and the Bearer grace bound (DESIGN property 9).
    const KEY = 'AAAAAAAAAAAAAAAAAAAAAA';
    const OTHER_KEY = 'BBBBBBBBBBBBBBBBBBBBBB';

    it('keeps a bound session’s key id and rotates only with that key’s proof', async () => {
      const x = session({ keyId: KEY });
      await sessions.createSession(x, null, strict);
      assert.deepEqual(await sessions.getSession(x.id), x);
      const out = await sessions.rotate(x.id, { generation: 0, clientId: 'app', keyId: KEY }, T0 + 1, strict);
      assert.equal(out.decision.kind, 'rotate');
      assert.equal(out.session?.keyId, KEY);
      assert.deepEqual((await sessions.listSessions(x.userId, T0 + 1, strict)).map((s) => s.keyId), [KEY]);
    });

    for (const [what, keyId] of [['another key’s proof', OTHER_KEY], ['no proof', null]] as const) {
      it(`ends a bound session whose genuine current token comes with ${what} (key_mismatch)`, async () => {
        const x = session({ keyId: KEY });
        await sessions.createSession(x, null, strict);
        const out = await sessions.rotate(x.id, { generation: 0, clientId: 'app', keyId }, T0 + 1, lenient);
        assert.equal(out.decision.kind, 'key_mismatch');
        assert.equal(out.session?.userId, x.userId, 'the caller learns whose session it revoked');
        assert.equal(await sessions.getSession(x.id), null);
      });
    }

    it('answers a bound session’s predecessor with its key at any time, and another key’s never', async () => {
      const x = session({ keyId: KEY });
      await sessions.createSession(x, null, strict);
      await sessions.rotate(x.id, { generation: 0, clientId: 'app', keyId: KEY }, T0 + 1000, lenient);
      for (let i = 1; i <= 5; i++) {
        // Hours after the window: a lost answer is recoverable by the key's holder (issue 14 item 2).
        const late = await sessions.rotate(x.id, { generation: 0, clientId: 'app', keyId: KEY }, T0 + i * HOUR, lenient);
        assert.equal(late.decision.kind, 'grace', `replay ${i}`);
        assert.equal(late.session?.generation, 1);
      }
      const copy = await sessions.rotate(x.id, { generation: 0, clientId: 'app', keyId: OTHER_KEY }, T0 + 6 * HOUR, lenient);
      assert.equal(copy.decision.kind, 'key_mismatch');
      assert.equal(await sessions.getSession(x.id), null);
    });

    it('gives a Bearer generation at most 3 grace answers, then treats the predecessor as reuse', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 1000, lenient);
      for (let i = 1; i <= 3; i++) {
        const again = await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 1000 + i, lenient);
        assert.equal(again.decision.kind, 'grace', `grace answer ${i}`);
        assert.equal(again.session?.graceUses, i);
      }
      const fourth = await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 1005, lenient);
      assert.equal(fourth.decision.kind, 'reuse');
      assert.equal(await sessions.getSession(x.id), null);
    });

    it('restarts the Bearer grace count at each rotation', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 1000, lenient);
      for (let i = 0; i < 3; i++) await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 1001, lenient);
      const next = await sessions.rotate(x.id, { generation: 1, clientId: 'app' }, T0 + 2000, lenient);
      assert.equal(next.decision.kind, 'rotate');
      assert.equal(next.session?.graceUses, 0);
      assert.equal((await sessions.rotate(x.id, { generation: 1, clientId: 'app' }, T0 + 2001, lenient)).decision.kind, 'grace');
    });

    it('ends a Bearer ride-along: with one grace answer in each of 8 generations, the next replay is reuse', async () => {
      // A thief replaying its copy (the predecessor) just after each of the victim's rotations.
      const x = session();
      await sessions.createSession(x, null, strict);
      let t = T0;
      for (let g = 0; g < 8; g++) {
        assert.equal((await sessions.rotate(x.id, { generation: g, clientId: 'app' }, (t += 1000), lenient)).decision.kind, 'rotate', `victim ${g}`);
        const ride = await sessions.rotate(x.id, { generation: g, clientId: 'app' }, (t += 10), lenient);
        assert.equal(ride.decision.kind, 'grace', `thief ${g}`);
        assert.equal(ride.session?.graceDebt, g + 1);
      }
      assert.equal((await sessions.rotate(x.id, { generation: 8, clientId: 'app' }, (t += 1000), lenient)).decision.kind, 'rotate');
      assert.equal((await sessions.rotate(x.id, { generation: 8, clientId: 'app' }, (t += 10), lenient)).decision.kind, 'reuse', 'the ninth ride');
      assert.equal(await sessions.getSession(x.id), null);
    });

    it('pays a Bearer grace answer back with the next generation that needs none', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 1000, lenient);
      await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 1001, lenient);
      assert.equal((await sessions.getSession(x.id))?.graceDebt, 1);
      await sessions.rotate(x.id, { generation: 1, clientId: 'app' }, T0 + 2000, lenient);
      assert.equal((await sessions.getSession(x.id))?.graceDebt, 1, 'the generation that needed one does not pay');
      await sessions.rotate(x.id, { generation: 2, clientId: 'app' }, T0 + 3000, lenient);
      assert.equal((await sessions.getSession(x.id))?.graceDebt, 0, 'a clean one does');
      await sessions.rotate(x.id, { generation: 3, clientId: 'app' }, T0 + 4000, lenient);
      assert.equal((await sessions.getSession(x.id))?.graceDebt, 0, 'never below zero');
    });

    it('keeps a Bearer session Bearer when a proof comes with its token', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      const out = await sessions.rotate(x.id, { generation: 0, clientId: 'app', keyId: KEY }, T0 + 1, strict);
      assert.equal(out.decision.kind, 'rotate');
      assert.equal((await sessions.getSession(x.id))?.keyId, null);
    });

    it('reports an unknown session as not_found', async () => {
      const out = await sessions.rotate(newSessionId(newUserId()), { generation: 0, clientId: 'app' }, T0, strict);
      assert.equal(out.decision.kind, 'not_found');
      assert.equal(out.session, null);
    });

    it('50 concurrent rotations of one generation advance it exactly once (grace 0: one wins, session revoked)', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      const outs = await Promise.all(
        Array.from({ length: 50 }, () => sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 100, strict)),
      );
      const kinds = outs.map((o) => o.decision.kind);
      assert.equal(kinds.filter((k) => k === 'rotate').length, 1, kinds.join(','));
      assert.ok(kinds.every((k) => k === 'rotate' || k === 'reuse' || k === 'not_found'), kinds.join(','));
      assert.ok(kinds.includes('reuse'));
      assert.equal(await sessions.getSession(x.id), null);
    });

    it('50 concurrent rotations of a bound session’s generation advance it exactly once (grace: all share generation 1)', async () => {
      const x = session({ keyId: 'AAAAAAAAAAAAAAAAAAAAAA' });
      await sessions.createSession(x, null, strict);
      const outs = await Promise.all(
        Array.from({ length: 50 }, () => sessions.rotate(x.id, { generation: 0, clientId: 'app', keyId: x.keyId }, T0 + 100, lenient)),
      );
      const kinds = outs.map((o) => o.decision.kind);
      assert.equal(kinds.filter((k) => k === 'rotate').length, 1, kinds.join(','));
      assert.equal(kinds.filter((k) => k === 'grace').length, 49, kinds.join(','));
      assert.ok(outs.every((o) => o.session?.generation === 1));
      assert.equal((await sessions.getSession(x.id))?.generation, 1);
    });

    it('50 concurrent rotations of a Bearer generation: one rotates, 3 share its successor, the next is reuse', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      const outs = await Promise.all(
        Array.from({ length: 50 }, () => sessions.rotate(x.id, { generation: 0, clientId: 'app' }, T0 + 100, lenient)),
      );
      const kinds = outs.map((o) => o.decision.kind);
      assert.equal(kinds.filter((k) => k === 'rotate').length, 1, kinds.join(','));
      assert.equal(kinds.filter((k) => k === 'grace').length, 3, kinds.join(','));
      assert.equal(kinds.filter((k) => k === 'reuse').length, 1, kinds.join(','));
      assert.equal(kinds.filter((k) => k === 'not_found').length, 45, kinds.join(','));
      assert.equal(await sessions.getSession(x.id), null);
    });

    it('deletes one session and reports what it deleted', async () => {
      const x = session();
      await sessions.createSession(x, null, strict);
      assert.deepEqual(await sessions.deleteSession(x.id), x);
      assert.equal(await sessions.deleteSession(x.id), null);
      assert.equal(await sessions.getSession(x.id), null);
    });

    it('deletes a batch of a user’s sessions, and nothing of anyone else’s', async () => {
      const userId = newUserId();
      const mine = [0, 1, 2].map((i) => session({ userId, createdAt: T0 + i }));
      const theirs = session();
      for (const x of [...mine, theirs]) await sessions.createSession(x, null, strict);
      const ended = await sessions.deleteSessions(userId, [mine[0]!.id, mine[2]!.id, theirs.id, newSessionId(userId)]);
      assert.deepEqual(ended.sort(), [mine[0]!.id, mine[2]!.id].sort(), 'only the user’s own, existing sessions');
      assert.deepEqual(
        (await sessions.listSessions(userId, T0 + 10, strict)).map((x) => x.id),
        [mine[1]!.id],
      );
      assert.deepEqual(await sessions.deleteSessions(userId, [mine[1]!.id, mine[1]!.id]), [mine[1]!.id]);
      assert.deepEqual(await sessions.deleteSessions(userId, []), []);
      assert.deepEqual(await sessions.getSession(theirs.id), theirs);
      await assert.rejects(sessions.deleteSessions(userId, Array.from({ length: MAX_SESSION_PAGE + 1 }, () => newSessionId(userId))), 'a batch is bounded');
    });

    it('pages a user’s sessions by (createdAt, id), keyset: nothing missed or repeated when sessions end between pages', async () => {
      const userId = newUserId();
      // Ties on createdAt are ordered by id; 150 sessions also take Redis past its small-group form.
      const made = Array.from({ length: 150 }, (_, i) => session({ userId, createdAt: T0 + Math.floor(i / 3) }));
      for (const x of made) await sessions.createSession(x, null, lenient);
      const order = [...made].sort((x, y) => x.createdAt - y.createdAt || (x.id < y.id ? -1 : 1)).map((x) => x.id);
      const seen: string[] = [];
      let after: { createdAt: number; id: string } | null = null;
      for (let round = 0; ; round++) {
        const page = await sessions.listSessions(userId, T0 + 100, lenient, { limit: 7, after });
        assert.ok(page.length <= 7);
        seen.push(...page.map((x) => x.id));
        if (page.length < 7) break;
        const last = page.at(-1)!;
        after = { createdAt: last.createdAt, id: last.id };
        // The cursor's own session ends before the next page is read.
        if (round === 3) assert.deepEqual(await sessions.deleteSessions(userId, [last.id]), [last.id]);
      }
      assert.deepEqual(seen, order);
      assert.equal((await sessions.listSessions(userId, T0 + 100, lenient)).length, 149);
      assert.equal((await sessions.listSessions(userId, T0 + 100, lenient, { limit: 5000 })).length, 149, 'a page holds at most MAX_SESSION_PAGE');
    });

    it('leaves dead sessions out of pages without ending the paging early', async () => {
      const userId = newUserId();
      const live = Array.from({ length: 80 }, (_, i) => session({ userId, createdAt: T0 + 100 + i }));
      // Old sessions gone idle between live ones (they sort first).
      const idle = Array.from({ length: 80 }, (_, i) => session({ userId, createdAt: T0 - 2 * 24 * HOUR + i, lastUsedAt: T0 - 2 * 24 * HOUR + i, rotatedAt: T0 - 2 * 24 * HOUR }));
      for (const x of [...idle, ...live]) await sessions.createSession(x, null, lenient);
      const first = await sessions.listSessions(userId, T0 + 200, lenient, { limit: 10 });
      assert.deepEqual(first.map((x) => x.id), live.slice(0, 10).map((x) => x.id));
    });

    it('under the cap, a user with many sessions loses the oldest and keeps the rest, in bounded steps', async () => {
      const userId = newUserId();
      const made = Array.from({ length: 300 }, (_, i) => session({ userId, createdAt: T0 + i }));
      for (const x of made) await sessions.createSession(x, null, strict);
      const login = session({ userId, createdAt: T0 + 1000 });
      const { evicted } = await sessions.createSession(login, 100, strict);
      assert.deepEqual(evicted.sort(), made.slice(0, 201).map((x) => x.id).sort());
      const left = await sessions.listSessions(userId, T0 + 2000, strict);
      assert.deepEqual(left.map((x) => x.id), [...made.slice(201).map((x) => x.id), login.id]);
    });
  });
}

/**
 * A session store that ends sessions itself (thefts in `rotate`, evictions in `createSession`)
 * publishes them on its own revocation feed in the same step when given `revokeUntil`, saying
 * which theft it was: what every instance tells the session's later holders.
 */
export function sessionRevocationContract(subject: () => { sessions: SessionStore; revocations: RevocationFeed }): void {
  describe('sessions publish what they end', () => {
    it('a reuse, a copy without the key and a max-sessions eviction are on the feed, each with its kind, when the call returns', async () => {
      const { sessions, revocations } = subject();
      const live = new Map<string, Revocation>();
      let subscribed = false;
      const stop = revocations.subscribe(
        (r, isLive) => {
          if (isLive === false) return;
          const prev = live.get(r.sessionId);
          const theft = mergeTheft(prev?.theft, r.theft);
          live.set(r.sessionId, { sessionId: r.sessionId, until: r.until, ...(theft ? { theft } : {}) });
        },
        () => {
          subscribed = true;
        },
      );
      try {
        const ready = Date.now() + 5000;
        while (!subscribed && Date.now() < ready) await new Promise((r) => setTimeout(r, 10));
        const now = Date.now();
        const until = now + 60_000;
        const x = sampleSession(now);
        await sessions.createSession(x, null, strict);
        await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, now + 1, strict, until);
        assert.equal((await sessions.rotate(x.id, { generation: 0, clientId: 'app' }, now + 2, strict, until)).decision.kind, 'reuse');
        const userId = newUserId();
        const old = sampleSession(now, { userId });
        await sessions.createSession(old, 1, strict, until);
        const { evicted } = await sessions.createSession(sampleSession(now + 1, { userId }), 1, strict, until);
        assert.deepEqual(evicted, [old.id]);
        // A key-bound session's token used with another key's proof (or none): a copy.
        const bound = sampleSession(now, { keyId: 'AAAAAAAAAAAAAAAAAAAAAA' });
        await sessions.createSession(bound, null, strict);
        const copy = await sessions.rotate(bound.id, { generation: 0, clientId: 'app', keyId: 'BBBBBBBBBBBBBBBBBBBBBB' }, now + 1, strict, until);
        assert.equal(copy.decision.kind, 'key_mismatch');
        const active = await revocations.loadActive(now);
        const loaded = (sid: string) => active.find((r) => r.sessionId === sid);
        assert.equal(loaded(x.id)?.theft, 'reuse', 'the replay of an older token: reuse');
        assert.equal(loaded(bound.id)?.theft, 'copy', 'the key mismatch: a copy');
        assert.ok(loaded(old.id) && loaded(old.id)!.until >= until, 'the eviction');
        assert.equal(loaded(old.id)?.theft, undefined, 'an eviction is no theft');
        // Live delivery says the same (a subscriber merges what it hears, as RevocationSet does).
        const deadline = Date.now() + 3000;
        while (![x.id, bound.id, old.id].every((sid) => live.has(sid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.equal(live.get(x.id)?.theft, 'reuse', 'live: reuse');
        assert.equal(live.get(bound.id)?.theft, 'copy', 'live: copy');
        assert.ok(live.has(old.id), 'live: the eviction');
        assert.equal(live.get(old.id)?.theft, undefined, 'live: an eviction is no theft');
      } finally {
        stop();
      }
    });
  });
}

/** The RevocationFeed contract: durable recent revocations, delivered live. */
export function revocationFeedContract(subject: () => RevocationFeed): void {
  describe('revocation feed', () => {
    let feed: RevocationFeed;
    before(() => {
      feed = subject();
    });

    it('keeps revocations until they lapse and delivers them live', async () => {
      const got: string[] = [];
      const heard: Revocation[] = [];
      let subscribed = false;
      const stop = feed.subscribe(
        (r, isLive) => {
          got.push(r.sessionId);
          if (isLive !== false) heard.push(r);
        },
        () => {
          subscribed = true;
        },
      );
      const ready = Date.now() + 5000;
      while (!subscribed && Date.now() < ready) await new Promise((r) => setTimeout(r, 10));
      const live: Revocation = { sessionId: newSessionId(newUserId()), until: Date.now() + HOUR, theft: 'reuse' };
      const copied: Revocation = { sessionId: newSessionId(newUserId()), until: Date.now() + HOUR, theft: 'copy' };
      const ended: Revocation = { sessionId: newSessionId(newUserId()), until: Date.now() + HOUR };
      const lapsed = { sessionId: newSessionId(newUserId()), until: Date.now() - 1 };
      await feed.add(live);
      await feed.add(copied);
      await feed.add(ended);
      await feed.add(lapsed);
      const deadline = Date.now() + 2000;
      while (!heard.some((r) => r.sessionId === ended.sessionId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      stop();
      assert.ok(got.includes(live.sessionId), 'delivered to a subscriber');
      const loaded = await feed.loadActive(Date.now());
      const active = loaded.map((r) => r.sessionId);
      assert.ok(active.includes(live.sessionId));
      assert.ok(!active.includes(lapsed.sessionId));
      assert.equal(loaded.find((r) => r.sessionId === live.sessionId)?.theft, 'reuse', 'the reuse survives');
      assert.equal(loaded.find((r) => r.sessionId === copied.sessionId)?.theft, 'copy', 'the copy survives');
      assert.equal(loaded.find((r) => r.sessionId === ended.sessionId)?.theft, undefined, 'an ordinary end stays one');
      assert.deepEqual(
        heard.filter((r) => r.sessionId === copied.sessionId).reduce<Theft | undefined>((t, r) => mergeTheft(t, r.theft), undefined),
        'copy',
        'a subscriber hears the copy as one',
      );
    });
  });
}

/** The KeyStore contract. SQL adapters only: key material never enters Redis. */
export function keyStoreContract(subject: () => KeyStore): void {
  describe('keys', () => {
    let keys: KeyStore;
    before(() => {
      keys = subject();
    });

    it('creates exactly one active signing key under concurrent starts, and keeps it', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => keys.ensureActiveSigningKey('EdDSA', () => signingKey('EdDSA', T0 + i), T0 + i)),
      );
      for (const keys of results) assert.equal(keys.filter((k) => k.retiredAt === null).length, 1);
      const active = results[0]!.find((k) => k.retiredAt === null)!;
      const again = await keys.ensureActiveSigningKey('EdDSA', () => signingKey('EdDSA', T0 + 99), T0 + 99);
      assert.equal(again.find((k) => k.retiredAt === null)?.kid, active.kid);
    });

    it('retires the active key when the algorithm changes or on rotation, keeping the old one listed', async () => {
      const before = (await keys.listSigningKeys()).find((k) => k.retiredAt === null)!;
      const es = await keys.ensureActiveSigningKey('ES256', () => signingKey('ES256', T0 + 200), T0 + 200);
      const active = es.filter((k) => k.retiredAt === null);
      assert.equal(active.length, 1);
      assert.equal(active[0]!.alg, 'ES256');
      assert.equal(es.find((k) => k.kid === before.kid)?.retiredAt, T0 + 200);
      const next = signingKey('ES256', T0 + 300);
      const rotated = await keys.rotateSigningKey(next, T0 + 300);
      assert.equal(rotated.rotated, true);
      assert.deepEqual(
        rotated.keys.filter((k) => k.retiredAt === null).map((k) => k.kid),
        [next.kid],
      );
      assert.deepEqual(await keys.listSigningKeys(), rotated.keys);
    });

    it('rotates to a pending key: the old one retires when it activates; of 10 concurrent rotations exactly one wins', async () => {
      const now = T0 + 1000;
      const old = (await keys.listSigningKeys()).find((k) => k.retiredAt === null)!;
      const candidates = Array.from({ length: 10 }, () => ({ ...signingKey('ES256', now), activatesAt: now + 500 }));
      const results = await Promise.all(candidates.map((c) => keys.rotateSigningKey(c, now)));
      assert.equal(results.filter((r) => r.rotated).length, 1);
      const winner = candidates[results.findIndex((r) => r.rotated)]!;
      const after = await keys.listSigningKeys();
      assert.equal(after.find((k) => k.kid === old.kid)?.retiredAt, now + 500, 'the old key retires when the pending one takes over');
      const pending = after.find((k) => k.kid === winner.kid)!;
      assert.equal(pending.activatesAt, now + 500);
      assert.equal(pending.retiredAt, null);
      assert.equal(after.filter((k) => candidates.some((c) => c.kid === k.kid)).length, 1, 'losers inserted nothing');
      // Still pending: another rotation changes nothing; the same alg is not "missing" for ensure.
      assert.equal((await keys.rotateSigningKey(signingKey('ES256', now + 100), now + 100)).rotated, false);
      assert.deepEqual(await keys.ensureActiveSigningKey('ES256', () => signingKey('ES256', now + 100), now + 100), after);
      // Scheduled: only once the newest activated before the guard's time.
      const late = now + 600;
      assert.equal((await keys.rotateSigningKey({ ...signingKey('ES256', late), activatesAt: late + 500 }, late, { ifNewestActivatedBefore: now + 500 })).rotated, false);
      assert.equal((await keys.rotateSigningKey({ ...signingKey('ES256', late), activatesAt: late + 500 }, late, { ifNewestActivatedBefore: now + 501 })).rotated, true);
    });

    it('replaces one key\'s stored material only if it is still what the caller read', async () => {
      const k = (await keys.listSigningKeys())[0]!;
      assert.equal(await keys.replaceSigningKeyMaterial(k.kid, 'not it', 'x'), false);
      assert.equal(await keys.replaceSigningKeyMaterial(k.kid, k.privateJwk, 'sealed'), true);
      assert.equal(await keys.replaceSigningKeyMaterial(k.kid, k.privateJwk, 'again'), false);
      assert.equal((await keys.listSigningKeys()).find((x) => x.kid === k.kid)?.privateJwk, 'sealed');
    });

    it('creates the refresh MAC secret once, whoever asks first', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => keys.ensureMacKeys({ id: 1, secret: randomBytes(32), createdAt: T0 + i, activatesAt: T0 + i })),
      );
      const first = results[0]!;
      assert.equal(first.length, 1);
      for (const r of results) assert.ok(r[0]!.secret.equals(first[0]!.secret));
    });

    it('rotates MAC secrets: next id, pending first, exactly one of concurrent rotations wins, and drops what nothing can use', async () => {
      const now = T0 + 10_000;
      const mk = (at: number) => (id: number) => ({ id, secret: randomBytes(32), createdAt: at, activatesAt: at + 100 });
      const results = await Promise.all(Array.from({ length: 10 }, () => keys.rotateMacKey(mk(now), now, 0)));
      assert.equal(results.filter((r) => r.rotated).length, 1);
      let macs = await keys.listMacKeys();
      assert.deepEqual(macs.map((m) => m.id), [1, 2]);
      assert.equal(macs[1]!.activatesAt, now + 100);
      assert.equal((await keys.rotateMacKey(mk(now + 50), now + 50, 0)).rotated, false, 'one is pending');
      // Key 1 stopped at now + 100 (key 2 took over): dropped once that is before dropBefore.
      assert.equal((await keys.rotateMacKey(mk(now + 200), now + 200, now + 100, { ifNewestActivatedBefore: now + 100 })).rotated, false);
      assert.deepEqual((await keys.listMacKeys()).map((m) => m.id), [1, 2], 'not before its successor activated + lifetime');
      const r = await keys.rotateMacKey(mk(now + 200), now + 200, now + 101);
      assert.equal(r.rotated, true);
      macs = await keys.listMacKeys();
      assert.deepEqual(macs.map((m) => m.id), [2, 3]);
      assert.deepEqual(r.keys, macs);
      assert.equal(await keys.replaceMacSecret(2, Buffer.alloc(32), Buffer.alloc(64, 1)), false);
      assert.equal(await keys.replaceMacSecret(2, macs[0]!.secret, Buffer.alloc(64, 1)), true);
      assert.ok((await keys.listMacKeys())[0]!.secret.equals(Buffer.alloc(64, 1)));
    });
  });
}

/** The RateLimitStore contract. */
/** ProofReplayStore (RFC 9449 §11.1): a proof is used once within its window, on every adapter. */
export function proofReplayContract(subject: () => ProofReplayStore): void {
  describe('DPoP proof replay', () => {
    it('admits a proof once within its window, and a different proof independently', async () => {
      const proofs = subject();
      const now = Date.now();
      const key = `k${Math.random().toString(36).slice(2)}`;
      assert.equal(await proofs.firstUse(key, Math.floor(now / 1000), 60_000, now), true);
      assert.equal(await proofs.firstUse(key, Math.floor(now / 1000), 60_000, now + 1), false, 'a replay');
      assert.equal(await proofs.firstUse(`${key}x`, Math.floor(now / 1000), 60_000, now + 2), true);
    });

    it('answers once under 20 concurrent uses of one proof', async () => {
      const proofs = subject();
      const now = Date.now();
      const key = `c${Math.random().toString(36).slice(2)}`;
      const outs = await Promise.all(Array.from({ length: 20 }, () => proofs.firstUse(key, Math.floor(now / 1000), 60_000, now)));
      assert.equal(outs.filter(Boolean).length, 1);
    });
  });
}

export function rateLimitStoreContract(subject: () => RateLimitStore): void {
  describe('rate limits', () => {
    let rateLimits: RateLimitStore;
    before(() => {
      rateLimits = subject();
    });

    it('counts hits in a window that expires, and resets', async () => {
      const key = `t:${randomBytes(6).toString('hex')}`;
      const now = Date.now();
      assert.equal(await rateLimits.peek(key, now), null);
      const hits = await Promise.all(Array.from({ length: 5 }, () => rateLimits.hit(key, 60_000, now)));
      assert.deepEqual(hits.map((h) => h.count).sort((a, b) => a - b), [1, 2, 3, 4, 5]);
      assert.equal((await rateLimits.peek(key, now))?.count, 5);
      await rateLimits.reset(key);
      assert.equal(await rateLimits.peek(key, now), null);
      const short = `t:${randomBytes(6).toString('hex')}`;
      await rateLimits.hit(short, 200, Date.now());
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await rateLimits.peek(short, Date.now()), null, 'the window lapsed');
    });

    it('takes hits back atomically, removes a counter at 0 and never goes below it', async () => {
      const key = `t:${randomBytes(6).toString('hex')}`;
      const now = Date.now();
      await Promise.all(Array.from({ length: 5 }, () => rateLimits.hit(key, 60_000, now)));
      await Promise.all(Array.from({ length: 3 }, () => rateLimits.undo(key, now)));
      assert.equal((await rateLimits.peek(key, now))?.count, 2);
      await Promise.all(Array.from({ length: 4 }, () => rateLimits.undo(key, now)));
      assert.equal(await rateLimits.peek(key, now), null);
      await rateLimits.undo(key, now);
      assert.equal((await rateLimits.hit(key, 60_000, now)).count, 1, 'a new window starts at 1, not below');
    });

    // Issue 12 item 4: the embedded store used to evict its oldest key when full, so fresh keys
    // (one per attacker source) flushed a victim's counter. No adapter may trade a live counter for room.
    it('a flood of fresh keys leaves every live counter as it was', async () => {
      const tag = randomBytes(6).toString('hex');
      const now = Date.now();
      for (let i = 0; i < 3; i++) await rateLimits.hit(`t:${tag}:victim`, 60_000, now);
      for (let batch = 0; batch < 20; batch++) {
        await Promise.all(Array.from({ length: 100 }, (_, i) => rateLimits.hit(`t:${tag}:flood:${batch * 100 + i}`, 60_000, now)));
      }
      assert.equal((await rateLimits.peek(`t:${tag}:victim`, now))?.count, 3);
      assert.equal((await rateLimits.hit(`t:${tag}:victim`, 60_000, now)).count, 4);
    });
  });
}

/** Every adapter's bundle reports on its own backend. */
export function healthContract(subject: () => { health(): Promise<HealthReport[]> }): void {
  it('reports healthy', async () => {
    const checks = await subject().health();
    assert.ok(checks.length > 0 && checks.every((c) => c.ok));
  });
}
