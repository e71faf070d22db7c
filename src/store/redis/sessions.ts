// Sessions in Redis, one hash per session (key tag {sid}) plus one sorted set per user (key tag
// {u:userId}) listing the user's session ids by creation time.
//
// What is atomic, on a single server and on Redis Cluster alike (one code path for both):
// - rotate: one Lua script on the session's slot, the whole read-decide-write (DESIGN property 5).
//   `reuse` and `expired` delete the session inside it. At most one caller sees `rotate` per
//   generation, whatever the concurrency.
// - deleteSession: one script (read + delete). The index entry is removed afterwards; if that
//   step fails the entry is stale (points at nothing) and is dropped by the next read of the index.
// - createSession: the session hash and its TTL in one script, then one script on the user's slot
//   that adds the index entry and, under LATCHKEY_MAX_SESSIONS, picks and marks the sessions to
//   end. That second script serialises concurrent logins of one user, so each eviction is decided
//   once and the cap holds in the index at every moment. The marked sessions are deleted right
//   after (a few ms later, from this process); a mark left behind by a crash is finished by the
//   next list, login or end-all of that user. A crash between the two scripts leaves a session no
//   one holds a token for (the caller never got one); it expires by its TTL.
// - deleteUserSessions: reads the index, deletes each session (one DEL each), then removes the
//   entries. A session created concurrently with it survives, as if created just after.
// Expiry needs no sweeper: each session key's TTL is the earlier of its absolute end and its idle
// deadline, refreshed on rotation. The index expires with the longest-lived session it has seen.
import { applyRotation, type PresentedToken, type RotationDecision, type RotationOutcome } from '../../domain/rotation.ts';
import { MAX_GENERATION } from '../../domain/refresh-token.ts';
import { isSessionLive, type SessionPolicy, type SessionRecord } from '../../domain/session.ts';
import type { SessionStore } from '../types.ts';
import { guard, type RedisClient } from './client.ts';
import type { KeyLayout } from './keys.ts';
import { CREATE_SESSION, INDEX_ADD, ROTATE, TAKE_SESSION } from './scripts.ts';

type Fields = Array<string | null>;

interface SessionCommands {
  lkCreateSession(key: string, ...args: Array<string | number>): Promise<number>;
  lkRotate(key: string, ...args: Array<string | number>): Promise<Fields>;
  lkTakeSession(key: string): Promise<Fields | null>;
  lkIndexAdd(key: string, ...args: Array<string | number>): Promise<string[]>;
}

export function defineSessionScripts(client: RedisClient): void {
  client.defineCommand('lkCreateSession', { numberOfKeys: 1, lua: CREATE_SESSION });
  client.defineCommand('lkRotate', { numberOfKeys: 1, lua: ROTATE });
  client.defineCommand('lkTakeSession', { numberOfKeys: 1, lua: TAKE_SESSION });
  client.defineCommand('lkIndexAdd', { numberOfKeys: 1, lua: INDEX_ADD });
}

// A canonical UUID (what signup issues) is stored as its 16 bytes in base64url: 22 bytes instead
// of 36, which keeps a typical session's listpack within 128 bytes instead of 160 (measured ~32 B
// less per session). Any other id is stored verbatim behind '=', which base64url never contains.
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function packUserId(userId: string): string {
  return UUID_RE.test(userId) ? Buffer.from(userId.replace(/-/g, ''), 'hex').toString('base64url') : `=${userId}`;
}

