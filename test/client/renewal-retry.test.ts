// The renewal retry policy's bounds (packages/client/src/renewal-retry.ts), with the jitter at both ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LatchkeyError } from '../../packages/client/src/index.js';
import { answerMayBeLost, backgroundBackoffMs, MAX_BACKGROUND_BACKOFF_MS, waitingBackoffMs } from '../../packages/client/src/renewal-retry.js';

const lowest = () => 0;
const highest = () => 0.999999;
const lost = new LatchkeyError('network_error', 'could not reach the server');
const gateway = new LatchkeyError('server_error', 'bad gateway', { status: 502 });
const busy = (retryAfter?: number) => new LatchkeyError('temporarily_unavailable', 'busy', { status: 503, retryAfter });

test('retried at once only where the answer may have been lost: network, body cut short, 500/502/504; not 503, 429 or a session failure', () => {
  assert.equal(answerMayBeLost(lost), true);
  assert.equal(answerMayBeLost(new LatchkeyError('invalid_response', 'not JSON', { status: 200 })), true);
  for (const status of [500, 502, 504]) assert.equal(answerMayBeLost(new LatchkeyError('server_error', 'x', { status })), true, String(status));
  assert.equal(answerMayBeLost(busy()), false);
  assert.equal(answerMayBeLost(new LatchkeyError('rate_limited', 'x', { status: 429, retryAfter: 1 })), false);
  assert.equal(answerMayBeLost(new LatchkeyError('invalid_grant', 'x', { status: 400, reason: 'refresh_token_reused' })), false);
  assert.equal(answerMayBeLost(new Error('not ours')), false);
});

test('waiting back-off: 250 ms, 500 ms, 1 s, 2 s, each x[0.5, 1], then given up; Retry-After honoured up to 5 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => waitingBackoffMs(i, lost, highest)), [250, 500, 1000, 2000, null]);
  assert.deepEqual([0, 1, 2, 3].map((i) => waitingBackoffMs(i, gateway, lowest)), [125, 250, 500, 1000]);
  assert.equal(waitingBackoffMs(0, busy(3), lowest), 3000);
  assert.equal(waitingBackoffMs(0, busy(5), lowest), 5000);
  assert.equal(waitingBackoffMs(0, busy(6), lowest), null, 'a longer pause is not sat through: the caller gets the error and its retryAfter');
});

test('background back-off while a token is valid: 1 s doubling to 30 s, x[0.5, 1], within half the remaining life, at least Retry-After', () => {
  assert.deepEqual([1, 2, 3, 6, 7, 20].map((f) => backgroundBackoffMs(f, 3_600_000, lost, highest)), [1000, 2000, 4000, 30000, 30000, 30000]);
  assert.equal(backgroundBackoffMs(1, 3_600_000, lost, lowest), 500);
  assert.equal(backgroundBackoffMs(4, 400, lost, highest), 200, 'another try before the token runs out');
  assert.equal(backgroundBackoffMs(4, 400, busy(2), highest), 2000, "the server's Retry-After wins");
  assert.equal(backgroundBackoffMs(1, -5, lost, highest), 0);
  assert.equal(MAX_BACKGROUND_BACKOFF_MS, 30_000);
});

test('LatchkeyError.kind tells network, server, session, request and client apart', () => {
  const kinds = ['network_error', 'server_error', 'temporarily_unavailable', 'rate_limited', 'invalid_response', 'invalid_grant', 'not_signed_in', 'invalid_credentials', 'invalid_client', 'storage_error'].map(
    (code) => new LatchkeyError(code, 'x').kind,
  );
  assert.deepEqual(kinds, ['network', 'server', 'server', 'server', 'server', 'session', 'session', 'request', 'request', 'client']);
});
