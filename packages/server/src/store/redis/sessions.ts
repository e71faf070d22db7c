// Sessions in Redis: one hash per user group (key tag {<tag>}, keys.ts), holding every session of
// the users in that group, two fields per session (session-record.ts). A group is almost always
// one user (2^24 groups); users who share one stay apart because each record carries its user id.
// A group that outgrows INDEX_AT_FIELDS (64 sessions) also keeps one sorted set per user of it
// (by createdAt, in the same hash slot), so that no script does work proportional to what one
// user piled up (issue 12): create under the cap, one page of the list, one batch of ends are
// O(log n + page). Small groups, most of them, pay nothing for it (≤ 300 B per session, issue 3).
// Groups written before the index existed are indexed lazily, one bounded step per call
// (the `migrate` script), the first time a script needs their index.
//
// Every operation is one Lua script on one hash slot, so each is atomic, on a single server and on
// Redis Cluster alike (one code path for both):
// - rotate: the whole read-decide-write (DESIGN property 5). `reuse` and `expired` delete the
//   session inside it. At most one caller sees `rotate` per generation, whatever the concurrency.
// - createSession: stores the session and, under LATCHKEY_MAX_SESSIONS, ends the user's oldest
//   beyond the cap in the same step, so concurrent logins of one user are serialised and each
//   eviction is decided once.
// - deleteSession, deleteSessions, one page of listSessions: one step each.
// Revocations the scripts decide themselves (reuse in rotate, evictions in create) are published
// by the script as it acts, and kept in the group's pending hash until written to the durable
// feed: when a reply is lost after the script ran (a command timeout, a CLIENT PAUSE that runs
// the script later), the revocation still reaches every subscriber at once, and the pending entry
// is written to the feed by a background retry or by the next create or list in the group.
// Expiry needs no sweeper: the group key's TTL covers its longest-lived session, and a session
// past its own deadline is refused by the rotation and removed by the next create or list in its
// group.
import { applyRotation, endsAsTheft, type PresentedToken, type RotationDecision, type RotationOutcome } from '../../domain/rotation.js';
import { MAX_GENERATION } from '../../domain/refresh-token.js';
import { sessionDeadline, type SessionPolicy, type SessionRecord } from '../../domain/session.js';
import { userTag } from '../../domain/ids.js';
import { decodeRevocation, mergeTheft } from '@latchkey/core';
import { StoreUnavailableError } from '../../domain/errors.js';
import { assertBatch, pageLimit } from '../session-batch.js';
import type { Revocation, SessionStore } from '../types.js';
import { guard, type RedisClient } from './client.js';
import type { KeyLayout } from './keys.js';
import { SESSION_SCRIPTS } from './scripts.js';
import { decodeRecord, deviceField, encodeKeyId, encodeRecord, encodeUserId, keyField, locate } from './session-record.js';

type Arg = string | number | Buffer;

// The Buffer variants (which ioredis derives from every defineCommand) return bulk replies as
// Buffers: records are binary.
interface SessionCommands {
  lkCreateSessionBuffer(group: string, index: Buffer, ...args: Arg[]): Promise<Buffer[]>;
  lkRotateBuffer(key: string, ...args: Arg[]): Promise<Buffer[]>;
  lkTakeSessionBuffer(key: string, field: string): Promise<Buffer[] | null>;
  lkListSessionsBuffer(group: string, index: Buffer, ...args: Arg[]): Promise<Buffer[]>;
  lkEndSessions(key: string, user: Buffer, ...fields: string[]): Promise<string[]>;
  lkMigrateGroup(key: string): Promise<number>;
  lkSettled(key: string, ...fields: string[]): Promise<number>;
}

export function defineSessionScripts(client: RedisClient): void {
  client.defineCommand('lkCreateSession', { numberOfKeys: 2, lua: SESSION_SCRIPTS.create });
  client.defineCommand('lkRotate', { numberOfKeys: 1, lua: SESSION_SCRIPTS.rotate });
  client.defineCommand('lkTakeSession', { numberOfKeys: 1, lua: SESSION_SCRIPTS.take });
  client.defineCommand('lkListSessions', { numberOfKeys: 2, lua: SESSION_SCRIPTS.list });
  client.defineCommand('lkEndSessions', { numberOfKeys: 1, lua: SESSION_SCRIPTS.endSome });
  client.defineCommand('lkMigrateGroup', { numberOfKeys: 1, lua: SESSION_SCRIPTS.migrate });
  client.defineCommand('lkSettled', { numberOfKeys: 1, lua: SESSION_SCRIPTS.settled });
}

