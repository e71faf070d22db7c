// The ride-along attack of issue 11, as a script against a real server on a virtual clock.
//
// A victim client renews its access token as @latchkey/client does (at the first call inside the
// renewal margin, min(30 s, 20 % of the lifetime) before expiry) and calls the API at irregular
// intervals. A thief holds copies of the victim's refresh and access tokens, taken between two
// renewals; it polls everything the stolen access token opens and replays its refresh token on
// whatever schedule it can learn or guess. The server runs in this process with a clock the
// script advances, and every request is made in turn: each run is one deterministic sequence of
// HTTP exchanges with the real server (real routes, real store), minutes of it in a second.
//
// What it shows (numbers in the diagnostics): a bound session's copy is worthless and fatal, at its
// first use whatever the schedule. A Bearer session's copy is caught within tens of seconds by a
// thief out of step with the victim, but one that replays in step with the client's renewal rule
// (no timing from the server needed) rides along for as long as it stays within the grace window
// of the victim's renewals; only LATCHKEY_REUSE_GRACE=0 bounds it, by one renewal period.
import assert from 'node:assert/strict';
import { seededRandom } from '../harness/fault-proxy.js';
import { BEARER_GRACE_DEBT } from '../../packages/server/src/domain/key-binding.js';
import { after, before, describe, it } from 'node:test';
import { call, type Res, type Tokens } from '../helpers/http.js';
import { DpopKey } from '../helpers/dpop.js';
import { startServer, type TestServer } from '../helpers/server.js';

const ACCESS_TTL_S = 10;
const GRACE_S = 10; // the default LATCHKEY_REUSE_GRACE
const LEEWAY_S = 5; // the default LATCHKEY_CLOCK_LEEWAY
/** @latchkey/client's renewal margin for a 10 s token: min(30 s, 20 % of the lifetime). */
const MARGIN_MS = Math.min(30_000, 0.2 * ACCESS_TTL_S * 1000);

class VirtualClock {
  // A minute boundary plus 1 s: the minute-granular times the server shows change at known instants.
  t = Math.ceil(Date.now() / 60_000) * 60_000 + 1000;
  readonly now = () => this.t;
  sec = () => Math.floor(this.t / 1000);
}

interface Held {
  at: string;
  rt: string;
  issuedAt: number;
  expiresAt: number;
}

function held(clock: VirtualClock, body: Tokens): Held {
  return { at: body.access_token, rt: body.refresh_token, issuedAt: clock.t, expiresAt: clock.t + body.expires_in * 1000 };
}

/** When @latchkey/client renews a token it holds. */
const renewalDue = (h: Held) => h.expiresAt - Math.min(MARGIN_MS, 0.2 * (h.expiresAt - h.issuedAt));

interface Actor {
  next: number;
  done: boolean;
  step(): Promise<void>;
}

class World {
  /** Virtual time the session was first ended as a copy (reuse or key mismatch), by whoever tripped it. */
  detectedAt: number | null = null;
  constructor(
    readonly srv: TestServer,
    readonly clock: VirtualClock,
  ) {}

  theftEvents(): number {
    return this.srv.events('session.reuse_detected').length + this.srv.events('session.key_mismatch').length;
  }

  /** Runs the actors in time order (ties: the order given) until none is left or `untilMs` passes. */
  async run(actors: Actor[], untilMs: number): Promise<void> {
    const before = this.theftEvents();
    for (;;) {
      const live = actors.filter((a) => !a.done);
      if (live.length === 0) return;
      const a = live.reduce((m, x) => (x.next < m.next ? x : m));
      if (a.next > untilMs) return;
      this.clock.t = Math.max(this.clock.t, a.next);
      await a.step();
      if (this.detectedAt === null && this.theftEvents() > before) this.detectedAt = this.clock.t;
    }
  }

  post(path: string, json: unknown, key: DpopKey | null): Promise<Res> {
    if (key) return key.post(this.srv.url, path, json, { iat: this.clock.sec() });
    return call(this.srv.url, 'POST', path, { json });
  }

  refresh(rt: string, key: DpopKey | null): Promise<Res<Tokens & { reason?: string }>> {
    return this.post('/auth/token', { grant_type: 'refresh_token', refresh_token: rt }, key);
  }

