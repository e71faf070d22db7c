// How one session is laid out inside its user group's Redis hash (see sessions.ts). Pure: bytes
// in, records out. This file is the one definition of the layout: the Lua scripts read records
// through helpers generated from the constants below (scripts.ts, RECORD_LUA), never through
// offsets of their own.
//
// Two hash fields per session, both at most 64 bytes in the usual case, because a hash whose
// every field and value is ≤ 64 bytes (Redis's default `hash-max-listpack-value`) stays a compact
// listpack, about 60 bytes per field instead of ~100 in a hashtable:
//   <id tail>   the record: generation u32, rotatedAt u48, createdAt u48, lastUsedAt u48,
//               expiresAt u48 (ms, big-endian), graceUses u8 (WIDTHS below is the definition),
//               then the user id, then the client id.
//               47 bytes + the client id with a UUID user: client ids up to 17 bytes keep it ≤ 64.
//   <id tail>:  the device label (≤ 64 bytes by src/domain/device.ts).
//   <id tail>;  DPoP-bound sessions only: the key id's 16 raw bytes (domain/key-binding.ts). A
//               third field rather than more record bytes: a record over 64 bytes would turn the
//               whole hash into a hashtable (453 B per session measured, against 277 B this way).
// The id tail is the session id without its group tag (the key already names the group).
// Nothing here can be replayed: a refresh token needs the MAC secret, which never enters Redis.
import { SESSION_TAG_CHARS, sessionTag } from '../../domain/ids.js';
import { isSessionId } from '../../domain/refresh-token.js';
import type { SessionRecord } from '../../domain/session.js';

type NumberField = 'generation' | 'rotatedAt' | 'createdAt' | 'lastUsedAt' | 'expiresAt' | 'graceUses';

/** The record's fixed part, in order: big-endian unsigned integers of these widths (ms for times). */
const WIDTHS: ReadonlyArray<readonly [NumberField, number]> = [
  ['generation', 4],
  ['rotatedAt', 6],
  ['createdAt', 6],
  ['lastUsedAt', 6],
  ['expiresAt', 6],
  ['graceUses', 1],
];

export interface RecordNumber {
  name: NumberField;
  /** 0-based byte offset in the record. */
  at: number;
  bytes: number;
}

let end = 0;
/** Each number's place in the record, in record order (offsets follow from the widths). */
export const RECORD_NUMBERS: readonly RecordNumber[] = WIDTHS.map(([name, bytes]) => {
  const n = { name, at: end, bytes };
  end += bytes;
  return n;
});
/** Bytes before the user id, which starts at this offset. */
export const NUMBERS_BYTES = end;
const AT = Object.fromEntries(RECORD_NUMBERS.map((n) => [n.name, n])) as Record<NumberField, RecordNumber>;
/** First byte of the user id part: a canonical UUID follows as UUID_BYTES raw bytes. Otherwise it is a byte length. */
export const UUID_MARK = 0;
export const UUID_BYTES = 16;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The user id as stored in a record; the scripts compare it byte for byte to find a user's sessions. */
export function encodeUserId(userId: string): Buffer {
  if (UUID_RE.test(userId)) return Buffer.concat([Buffer.of(UUID_MARK), Buffer.from(userId.replace(/-/g, ''), 'hex')]);
  const bytes = Buffer.from(userId, 'utf8');
  if (bytes.length < 1 || bytes.length > 255) throw new Error('user id must be 1-255 bytes');
  return Buffer.concat([Buffer.of(bytes.length), bytes]);
}

function decodeUserId(buf: Buffer, at: number): { userId: string; next: number } {
  const mark = buf[at]!;
  if (mark === UUID_MARK) {
    const h = buf.toString('hex', at + 1, at + 1 + UUID_BYTES);
    return { userId: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`, next: at + 1 + UUID_BYTES };
  }
  return { userId: buf.toString('utf8', at + 1, at + 1 + mark), next: at + 1 + mark };
}

export function encodeRecord(s: SessionRecord): Buffer {
  const user = encodeUserId(s.userId);
  const client = Buffer.from(s.clientId, 'utf8');
  if (client.length > 255) throw new Error('client id must be at most 255 bytes');
  const out = Buffer.allocUnsafe(NUMBERS_BYTES + user.length + 1 + client.length);
  for (const n of RECORD_NUMBERS) out.writeUIntBE(s[n.name] ?? 0, n.at, n.bytes);
  user.copy(out, NUMBERS_BYTES);
  out[NUMBERS_BYTES + user.length] = client.length;
  client.copy(out, NUMBERS_BYTES + user.length + 1);
  return out;
}

/** The key field's value: the key id's raw bytes, or '' for a Bearer session (the scripts' "none"). */
export function encodeKeyId(keyId: string | null | undefined): Buffer | '' {
  return keyId ? Buffer.from(keyId, 'base64url') : '';
}

export function decodeRecord(id: string, record: Buffer, device: Buffer | string | null, key?: Buffer | null): SessionRecord {
  const { userId, next } = decodeUserId(record, NUMBERS_BYTES);
  const clientLength = record[next]!;
  return {
    id,
    userId,
    clientId: record.toString('utf8', next + 1, next + 1 + clientLength),
    generation: record.readUIntBE(AT.generation.at, AT.generation.bytes),
    rotatedAt: record.readUIntBE(AT.rotatedAt.at, AT.rotatedAt.bytes),
    createdAt: record.readUIntBE(AT.createdAt.at, AT.createdAt.bytes),
    lastUsedAt: record.readUIntBE(AT.lastUsedAt.at, AT.lastUsedAt.bytes),
    expiresAt: record.readUIntBE(AT.expiresAt.at, AT.expiresAt.bytes),
    graceUses: record.readUIntBE(AT.graceUses.at, AT.graceUses.bytes),
    device: device == null ? '' : device.toString(),
    keyId: key && key.length > 0 ? key.toString('base64url') : null,
  };
}

/** Where a session lives: its group tag (the key) and its field; null for a string that cannot be a session id. */
export function locate(sessionId: string): { tag: string; field: string } | null {
  if (!isSessionId(sessionId)) return null;
  return { tag: sessionTag(sessionId), field: sessionId.slice(SESSION_TAG_CHARS) };
}

/** Length of a record field's name; the device field is the same name plus ':'. */
export const FIELD_CHARS = 22 - SESSION_TAG_CHARS;
export const deviceField = (field: string): string => `${field}:`;
/** The key field of a DPoP-bound session: the same name plus ';'. */
export const keyField = (field: string): string => `${field};`;
