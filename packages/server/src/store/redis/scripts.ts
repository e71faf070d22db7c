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
import { CAP_SCAN } from '../session-batch.js';
import { MAX_SESSION_PAGE } from '../types.js';
import { BEARER_GRACE_DEBT, BEARER_GRACE_USES, MAX_GRACE_DEBT, MAX_GRACE_USES } from '../../domain/key-binding.js';
import { FIELD_CHARS, GRACE_USES_UNIT, NUMBERS_BYTES, RECORD_NUMBERS, UUID_BYTES, UUID_MARK } from './session-record.js';

// The generated pieces (Lua strings are 1-based, the codec's offsets 0-based).
const NUMBERS_FORMAT = `>${RECORD_NUMBERS.map((n) => `I${n.bytes}`).join('')}`;
const NUMBER_NAMES = RECORD_NUMBERS.map((n) => n.name).join(', ');
/** Declares every number of record `a` as a local named after its SessionRecord field. */
export const NUMBER_LOCALS = `local ${NUMBER_NAMES} = numbers(a)`;
/** Record `a` with its numbers replaced by the current values of those locals. */
export const REPACKED = `struct.pack('${NUMBERS_FORMAT}', ${NUMBER_NAMES}) .. a:sub(${NUMBERS_BYTES + 1})`;
const USER_MARK_AT = NUMBERS_BYTES + 1;

/**
 * A group with more fields than this (64 sessions: one listpack by Redis's defaults) keeps a
 * per-user index; below it every script reads the whole group, which costs the same as an index.
 */
export const INDEX_AT_FIELDS = 128;
/** One migration step indexes about this many fields of a group (HSCAN COUNT). */
const MIGRATE_COUNT = 256;
/** At most this many sessions listed, examined past or ended per script (CAP_SCAN: store/session-batch.ts). */
const MAX_BATCH = MAX_SESSION_PAGE;

/** Shared by every session script (exported, with the pieces above, for the test that holds them to the codec). */
export const RECORD_LUA = `
local FIELD_CHARS = ${FIELD_CHARS}
local function numbers(a) return struct.unpack('${NUMBERS_FORMAT}', a) end
local function userEnd(a) local m = a:byte(${USER_MARK_AT}) if m == ${UUID_MARK} then return ${USER_MARK_AT + UUID_BYTES} end return ${USER_MARK_AT} + m end
local function userOf(a) return a:sub(${USER_MARK_AT}, userEnd(a)) end
local function clientOf(a) local p = userEnd(a) + 1 return a:sub(p + 1, p + a:byte(p)) end
local function isRecord(name) return #name == FIELD_CHARS end
local function pastDeadline(a, now, idle) ${NUMBER_LOCALS} return now >= math.min(expiresAt, lastUsedAt + idle) end
local function extendTtl(key, ttl) if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end end
-- The group's index state, its field 'v': false (small group, no index), '2' (every user of the
-- group has an index), or 'm<cursor>' (being indexed: a legacy group, one HSCAN step at a time).
local function modeOf(key) return redis.call('HGET', key, 'v') end
-- A user's index: a sorted set of the user's fields by createdAt, in the group's hash slot (the
-- group key's {tag} comes first), named after the group and the record's user bytes.
local function indexOf(key, a) return key .. '>' .. userOf(a) end
local function dropSession(key, name, a, mode)
  redis.call('HDEL', key, name, name .. ':', name .. ';')
  if mode then redis.call('ZREM', indexOf(key, a), name) end
end
-- Publishes a revocation decided inside a script at the moment it takes effect, and leaves it
-- in the group's pending hash (key!) until the caller has written it to the durable feed: a
-- reply lost after the script ran (a timeout, CLIENT PAUSE) then loses no revocation. theft: ''
-- (an ordinary end), 'r' (reuse) or 'c' (a copy without the key). The messages are @latchkey/core's
-- revocationMessages: a copy is announced as "<sid> <until> c" and then as a reuse, which readers
-- that predate 'c' understand; its pending entry likewise (field name: the reuse form, which any
-- instance's settle can write; field name .. 'c': the copy marker, merged in by newer ones).
local function announce(key, name, untilArg, nowArg, channel, theft)
  if untilArg == '' then return end
  local head = key:match('{([^}]*)}') .. name .. ' ' .. untilArg
  local msg = head
  if theft ~= '' then msg = head .. ' r' end
  if theft == 'c' then
    redis.call('HSET', key .. '!', name .. 'c', head .. ' c')
    redis.call('PUBLISH', channel, head .. ' c')
  end
  redis.call('HSET', key .. '!', name, msg)
  extendTtl(key .. '!', tonumber(untilArg) - tonumber(nowArg))
  redis.call('PUBLISH', channel, msg)
end
-- One step of indexing a group; true once every record of it is in its user's index.
local function indexStep(key, mode)
  local cursor = '0'
  if mode and mode:sub(1, 1) == 'm' then cursor = mode:sub(2) end
  local ttl = redis.call('PTTL', key)
  local step = redis.call('HSCAN', key, cursor, 'COUNT', ${MIGRATE_COUNT})
  local kv = step[2]
  for i = 1, #kv, 2 do
    if isRecord(kv[i]) then
      local a = kv[i + 1]
      ${NUMBER_LOCALS}
      local idx = indexOf(key, a)
      redis.call('ZADD', idx, createdAt, kv[i])
      if ttl > 0 then extendTtl(idx, ttl) end
    end
  end
  if step[1] == '0' then redis.call('HSET', key, 'v', '2') return true end
  redis.call('HSET', key, 'v', 'm' .. step[1])
  return false
end
-- The scripts that read a user's sessions through the index answer {'migrate'} while a large
-- group has none yet; the adapter then runs the migrate script until it is done.
local function needsMigration(key, mode)
  if mode == '2' then return false end
  return mode or redis.call('HLEN', key) > ${INDEX_AT_FIELDS}
end
`;

