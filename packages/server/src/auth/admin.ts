// Operators' use cases, shared by the admin API (admin/routes.ts) and the `latchkey` CLI
// (cli/admin-commands.ts), so both do exactly the same thing. They need no HTTP server or key ring:
// the CLI runs them against the configured stores while servers may or may not be running, and
// what they revoke reaches running servers through the revocation feed.
import { adminKeyId, adminKeyMatches, isAdminKeyName, newAdminKey, type AdminKeyRecord } from '../domain/admin-keys.js';
import { Errors } from '../domain/errors.js';
import { MAX_SESSION_PAGE, type StoredSigningKey, type UserRecord } from '../store/types.js';
import { macKeyState, rotateMacKey, rotateSigningKey, signingKeyState } from '../keys/key-ring.js';
import { keyTimings, sessionPolicy, type AuthContext } from './context.js';
import type { SessionCursor } from '../domain/session-cursor.js';
import { DEFAULT_SESSION_PAGE, endAllSessions, endSession, pageOfSessions, type SessionPageOf } from './sessions.js';

export type AdminContext = Pick<AuthContext, 'config' | 'stores' | 'revoked' | 'events' | 'now'>;

/** Who acts: an admin API key (`key:<id>`) or the CLI (`cli`). Named in every security event. */
export type Actor = string;

