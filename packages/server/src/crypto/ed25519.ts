// Ed25519 signing through libsodium (the optional `sodium-native` package) when it loads,
// node:crypto otherwise. Signing is the largest single item of a refresh; libsodium's
// crypto_sign_detached costs ~16 µs of CPU per access token on the project's machine against
// ~27 µs for node:crypto's one-shot sign() (OpenSSL 3 sets up a signing context per call).
// Ed25519 is deterministic (RFC 8032 §5.1.6): both produce the same bytes for the same key and
// message, which is checked for every key before libsodium is trusted with it.
import { sign, type KeyObject } from 'node:crypto';
import { sodium } from './sodium.js';

/** libsodium secret key (seed ‖ public key, in guarded memory) per private KeyObject; null: use node:crypto. */
const secretKeys = new WeakMap<KeyObject, Buffer | null>();

const PROBE = Buffer.from('latchkey/ed25519-self-check');

function sodiumSecretKey(key: KeyObject): Buffer | null {
  let sk = secretKeys.get(key);
  if (sk !== undefined) return sk;
  sk = null;
  const na = sodium();
  if (na && key.type === 'private' && key.asymmetricKeyType === 'ed25519') {
    const jwk = key.export({ format: 'jwk' });
    const seed = Buffer.from(jwk.d ?? '', 'base64url');
    const x = Buffer.from(jwk.x ?? '', 'base64url');
    if (seed.length === 32 && x.length === na.crypto_sign_PUBLICKEYBYTES) {
      const pk = Buffer.alloc(na.crypto_sign_PUBLICKEYBYTES);
      const candidate = na.sodium_malloc(na.crypto_sign_SECRETKEYBYTES);
      na.crypto_sign_seed_keypair(pk, candidate, seed);
      const sig = Buffer.alloc(na.crypto_sign_BYTES);
      na.crypto_sign_detached(sig, PROBE, candidate);
      // Same public key and the same signature as OpenSSL, or libsodium is not used for this key.
      if (pk.equals(x) && sig.equals(sign(null, PROBE, key))) sk = candidate;
      else na.sodium_memzero(candidate);
    }
    seed.fill(0);
  }
  secretKeys.set(key, sk);
  return sk;
}

/** Ed25519 signature (64 bytes) of `data` under a private KeyObject. */
export function signEd25519(key: KeyObject, data: Buffer): Buffer {
  const sk = sodiumSecretKey(key);
  if (sk === null) return sign(null, data, key);
  const sig = Buffer.allocUnsafe(64);
  sodium()!.crypto_sign_detached(sig, data, sk);
  return sig;
}

/** Whether signEd25519 uses libsodium for this key (tests, diagnostics). */
export function usesSodium(key: KeyObject): boolean {
  return sodiumSecretKey(key) !== null;
}
