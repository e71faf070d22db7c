// Sessions in Redis: one hash per user group (key tag {<tag>}, keys.ts), holding every session of
// the users in that group, two fields per session (session-record.ts). A group is almost always
// one user (2^24 groups); users who share one stay apart because each record carries its user id.
//
// Every operation is one Lua script on one key, so each is atomic, on a single server and on
// Redis Cluster alike (one code path for both):
// - rotate: the whole read-decide-write (DESIGN property 5). `reuse` and `expired` delete the
//   session inside it. At most one caller sees `rotate` per generation, whatever the concurrency.
// - createSession: stores the session and, under LATCHKEY_MAX_SESSIONS, ends the user's oldest
//   beyond the cap in the same step, so concurrent logins of one user are serialised and each
//   eviction is decided once.
// - deleteSession, deleteUserSessions, listSessions: one step each.
// Expiry needs no sweeper: the group key's TTL covers its longest-lived session, and a session
// past its own deadline is refused by the rotation and removed by the next create or list in its
// group. Nothing per session is stored outside the group hash.
import { applyRotation, type PresentedToken, type RotationDecision, type RotationOutcome } from '../../domain/rotation.js';
import { MAX_GENERATION } from '../../domain/refresh-token.js';
import { sessionDeadline, type SessionPolicy, type SessionRecord } from '../../domain/session.js';
import { userTag } from '../../domain/ids.js';
import type { SessionStore } from '../types.js';
import { guard, type RedisClient } from './client.js';
import type { KeyLayout } from './keys.js';
import { SESSION_SCRIPTS } from './scripts.js';
import { decodeRecord, deviceField, encodeRecord, encodeUserId, locate } from './session-record.js';

type Arg = string | number | Buffer;

// The Buffer variants (which ioredis derives from every defineCommand) return bulk replies as
// Buffers: records are binary.
interface SessionCommands {
  lkCreateSessionBuffer(key: string, ...args: Arg[]): Promise<Buffer[]>;
  lkRotateBuffer(key: string, ...args: Arg[]): Promise<Buffer[]>;
  lkTakeSessionBuffer(key: string, field: string): Promise<Buffer[] | null>;
  lkListSessionsBuffer(key: string, ...args: Arg[]): Promise<Buffer[]>;
  lkEndUserSessionsBuffer(key: string, ...args: Arg[]): Promise<Buffer[]>;
}

export function defineSessionScripts(client: RedisClient): void {
  client.defineCommand('lkCreateSession', { numberOfKeys: 1, lua: SESSION_SCRIPTS.create });
  client.defineCommand('lkRotate', { numberOfKeys: 1, lua: SESSION_SCRIPTS.rotate });
  client.defineCommand('lkTakeSession', { numberOfKeys: 1, lua: SESSION_SCRIPTS.take });
  client.defineCommand('lkListSessions', { numberOfKeys: 1, lua: SESSION_SCRIPTS.list });
  client.defineCommand('lkEndUserSessions', { numberOfKeys: 1, lua: SESSION_SCRIPTS.endAll });
}

const byAge = (a: SessionRecord, b: SessionRecord) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function redisSessionStore(client: RedisClient, keys: KeyLayout): SessionStore {
  const cmd = client as unknown as SessionCommands;
  const fields = (tag: string, names: Buffer[]) => names.map((n) => tag + n.toString());

  return {
    async createSession(s, maxSessions, policy) {
      const tag = userTag(s.userId);
      const at = locate(s.id);
      // Ids come from newSessionId(userId); any other id could not be found again by its token.
      if (!at || at.tag !== tag) throw new Error('session id does not carry its user’s tag');
      // The TTL is a duration from the session's own clock (lastUsedAt is "now" at creation).
      const ttl = sessionDeadline(s, policy.idleMs) - s.lastUsedAt;
      // Already over: storing it would only give Redis something to delete.
      if (ttl <= 0) return { evicted: [] };
      const evicted = await guard(
        cmd.lkCreateSessionBuffer(
          keys.sessionGroup(tag),
          at.field,
          encodeRecord(s),
          s.device,
          encodeUserId(s.userId),
          s.lastUsedAt,
          policy.idleMs,
          ttl,
          maxSessions === null ? '' : maxSessions,
        ),
      );
      return { evicted: fields(tag, evicted) };
    },

    async rotate(sessionId: string, presented: PresentedToken, now: number, policy: SessionPolicy): Promise<RotationOutcome> {
      const at = locate(sessionId);
      if (!at) return { decision: { kind: 'not_found' }, session: null };
      const reply = await guard(
        cmd.lkRotateBuffer(keys.sessionGroup(at.tag), at.field, presented.generation, presented.clientId, now, policy.graceMs, policy.idleMs, MAX_GENERATION),
      );
      const kind = reply[0]!.toString() as RotationDecision['kind'];
      if (kind === 'not_found') return { decision: { kind }, session: null };
      const found = decodeRecord(sessionId, reply[2]!, reply[3]!);
      const decision = (kind === 'expired' ? { kind, reason: reply[1]!.toString() } : { kind }) as RotationDecision;
      return { decision, session: applyRotation(found, decision, now) ?? found };
    },

    async getSession(sessionId) {
      const at = locate(sessionId);
      if (!at) return null;
      const [record, device] = await guard(client.hmgetBuffer(keys.sessionGroup(at.tag), at.field, deviceField(at.field)));
      return record ? decodeRecord(sessionId, record, device ?? null) : null;
    },

    async listSessions(userId, now, policy) {
      const tag = userTag(userId);
      const flat = await guard(cmd.lkListSessionsBuffer(keys.sessionGroup(tag), encodeUserId(userId), now, policy.idleMs));
      const out: SessionRecord[] = [];
      for (let i = 0; i < flat.length; i += 3) out.push(decodeRecord(tag + flat[i]!.toString(), flat[i + 1]!, flat[i + 2]!));
      // The script has left out sessions past their deadline at `now`.
      return out.sort(byAge);
    },

    async deleteSession(sessionId) {
      const at = locate(sessionId);
      if (!at) return null;
      const pair = await guard(cmd.lkTakeSessionBuffer(keys.sessionGroup(at.tag), at.field));
      return pair ? decodeRecord(sessionId, pair[0]!, pair[1]!) : null;
    },

    async deleteUserSessions(userId, exceptId) {
      const tag = userTag(userId);
      const keep = exceptId === undefined ? null : locate(exceptId);
      const ended = await guard(
        cmd.lkEndUserSessionsBuffer(keys.sessionGroup(tag), encodeUserId(userId), keep && keep.tag === tag ? keep.field : ''),
      );
      return fields(tag, ended);
    },
  };
}
