// The bounded password-hashing queue (issue 12 item 3): a storm waits only within its lane's share
// of the depth, is refused beyond it, and never delays the lanes above it by more than what runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { passwordHasher, type HashLane } from '../../packages/server/src/auth/passwords.js';

class Busy extends Error {}

/** Work that finishes when the test says so, recording the order it started in. */
function gatedWork() {
  const started: string[] = [];
  const gates: Array<() => void> = [];
  return {
    started,
    job: (name: string) => () => {
      started.push(name);
      return new Promise<string>((resolve) => gates.push(() => resolve(name)));
    },
    async finishOne() {
      await new Promise((r) => setImmediate(r));
      gates.shift()?.();
      await new Promise((r) => setImmediate(r));
    },
  };
}

describe('password-hashing queue', () => {
  it('admits each lane only within its share of the depth: signup half, login three quarters, trusted all', () => {
    const hasher = passwordHasher({ concurrency: 1, depth: 8, busy: () => new Busy() });
    const admitted = (lane: HashLane) => {
      let n = 0;
      for (;;) {
        try {
          hasher.admit(lane);
          n++;
        } catch (e) {
          assert.ok(e instanceof Busy);
          return n;
        }
      }
    };
    assert.equal(admitted('signup'), 4, 'sign-ups fill half the depth');
    assert.equal(admitted('login'), 2, 'logins the next quarter');
    assert.equal(admitted('trusted'), 2, 'the last quarter is only for trusted logins');
    assert.equal(hasher.stats().waiting, 8);
    assert.equal(hasher.stats().peakWaiting, 8);
  });

  it('runs at most `concurrency` at once, storm lanes one fewer; serves trusted, then login, then signup; release gives places back', async () => {
    const hasher = passwordHasher({ concurrency: 2, depth: 100, busy: () => new Busy() });
    const w = gatedWork();
    const done: Array<Promise<string>> = [];
    for (let i = 0; i < 4; i++) done.push(hasher.admit('signup').run(w.job(`s${i}`)));
    await new Promise((r) => setImmediate(r));
    done.push(hasher.admit('login').run(w.job('l0')));
    done.push(hasher.admit('trusted').run(w.job('t0')));
    const unused = hasher.admit('signup');
    unused.release();
    unused.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(hasher.stats().running, 2, 'one sign-up and the trusted login, which never waits for a thread');
    for (let i = 0; i < 6; i++) await w.finishOne();
    assert.deepEqual(await Promise.all(done), ['s0', 's1', 's2', 's3', 'l0', 't0']);
    assert.deepEqual(w.started, ['s0', 't0', 'l0', 's1', 's2', 's3'], 'the trusted login at once, then the login, jump the waiting sign-ups');
    assert.deepEqual(hasher.stats(), { running: 0, waiting: 0, peakWaiting: 6 }, 'three sign-ups, the login, the trusted login (until its turn resolved) and the released place');
  });
});