  /** A resource request as the holder of `key` makes it: DPoP scheme and proof, or Bearer without a key. */
  get(path: string, at: string, key: DpopKey | null): Promise<Res> {
    if (key) return key.resource(this.srv.url, 'GET', path, at, { iat: this.clock.sec() });
    return call(this.srv.url, 'GET', path, { token: at });
  }
}

/** The victim: renews on @latchkey/client's schedule, calls GET /auth/me every 300-700 ms. */
class Victim implements Actor {
  next = 0;
  done = false;
  tokens!: Held;
  renewals: number[] = [];
  apiCalls = 0;
  apiFailures = 0;
  firstRefusedAt: number | null = null;
  signedOut: { at: number; reason: string } | null = null;
  private readonly gap: () => number;

  constructor(
    readonly w: World,
    readonly key: DpopKey | null,
    seed = 1,
  ) {
    // Irregular but reproducible gaps between the victim's API calls.
    const r = seededRandom(seed);
    this.gap = () => 300 + Math.floor(r() * 400);
  }

  async signUp(): Promise<void> {
    const body = { email: `ride-${Math.random().toString(36).slice(2)}@example.com`, password: 'correct horse battery' };
    const r = await this.w.post('/auth/signup', body, this.key);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.token_type, this.key ? 'DPoP' : 'Bearer');
    this.tokens = held(this.w.clock, r.body);
    this.next = this.w.clock.t + this.gap();
  }

  private async renew(): Promise<boolean> {
    const r = await this.w.refresh(this.tokens.rt, this.key);
    if (r.status === 200) {
      this.tokens = held(this.w.clock, r.body);
      this.renewals.push(this.w.clock.t);
      return true;
    }
    this.signedOut = { at: this.w.clock.t, reason: r.body.reason ?? `status ${r.status}` };
    this.done = true;
    return false;
  }

  async step(): Promise<void> {
    if (this.w.clock.t >= renewalDue(this.tokens) && !(await this.renew())) return;
    this.apiCalls++;
    let r = await this.w.get('/auth/me', this.tokens.at, this.key);
    if (r.status === 401) {
      this.firstRefusedAt ??= this.w.clock.t;
      // The client's answer to an invalid_token challenge: renew once and retry.
      if (!(await this.renew())) {
        this.apiFailures++;
        return;
      }
      r = await this.w.get('/auth/me', this.tokens.at, this.key);
    }
    if (r.status !== 200) this.apiFailures++;
    this.next = this.w.clock.t + this.gap();
  }
}

type Schedule =
  /** Polls GET /auth/sessions and /auth/me every 250 ms; replays when an answer changes or the access token stops working. */
  | { kind: 'poll' }
  /** Replays every 2 s. */
  | { kind: 'every'; ms: number }
  /** Replays `afterMs` after the renewal the client library would make of the access token the thief last got. */
  | { kind: 'predicted'; afterMs: number }
  /**
   * Replays `afterMs` (negative: before) the renewal predicted from the stolen token, then once per renewal
   * period of the victim (the lifetime less the margin, plus the mean gap of its calls): it keeps
   * in step with the victim rather than with its own tokens.
   */
  | { kind: 'in-step'; afterMs: number; periodMs: number };

/** How the thief sends what it holds: with no proof, with its own key's proofs, or (Bearer sessions) as Bearer. */
type Sending = 'no-proof' | 'own-key' | 'bearer';

class Thief implements Actor {
  next: number;
  done = false;
  tokens: Held;
  replays = 0;
  successes: number[] = [];
  refused: { at: number; reason: string } | null = null;
  pollAnswers = 0;
  pollRefusals = 0;
  private lastSeen: string | null = null;
  private readonly key: DpopKey | null;

  constructor(
    readonly w: World,
    stolen: Held,
    readonly schedule: Schedule,
    sending: Sending,
  ) {
    this.tokens = { ...stolen };
    this.key = sending === 'own-key' ? new DpopKey() : null;
    this.next = this.firstReplayAt();
  }

  private firstReplayAt(): number {
    const now = this.w.clock.t;
    switch (this.schedule.kind) {
      case 'poll':
        return now;
      case 'every':
        return now + this.schedule.ms;
      case 'predicted':
      case 'in-step':
        return Math.max(now, renewalDue(this.tokens) + this.schedule.afterMs);
    }
  }

