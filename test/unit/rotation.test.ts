import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyRotation, decideRotation } from '../../packages/server/src/domain/rotation.js';
import { MAX_GENERATION } from '../../packages/server/src/domain/refresh-token.js';
import type { SessionRecord } from '../../packages/server/src/domain/session.js';

const T = 1_800_000_000_000;
const base: SessionRecord = {
  id: 'AAAAAAAAAAAAAAAAAAAAAA',
  userId: 'u1',
  clientId: 'app',
  generation: 7,
  rotatedAt: T,
  createdAt: T - 1000,
  lastUsedAt: T,
  expiresAt: T + 1_000_000,
  device: 'd',
};
const grace = { graceMs: 10_000, idleMs: 100_000 };
const strict = { graceMs: 0, idleMs: 100_000 };
const at = (g: number, clientId = 'app') => ({ generation: g, clientId });

describe('rotation decision', () => {
  it('rotates the current generation', () => {
    assert.deepEqual(decideRotation(base, at(7), T + 1, grace), { kind: 'rotate' });
    assert.deepEqual(applyRotation(base, { kind: 'rotate' }, T + 1), { ...base, generation: 8, rotatedAt: T + 1, lastUsedAt: T + 1, graceUses: 0 });
  });

  it('replays the immediate predecessor within the grace window without advancing', () => {
    assert.deepEqual(decideRotation(base, at(6), T + 10_000, grace), { kind: 'grace' });
    assert.deepEqual(applyRotation(base, { kind: 'grace' }, T + 5), { ...base, lastUsedAt: T + 5, graceUses: 1 });
  });

  it('treats the predecessor after the window as reuse', () => {
    assert.deepEqual(decideRotation(base, at(6), T + 10_001, grace), { kind: 'reuse' });
  });

  it('treats the predecessor as reuse when grace is 0 (strict)', () => {
    assert.deepEqual(decideRotation(base, at(6), T, strict), { kind: 'reuse' });
  });

  it('treats any older generation as reuse, even inside the window', () => {
    assert.deepEqual(decideRotation(base, at(5), T + 1, grace), { kind: 'reuse' });
    assert.deepEqual(decideRotation(base, at(0), T + 1, grace), { kind: 'reuse' });
    assert.equal(applyRotation(base, { kind: 'reuse' }, T), null);
  });

  it('refuses a future generation (forged MAC secret or rolled-back store) without reuse', () => {
    assert.deepEqual(decideRotation(base, at(8), T, grace), { kind: 'future' });
    assert.equal(applyRotation(base, { kind: 'future' }, T), null);
  });

  it('ends a session past its absolute lifetime', () => {
    assert.deepEqual(decideRotation(base, at(7), base.expiresAt, grace), { kind: 'expired', reason: 'absolute' });
  });

  it('ends a session idle for longer than the idle timeout', () => {
    assert.deepEqual(decideRotation(base, at(7), T + 100_000, grace), { kind: 'expired', reason: 'idle' });
    assert.deepEqual(decideRotation(base, at(7), T + 99_999, grace), { kind: 'rotate' });
  });

  it('reports a missing (revoked or never issued) session', () => {
    assert.deepEqual(decideRotation(null, at(0), T, grace), { kind: 'not_found' });
  });

  it('refuses a token presented by another client before looking at generations', () => {
    assert.deepEqual(decideRotation(base, at(7, 'other'), T, grace), { kind: 'wrong_client' });
    assert.deepEqual(decideRotation(base, at(3, 'other'), T, grace), { kind: 'wrong_client' }, 'a wrong client cannot trigger a revocation');
  });

  it('cannot overflow the generation counter', () => {
    assert.deepEqual(decideRotation({ ...base, generation: MAX_GENERATION }, at(MAX_GENERATION), T, grace), {
      kind: 'expired',
      reason: 'absolute',
    });
  });
});