export function unpackUserId(packed: string): string {
  if (packed.startsWith('=')) return packed.slice(1);
  const h = Buffer.from(packed, 'base64url').toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Fields in SESSION_FIELDS order -> record; null when the hash is missing or incomplete. */
function toSession(id: string, f: Fields): SessionRecord | null {
  const [u, c, g, r, t, l, e, d] = f;
  if (u == null || c == null || g == null || r == null || t == null || l == null || e == null || d == null) return null;
  return {
    id,
    userId: unpackUserId(u),
    clientId: c,
    generation: Number(g),
    rotatedAt: Number(r),
    createdAt: Number(t),
    lastUsedAt: Number(l),
    expiresAt: Number(e),
    device: d,
  };
}

const byAge = (a: SessionRecord, b: SessionRecord) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export interface RedisSessionStoreOptions {
  /** Idle timeout used for the TTL of a new session (LATCHKEY_SESSION_IDLE); rotation uses the policy it is given. */
  idleMs: number;
}

export function redisSessionStore(client: RedisClient, keys: KeyLayout, opts: RedisSessionStoreOptions): SessionStore {
  const cmd = client as unknown as SessionCommands;

  /** Index entries: live ids oldest first, and ids whose eviction was decided but not finished. */
  async function readIndex(userId: string): Promise<{ live: string[]; evicting: string[] }> {
    const flat = await guard(client.zrange(keys.userIndex(userId), 0, -1, 'WITHSCORES'));
    const live: string[] = [];
    const evicting: string[] = [];
    for (let i = 0; i < flat.length; i += 2) (Number(flat[i + 1]) < 0 ? evicting : live).push(flat[i]!);
    return { live, evicting };
  }

  async function unindex(userId: string, ids: string[]): Promise<void> {
    if (ids.length > 0) await guard(client.zrem(keys.userIndex(userId), ...ids));
  }

  /** Deletes the sessions first, then their index entries: an entry never outlives nothing but a stale pointer. */
  async function finishEvictions(userId: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await Promise.all(ids.map((id) => guard(client.del(keys.session(id)))));
    await unindex(userId, ids);
  }

  /** Drops index entries whose session hash is gone (expired by TTL, revoked on reuse). */
  async function pruneIndex(userId: string): Promise<void> {
    const { live, evicting } = await readIndex(userId);
    const exists = await Promise.all(live.map((id) => guard(client.exists(keys.session(id)))));
    const gone = live.filter((_, i) => exists[i] === 0);
    // Ids are 128 random bits and never reused, so a missing hash cannot come back under the same id.
    await Promise.all([finishEvictions(userId, evicting), unindex(userId, gone)]);
  }

  async function loadMany(ids: string[]): Promise<Array<SessionRecord | null>> {
    return Promise.all(ids.map(async (id) => toSession(id, await guard(client.hmget(keys.session(id), 'u', 'c', 'g', 'r', 't', 'l', 'e', 'd')))));
  }

  return {
    async createSession(s, maxSessions) {
      // The TTL is a duration from the session's own clock (lastUsedAt is "now" at creation).
      const ttl = Math.min(s.expiresAt, s.lastUsedAt + opts.idleMs) - s.lastUsedAt;
      // Already over: storing it would only give Redis a key to delete at once.
      if (ttl <= 0) return { evicted: [] };
      // Under a cap, dead entries must not count against it.
      if (maxSessions !== null) await pruneIndex(s.userId);
      await guard(
        cmd.lkCreateSession(keys.session(s.id), packUserId(s.userId), s.clientId, s.generation, s.rotatedAt, s.createdAt, s.lastUsedAt, s.expiresAt, s.device, ttl),
      );
      const evicted = await guard(
        cmd.lkIndexAdd(keys.userIndex(s.userId), s.id, s.createdAt, s.expiresAt - s.lastUsedAt, maxSessions === null ? '' : maxSessions),
      );
      await finishEvictions(s.userId, evicted);
      return { evicted };
    },

    async rotate(sessionId: string, presented: PresentedToken, now: number, policy: SessionPolicy): Promise<RotationOutcome> {
      const reply = await guard(
        cmd.lkRotate(keys.session(sessionId), presented.generation, presented.clientId, now, policy.graceMs, policy.idleMs, MAX_GENERATION),
      );
      const kind = reply[0] as RotationDecision['kind'];
      if (kind === 'not_found') return { decision: { kind }, session: null };
      const found = toSession(sessionId, reply.slice(2));
      if (!found) throw new Error(`session ${sessionId} has an incomplete record`);
      const decision = (kind === 'expired' ? { kind, reason: reply[1] } : { kind }) as RotationDecision;
      if (kind === 'reuse' || kind === 'expired') {
        // The session is gone already; its index entry is only a stale pointer, so a failure here changes nothing.
        await unindex(found.userId, [sessionId]).catch(() => {});
      }
      return { decision, session: applyRotation(found, decision, now) ?? found };
    },

    async getSession(sessionId) {
      const [s] = await loadMany([sessionId]);
      return s ?? null;
    },

    async listSessions(userId, now, policy) {
      const { live, evicting } = await readIndex(userId);
      const found = await loadMany(live);
      const gone = live.filter((_, i) => found[i] === null);
      await Promise.all([finishEvictions(userId, evicting), unindex(userId, gone)]);
      return found
        .filter((s): s is SessionRecord => s !== null && isSessionLive(s, now, policy.idleMs))
        .sort(byAge);
    },

    async deleteSession(sessionId) {
      const f = await guard(cmd.lkTakeSession(keys.session(sessionId)));
      const s = f && toSession(sessionId, f);
      if (!s) return null;
      // The session is deleted; a failure to drop its index entry must not hide that from the
      // caller (who publishes the revocation next), and the stale entry is pruned on the next read.
      await unindex(s.userId, [sessionId]).catch(() => {});
      return s;
    },

    async deleteUserSessions(userId, exceptId) {
      const { live, evicting } = await readIndex(userId);
      const targets = [...live, ...evicting].filter((id) => id !== exceptId);
      const deleted = await Promise.all(targets.map((id) => guard(client.del(keys.session(id)))));
      await unindex(userId, targets);
      return targets.filter((_, i) => deleted[i] === 1);
    },
  };
}
