// What every revocation feed shares (the server's Redis and PostgreSQL feeds, verifiers' sources): turning a raw channel (pub/sub, LISTEN)
// into RevocationFeed subscriptions that miss nothing, and ending them all when the store closes.
import type { Revocation } from './types.js';

/** Starts following a channel: `onMessage` per payload, `onReady` after each (re)subscription. */
export type ChannelFollower = (onMessage: (payload: string) => void, onReady: () => Promise<void>) => () => void;

export interface FeedSubscriptions {
  subscribe(onRevoked: (r: Revocation, live?: boolean) => void, onResync: () => void): () => void;
  /** Ends every subscription still open, so no reconnect loop outlives the store. */
  stopAll(): void;
}

export function feedSubscriptions(
  follow: ChannelFollower,
  decode: (payload: string) => Revocation | null,
  loadActive: (now: number) => Promise<Revocation[]>,
  now: () => number,
): FeedSubscriptions {
  const active = new Set<() => void>();
  return {
    subscribe(onRevoked, onResync) {
      const stop = follow(
        (payload) => {
          const r = decode(payload);
          if (r) onRevoked(r, true);
        },
        async () => {
          // The channel is live, so every later add arrives as a message and every earlier one
          // is in this load: a subscriber misses nothing from the moment subscribe() is called,
          // even before the connection is up. The caller's own reload (onResync) stays the
          // interface's promise.
          try {
            for (const r of await loadActive(now())) onRevoked(r, false);
          } catch {
            // The store is unreachable too; the caller's reload and the next reconnect retry.
          }
          onResync();
        },
      );
      const unsubscribe = () => {
        active.delete(unsubscribe);
        stop();
      };
      active.add(unsubscribe);
      return unsubscribe;
    },
    stopAll() {
      for (const stop of [...active]) stop();
    },
  };
}
