// Lua scripts, registered with defineCommand (EVALSHA, one round trip each). Redis runs a script
// without interleaving any other command, which is what makes each one atomic. Every script
// touches the keys of a single hash tag, so it runs unchanged on Redis Cluster.
//
// Session hash fields (one letter each: the hash stays a small listpack, DESIGN "Sessions"):
//   u userId (packed, see sessions.ts)  c clientId  g generation  r rotatedAt  t createdAt  l lastUsedAt  e expiresAt  d device
// Nothing in it can be replayed: a refresh token needs the MAC secret, which never enters Redis.
//
// Times are ms since the epoch on the caller's clock, passed in as ARGV; TTLs are set as
// durations relative to that `now`, so a skew between the app and Redis clocks cannot expire a
// session early or keep it late by more than the skew of one call.

export const SESSION_FIELDS = ['u', 'c', 'g', 'r', 't', 'l', 'e', 'd'] as const;

/**
 * KEYS[1] session hash. ARGV: u c g r t l e d ttlMs.
 * Writes the whole record and its TTL together, so no reader ever sees a session without expiry.
 */
export const CREATE_SESSION = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'c', ARGV[2], 'g', ARGV[3], 'r', ARGV[4], 't', ARGV[5], 'l', ARGV[6], 'e', ARGV[7], 'd', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
return 1
`;

/**
 * The rotation, mirroring decideRotation + applyRotation in src/domain/rotation.ts line for line
 * (the shared contract suite holds both to the same outcomes).
 * KEYS[1] session hash. ARGV: presented generation, presented client id, now, graceMs, idleMs, maxGeneration.
 * Returns {kind, reason, u, c, g, r, t, l, e, d} with the fields as they were before the script,
 * or {'not_found'}.
 */
export const ROTATE = `
local f = redis.call('HMGET', KEYS[1], 'u', 'c', 'g', 'r', 't', 'l', 'e', 'd')
if not f[1] then return {'not_found'} end
local presented = tonumber(ARGV[1])
local now = tonumber(ARGV[3])
local grace = tonumber(ARGV[4])
local idle = tonumber(ARGV[5])
local n = tonumber(f[3])
local rotatedAt = tonumber(f[4])
local lastUsed = tonumber(f[6])
local expiresAt = tonumber(f[7])
local kind, reason = nil, ''
if f[2] ~= ARGV[2] then
  kind = 'wrong_client'
elseif now >= expiresAt then
  kind, reason = 'expired', 'absolute'
elseif now >= lastUsed + idle then
  kind, reason = 'expired', 'idle'
elseif presented == n then
  if n >= tonumber(ARGV[6]) then kind, reason = 'expired', 'absolute' else kind = 'rotate' end
elseif presented > n then
  kind = 'future'
elseif presented == n - 1 and grace > 0 and now - rotatedAt <= grace then
  kind = 'grace'
else
  kind = 'reuse'
end
if kind == 'rotate' or kind == 'grace' then
  if kind == 'rotate' then
    redis.call('HSET', KEYS[1], 'g', n + 1, 'r', ARGV[3], 'l', ARGV[3])
  else
    redis.call('HSET', KEYS[1], 'l', ARGV[3])
  end
  -- The session now lives until the earlier of its absolute end and its new idle deadline.
  redis.call('PEXPIRE', KEYS[1], math.min(expiresAt, now + idle) - now)
elseif kind == 'reuse' or kind == 'expired' then
  redis.call('DEL', KEYS[1])
end
return {kind, reason, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]}
`;

/** KEYS[1] session hash. Deletes it and returns its fields as they were, or nil. */
export const TAKE_SESSION = `
local f = redis.call('HMGET', KEYS[1], 'u', 'c', 'g', 'r', 't', 'l', 'e', 'd')
if not f[1] then return nil end
redis.call('DEL', KEYS[1])
return f
`;

/**
 * KEYS[1] the user's index (sorted set: member sid, score createdAt; score -1 marks a session
 * being evicted). ARGV: sid, createdAt, ttlMs, maxSessions ('' for no cap).
 * Adds the session and, under a cap, picks the oldest live members beyond it (never the new one)
 * and marks them -1 in the same step, so concurrent logins of one user are serialised here and
 * each eviction is decided exactly once. The caller deletes the marked sessions and then removes
 * the marks; a mark left by a crash is finished by the next list, login or end-all of that user.
 */
export const INDEX_ADD = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
if ARGV[4] == '' then return {} end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], 0, '+inf')
local excess = #live - tonumber(ARGV[4])
local victims = {}
for i = 1, #live do
  if excess <= 0 then break end
  if live[i] ~= ARGV[1] then
    victims[#victims + 1] = live[i]
    excess = excess - 1
  end
end
for i = 1, #victims do redis.call('ZADD', KEYS[1], 'XX', -1, victims[i]) end
return victims
`;

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
