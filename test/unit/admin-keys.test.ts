import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminKeyId, adminKeyMatches, isAdminKeyName, newAdminKey } from '../../packages/server/src/domain/admin-keys.js';

test('an admin key matches its own record only, and only while not revoked', () => {
  const a = newAdminKey('ops laptop', 1000);
  const b = newAdminKey('ci', 1000);
  assert.match(a.key, /^lka_[A-Za-z0-9_-]{11}_[A-Za-z0-9_-]{43}$/);
  assert.equal(adminKeyId(a.key), a.record.id);
  assert.ok(adminKeyMatches(a.record, a.key));
  assert.ok(!adminKeyMatches(b.record, a.key), "another key's record");
  assert.ok(!adminKeyMatches(null, a.key), 'no record');
  assert.ok(!adminKeyMatches({ ...a.record, revokedAt: 2000 }, a.key), 'revoked');
  const flipped = a.key.slice(0, -1) + (a.key.endsWith('A') ? 'B' : 'A');
  assert.ok(!adminKeyMatches(a.record, flipped), 'one character of the secret changed');
  // The secret with another id: the record found by that id must not accept it.
  const swapped = `lka_${b.record.id}_${a.key.slice(-43)}`;
  assert.ok(!adminKeyMatches(a.record, swapped));
  assert.ok(!adminKeyMatches(b.record, swapped));
  assert.ok(!a.record.secretHash.includes(a.key.slice(-43)), 'only a hash is stored');
});

test('malformed keys and names are refused', () => {
  for (const k of ['', 'lka_', 'Bearer x', `lka_${'a'.repeat(11)}_${'b'.repeat(42)}`, `lka_${'a'.repeat(11)}_${'b'.repeat(43)}x`]) {
    assert.equal(adminKeyId(k), null, k);
    assert.ok(!adminKeyMatches(null, k));
  }
  assert.ok(isAdminKeyName('ops laptop'));
  assert.ok(isAdminKeyName('x'));
  assert.ok(!isAdminKeyName(''));
  assert.ok(!isAdminKeyName(' padded'));
  assert.ok(!isAdminKeyName('line\nbreak'));
  assert.ok(!isAdminKeyName('x'.repeat(65)));
});
