import { randomBytes, randomUUID } from 'node:crypto';

/** 128 random bits: a session id is a lookup key, not a secret; the MAC guards the token. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

export function newUserId(): string {
  return randomUUID();
}

// Every access token needs a jti: drawing 16 bytes from a pooled 4 KiB buffer avoids a
// randomBytes call per token (6 % of refresh CPU in the Redis profile).
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let offset = 0;

export function newJti(): string {
  if (offset + 16 > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + 16);
  offset += 16;
  return id;
}
