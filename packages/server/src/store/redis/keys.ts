// Key layout. All sessions of one user live in one hash, `<prefix>s{<tag>}`, where the tag is
// the user's 3-byte group (src/domain/ids.ts, 4 base64url characters) that every one of the
// user's session ids starts with. So a refresh token, which carries only the session id, finds
// its key without a lookup, listing and ending a user's sessions is one key, and each Lua script
// touches exactly one Cluster slot (Redis Cluster rejects a script whose keys span slots).
// Sharing one key per user instead of one per session is most of the memory saving: a Redis key
// costs ~130 bytes before its value (issue 3, ≤ 300 B per session). Names are short on purpose.
import { assertPrefix, DEFAULT_PREFIX, revocationChannel, revocationsKey } from '@latchkey/core';

export interface KeyLayout {
  sessionGroup(tag: string): string;
  revocations: string;
  revocationChannel: string;
  rateLimit(key: string): string;
  /** A DPoP proof seen (RFC 9449 §11.1): lives for the proof window. */
  proof(key: string): string;
}

export { DEFAULT_PREFIX };

export function keyLayout(prefix = DEFAULT_PREFIX): KeyLayout {
  assertPrefix(prefix);
  return {
    sessionGroup: (tag) => `${prefix}s{${tag}}`,
    // The feed's names are @latchkey/core's: verifiers in other processes read the same ones.
    revocations: revocationsKey(prefix),
    revocationChannel: revocationChannel(prefix),
    rateLimit: (key) => `${prefix}rl:${key}`,
    proof: (key) => `${prefix}p:${key}`,
  };
}
