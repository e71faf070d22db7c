// Key layout. Every key of one session carries the hash tag {<sid>} and every per-user key the tag
// {u:<userId>}, so each Lua script touches exactly one cluster slot (Redis Cluster rejects a
// script whose keys span slots). Names are short on purpose: the key string is stored once per
// session, and `lk:{<22-char sid>}` (27 bytes) fits a 32-byte allocation.

export interface KeyLayout {
  session(sessionId: string): string;
  userIndex(userId: string): string;
  revocations: string;
  revocationChannel: string;
  rateLimit(key: string): string;
}

export const DEFAULT_PREFIX = 'lk:';

export function keyLayout(prefix = DEFAULT_PREFIX): KeyLayout {
  // A brace in the prefix would become the hash tag of every key and put all sessions in one slot.
  if (/[{}]/.test(prefix)) throw new Error('Redis key prefix must not contain { or }');
  return {
    session: (sid) => `${prefix}{${sid}}`,
    userIndex: (userId) => `${prefix}{u:${userId}}`,
    revocations: `${prefix}{revoked}`,
    revocationChannel: `${prefix}revoked`,
    rateLimit: (key) => `${prefix}rl:${key}`,
  };
}
