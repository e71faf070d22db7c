// Server nonces (RFC 9449 §8) are stateless: any instance sharing the MAC secret accepts them, for
// the step they were made in and the next, and nothing else does.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { currentNonce, isCurrentNonce, NONCE_STEP_MS } from '../../packages/server/src/domain/dpop-nonce.js';
import type { MacKey, MacKeyring } from '../../packages/server/src/domain/refresh-token.js';

const key = (id: number): MacKey => ({ id, secret: randomBytes(32) });
const ring = (current: MacKey, ...others: MacKey[]): MacKeyring => ({ current, byId: new Map([current, ...others].map((k) => [k.id, k])) });
const T = 1_800_000_000_000 - (1_800_000_000_000 % NONCE_STEP_MS);

test('a nonce is valid in its step and the next, and not before or after', () => {
  const r = ring(key(1));
  const n = currentNonce(r, T + 10);
  assert.equal(currentNonce(r, T + NONCE_STEP_MS - 1), n, 'one nonce per step: every caller and instance hands out the same');
  assert.ok(isCurrentNonce(r, n, T));
  assert.ok(isCurrentNonce(r, n, T + 2 * NONCE_STEP_MS - 1), 'the next step still accepts it');
  assert.ok(!isCurrentNonce(r, n, T + 2 * NONCE_STEP_MS), 'two steps later it is dead');
  assert.ok(!isCurrentNonce(r, n, T - 1), 'a nonce from the future is refused');
});

test('another instance with the same MAC keys accepts it; another deployment does not', () => {
  const k = key(1);
  const n = currentNonce(ring(k), T);
  assert.ok(isCurrentNonce(ring({ id: 1, secret: Buffer.from(k.secret) }), n, T));
  assert.ok(!isCurrentNonce(ring(key(1)), n, T));
});

test('a MAC key rotation keeps the older key’s nonces valid while the ring holds it', () => {
  const old = key(1);
  const n = currentNonce(ring(old), T);
  const next = key(2);
  assert.ok(isCurrentNonce(ring(next, old), n, T));
  assert.notEqual(currentNonce(ring(next, old), T), n);
  assert.ok(!isCurrentNonce(ring(next), n, T), 'a dropped key’s nonces die with it');
});

test('tampered, truncated and foreign strings are refused', () => {
  const r = ring(key(1));
  const n = currentNonce(r, T);
  const flipped = n.slice(0, -2) + (n.at(-2) === 'A' ? 'B' : 'A') + n.at(-1);
  for (const bad of [flipped, n.slice(1), `${n}A`, '', 'x'.repeat(30), n.replace(/[A-Za-z]/, '+')]) assert.ok(!isCurrentNonce(r, bad, T), bad);
});
