import { decodeRefreshToken } from '../domain/refresh-token.js';
import { Errors } from '../domain/errors.js';
import { sessionPolicy, type AuthContext } from './context.js';
import { revokeSessions, type RevokingContext } from './revoke.js';

export interface SessionView {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  device: string;
  current: boolean;
}

/** Revokes ended sessions and records why, one security event each. */
export async function revoke(ctx: EndingContext, sessionIds: string[], userId: string | undefined, reason: string): Promise<void> {
  await revokeSessions(ctx, sessionIds);
  for (const sessionId of sessionIds) ctx.events({ event: 'session.revoked', userId, sessionId, reason });
}

export async function listSessions(ctx: AuthContext, userId: string, currentSid: string): Promise<SessionView[]> {
  const sessions = await ctx.stores.sessions.listSessions(userId, ctx.now(), sessionPolicy(ctx.config));
  return sessions.map((s) => ({
    id: s.id,
    createdAt: new Date(s.createdAt).toISOString(),
    lastUsedAt: new Date(s.lastUsedAt).toISOString(),
    device: s.device,
    current: s.id === currentSid,
  }));
}

export async function logout(ctx: AuthContext, userId: string, sessionId: string): Promise<void> {
  await ctx.stores.sessions.deleteSession(sessionId);
  await revoke(ctx, [sessionId], userId, 'logout');
}

type EndingContext = RevokingContext & Pick<AuthContext, 'events'>;

/**
 * Ends one of the user's sessions (the user's own call, or an operator's); another user's session
 * id is indistinguishable from an unknown one.
 */
export async function endSession(ctx: EndingContext, userId: string, sessionId: string, reason = 'ended_by_user'): Promise<void> {
  const s = await ctx.stores.sessions.getSession(sessionId);
  if (!s || s.userId !== userId) throw Errors.notFound();
  await ctx.stores.sessions.deleteSession(sessionId);
  await revoke(ctx, [sessionId], userId, reason);
}

/** Ends every session of the user but `exceptSid`; returns the ids ended. */
export async function endAllSessions(ctx: EndingContext, userId: string, exceptSid?: string, reason = exceptSid ? 'ended_others' : 'ended_all'): Promise<string[]> {
  const ids = await ctx.stores.sessions.deleteUserSessions(userId, exceptSid);
  await revoke(ctx, ids, userId, reason);
  return ids;
}

/**
 * RFC 7009 revocation of a refresh token: ends its session. Answers the same for unknown,
 * forged and other clients' tokens (§2.2), so it reveals nothing and revokes nothing it shouldn't.
 */
export async function revokeRefreshToken(ctx: AuthContext, token: string, clientId: string): Promise<void> {
  const claims = decodeRefreshToken(ctx.keys.mac, token);
  if (!claims) return;
  const s = await ctx.stores.sessions.getSession(claims.sessionId);
  // §2.1: the token must have been issued to the requesting client. A stale generation still
  // names the session; the holder of any of its genuine tokens may end it.
  if (!s || s.clientId !== clientId || claims.generation > s.generation) return;
  await ctx.stores.sessions.deleteSession(s.id);
  await revoke(ctx, [s.id], s.userId, 'revoked_by_client');
}
