// The revocation feed in Redis, the writing side. The protocol (names, message format, sorted-set
// members, how a subscriber follows the channel) is @latchkey/core's, shared with verifiers; here
// is the atomic add (ZADD, trim, PUBLISH in one script, set before publish) and the wiring.
//
// While the feed is down, each instance still refuses the sessions it revoked itself and every
// revocation it had loaded; revocations made elsewhere in the meantime reach it on reconnect,
// and the subscriber's heartbeat bounds how long a silently dead connection can go unnoticed.
import {
  activeRevocationsRange,
  decodeRevocation,
  feedSubscriptions,
  followRevocationChannel,
  mergeRevocationMembers,
  revocationMembers,
  revocationMessages,
  type Revocation,
  type RevocationFeed,
} from '@latchkey/core';
import { createNodeConnection, guard, type RedisClient, type RedisTarget, type RedisTimeouts } from './client.js';
import type { KeyLayout } from './keys.js';
import { ADD_REVOCATION } from './scripts.js';

interface FeedCommands {
  lkAddRevocation(key: string, ...args: Array<string | number>): Promise<number>;
}

export function defineRevocationScripts(client: RedisClient): void {
  client.defineCommand('lkAddRevocation', { numberOfKeys: 1, lua: ADD_REVOCATION });
}

export interface RedisRevocationFeedOptions {
  target: RedisTarget;
  timeouts: RedisTimeouts;
  /** Clock for trimming lapsed entries. */
  now?: () => number;
}

export interface RedisRevocationFeed extends RevocationFeed {
  /** Ends every subscription still open (on close, so no reconnect loop outlives the store). */
  stopAll(): void;
}

export function redisRevocationFeed(client: RedisClient, keys: KeyLayout, opts: RedisRevocationFeedOptions): RedisRevocationFeed {
  const cmd = client as unknown as FeedCommands;
  const now = opts.now ?? Date.now;
  const loadActive = async (at: number): Promise<Revocation[]> => {
    return mergeRevocationMembers(await guard(client.zrangebyscore(keys.revocations, ...activeRevocationsRange(at), 'WITHSCORES')));
  };
  return {
    async add(r) {
      const members = revocationMembers(r);
      await guard(cmd.lkAddRevocation(keys.revocations, r.until, now(), keys.revocationChannel, members.length, ...members, ...revocationMessages(r)));
    },
    loadActive,
    ...feedSubscriptions(
      (onMessage, onReady) =>
        followRevocationChannel(opts.target, (node) => createNodeConnection(opts.target, node, opts.timeouts), keys.revocationChannel, onMessage, onReady),
      decodeRevocation,
      loadActive,
      now,
    ),
  };
}
