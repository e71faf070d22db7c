// libsodium through the optional `sodium-native` package (prebuilt binaries, no install script).
// Two hot operations use it when it loads: Ed25519 signing of access tokens (./ed25519.ts) and
// HMAC-SHA-256 of refresh tokens (./hmac-sha256.ts). Without it, or on a platform it has no
// binary for, both fall back to node:crypto with identical output.
import { createRequire } from 'node:module';

export interface Sodium {
  crypto_sign_BYTES: number;
  crypto_sign_SECRETKEYBYTES: number;
  crypto_sign_PUBLICKEYBYTES: number;
  crypto_sign_seed_keypair(pk: Buffer, sk: Buffer, seed: Buffer): void;
  crypto_sign_detached(sig: Buffer, message: Buffer, sk: Buffer): void;
  crypto_hash_sha256_STATEBYTES: number;
  crypto_hash_sha256_init(state: Buffer): void;
  crypto_hash_sha256_update(state: Buffer, data: Buffer): void;
  crypto_hash_sha256_final(state: Buffer, out: Buffer): void;
  sodium_malloc(size: number): Buffer;
  sodium_memzero(buf: Buffer): void;
}

let loaded: Sodium | null | undefined;

/** The sodium-native binding, or null when it is not installed or not loadable here. */
export function sodium(): Sodium | null {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('sodium-native') as Sodium;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}
