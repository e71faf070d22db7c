import { revocationHorizon, type AuthContext } from './context.js';

/** What revoking needs: enough for the `latchkey` CLI, which has no HTTP server or key ring. */
export type RevokingContext = Pick<AuthContext, 'config' | 'now' | 'revoked' | 'stores'>;

/**
 * Makes the sessions' access tokens refused everywhere: in this instance's revoked set first (so
 * this instance refuses them even if the feed write fails), then durably on the feed for every
 * other instance and verifier. Kept until the sessions' last access token has expired.
 */
export async function revokeSessions(ctx: RevokingContext, sessionIds: string[], opts: { reuse?: boolean } = {}): Promise<void> {
  const until = revocationHorizon(ctx);
  for (const sessionId of sessionIds) {
    const revocation = opts.reuse ? { sessionId, until, reuse: true } : { sessionId, until };
    ctx.revoked.add(revocation);
    await ctx.stores.revocations.add(revocation);
  }
}
