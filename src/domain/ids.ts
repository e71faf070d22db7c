import { randomBytes, randomUUID } from 'node:crypto';

/** 128 random bits: a session id is a lookup key, not a secret; the MAC guards the token. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

export function newUserId(): string {
  return randomUUID();
}

export function newJti(): string {
  return randomBytes(16).toString('base64url');
}