export interface AdminUser {
  id: string;
  email: string;
  createdAt: string;
  disabled: boolean;
  disabledAt: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function adminUser(u: UserRecord): AdminUser {
  const disabledAt = u.disabledAt ?? null;
  return { id: u.id, email: u.email, createdAt: iso(u.createdAt), disabled: disabledAt !== null, disabledAt: disabledAt === null ? null : iso(disabledAt) };
}

export const MAX_PAGE = 200;

export async function listUsers(ctx: AdminContext, q: { limit?: number; after?: string | null; email?: string | null }): Promise<{ users: AdminUser[]; next: string | null }> {
  const limit = Math.min(Math.max(q.limit ?? 50, 1), MAX_PAGE);
  // One more than asked tells whether there is a next page without a count.
  const rows = await ctx.stores.users.listUsers({ limit: limit + 1, after: q.after ?? null, emailContains: q.email ? q.email.trim().toLowerCase() : null });
  const page = rows.slice(0, limit);
  return { users: page.map(adminUser), next: rows.length > limit ? page.at(-1)!.email : null };
}

async function userOrNotFound(ctx: AdminContext, id: string): Promise<UserRecord> {
  const u = await ctx.stores.users.findUserById(id);
  if (!u) throw Errors.notFound();
  return u;
}

export async function showUser(ctx: AdminContext, id: string): Promise<AdminUser & { sessions: number }> {
  const u = await userOrNotFound(ctx, id);
  // Counted a page at a time: each store call is bounded, however many sessions there are.
  let sessions = 0;
  let after: SessionCursor | null = null;
  for (;;) {
    const page = await ctx.stores.sessions.listSessions(u.id, ctx.now(), sessionPolicy(ctx.config), { limit: MAX_SESSION_PAGE, after });
    sessions += page.length;
    const last = page.at(-1);
    if (page.length < MAX_SESSION_PAGE || !last) break;
    after = { createdAt: last.createdAt, id: last.id };
  }
  return { ...adminUser(u), sessions };
}

/** Ends every session of a disabled user and revokes them through the feed (used by login too). */
export function endSessionsOfDisabled(ctx: AdminContext, userId: string): Promise<string[]> {
  return endAllSessions(ctx, userId, undefined, 'user_disabled');
}

/**
 * ASVS 5.0 V7.4: disabling ends every session at once, here and, through the revocation feed, on
 * every instance and verifier; sign-up with the address and login are refused until enabled.
 */
export async function disableUser(ctx: AdminContext, id: string, actor: Actor): Promise<AdminUser & { sessionsEnded: number }> {
  const u = await ctx.stores.users.setUserDisabled(id, ctx.now());
  if (!u) throw Errors.notFound();
  const ended = await endSessionsOfDisabled(ctx, id);
  ctx.events({ event: 'admin.user_disabled', actor, targetUserId: id });
  return { ...adminUser(u), sessionsEnded: ended.length };
}

export async function enableUser(ctx: AdminContext, id: string, actor: Actor): Promise<AdminUser> {
  const u = await ctx.stores.users.setUserDisabled(id, null);
  if (!u) throw Errors.notFound();
  ctx.events({ event: 'admin.user_enabled', actor, targetUserId: id });
  return adminUser(u);
}

/** Deletes the user and ends every session; the address can sign up again. */
export async function deleteUser(ctx: AdminContext, id: string, actor: Actor): Promise<{ sessionsEnded: number }> {
  await userOrNotFound(ctx, id);
  // Sessions first: a user row without sessions is harmless, sessions without a user are not.
  const ids = await endAllSessions(ctx, id, undefined, 'user_deleted');
  await ctx.stores.users.deleteUser(id);
  ctx.events({ event: 'admin.user_deleted', actor, targetUserId: id });
  return { sessionsEnded: ids.length };
}

export interface AdminSession {
  id: string;
  clientId: string;
  device: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
}

/** One page of a user's live sessions, oldest first (GET /auth/sessions's paging: `limit`, `cursor`, `next_cursor`). */
export async function listUserSessions(
  ctx: AdminContext,
  userId: string,
  page: { limit: number; after: SessionCursor | null } = { limit: DEFAULT_SESSION_PAGE, after: null },
): Promise<SessionPageOf<AdminSession>> {
  await userOrNotFound(ctx, userId);
  return pageOfSessions(ctx, userId, page, (s) => ({ id: s.id, clientId: s.clientId, device: s.device, createdAt: iso(s.createdAt), lastUsedAt: iso(s.lastUsedAt), expiresAt: iso(s.expiresAt) }));
}

export async function endUserSession(ctx: AdminContext, userId: string, sessionId: string, actor: Actor): Promise<void> {
  await endSession(ctx, userId, sessionId, 'ended_by_admin');
  ctx.events({ event: 'admin.session_ended', actor, targetUserId: userId, sessionId });
}

export async function endAllUserSessions(ctx: AdminContext, userId: string, actor: Actor): Promise<{ sessionsEnded: number }> {
  await userOrNotFound(ctx, userId);
  const ids = await endAllSessions(ctx, userId, undefined, 'ended_by_admin');
  ctx.events({ event: 'admin.sessions_ended', actor, targetUserId: userId });
  return { sessionsEnded: ids.length };
}

export interface KeyView {
  kind: 'signing' | 'mac';
  id: string;
  alg: string | null;
  /**
   * pending: published (signing) / known to every instance (MAC), used from `activatesAt` on;
   * active: signs (or MACs) now; retired: no longer signs, still verifies until nothing it made
   * can be alive; expired: verifies nothing (a MAC key in this state is deleted at the next rotation).
   */
  state: 'pending' | 'active' | 'retired' | 'expired';
  createdAt: string;
  activatesAt: string;
  retiredAt: string | null;
}

export async function listKeys(ctx: AdminContext): Promise<KeyView[]> {
  const t = keyTimings(ctx.config);
  const now = ctx.now();
  // Never the material: ids, states and dates only.
  const signing: KeyView[] = (await ctx.stores.keys.listSigningKeys()).map((k) => ({
    kind: 'signing',
    id: k.kid,
    alg: k.alg,
    state: signingKeyState(k, now, t.retiredLifetimeMs),
    createdAt: iso(k.createdAt),
    activatesAt: iso(k.activatesAt),
    retiredAt: k.retiredAt === null ? null : iso(k.retiredAt),
  }));
  const macs = await ctx.stores.keys.listMacKeys();
  const mac: KeyView[] = macs.map((m) => {
    const successor = macs.find((n) => n.id > m.id);
    return { kind: 'mac', id: String(m.id), alg: 'HS256', state: macKeyState(m, macs, now, t.macLifetimeMs), createdAt: iso(m.createdAt), activatesAt: iso(m.activatesAt), retiredAt: successor ? iso(successor.activatesAt) : null };
  });
  return [...signing, ...mac];
}

export interface RotationView {
  kind: 'signing' | 'mac';
  /** False when a new key was pending already: exactly one rotation wins, and a pending key is never pushed back. */
  rotated: boolean;
  /** The pending key's id (kid or MAC id): the new one, or the one that was pending. */
  id: string;
  activatesAt: string;
}

/**
 * Adds a pending signing key that signs from `LATCHKEY_KEY_PUBLISH_LEAD` on; servers publish it
 * from their next key reload. Of concurrent rotations exactly one wins.
 */
export async function rotateSigningKeyNow(ctx: AdminContext, actor: Actor): Promise<RotationView> {
  const now = ctx.now();
  const r = await rotateSigningKey(ctx.stores.keys, ctx.config.alg, now, keyTimings(ctx.config).leadMs);
  const pending = r.key ?? r.keys.filter((k) => k.activatesAt > now).sort((a, b) => b.activatesAt - a.activatesAt)[0]!;
  if (r.key) ctx.events({ event: 'keys.rotated', actor, keyKind: 'signing', keyId: r.key.kid, activatesAt: r.key.activatesAt });
  return { kind: 'signing', rotated: r.rotated, id: pending.kid, activatesAt: iso(pending.activatesAt) };
}

/** The same for the refresh MAC secret; also deletes MAC secrets nothing can use any more. */
export async function rotateMacKeyNow(ctx: AdminContext, actor: Actor): Promise<RotationView> {
  const now = ctx.now();
  const t = keyTimings(ctx.config);
  const r = await rotateMacKey(ctx.stores.keys, now, t.leadMs, t.macLifetimeMs);
  const pending = r.key ?? r.keys.filter((k) => k.activatesAt > now).sort((a, b) => b.id - a.id)[0]!;
  if (r.key) ctx.events({ event: 'keys.rotated', actor, keyKind: 'mac', keyId: String(r.key.id), activatesAt: r.key.activatesAt });
  return { kind: 'mac', rotated: r.rotated, id: String(pending.id), activatesAt: iso(pending.activatesAt) };
}

export interface AdminKeyView {
  id: string;
  name: string;
  createdAt: string;
  revoked: boolean;
  revokedAt: string | null;
}

const adminKeyView = (k: AdminKeyRecord): AdminKeyView => ({ id: k.id, name: k.name, createdAt: iso(k.createdAt), revoked: k.revokedAt !== null, revokedAt: k.revokedAt === null ? null : iso(k.revokedAt) });

/** The key itself is in the answer once and stored nowhere; only its hash is kept. */
export async function createAdminKey(ctx: AdminContext, name: string, actor: Actor): Promise<AdminKeyView & { key: string }> {
  if (!isAdminKeyName(name)) throw Errors.invalidRequest('name must be 1 to 64 printable ASCII characters, not starting or ending with a space');
  const { record, key } = newAdminKey(name, ctx.now());
  await ctx.stores.adminKeys.createAdminKey(record);
  ctx.events({ event: 'admin.key_created', actor, keyId: record.id });
  return { ...adminKeyView(record), key };
}

export async function listAdminKeys(ctx: AdminContext): Promise<AdminKeyView[]> {
  return (await ctx.stores.adminKeys.listAdminKeys()).map(adminKeyView);
}

export async function revokeAdminKey(ctx: AdminContext, id: string, actor: Actor): Promise<void> {
  if (!(await ctx.stores.adminKeys.revokeAdminKey(id, ctx.now()))) throw Errors.notFound();
  ctx.events({ event: 'admin.key_revoked', actor, keyId: id });
}

/** The actor a presented admin API key stands for, or an `admin_key_invalid` refusal. */
export async function authenticateAdmin(ctx: AdminContext, presented: string | null): Promise<Actor> {
  const id = presented === null ? null : adminKeyId(presented);
  const record = id === null ? null : await ctx.stores.adminKeys.findAdminKey(id);
  if (presented === null || !adminKeyMatches(record, presented)) {
    ctx.events({ event: 'admin.refused', reason: id === null ? 'malformed_or_missing' : record === null ? 'unknown_key' : record.revokedAt !== null ? 'revoked_key' : 'wrong_secret' });
    throw Errors.adminKeyInvalid();
  }
  return `key:${record!.id}`;
}
