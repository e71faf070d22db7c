// Sealing key material at rest (packages/server/src/secrets/seal.ts): AES-256-GCM whose associated
// data names the purpose and the row, so a ciphertext opens only where it was written.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isSealed, seal, sealText, UnsealError, unseal, unsealText } from '../../packages/server/src/secrets/seal.js';

const kek = randomBytes(32);

describe('seal', () => {
  it('round-trips, with a fresh nonce each time', () => {
    const secret = randomBytes(32);
    const a = seal(kek, secret, { purpose: 'mac-key', id: 1 });
    const b = seal(kek, secret, { purpose: 'mac-key', id: 1 });
    assert.ok(!a.equals(b));
    assert.ok(!a.includes(secret));
    assert.ok(unseal(kek, a, { purpose: 'mac-key', id: 1 }).equals(secret));
    assert.equal(unsealText(kek, sealText(kek, '{"d":"x"}', { purpose: 'signing-key', kid: 'k1' }), { purpose: 'signing-key', kid: 'k1' }), '{"d":"x"}');
  });

  it('refuses another row, another purpose, another KEK and any altered byte', () => {
    const sealed = seal(kek, randomBytes(32), { purpose: 'mac-key', id: 1 });
    assert.throws(() => unseal(kek, sealed, { purpose: 'mac-key', id: 2 }), UnsealError);
    assert.throws(() => unseal(kek, sealed, { purpose: 'signing-key', kid: '1' }), UnsealError);
    assert.throws(() => unseal(randomBytes(32), sealed, { purpose: 'mac-key', id: 1 }), UnsealError);
    for (let i = 0; i < sealed.length; i++) {
      const t = Buffer.from(sealed);
      t[i]! ^= 1;
      assert.throws(() => unseal(kek, t, { purpose: 'mac-key', id: 1 }), UnsealError, `byte ${i}`);
    }
    const jwk = sealText(kek, '{}', { purpose: 'signing-key', kid: 'a' });
    assert.throws(() => unsealText(kek, jwk, { purpose: 'signing-key', kid: 'b' }), UnsealError);
  });

  it('tells sealed values from legacy plaintext: a raw 32-byte secret is never taken for sealed', () => {
    const legacy = Buffer.concat([Buffer.from('LKS1'), randomBytes(28)]);
    assert.equal(isSealed(legacy), false);
    assert.equal(isSealed(seal(kek, randomBytes(32), { purpose: 'mac-key', id: 1 })), true);
  });
});