export const SESSION_SCRIPTS = {
  /**
   * KEYS[1] group hash, KEYS[2] the user's index. ARGV: field, record, device, user, now, idleMs,
   * ttlMs, maxSessions ('' for no cap), revokeUntil ('' for none), revocation channel, key id
   * bytes ('' for a Bearer session).
   * Under a cap: drops the user's dead sessions among the oldest CAP_SCAN (a small group: the
   * whole group's), ends the user's oldest live sessions beyond it (never the new one, at most
   * MAX_BATCH), then stores the new session: one atomic step, so concurrent logins of one user are
   * serialised and each eviction is decided exactly once. A small group that outgrows
   * INDEX_AT_FIELDS is indexed in the same step.
   * Returns {'ok', pending (0/1), ended fields...} or {'migrate'}.
   */
  create: `${RECORD_LUA}
local now, idle = tonumber(ARGV[5]), tonumber(ARGV[6])
local mode = modeOf(KEYS[1])
if needsMigration(KEYS[1], mode) then return {'migrate'} end
local out = {'ok', 0}
local function evict(name, a)
  dropSession(KEYS[1], name, a, mode)
  out[#out + 1] = name
  announce(KEYS[1], name, ARGV[9], ARGV[5], ARGV[10], '')
end
if not mode then
  local all = redis.call('HGETALL', KEYS[1])
  local mine = {}
  for i = 1, #all, 2 do
    local name, a = all[i], all[i + 1]
    if isRecord(name) and name ~= ARGV[1] then
      if pastDeadline(a, now, idle) then
        dropSession(KEYS[1], name, a, mode)
      elseif userOf(a) == ARGV[4] then
        ${NUMBER_LOCALS}
        mine[#mine + 1] = {name, createdAt, a}
      end
    end
  end
  if ARGV[8] ~= '' then
    local excess = math.min(#mine + 1 - tonumber(ARGV[8]), #mine)
    if excess > 0 then
      table.sort(mine, function(x, y) if x[2] ~= y[2] then return x[2] < y[2] end return x[1] < y[1] end)
      for i = 1, excess do evict(mine[i][1], mine[i][3]) end
    end
  end
else
  -- Indexed: the oldest few, by rank; without a cap only a few are tidied.
  local window = redis.call('ZRANGE', KEYS[2], 0, (ARGV[8] == '' and 32 or ${CAP_SCAN}) - 1)
  for _, name in ipairs(window) do
    local a = redis.call('HGET', KEYS[1], name)
    if not a then redis.call('ZREM', KEYS[2], name)
    elseif pastDeadline(a, now, idle) then dropSession(KEYS[1], name, a, mode) end
  end
  if ARGV[8] ~= '' then
    local excess = math.min(redis.call('ZCARD', KEYS[2]) + 1 - tonumber(ARGV[8]), ${MAX_BATCH})
    if excess > 0 then
      for _, name in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
        local a = redis.call('HGET', KEYS[1], name)
        if a then evict(name, a) else redis.call('ZREM', KEYS[2], name) end
      end
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. ':', ARGV[3])
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], ARGV[1] .. ';', ARGV[11]) end
extendTtl(KEYS[1], tonumber(ARGV[7]))
if mode then
  local a = ARGV[2]
  ${NUMBER_LOCALS}
  redis.call('ZADD', KEYS[2], createdAt, ARGV[1])
  extendTtl(KEYS[2], tonumber(ARGV[7]))
elseif redis.call('HLEN', KEYS[1]) > ${INDEX_AT_FIELDS} then
  local m = false
  while not indexStep(KEYS[1], m) do m = modeOf(KEYS[1]) end
end
out[2] = redis.call('EXISTS', KEYS[1] .. '!')
return out
`,

  /**
   * The rotation, mirroring decideRotation + applyRotation in src/domain/rotation.ts line for
   * line (the contract suite and test/store/rotation.property.test.ts hold both to the same
   * outcomes).
   * KEYS[1] group hash. ARGV: field, presented generation, presented client id, now, graceMs,
   * idleMs, maxGeneration, revokeUntil ('' for none), revocation channel, presented key id bytes
   * ('' for none).
   * Returns {kind, reason, record, device, key id bytes} as they were before the script, or {'not_found'}.
   */
  rotate: `${RECORD_LUA}
local pair = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[1] .. ':', ARGV[1] .. ';')
local bound = pair[3]
local a = pair[1]
if not a then return {'not_found'} end
${NUMBER_LOCALS}
local graceUses, graceDebt = math.floor(grace / ${GRACE_USES_UNIT}), grace % ${GRACE_USES_UNIT}
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
elseif bound and bound ~= ARGV[10] then
  if presented > generation then kind = 'future' else kind = 'key_mismatch' end
elseif presented == generation then
  if generation >= tonumber(ARGV[7]) then kind, reason = 'expired', 'absolute' else kind = 'rotate' end
elseif presented > generation then
  kind = 'future'
elseif presented == generation - 1 and (bound or (grace > 0 and now - rotatedAt <= grace and graceUses < ${BEARER_GRACE_USES} and graceDebt < ${BEARER_GRACE_DEBT})) then
  kind = 'grace'
else
  kind = 'reuse'
end
if kind == 'rotate' or kind == 'grace' then
  -- applyRotation: rotate advances the generation, restarts the grace window and its count, and a
  -- generation that needed no grace answer pays one back; both mark the use.
  if kind == 'rotate' then
    if graceUses == 0 then graceDebt = math.max(0, graceDebt - 1) end
    generation, rotatedAt, graceUses = generation + 1, now, 0
  else
    graceUses = math.min(${MAX_GRACE_USES}, graceUses + 1)
    graceDebt = math.min(${MAX_GRACE_DEBT}, graceDebt + 1)
  end
  grace = graceUses * ${GRACE_USES_UNIT} + graceDebt
  lastUsedAt = now
  redis.call('HSET', KEYS[1], ARGV[1], ${REPACKED})
  -- The session now lives until the earlier of its absolute end and its new idle deadline.
  local ttl = math.min(expiresAt, now + idle) - now
  extendTtl(KEYS[1], ttl)
  if modeOf(KEYS[1]) then extendTtl(indexOf(KEYS[1], a), ttl) end
elseif kind == 'reuse' or kind == 'key_mismatch' or kind == 'expired' then
  dropSession(KEYS[1], ARGV[1], a, modeOf(KEYS[1]))
  if kind == 'reuse' then announce(KEYS[1], ARGV[1], ARGV[8], ARGV[4], ARGV[9], 'r') end
  if kind == 'key_mismatch' then announce(KEYS[1], ARGV[1], ARGV[8], ARGV[4], ARGV[9], 'c') end
end
return {kind, reason, a, pair[2] or '', bound or ''}
`,

  /** KEYS[1] group hash. ARGV: field. Deletes the session and returns {record, device, key id} as they were, or nil. */
  take: `${RECORD_LUA}
local pair = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[1] .. ':', ARGV[1] .. ';')
if not pair[1] then return nil end
dropSession(KEYS[1], ARGV[1], pair[1], modeOf(KEYS[1]))
return {pair[1], pair[2] or '', pair[3] or ''}
`,

  /**
   * KEYS[1] group hash, KEYS[2] the user's index. ARGV: user, now, idleMs, limit, after createdAt
   * ('' for the first page), after field. One page of the user's live sessions in (createdAt,
   * field) order, dropping the dead ones it meets (at most MAX_BATCH examined).
   * Returns {'ok', pending (0/1), done (1 if it reached the user's last session), last examined
   * createdAt, last examined field, then field, record, device per session} or {'migrate'}.
   */
  list: `${RECORD_LUA}
local now, idle, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local mode = modeOf(KEYS[1])
if needsMigration(KEYS[1], mode) then return {'migrate'} end
local out = {'ok', redis.call('EXISTS', KEYS[1] .. '!'), 1, '', ''}
local function after(c, name)
  if ARGV[5] == '' then return true end
  local ac = tonumber(ARGV[5])
  return c > ac or (c == ac and name > ARGV[6])
end
if not mode then
  local all = redis.call('HGETALL', KEYS[1])
  local value = {}
  for i = 1, #all, 2 do value[all[i]] = all[i + 1] end
  local mine = {}
  for i = 1, #all, 2 do
    local name, a = all[i], all[i + 1]
    if isRecord(name) then
      if pastDeadline(a, now, idle) then
        dropSession(KEYS[1], name, a, mode)
      elseif userOf(a) == ARGV[1] then
        ${NUMBER_LOCALS}
        if after(createdAt, name) then mine[#mine + 1] = {name, createdAt, a} end
      end
    end
  end
  table.sort(mine, function(x, y) if x[2] ~= y[2] then return x[2] < y[2] end return x[1] < y[1] end)
  if #mine > limit then out[3] = 0 end
  for i = 1, math.min(#mine, limit) do
    out[4], out[5] = mine[i][2], mine[i][1]
    out[#out + 1] = mine[i][1]
    out[#out + 1] = mine[i][3]
    out[#out + 1] = value[mine[i][1] .. ':'] or ''
    out[#out + 1] = value[mine[i][1] .. ';'] or ''
  end
  return out
end
-- Indexed: find where the page starts in O(log n), then read at most MAX_BATCH entries.
local start = 0
if ARGV[5] ~= '' then
  local rank = redis.call('ZRANK', KEYS[2], ARGV[6])
  if rank then
    start = rank + 1
  else
    -- The cursor's session is gone: count what sorts before or at (createdAt, field).
    start = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[5])
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[5], ARGV[5])) do
      if m < ARGV[6] then start = start + 1 end
    end
  end
end
local budget = ${MAX_BATCH}
local found = 0
while found < limit and budget > 0 do
  local names = redis.call('ZRANGE', KEYS[2], start, start + math.min(limit - found, budget) - 1, 'WITHSCORES')
  if #names == 0 then return out end
  local dropped = 0
  for i = 1, #names, 2 do
    local name = names[i]
    budget = budget - 1
    out[4], out[5] = names[i + 1], name
    local pair = redis.call('HMGET', KEYS[1], name, name .. ':', name .. ';')
    local a = pair[1]
    if not a then
      redis.call('ZREM', KEYS[2], name)
      dropped = dropped + 1
    elseif pastDeadline(a, now, idle) then
      dropSession(KEYS[1], name, a, mode)
      dropped = dropped + 1
    else
      found = found + 1
      out[#out + 1] = name
      out[#out + 1] = a
      out[#out + 1] = pair[2] or ''
      out[#out + 1] = pair[3] or ''
    end
  end
  start = start + #names / 2 - dropped
end
-- Stopped by the limit or the budget: the caller continues after the last entry examined.
out[3] = redis.call('ZCARD', KEYS[2]) > start and 0 or 1
return out
`,

  /**
   * KEYS[1] group hash. ARGV: user, then fields (at most MAX_BATCH). Deletes those that are the
   * user's sessions; returns their fields.
   */
  endSome: `${RECORD_LUA}
local mode = modeOf(KEYS[1])
local ended = {}
for i = 2, #ARGV do
  local a = redis.call('HGET', KEYS[1], ARGV[i])
  if a and userOf(a) == ARGV[1] then
    dropSession(KEYS[1], ARGV[i], a, mode)
    ended[#ended + 1] = ARGV[i]
  end
end
return ended
`,

  /** KEYS[1] group hash. One step of indexing a large group; returns 1 once it is indexed. */
  migrate: `${RECORD_LUA}
local mode = modeOf(KEYS[1])
if mode == '2' then return 1 end
return indexStep(KEYS[1], mode) and 1 or 0
`,

  /** KEYS[1] a group's pending revocations. ARGV: fields written to the durable feed. */
  settled: `
for i = 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
return 1
`,
};

/**
 * KEYS[1] revocations sorted set (members per revocationMembers in @latchkey/core, score until).
 * ARGV: until, now, channel, number of members n, the n members, then the messages to publish.
 * Durable (ZADD) before it is announced (PUBLISH), and trimmed of what has lapsed, in one step.
 */
export const ADD_REVOCATION = `
local n = tonumber(ARGV[4])
for i = 5, 4 + n do redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local keep = tonumber(ARGV[1]) - tonumber(ARGV[2])
if keep > 0 and redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
for i = 5 + n, #ARGV do redis.call('PUBLISH', ARGV[3], ARGV[i]) end
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
