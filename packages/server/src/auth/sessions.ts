import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { decodeRefreshToken } from '../domain/refresh-token.js';
import { Errors } from '../domain/errors.js';
import { decodeSessionCursor, encodeSessionCursor, type SessionCursor } from '../domain/session-cursor.js';
import { MAX_SESSION_PAGE } from '../store/types.js';
import { sessionPolicy, type AuthContext } from './context.js';
import { revokeSessions, type RevokingContext } from './revoke.js';

export interface SessionView {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  device: string;
  current: boolean;
  /** Whether the session is bound to a DPoP key (RFC 9449; issue 11). */
  keyBound: boolean;
}

const MINUTE = 60_000;

/** GET /auth/sessions page size when none is asked for, and the most one page holds. */
export const DEFAULT_SESSION_PAGE = 100;
export { MAX_SESSION_PAGE };
/** Sessions ended per store call when ending many: each batch is published, deleted, then the event loop breathes ; on embedded SQLite each step is synchronous, so the loop yields between the steps too (each ≤ ~10 ms). */
export const END_BATCH = 500;

type EndingContext = RevokingContext & Pick<AuthContext, 'events'>;

/**
 * Revokes sessions about to end and records why, one security event each. Called BEFORE the
 * store deletes them: if the deletion's reply is lost after it took effect (a timeout), the
 * revocation is already durable, and a retry finds the sessions either still there or revoked.
 */
export async function revoke(ctx: EndingContext, sessionIds: string[], userId: string | undefined, reason: string): Promise<void> {
  await revokeSessions(ctx, sessionIds);
  // One line per batch, not per session: a log line per session made one request write 100k
  // lines, and a synchronous log write into a slow pipe stalled the event loop. The ids are on
  // the revocation feed.
  if (sessionIds.length === 1) ctx.events({ event: 'session.revoked', userId, sessionId: sessionIds[0], reason });
  else if (sessionIds.length > 1) ctx.events({ event: 'sessions.revoked', userId, reason, count: sessionIds.length });
}

/** The page's size and start from the query; a bad cursor or limit is a 400. */
export function sessionPageQuery(q: { limit?: number | string; cursor?: string }): { limit: number; after: SessionCursor | null } {
  const limit = q.limit === undefined ? DEFAULT_SESSION_PAGE : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SESSION_PAGE) throw Errors.invalidRequest(`limit must be an integer from 1 to ${MAX_SESSION_PAGE}`);
  if (q.cursor === undefined) return { limit, after: null };
  const after = decodeSessionCursor(q.cursor);
  if (!after) throw Errors.invalidRequest('cursor is not one this server returned as next_cursor');
  return { limit, after };
}

export interface SessionPageOf<T> {
  sessions: T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

/** One page of the user's live sessions, oldest first; bounded work whatever the user piled up. */
export async function pageOfSessions<T>(
  ctx: Pick<AuthContext, 'config' | 'stores' | 'now'>,
  userId: string,
  page: { limit: number; after: SessionCursor | null },
  view: (s: import('../domain/session.js').SessionRecord) => T,
): Promise<SessionPageOf<T>> {
  // One more than asked tells whether there is a next page without a count.
  const ask = Math.min(page.limit + 1, MAX_SESSION_PAGE);
  const rows = await ctx.stores.sessions.listSessions(userId, ctx.now(), sessionPolicy(ctx.config), { limit: ask, after: page.after });
  const shown = rows.slice(0, page.limit);
  const more = rows.length > page.limit || (ask === page.limit && rows.length === ask);
  const last = shown.at(-1);
  return { sessions: shown.map(view), next_cursor: more && last ? encodeSessionCursor(last) : null };
}

export function listSessions(ctx: AuthContext, userId: string, currentSid: string, page: { limit: number; after: SessionCursor | null } = { limit: DEFAULT_SESSION_PAGE, after: null }): Promise<SessionPageOf<SessionView>> {
  // DESIGN property 9: nothing tells a holder of a stolen access token when its session rotated,
  // which is when a copied Bearer predecessor would still get the grace answer. Other sessions'
  // times are given to the minute; the calling session is in use now, and says just that.
  const nowMinute = Math.floor(ctx.now() / MINUTE) * MINUTE;
  return pageOfSessions(ctx, userId, page, (s) => ({
    id: s.id,
    createdAt: new Date(s.createdAt).toISOString(),
    lastUsedAt: new Date(s.id === currentSid ? nowMinute : Math.floor(s.lastUsedAt / MINUTE) * MINUTE).toISOString(),
    device: s.device,
    current: s.id === currentSid,
    keyBound: Boolean(s.keyId),
  }));
}

export async function logout(ctx: AuthContext, userId: string, sessionId: string): Promise<void> {
  await revoke(ctx, [sessionId], userId, 'logout');
  await ctx.stores.sessions.deleteSession(sessionId);
}

/**
 * Ends one of the user's sessions (the user's own call, or an operator's); another user's session
 * id is indistinguishable from an unknown one.
 */
export async function endSession(ctx: EndingContext, userId: string, sessionId: string, reason = 'ended_by_user'): Promise<void> {
  const s = await ctx.stores.sessions.getSession(sessionId);
  if (!s || s.userId !== userId) throw Errors.notFound();
  await revoke(ctx, [sessionId], userId, reason);
  await ctx.stores.sessions.deleteSession(sessionId);
}

/**
 * Ends every session of the user but `exceptSid`; returns the ids ended. In batches of END_BATCH:
 * each is listed (one bounded store call), published, deleted (another), then the event loop
 * gets a turn, so 100k sessions never hold the server or Redis for long (issue 12).
 */
export async function endAllSessions(ctx: EndingContext, userId: string, exceptSid?: string, reason = exceptSid ? 'ended_others' : 'ended_all'): Promise<string[]> {
  const policy = sessionPolicy(ctx.config);
  const ended: string[] = [];
  let after: SessionCursor | null = null;
  for (;;) {
    const page = await ctx.stores.sessions.listSessions(userId, ctx.now(), policy, { limit: END_BATCH, after });
    const ids = page.filter((s) => s.id !== exceptSid).map((s) => s.id);
    if (ids.length > 0) {
      await yieldToEventLoop();
      await revoke(ctx, ids, userId, reason);
      await yieldToEventLoop();
      ended.push(...(await ctx.stores.sessions.deleteSessions(userId, ids)));
    }
    const last = page.at(-1);
    if (page.length < END_BATCH || !last) return ended;
    after = { createdAt: last.createdAt, id: last.id };
    await yieldToEventLoop();
  }
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
  await revoke(ctx, [s.id], s.userId, 'revoked_by_client');
  await ctx.stores.sessions.deleteSession(s.id);
}
