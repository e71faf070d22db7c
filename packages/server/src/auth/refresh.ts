import type { VerifiedProof } from '@latchkey/core';
import { decodeRefreshToken } from '../domain/refresh-token.js';
import { AuthError, Errors } from '../domain/errors.js';
import { sessionKeyId } from '../domain/key-binding.js';
import { requestProof, type DpopRequest } from './dpop.js';
import { revocationHorizon, sessionPolicy, type AuthContext } from './context.js';
import { revokedHere } from './revoke.js';
import { tokenResponse, type TokenResponse } from './issue-tokens.js';
import { isEmailVerified } from './email-verification.js';

/**
 * RFC 6749 §6 refresh with rotation (RFC 9700 §4.14.2). A forged or tampered token is refused
 * before any store trip; the store's atomic `rotate` decides everything else. Refusals are
 * returned, not thrown: they are the expected answer to attacks and must stay cheap.
 */
export async function refresh(ctx: AuthContext, refreshToken: string, clientId: string, dpop?: DpopRequest): Promise<TokenResponse | AuthError> {
  const claims = decodeRefreshToken(ctx.keys.mac, refreshToken);
  if (!claims) {
    ctx.metrics.refresh('forged');
    return Errors.malformedRefreshToken();
  }
  // After the MAC check (a forged token costs no signature check), before the store: whether the
  // presented token comes with its session's key is the store's atomic decision (key_mismatch).
  let proof: VerifiedProof | null;
  try {
    proof = await requestProof(ctx, dpop);
  } catch (e) {
    if (e instanceof AuthError) ctx.metrics.refresh('dpop_refused');
    throw e;
  }
  const jkt = proof?.jkt ?? null;
  const { decision, session } = await ctx.stores.sessions.rotate(
    claims.sessionId,
    { generation: claims.generation, clientId, keyId: jkt ? sessionKeyId(jkt) : null },
    ctx.now(),
    sessionPolicy(ctx.config),
    // The store publishes a theft's revocation itself, in the same step as it deletes the session:
    // a reply lost after the deletion (a Redis timeout) cannot leave the session's tokens alive.
    revocationHorizon(ctx),
  );
  // One object literal per event, not a spread of a shared base object (and no per-call closure).
  const { sessionId, generation } = claims;
  const userId = session?.userId;
  switch (decision.kind) {
    case 'rotate':
      ctx.events({ event: 'session.rotated', sessionId, userId, clientId, generation });
      ctx.metrics.refresh('rotate');
      return tokenResponse(ctx, session!, await isEmailVerified(ctx, session!.userId), jkt);
    case 'grace':
      // Same successor as the first caller got (recomputed from the stored generation), fresh access token.
      ctx.events({ event: 'session.grace_replay', sessionId, userId, clientId, generation });
      ctx.metrics.refresh('grace');
      return tokenResponse(ctx, session!, await isEmailVerified(ctx, session!.userId), jkt);
    case 'reuse': {
      // An older (spent) token replayed: one of its holders is a thief. `reason` names the kind
      // of theft the feed carries, the same word for every instance and every later holder.
      revokedHere(ctx, [claims.sessionId], { theft: 'reuse' });
      ctx.events({ event: 'session.reuse_detected', sessionId, userId, clientId, generation, reason: 'reuse' });
      ctx.metrics.refresh('reuse');
      return Errors.refreshReuse();
    }
    case 'key_mismatch': {
      // RFC 9449 §5: the session is bound to a key and this token came with another key's proof,
      // or none. Only a copy does that; the store revoked the session (as a copy) in the same step.
      revokedHere(ctx, [claims.sessionId], { theft: 'copy' });
      ctx.events({ event: 'session.key_mismatch', sessionId, userId, clientId, generation, reason: 'copy' });
      ctx.metrics.refresh('key_mismatch');
      return Errors.keyMismatch();
    }
    case 'future':
      ctx.events({ event: 'session.future_generation', sessionId, userId, clientId, generation });
      ctx.metrics.refresh('future');
      return Errors.malformedRefreshToken();
    case 'expired':
      ctx.events({ event: 'session.expired', sessionId, userId, clientId, generation, reason: decision.reason });
      ctx.metrics.refresh('expired');
      return Errors.sessionExpired();
    case 'wrong_client':
      ctx.metrics.refresh('wrong_client');
      return Errors.wrongClient();
    case 'not_found':
      // Every holder of a session revoked as stolen (the victim's other tabs too) learns which
      // theft it was, not only the request that tripped the detection, on whichever instance it
      // asks: an older token replayed (refresh_token_reused, clients say reuse_detected) or a copy
      // used without the key (dpop_key_mismatch).
      ctx.metrics.refresh('ended');
      switch (ctx.revoked.revokedBecause(claims.sessionId)) {
        case 'reuse':
          return Errors.refreshReuse();
        case 'copy':
          return Errors.keyMismatch();
        default:
          // A genuine token (its MAC checked out) of a session that is gone: signed out, ended,
          // or expired and since removed by the store.
          return Errors.sessionEnded();
      }
  }
}