export interface RedisSessionStoreOptions {
  /** Writes a revocation to the durable feed (the feed's `add`): completes what a script announced. */
  publish(r: Revocation): Promise<void>;
  /** How often a group whose script reply was lost is retried until its pending revocations are settled. */
  settleRetryMs?: number;
}

const MIGRATED = Buffer.from('migrate');
const SETTLE_ATTEMPTS = 240;

export function redisSessionStore(client: RedisClient, keys: KeyLayout, opts: RedisSessionStoreOptions): SessionStore {
  const cmd = client as unknown as SessionCommands;
  const fields = (tag: string, names: Buffer[]) => names.map((n) => tag + n.toString());
  const indexKey = (group: string, userId: string) => Buffer.concat([Buffer.from(`${group}>`), encodeUserId(userId)]);
  const pendingKey = (group: string) => `${group}!`;

  /** Writes the group's pending revocations to the durable feed, then clears them. */
  const settle = async (group: string): Promise<void> => {
    const pending = await guard(client.hgetall(pendingKey(group)));
    const done: string[] = [];
    // A copy is pending as two entries (its reuse form and its copy marker): one revocation.
    const bySid = new Map<string, Revocation>();
    for (const [field, message] of Object.entries(pending)) {
      const r = decodeRevocation(message);
      if (r) {
        const prev = bySid.get(r.sessionId);
        const theft = mergeTheft(prev?.theft, r.theft);
        bySid.set(r.sessionId, { sessionId: r.sessionId, until: Math.max(r.until, prev?.until ?? 0), ...(theft ? { theft } : {}) });
      }
      done.push(field);
    }
    for (const r of bySid.values()) await opts.publish(r);
    if (done.length > 0) await guard(cmd.lkSettled(pendingKey(group), ...done));
  };
  // Groups whose script may have run without our hearing back; retried until Redis answers.
  const unsettled = new Set<string>();
  const settleLater = (group: string) => {
    if (unsettled.has(group)) return;
    unsettled.add(group);
    let attempts = 0;
    const retry = () => {
      settle(group).then(
        () => unsettled.delete(group),
        () => {
          if (++attempts >= SETTLE_ATTEMPTS) return void unsettled.delete(group);
          setTimeout(retry, opts.settleRetryMs ?? 500).unref();
        },
      );
    };
    setTimeout(retry, opts.settleRetryMs ?? 500).unref();
  };
  /** Runs a script that may announce revocations; if its reply is lost, settles its group later. */
  const announcing = async <T>(group: string, op: Promise<T>): Promise<T> => {
    try {
      return await guard(op);
    } catch (err) {
      if (err instanceof StoreUnavailableError) settleLater(group);
      throw err;
    }
  };
  /** Runs a script that needs the group's index, indexing a legacy group first (bounded steps). */
  const indexed = async (group: string, run: () => Promise<Buffer[]>): Promise<Buffer[]> => {
    for (;;) {
      const reply = await run();
      if (!reply[0]!.equals(MIGRATED)) return reply;
      while ((await guard(cmd.lkMigrateGroup(group))) !== 1) {
        // One step per call: other clients' commands run between steps.
      }
    }
  };

  return {
    async createSession(s, maxSessions, policy, revokeUntil) {
      const tag = userTag(s.userId);
      const at = locate(s.id);
      // Ids come from newSessionId(userId); any other id could not be found again by its token.
      if (!at || at.tag !== tag) throw new Error('session id does not carry its user’s tag');
      // The TTL is a duration from the session's own clock (lastUsedAt is "now" at creation).
      const ttl = sessionDeadline(s, policy.idleMs) - s.lastUsedAt;
      // Already over: storing it would only give Redis something to delete.
      if (ttl <= 0) return { evicted: [] };
      const group = keys.sessionGroup(tag);
      const reply = await indexed(group, () =>
        announcing(
          group,
          cmd.lkCreateSessionBuffer(
            group,
            indexKey(group, s.userId),
            at.field,
            encodeRecord(s),
            s.device,
            encodeUserId(s.userId),
            s.lastUsedAt,
            policy.idleMs,
            ttl,
            maxSessions === null ? '' : maxSessions,
            revokeUntil ?? '',
            keys.revocationChannel,
            encodeKeyId(s.keyId),
          ),
        ),
      );
      const evicted = fields(tag, reply.slice(2));
      // The script has published them; a failure to make them durable now is retried later.
      if (revokeUntil !== undefined && evicted.length > 0) await settle(group).catch(() => settleLater(group));
      else if (reply[1]!.toString() === '1') settleLater(group);
      return { evicted };
    },

    async rotate(sessionId: string, presented: PresentedToken, now: number, policy: SessionPolicy, revokeUntil?: number): Promise<RotationOutcome> {
      const at = locate(sessionId);
      if (!at) return { decision: { kind: 'not_found' }, session: null };
      const group = keys.sessionGroup(at.tag);
      const reply = await announcing(
        group,
        cmd.lkRotateBuffer(
          group,
          at.field,
          presented.generation,
          presented.clientId,
          now,
          policy.graceMs,
          policy.idleMs,
          MAX_GENERATION,
          revokeUntil ?? '',
          keys.revocationChannel,
          encodeKeyId(presented.keyId),
        ),
      );
      const kind = reply[0]!.toString() as RotationDecision['kind'];
      if (kind === 'not_found') return { decision: { kind }, session: null };
      if (endsAsTheft(kind) && revokeUntil !== undefined) await settle(group).catch(() => settleLater(group));
      const found = decodeRecord(sessionId, reply[2]!, reply[3]!, reply[4]);
      const decision = (kind === 'expired' ? { kind, reason: reply[1]!.toString() } : { kind }) as RotationDecision;
      return { decision, session: applyRotation(found, decision, now) ?? found };
    },

    async getSession(sessionId) {
      const at = locate(sessionId);
      if (!at) return null;
      const [record, device, key] = await guard(client.hmgetBuffer(keys.sessionGroup(at.tag), at.field, deviceField(at.field), keyField(at.field)));
      return record ? decodeRecord(sessionId, record, device ?? null, key) : null;
    },

    async listSessions(userId, now, policy, page) {
      const tag = userTag(userId);
      const group = keys.sessionGroup(tag);
      const index = indexKey(group, userId);
      const limit = pageLimit(page);
      const out: SessionRecord[] = [];
      let after = page?.after && page.after.id.startsWith(tag) ? { createdAt: page.after.createdAt, field: page.after.id.slice(tag.length) } : null;
      // A cursor of another user's group sorts by time alone: nothing of this user has its field.
      if (page?.after && !after) after = { createdAt: page.after.createdAt, field: '~' };
      let pending = false;
      for (;;) {
        const want = limit - out.length;
        const reply = await indexed(group, () =>
          guard(cmd.lkListSessionsBuffer(group, index, encodeUserId(userId), now, policy.idleMs, want, after ? after.createdAt : '', after ? after.field : '')),
        );
        pending ||= reply[1]!.toString() === '1';
        for (let i = 5; i < reply.length; i += 4) out.push(decodeRecord(tag + reply[i]!.toString(), reply[i + 1]!, reply[i + 2]!, reply[i + 3]));
        const done = reply[2]!.toString() === '1';
        // Each script examines at most a batch; dead sessions it met may leave the page short.
        if (done || out.length >= limit || reply[4]!.length === 0) break;
        after = { createdAt: Number(reply[3]!.toString()), field: reply[4]!.toString() };
      }
      if (pending) settleLater(group);
      return out;
    },

    async deleteSession(sessionId) {
      const at = locate(sessionId);
      if (!at) return null;
      const pair = await guard(cmd.lkTakeSessionBuffer(keys.sessionGroup(at.tag), at.field));
      return pair ? decodeRecord(sessionId, pair[0]!, pair[1]!, pair[2]) : null;
    },

    async deleteSessions(userId, sessionIds) {
      assertBatch(sessionIds);
      const tag = userTag(userId);
      // Another group's id cannot be this user's session.
      const mine = sessionIds.map(locate).filter((x): x is { tag: string; field: string } => x !== null && x.tag === tag);
      if (mine.length === 0) return [];
      const ended = await guard(cmd.lkEndSessions(keys.sessionGroup(tag), encodeUserId(userId), ...mine.map((x) => x.field)));
      return ended.map((f) => tag + f);
    },
  };
}