  private async replay(): Promise<void> {
    this.replays++;
    const r = await this.w.refresh(this.tokens.rt, this.key);
    if (r.status === 200) {
      this.tokens = held(this.w.clock, r.body);
      this.successes.push(this.w.clock.t);
    } else {
      this.refused = { at: this.w.clock.t, reason: r.body.reason ?? `status ${r.status}` };
      this.done = true;
    }
  }

  /** Everything GET-able the stolen access token opens, as one string: any change is a signal. */
  private async poll(): Promise<{ answer: string; ok: boolean }> {
    const rs = await Promise.all(['/auth/sessions', '/auth/me'].map((p) => this.w.get(p, this.tokens.at, this.key)));
    const ok = rs.every((r) => r.status === 200);
    if (ok) this.pollAnswers++;
    else this.pollRefusals++;
    return { answer: rs.map((r) => `${r.status} ${r.text}`).join('\n'), ok };
  }

  async step(): Promise<void> {
    const s = this.schedule;
    switch (s.kind) {
      case 'poll': {
        const { answer, ok } = await this.poll();
        const changed = this.lastSeen !== null && answer !== this.lastSeen;
        this.lastSeen = answer;
        // A refused poll means the token expired: the victim must have renewed a while ago.
        if (changed || !ok) {
          await this.replay();
          this.lastSeen = null;
        }
        this.next = this.w.clock.t + 250;
        return;
      }
      case 'every':
        await this.replay();
        this.next = this.w.clock.t + s.ms;
        return;
      case 'predicted':
        await this.replay();
        this.next = renewalDue(this.tokens) + s.afterMs;
        return;
      case 'in-step':
        await this.replay();
        this.next += s.periodMs;
        return;
    }
  }
}

interface Outcome {
  victim: Victim;
  thief: Thief;
  theftAt: number;
  detectedAt: number | null;
  endedAt: number;
}

/** One attack: `phaseMs` after a minute boundary the victim signs up, the thief copies its tokens 3 s later, both run until `forMs` of virtual time has passed. */
async function attack(srv: TestServer, o: { bound: boolean; schedule: Schedule; sending: Sending; forMs: number; seed?: number; phaseMs?: number }): Promise<Outcome> {
  const w = new World(srv, clock);
  // Each run starts at a set point of the minute, so what the thief sees of minute-granular times is the same every run.
  clock.t = Math.ceil((clock.t + 1) / 60_000) * 60_000 + (o.phaseMs ?? 1000);
  const start = w.clock.t;
  const victim = new Victim(w, o.bound ? new DpopKey() : null, o.seed);
  await victim.signUp();
  await w.run([victim], start + 3000);
  const theftAt = w.clock.t;
  const thief = new Thief(w, victim.tokens, o.schedule, o.sending);
  await w.run([victim, thief], theftAt + o.forMs);
  return { victim, thief, theftAt, detectedAt: w.detectedAt, endedAt: w.clock.t };
}

function describeOutcome(name: string, o: Outcome): string {
  const rel = (t: number | null | undefined) => (t === null || t === undefined ? '-' : `${((t - o.theftAt) / 1000).toFixed(1)}s`);
  return (
    `${name}: thief ${o.thief.successes.length} successful refreshes of ${o.thief.replays} replays (first ${rel(o.thief.successes[0])}), ` +
    `polls answered ${o.thief.pollAnswers} refused ${o.thief.pollRefusals}; detected ${rel(o.detectedAt)} after the theft` +
    (o.thief.successes[0] !== undefined && o.detectedAt !== null ? `, ${((o.detectedAt - o.thief.successes[0]) / 1000).toFixed(1)}s after the thief's first success` : '') +
    `; victim renewed ${o.victim.renewals.length}x, ${o.victim.apiCalls} API calls, signed out ${rel(o.victim.signedOut?.at)} (${o.victim.signedOut?.reason ?? 'no'}); ` +
    `thief refused ${rel(o.thief.refused?.at)} (${o.thief.refused?.reason ?? 'no'})`
  );
}

// One server per describe block; its clock only ever moves forward, each run starting where the last ended.
const clock = new VirtualClock();


/**
 * The victim's mean renewal period: the lifetime less the margin, plus the mean wait from the due
 * time to its next call (for gaps uniform in 300-700 ms, E[gap²] / 2E[gap] = 263 ms).
 */
