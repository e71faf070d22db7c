// Lua scripts, registered with defineCommand (EVALSHA, one round trip each). Redis runs a script
// without interleaving any other command, which is what makes each one atomic. Every script
// touches the keys of a single hash tag, so it runs unchanged on Redis Cluster.
//
// Sessions: one hash per user group (see sessions.ts). Each session is two fields: `<tail>` its
// record and `<tail>:` its device label. The record layout is session-record.ts's alone: the
// helpers in RECORD_LUA are generated from its constants (the numbers' order, widths and offsets,
// where the user id starts and how it is marked), and the scripts reach the numbers only as the
// named locals NUMBER_LOCALS declares, so a change to the codec cannot leave the Lua reading the
// old offsets. The values are templated into the script text, not passed as ARGV: EVALSHA of
// the same one script per call, no extra arguments to parse on the hot path.
// Nothing in a record can be replayed: a refresh token needs the MAC secret, which never enters Redis.
//
// Times are ms since the epoch on the caller's clock, passed in as ARGV; TTLs are set as
// durations relative to that `now`, so a skew between the app and Redis clocks cannot expire a
// session early or keep it late by more than the skew of one call. A group key lives as long as
// its longest-lived session: TTLs are only ever extended. A session past its deadline (the
// earlier of its absolute end and idle deadline) is removed by the next create or list in its
// group, and is refused by the rotation in any case.
import { FIELD_CHARS, NUMBERS_BYTES, RECORD_NUMBERS, UUID_BYTES, UUID_MARK } from './session-record.js';

// The generated pieces (Lua strings are 1-based, the codec's offsets 0-based).
const NUMBERS_FORMAT = `>${RECORD_NUMBERS.map((n) => `I${n.bytes}`).join('')}`;
const NUMBER_NAMES = RECORD_NUMBERS.map((n) => n.name).join(', ');
/** Declares every number of record `a` as a local named after its SessionRecord field. */
export const NUMBER_LOCALS = `local ${NUMBER_NAMES} = numbers(a)`;
/** Record `a` with its numbers replaced by the current values of those locals. */
export const REPACKED = `struct.pack('${NUMBERS_FORMAT}', ${NUMBER_NAMES}) .. a:sub(${NUMBERS_BYTES + 1})`;
const USER_MARK_AT = NUMBERS_BYTES + 1;

/** Up to this many fields (64 sessions: one listpack by Redis's defaults) a login tidies the whole group. */
const FULL_SCAN_FIELDS = 128;
/** Beyond it, without a session cap, a login tidies this many random fields. */
const SAMPLE_FIELDS = 32;

/** Shared by every session script (exported, with the pieces above, for the test that holds them to the codec). */
export const RECORD_LUA = `
local FIELD_CHARS = ${FIELD_CHARS}
local function numbers(a) return struct.unpack('${NUMBERS_FORMAT}', a) end
local function userEnd(a) local m = a:byte(${USER_MARK_AT}) if m == ${UUID_MARK} then return ${USER_MARK_AT + UUID_BYTES} end return ${USER_MARK_AT} + m end
local function userOf(a) return a:sub(${USER_MARK_AT}, userEnd(a)) end
local function clientOf(a) local p = userEnd(a) + 1 return a:sub(p + 1, p + a:byte(p)) end
local function isRecord(name) return #name == FIELD_CHARS end
local function pastDeadline(a, now, idle) ${NUMBER_LOCALS} return now >= math.min(expiresAt, lastUsedAt + idle) end
local function dropSession(key, name) redis.call('HDEL', key, name, name .. ':') end
local function extendTtl(key, ttl) if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end end
`;

