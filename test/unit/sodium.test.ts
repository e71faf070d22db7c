// The libsodium paths (optional sodium-native) must produce exactly node:crypto's bytes: Ed25519
// signatures (deterministic, RFC 8032 §5.1.6) and HMAC-SHA-256, and fall back to node:crypto for
// anything they cannot take.
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { signEd25519, usesSodium } from '../../packages/server/src/crypto/ed25519.js';
import { hmacSha256 } from '../../packages/server/src/crypto/hmac-sha256.js';
import { signJws } from '../../packages/server/src/jwt/signing.js';
import { signAccessToken } from '../../packages/server/src/jwt/signing.js';

const sodiumInstalled = (() => {
  try {
    createRequire(import.meta.url)('sodium-native');
    return true;
  } catch {
    return false;
  }
})();

describe('Ed25519 signing', () => {
  it('uses libsodium when sodium-native is installed', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    assert.equal(usesSodium(privateKey), sodiumInstalled);
  });

  it('gives node:crypto\'s exact signature for many keys and messages (0 to 4 KiB)', () => {
    for (let k = 0; k < 20; k++) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      for (const len of [0, 1, 31, 32, 63, 64, 65, 330, 1000, 4096]) {
        const data = randomBytes(len);
        const sig = signEd25519(privateKey, data);
        assert.deepEqual(sig, sign(null, data, privateKey));
        assert.ok(verify(null, data, publicKey, sig));
        assert.deepEqual(signJws('EdDSA', privateKey, data), sig);
      }
    }
  });

  it('works for a key re-imported from its JWK (how stored keys are loaded)', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const again = createPrivateKey({ key: privateKey.export({ format: 'jwk' }), format: 'jwk' });
    const data = randomBytes(100);
    assert.deepEqual(signEd25519(again, data), sign(null, data, privateKey));
  });

  it('leaves any other key to node:crypto, which decides as before', () => {
    const threw = (f: () => unknown) => {
      try {
        f();
        return false;
      } catch {
        return true;
      }
    };
    const others = [
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      generateKeyPairSync('ed25519').publicKey,
      generateKeyPairSync('ed448').privateKey,
    ];
    for (const key of others) {
      assert.equal(usesSodium(key), false);
      const data = Buffer.from('x');
      assert.equal(threw(() => signEd25519(key, data)), threw(() => sign(null, data, key)));
    }
  });

  it('access tokens are byte for byte those of a plain node:crypto signer, also after a key change', () => {
    for (let k = 0; k < 3; k++) {
      const { privateKey } = generateKeyPairSync('ed25519');
      const key = { kid: `kid-${k}`, alg: 'EdDSA' as const, privateKey };
      const claims = { iss: 'https://issuer.test', sub: 'u', aud: 'https://issuer.test', exp: 2_000_000_300, iat: 2_000_000_000, jti: `j${k}`, client_id: 'app', sid: 's' };
      const token = signAccessToken(key, claims);
      const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const input = `${enc({ alg: 'EdDSA', typ: 'at+jwt', kid: `kid-${k}` })}.${enc(claims)}`;
      assert.equal(token, `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`);
      // The header is cached per key object; a changed kid on the same object is not served stale.
      const renamed = { ...key };
      assert.ok(signAccessToken(renamed, claims).startsWith(enc({ alg: 'EdDSA', typ: 'at+jwt', kid: `kid-${k}` })));
      (key as { kid: string }).kid = `kid-${k}-b`;
      assert.ok(signAccessToken(key, claims).startsWith(`${enc({ alg: 'EdDSA', typ: 'at+jwt', kid: `kid-${k}-b` })}.`));
    }
  });
});

describe('HMAC-SHA-256 with a prepared key', () => {
  it('equals createHmac over key sizes 0 to 100 bytes (over a block: hashed first), prefixes and messages', () => {
    for (const keyLen of [0, 1, 16, 32, 63, 64, 65, 100]) {
      const secret = randomBytes(keyLen);
      for (const prefix of [Buffer.alloc(0), Buffer.from('latchkey/refresh-token/v1\0'), randomBytes(70)]) {
        for (const len of [0, 1, 23, 55, 64, 200]) {
          const data = randomBytes(len);
          const want = createHmac('sha256', secret).update(prefix).update(data).digest();
          assert.deepEqual(hmacSha256(secret, prefix, data), want);
          assert.deepEqual(hmacSha256(secret, prefix, data), want); // prepared state reused
        }
      }
    }
  });

  it('a key buffer changed in place, or another prefix, is not served from the prepared state', () => {
    const secret = randomBytes(32);
    const prefix = Buffer.from('p');
    const data = randomBytes(23);
    hmacSha256(secret, prefix, data);
    secret[0] = secret[0]! ^ 1;
    assert.deepEqual(hmacSha256(secret, prefix, data), createHmac('sha256', secret).update(prefix).update(data).digest());
    const other = Buffer.from('q');
    assert.deepEqual(hmacSha256(secret, other, data), createHmac('sha256', secret).update(other).update(data).digest());
  });

  it('results are independent buffers (the scratch state is never handed out)', () => {
    const secret = randomBytes(32);
    const a = hmacSha256(secret, Buffer.alloc(0), Buffer.from('a'));
    const copy = Buffer.from(a);
    hmacSha256(secret, Buffer.alloc(0), Buffer.from('b'));
    assert.deepEqual(a, copy);
  });
});