const IN_STEP_PERIOD_MS = ACCESS_TTL_S * 1000 - MARGIN_MS + 263;
const SCHEDULES: Array<[string, Schedule]> = [
  ['polling every endpoint the access token opens', { kind: 'poll' }],
  ['blind, every 2 s', { kind: 'every', ms: 2000 }],
  ['right after the predicted renewal', { kind: 'predicted', afterMs: 200 }],
  ['in step with the victim, 1 s behind', { kind: 'in-step', afterMs: 1000, periodMs: IN_STEP_PERIOD_MS }],
  ['in step with the victim, 1 s ahead', { kind: 'in-step', afterMs: -1000, periodMs: IN_STEP_PERIOD_MS }],
];
const TEN_MINUTES = 600_000;

function serverFor(env: Record<string, string>): { get(): TestServer } {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ LATCHKEY_ACCESS_TTL: String(ACCESS_TTL_S), LATCHKEY_CLOCK_LEEWAY: String(LEEWAY_S), ...env }, { now: clock.now });
  });
  after(() => srv?.close());
  return { get: () => srv };
}

describe('ride-along on a DPoP-bound session: the thief does not hold the key', () => {
  const server = serverFor({ LATCHKEY_REUSE_GRACE: String(GRACE_S) });

  for (const sending of ['no-proof', 'own-key'] as const) {
    for (const [name, schedule] of SCHEDULES) {
      it(`${sending === 'own-key' ? 'proofs by its own key' : 'no proof'}, ${name}: the first replay is refused and the session dies within 1 s`, async (t) => {
        const o = await attack(server.get(), { bound: true, schedule, sending, forMs: TEN_MINUTES });
        t.diagnostic(describeOutcome(`bound, ${sending}, ${name}`, o));
        assert.deepEqual(o.thief.successes, [], 'no successful refresh');
        assert.equal(o.thief.replays, 1, 'the first replay is the last');
        assert.equal(o.thief.refused?.reason, 'dpop_key_mismatch');
        assert.equal(o.thief.pollAnswers, 0, 'the stolen access token opens nothing without its key');
        assert.equal(o.detectedAt, o.thief.refused!.at, 'the copy is recognised at its first use');
        // Everywhere: the victim's next API call is refused, and its renewal with its own key too, with the theft reason.
        assert.ok(o.victim.firstRefusedAt !== null && o.victim.firstRefusedAt - o.detectedAt! <= 1000, `victim's access refused ${o.victim.firstRefusedAt! - o.detectedAt!} ms after`);
        assert.ok(o.victim.signedOut && o.victim.signedOut.at - o.detectedAt! <= 1000, 'victim signed out within 1 s');
        assert.equal(o.victim.signedOut.reason, 'dpop_key_mismatch', 'the victim hears which theft it was');
        assert.equal(o.victim.apiFailures, 1, 'the victim saw no failure before the theft was caught');
      });
    }
  }

  it('the stolen access token is refused as Bearer, with the thief’s own proof, and with the victim’s proof replayed', async () => {
    const w = new World(server.get(), clock);
    const victim = new Victim(w, new DpopKey());
    await victim.signUp();
    const at = victim.tokens.at;
    const asBearer = await w.get('/auth/sessions', at, null);
    assert.equal(asBearer.status, 401);
    assert.equal(asBearer.body.reason, 'access_token_bound');
    const ownKey = await w.get('/auth/sessions', at, new DpopKey());
    assert.equal(ownKey.status, 401);
    assert.equal(ownKey.body.reason, 'dpop_proof_invalid');
    // A proof the victim sent, captured with its token: single use (RFC 9449 §11.1).
    const proof = victim.key!.proof(`${w.srv.url}/auth/sessions`, 'GET', { accessToken: at, nonce: null, iat: clock.sec() });
    const headers = { authorization: `DPoP ${at}`, dpop: proof };
    assert.equal((await call(w.srv.url, 'GET', '/auth/sessions', { headers })).status, 200, 'the victim’s request');
    const replayed = await call(w.srv.url, 'GET', '/auth/sessions', { headers });
    assert.equal(replayed.status, 401);
    assert.equal(replayed.body.reason, 'dpop_proof_invalid');
  });
});

