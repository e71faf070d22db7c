import type { VerifiedProof } from '@latchkey/core';
import { deviceLabel } from '../domain/device.js';
import { sessionKeyId } from '../domain/key-binding.js';
import type { DpopRequest } from './dpop.js';
import { newSessionId } from '../domain/ids.js';
import type { SessionRecord } from '../domain/session.js';
import { revocationHorizon, sessionPolicy, type AuthContext } from './context.js';
import { revokedHere } from './revoke.js';
import { tokenResponse, type TokenResponse } from './issue-tokens.js';

export interface ClientInfo {
  clientId: string;
  userAgent?: string;
  ip?: string;
  /** The request's DPoP proof, if any: a verified one binds the new session to its key (RFC 9449 §5). */
  dpop?: DpopRequest;
}

/** One session per login per device; over LATCHKEY_MAX_SESSIONS the oldest are ended. */
export async function startSession(
  ctx: AuthContext,
  userId: string,
  client: ClientInfo,
  emailVerified = false,
  proof: VerifiedProof | null = null,
): Promise<TokenResponse> {
  const now = ctx.now();
  const session: SessionRecord = {
    id: newSessionId(userId),
    userId,
    clientId: client.clientId,
    generation: 0,
    rotatedAt: now,
    createdAt: now,
    lastUsedAt: now,
    expiresAt: now + ctx.config.sessionTtlSec * 1000,
    device: deviceLabel(client.userAgent),
    keyId: proof ? sessionKeyId(proof.jkt) : null,
    graceUses: 0,
  };
  // The store publishes the evictions itself, in the same step as it ends them (see refresh.ts).
  const { evicted } = await ctx.stores.sessions.createSession(session, ctx.config.maxSessions, sessionPolicy(ctx.config), revocationHorizon(ctx));
  ctx.events({ event: 'session.created', userId, sessionId: session.id, clientId: client.clientId, dpop: proof !== null });
  revokedHere(ctx, evicted);
  for (const sessionId of evicted) ctx.events({ event: 'session.revoked', userId, sessionId, reason: 'max_sessions' });
  return tokenResponse(ctx, session, emailVerified, proof?.jkt ?? null);
}
