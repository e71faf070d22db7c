// Authenticated encryption of key material at rest: AES-256-GCM under the key-encryption key
// (KEK), with associated data naming what the ciphertext is (purpose and kid / MAC id). A sealed
// value moved to another row, or a signing key's ciphertext put where a MAC secret belongs, fails
// to open instead of decrypting to the wrong key (ASVS 5.0 V11.3.2: approved modes, V11.3.3:
// protected against unauthorised modification).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** "LKS1": Latchkey sealed, version 1. Plaintext key material never starts with it. */
const MAGIC = Buffer.from('LKS1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const KEK_BYTES = 32;

/** What a sealed value is bound to: its purpose and its id in the key store. */
export type SealContext = { purpose: 'signing-key'; kid: string } | { purpose: 'mac-key'; id: number };

function aad(c: SealContext): Buffer {
  return Buffer.from(`latchkey/${c.purpose}/v1\0${c.purpose === 'signing-key' ? c.kid : String(c.id)}`);
}

export class UnsealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsealError';
  }
}

/** MAGIC ‖ 96-bit random nonce ‖ ciphertext ‖ 128-bit tag. A fresh nonce per seal: few seals per KEK. */
export function seal(kek: Buffer, plaintext: Buffer, c: SealContext): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(c));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([MAGIC, nonce, body, cipher.getAuthTag()]);
}

export function isSealed(stored: Buffer): boolean {
  // Strictly longer: a legacy 32-byte MAC secret is exactly as long as an empty sealed value.
  return stored.length > MAGIC.length + NONCE_BYTES + TAG_BYTES && stored.subarray(0, MAGIC.length).equals(MAGIC);
}

/** Throws UnsealError when the KEK is not the one it was sealed under, or the value was altered or moved. */
export function unseal(kek: Buffer, stored: Buffer, c: SealContext): Buffer {
  if (!isSealed(stored)) throw new UnsealError('not a sealed value');
  const nonce = stored.subarray(MAGIC.length, MAGIC.length + NONCE_BYTES);
  const body = stored.subarray(MAGIC.length + NONCE_BYTES, stored.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad(c));
  decipher.setAuthTag(stored.subarray(stored.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new UnsealError('authentication failed');
  }
}

/** Text columns (a signing key's JWK) hold the sealed bytes as "lks1." + base64url. */
const TEXT_PREFIX = 'lks1.';

export function sealText(kek: Buffer, plaintext: string, c: SealContext): string {
  return TEXT_PREFIX + seal(kek, Buffer.from(plaintext, 'utf8'), c).toString('base64url');
}

export function isSealedText(stored: string): boolean {
  return stored.startsWith(TEXT_PREFIX);
}

export function unsealText(kek: Buffer, stored: string, c: SealContext): string {
  if (!isSealedText(stored)) throw new UnsealError('not a sealed value');
  return unseal(kek, Buffer.from(stored.slice(TEXT_PREFIX.length), 'base64url'), c).toString('utf8');
}