describe('ride-along on a Bearer session, default grace (10 s)', () => {
  const server = serverFor({ LATCHKEY_REUSE_GRACE: String(GRACE_S) });
  // Not in step with the victim, a thief's replay lands outside the grace window of the victim's
  // rotation, or finds its generation already advanced twice, within a few of its own tokens'
  // lifetimes: each success buys it one access token (TTL + leeway) and its next replay comes that
  // much later. Measured over the 12 phases: at most 30 s after its first success (poll), 3.8 s
  // (every 2 s); the bound asserted is 2 × (TTL + leeway) + grace = 40 s.
  const bound = (2 * (ACCESS_TTL_S + LEEWAY_S) + GRACE_S) * 1000;

  // Where in the minute the theft falls decides when the minute-granular times change under the
  // polling thief; every 5 s of the minute is tried, with other gaps between the victim's calls.
  const PHASES = Array.from({ length: 12 }, (_, i) => i * 5000 + 500);
  for (const [name, schedule] of SCHEDULES.slice(0, 2)) {
    it(`a thief ${name} is caught within 2 × (access TTL + leeway) + grace of its first success, wherever in the minute it struck`, async (t) => {
      const caughtAfter: number[] = [];
      for (const [i, phaseMs] of PHASES.entries()) {
        const o = await attack(server.get(), { bound: false, schedule, sending: 'bearer', forMs: TEN_MINUTES, phaseMs, seed: i + 1 });
        t.diagnostic(describeOutcome(`bearer, ${name}, theft ${phaseMs + 3000} ms into the minute`, o));
        assert.ok(o.detectedAt !== null, 'caught');
        const first = o.thief.successes[0] ?? o.detectedAt;
        caughtAfter.push(o.detectedAt - first);
        assert.equal(o.victim.signedOut?.reason, 'refresh_token_reused');
        assert.ok(o.victim.signedOut.at - o.detectedAt <= 1000);
        assert.ok(o.thief.refused === null || o.thief.refused.reason === 'refresh_token_reused');
        // The thief holds nothing once caught: its last access token is refused.
        assert.equal((await call(server.get().url, 'GET', '/auth/me', { token: o.thief.tokens.at })).status, 401);
      }
      t.diagnostic(`caught after first success (ms): ${caughtAfter.join(', ')}; max ${Math.max(...caughtAfter)}`);
      assert.ok(Math.max(...caughtAfter) <= bound, `caught ${Math.max(...caughtAfter)} ms after its first success`);
    });
  }

  // In step with the victim's renewals a thief needs no timing from the server: it replays just
  // after the renewal it predicts, and each grace answer looks like the victim's other tab. What
  // gives it away is that it needs one in every generation: the session's grace debt (+1 per grace
  // answer, -1 per generation that needed none) reaches BEARER_GRACE_DEBT and the next replay is
  // reuse. Before the debt, these thieves rode along for the whole 10 minutes (73 of 73 refreshes).
  for (const [name, schedule] of SCHEDULES.slice(2)) {
    it(`a thief ${name} is caught within ${BEARER_GRACE_DEBT} generations of the grace debt (it needs no timing from the server)`, async (t) => {
      const o = await attack(server.get(), { bound: false, schedule, sending: 'bearer', forMs: TEN_MINUTES });
      t.diagnostic(describeOutcome(`bearer, ${name}`, o));
      assert.equal(o.thief.pollAnswers + o.thief.pollRefusals, 0, 'it never asked the server anything but /auth/token');
      assert.ok(o.detectedAt !== null, 'caught');
      assert.ok(o.thief.successes.length <= BEARER_GRACE_DEBT + 1, `${o.thief.successes.length} successful refreshes`);
      const first = o.thief.successes[0] ?? o.detectedAt;
      // One generation per renewal period (the victim renews before each 10 s token expires).
      const bound = (BEARER_GRACE_DEBT + 2) * ACCESS_TTL_S * 1000;
      assert.ok(o.detectedAt - first <= bound, `caught ${o.detectedAt - first} ms after its first success (bound ${bound} ms)`);
      assert.equal(o.victim.signedOut?.reason, 'refresh_token_reused');
    });
  }
});

