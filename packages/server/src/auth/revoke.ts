import type { Revocation, Theft } from '@latchkey/core';
import { revocationHorizon, type AuthContext } from './context.js';

/** What revoking needs: enough for the `latchkey` CLI, which has no HTTP server or key ring. */
export type RevokingContext = Pick<AuthContext, 'config' | 'now' | 'revoked' | 'stores'>;

/** Feed writes in flight at once while revoking a batch (one pipelined round trip on Redis). */
const FEED_CONCURRENCY = 100;

/**
 * Makes the sessions' access tokens refused everywhere: in this instance's revoked set first (so
 * this instance refuses them even if the feed write fails), then durably on the feed for every
 * other instance and verifier. Kept until the sessions' last access token has expired.
 */
export async function revokeSessions(ctx: RevokingContext, sessionIds: string[], opts: { theft?: Theft } = {}): Promise<void> {
  const revocations = revokedHere(ctx, sessionIds, opts);
  const feed = ctx.stores.revocations;
  if (revocations.length > 1 && feed.addMany) return feed.addMany(revocations);
  for (let i = 0; i < revocations.length; i += FEED_CONCURRENCY) {
    await Promise.all(revocations.slice(i, i + FEED_CONCURRENCY).map((r) => feed.add(r)));
  }
}

/**
 * This instance's revoked set only: for revocations the session store has already written to the
 * feed itself, atomically with ending the sessions (thefts in `rotate`, evictions in `createSession`).
 */
export function revokedHere(ctx: RevokingContext, sessionIds: string[], opts: { theft?: Theft } = {}): Revocation[] {
  const until = revocationHorizon(ctx);
  const out = sessionIds.map((sessionId): Revocation => (opts.theft ? { sessionId, until, theft: opts.theft } : { sessionId, until }));
  for (const r of out) ctx.revoked.add(r);
  return out;
}
