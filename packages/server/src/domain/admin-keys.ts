// Admin API keys: `lka_<id>_<secret>`, a 64-bit public id to find the record and a 256-bit secret
// of which the store keeps only the SHA-256. The secret is random and long, so a fast hash is the
// right one (ASVS 5.0 V11.4: slow hashing is for low-entropy passwords); the comparison is in
// constant time (V11.2.4), and the whole key is shown once, at creation.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface AdminKeyRecord {
  id: string;
  name: string;
  /** SHA-256 of the secret part, hex. */
  secretHash: string;
  createdAt: number;
  revokedAt: number | null;
}

const KEY_RE = /^lka_([A-Za-z0-9_-]{11})_([A-Za-z0-9_-]{43})$/;
const NAME_RE = /^[\x21-\x7e][\x20-\x7e]{0,62}[\x21-\x7e]?$/;

export function isAdminKeyName(name: string): boolean {
  return NAME_RE.test(name);
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new key: the record to store, and the key itself to show once. */
export function newAdminKey(name: string, now: number): { record: AdminKeyRecord; key: string } {
  const id = randomBytes(8).toString('base64url');
  const secret = randomBytes(32).toString('base64url');
  return { record: { id, name, secretHash: hashSecret(secret), createdAt: now, revokedAt: null }, key: `lka_${id}_${secret}` };
}

/** The id a presented key names, or null when it is not shaped like one of ours. */
export function adminKeyId(presented: string): string | null {
  return KEY_RE.exec(presented)?.[1] ?? null;
}

/** Whether `presented` is the live key `record` was made for. */
export function adminKeyMatches(record: AdminKeyRecord | null, presented: string): boolean {
  const m = KEY_RE.exec(presented);
  // Hash even when there is no record, so an unknown id costs what a wrong secret does.
  const given = Buffer.from(hashSecret(m?.[2] ?? presented), 'hex');
  const stored = Buffer.from(record?.secretHash ?? '0'.repeat(64), 'hex');
  const equal = stored.length === given.length && timingSafeEqual(stored, given);
  return equal && record !== null && m !== null && m[1] === record.id && record.revokedAt === null;
}
