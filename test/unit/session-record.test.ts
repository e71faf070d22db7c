// The Redis session record codec: what the Lua scripts read by offset must round-trip exactly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newSessionId, newUserId, sessionTag, userTag } from '../../packages/server/src/domain/ids.js';
import { sampleSession } from '../../packages/server/src/store/contract.js';
import { decodeRecord, encodeRecord, encodeUserId, locate, NUMBERS_BYTES } from '../../packages/server/src/store/redis/session-record.js';

test('a record round-trips with a UUID user, any other user id, and the largest times', () => {
  for (const over of [
    {},
    { userId: 'user-1', clientId: 'mobile.app' },
    { userId: 'ü'.repeat(100), clientId: '' },
    { generation: 2 ** 32 - 1, rotatedAt: 2 ** 48 - 1, createdAt: 0, lastUsedAt: 2 ** 47, expiresAt: 2 ** 48 - 2 },
  ]) {
    const s = sampleSession(1_800_000_000_000, over);
    assert.deepEqual(decodeRecord(s.id, encodeRecord(s), s.device), s);
  }
});

test('the user id sits at the fixed offset the scripts compare', () => {
  const s = sampleSession(1_800_000_000_000);
  const record = encodeRecord(s);
  const user = encodeUserId(s.userId);
  assert.equal(user.length, 17, 'a UUID is a mark byte and 16 raw bytes');
  assert.deepEqual(record.subarray(NUMBERS_BYTES, NUMBERS_BYTES + user.length), user);
  assert.equal(record.length, NUMBERS_BYTES + 17 + 1 + 'app'.length);
  assert.throws(() => encodeUserId(''), /1-255/);
  assert.throws(() => encodeUserId('x'.repeat(256)), /1-255/);
});

test('a session id names its user’s group, and only 22-character base64url strings locate a session', () => {
  const userId = newUserId();
  const id = newSessionId(userId);
  assert.equal(sessionTag(id), userTag(userId));
  assert.deepEqual(locate(id), { tag: id.slice(0, 4), field: id.slice(4) });
  assert.notEqual(newSessionId(userId), id, '104 random bits after the tag');
  for (const bad of ['', id.slice(1), `${id}A`, `${id.slice(0, 21)}=`, `${id.slice(0, 21)}/`]) assert.equal(locate(bad), null);
});