describe('ride-along on a Bearer session, LATCHKEY_REUSE_GRACE=0', () => {
  const server = serverFor({ LATCHKEY_REUSE_GRACE: '0' });
  for (const [name, schedule] of SCHEDULES) {
    it(`a thief ${name} is caught by the next refresh after its first success (≤ LATCHKEY_ACCESS_TTL)`, async (t) => {
      const o = await attack(server.get(), { bound: false, schedule, sending: 'bearer', forMs: TEN_MINUTES });
      t.diagnostic(describeOutcome(`bearer grace 0, ${name}`, o));
      assert.ok(o.detectedAt !== null, 'caught');
      const first = o.thief.successes[0] ?? o.detectedAt;
      assert.ok(o.detectedAt - first <= ACCESS_TTL_S * 1000, `caught ${o.detectedAt - first} ms after its first success`);
      assert.equal(o.victim.signedOut?.reason, 'refresh_token_reused');
    });
  }
});

describe('the old ride-along’s two mechanisms are gone (Bearer session)', () => {
  const server = serverFor({ LATCHKEY_REUSE_GRACE: String(GRACE_S), LATCHKEY_ACCESS_TTL: '60' });

  it('(a) nothing the stolen access token reads changes within a minute while the victim’s sessions rotate every 2 s', async () => {
    const srv = server.get();
    const w = new World(srv, clock);
    clock.t = Math.ceil(clock.t / 60_000) * 60_000 + 1000;
    const email = `ride-${Math.random().toString(36).slice(2)}@example.com`;
    const password = 'correct horse battery';
    // The laptop's tokens are stolen; the phone is another session of the same user.
    const laptop = await call(srv.url, 'POST', '/auth/signup', { json: { email, password } });
    const phone = await call(srv.url, 'POST', '/auth/login', { json: { email, password } });
    assert.equal(phone.status, 200);
    const stolen = laptop.body.access_token as string;
    let rts = [laptop.body.refresh_token as string, phone.body.refresh_token as string];
    const laptopSid = JSON.parse(Buffer.from(stolen.split('.')[1]!, 'base64url').toString()).sid as string;
    const storedLastUsed = new Set<number>();
    const answers = new Set<string>();
    const minuteEnd = Math.floor(clock.t / 60_000) * 60_000 + 59_000;
    let rotations = 0;
    for (let next = clock.t + 2000; clock.t < minuteEnd; ) {
      for (const path of ['/auth/sessions', '/auth/me']) {
        const r = await call(srv.url, 'GET', path, { token: stolen });
        assert.equal(r.status, 200);
        answers.add(r.text);
      }
      clock.t += 100;
      if (clock.t >= next) {
        // Both sessions rotate; the stolen access token stays valid (60 s) and keeps reading.
        rts = await Promise.all(rts.map(async (rt) => (await w.refresh(rt, null)).body.refresh_token as string));
        rotations++;
        next += 2000;
        const s = await srv.latchkey.ctx.stores.sessions.getSession(laptopSid);
        storedLastUsed.add(s!.lastUsedAt);
      }
    }
    assert.ok(rotations >= 25, `${rotations} rotations`);
    assert.ok(storedLastUsed.size >= 25, 'the store’s lastUsedAt moved on every rotation: the signal the old lists gave to the ms');
    assert.equal(answers.size, 2, 'one answer per endpoint all minute long');
    const list = JSON.parse([...answers].find((a) => a.includes('"sessions"'))!);
    assert.equal(list.sessions.length, 2);
    for (const s of list.sessions) assert.equal(new Date(s.lastUsedAt).getTime() % 60_000, 0, 'to the minute');
  });

  it('(b) a predecessor presented a fourth time in one generation is reuse: the session is revoked', async () => {
    const srv = server.get();
    const w = new World(srv, clock);
    const victim = new Victim(w, null);
    await victim.signUp();
    const copy = victim.tokens.rt;
    clock.t += 1000;
    const rotated = await w.refresh(copy, null);
    assert.equal(rotated.status, 200);
    for (let i = 1; i <= 3; i++) {
      clock.t += 500;
      const grace = await w.refresh(copy, null);
      assert.equal(grace.status, 200, `grace answer ${i}`);
      assert.equal(grace.body.refresh_token, rotated.body.refresh_token, 'the same successor');
    }
    clock.t += 500;
    const fourth = await w.refresh(copy, null);
    assert.equal(fourth.status, 400);
    assert.equal(fourth.body.reason, 'refresh_token_reused');
    const victimNext = await w.refresh(rotated.body.refresh_token, null);
    assert.equal(victimNext.body.reason, 'refresh_token_reused', 'the current token died with the session');
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: rotated.body.access_token })).status, 401);
  });
});