export const SESSION_SCRIPTS = {
  /**
   * KEYS[1] group hash. ARGV: field, record, device, user, now, idleMs, ttlMs, maxSessions ('' for no cap).
   * Removes the group's sessions past their deadline (a sample of them in a large group without
   * a cap), then, under a cap, ends the user's oldest live sessions beyond it (never the new
   * one), then stores the new session: one atomic step, so concurrent logins of one user are
   * serialised and each eviction is decided exactly once.
   * Returns the fields of the sessions it ended.
   */
  create: `${RECORD_LUA}
local now, idle = tonumber(ARGV[5]), tonumber(ARGV[6])
local all
if ARGV[8] == '' and redis.call('HLEN', KEYS[1]) > ${FULL_SCAN_FIELDS} then
  -- No cap to enforce and a large group: tidy a random sample only, so a login costs the same
  -- however many sessions one account has piled up (one user could otherwise make every
  -- login of theirs block Redis for longer).
  all = redis.call('HRANDFIELD', KEYS[1], ${SAMPLE_FIELDS}, 'WITHVALUES')
else
  all = redis.call('HGETALL', KEYS[1])
end
local mine = {}
for i = 1, #all, 2 do
  local name, a = all[i], all[i + 1]
  if isRecord(name) and name ~= ARGV[1] then
    if pastDeadline(a, now, idle) then
      dropSession(KEYS[1], name)
    elseif userOf(a) == ARGV[4] then
      ${NUMBER_LOCALS}
      mine[#mine + 1] = {name, createdAt}
    end
  end
end
local victims = {}
if ARGV[8] ~= '' then
  local excess = math.min(#mine + 1 - tonumber(ARGV[8]), #mine)
  if excess > 0 then
    table.sort(mine, function(x, y) if x[2] ~= y[2] then return x[2] < y[2] end return x[1] < y[1] end)
    for i = 1, excess do
      victims[i] = mine[i][1]
      dropSession(KEYS[1], mine[i][1])
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. ':', ARGV[3])
extendTtl(KEYS[1], tonumber(ARGV[7]))
return victims
`,

  /**
   * The rotation, mirroring decideRotation + applyRotation in src/domain/rotation.ts line for
   * line (the contract suite and test/store/rotation.property.test.ts hold both to the same
   * outcomes).
   * KEYS[1] group hash. ARGV: field, presented generation, presented client id, now, graceMs, idleMs, maxGeneration.
   * Returns {kind, reason, record, device} as they were before the script, or {'not_found'}.
   */
  rotate: `${RECORD_LUA}
local pair = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[1] .. ':')
local a = pair[1]
if not a then return {'not_found'} end
${NUMBER_LOCALS}
local presented = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
local grace = tonumber(ARGV[5])
local idle = tonumber(ARGV[6])
local kind, reason = nil, ''
if clientOf(a) ~= ARGV[3] then
  kind = 'wrong_client'
elseif now >= expiresAt then
  kind, reason = 'expired', 'absolute'
elseif now >= lastUsedAt + idle then
  kind, reason = 'expired', 'idle'
elseif presented == generation then
  if generation >= tonumber(ARGV[7]) then kind, reason = 'expired', 'absolute' else kind = 'rotate' end
elseif presented > generation then
  kind = 'future'
elseif presented == generation - 1 and grace > 0 and now - rotatedAt <= grace then
  kind = 'grace'
else
  kind = 'reuse'
end
if kind == 'rotate' or kind == 'grace' then
  -- applyRotation: rotate advances the generation and restarts the grace window; both mark the use.
  if kind == 'rotate' then generation, rotatedAt = generation + 1, now end
  lastUsedAt = now
  redis.call('HSET', KEYS[1], ARGV[1], ${REPACKED})
  -- The session now lives until the earlier of its absolute end and its new idle deadline.
  extendTtl(KEYS[1], math.min(expiresAt, now + idle) - now)
elseif kind == 'reuse' or kind == 'expired' then
  dropSession(KEYS[1], ARGV[1])
end
return {kind, reason, a, pair[2] or ''}
`,

  /** KEYS[1] group hash. ARGV: field. Deletes the session and returns {record, device} as they were, or nil. */
  take: `${RECORD_LUA}
local pair = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[1] .. ':')
if not pair[1] then return nil end
dropSession(KEYS[1], ARGV[1])
return {pair[1], pair[2] or ''}
`,

  /**
   * KEYS[1] group hash. ARGV: user, now, idleMs. Removes the group's sessions past their
   * deadline and returns the user's others as a flat {field, record, device, ...}.
   */
  list: `${RECORD_LUA}
local now, idle = tonumber(ARGV[2]), tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local value = {}
for i = 1, #all, 2 do value[all[i]] = all[i + 1] end
local out = {}
for i = 1, #all, 2 do
  local name, a = all[i], all[i + 1]
  if isRecord(name) then
    if pastDeadline(a, now, idle) then
      dropSession(KEYS[1], name)
    elseif userOf(a) == ARGV[1] then
      out[#out + 1] = name
      out[#out + 1] = a
      out[#out + 1] = value[name .. ':'] or ''
    end
  end
end
return out
`,

  /** KEYS[1] group hash. ARGV: user, field to keep ('' for none). Deletes the user's other sessions; returns their fields. */
  endAll: `${RECORD_LUA}
local all = redis.call('HGETALL', KEYS[1])
local ended = {}
for i = 1, #all, 2 do
  local name, a = all[i], all[i + 1]
  if isRecord(name) and name ~= ARGV[2] and userOf(a) == ARGV[1] then
    dropSession(KEYS[1], name)
    ended[#ended + 1] = name
  end
end
return ended
`,
};

/**
 * KEYS[1] revocations sorted set (member sid or "sid r", score until). ARGV: member, until, now, channel, message.
 * Durable (ZADD) before it is announced (PUBLISH), and trimmed of what has lapsed, in one step.
 */
export const ADD_REVOCATION = `
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local keep = tonumber(ARGV[2]) - tonumber(ARGV[3])
if keep > 0 and redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/**
 * KEYS[1] counter. ARGV: windowMs. Fixed window: the first hit starts it, the key expires at its
 * end. The TTL is (re)set whenever the key has none, so a counter can never outlive its window
 * by losing its expiry (same effect as PEXPIRE NX, and works before Redis 7).
 */
export const RATE_HIT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

/** KEYS[1] counter. Returns {count, ttlMs} or nil. */
export const RATE_PEEK = `
local count = redis.call('GET', KEYS[1])
if not count then return nil end
return {tonumber(count), redis.call('PTTL', KEYS[1])}
`;

/** KEYS[1] counter. Takes one hit back; removes the counter at 0 and never creates one. */
export const RATE_UNDO = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1
`;
