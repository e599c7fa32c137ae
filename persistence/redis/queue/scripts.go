package queue

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts. Each one is atomic, so its steps happen together or not
// at all; the ones that finish an entry start with XACK and do nothing when
// the entry was no longer pending (another consumer finished it, or a
// retried call already ran), which makes them safe to repeat.

// ingestErrPrefix starts the answer of an event of a batch that could not
// be appended.
const ingestErrPrefix = "ERR "

// ingestBatchScript: KEYS dedupe1, stream1, dedupe2, stream2, ...; ARGV per
// event: ttl-seconds, field count, fields... For each event, sets the
// dedupe marker and, only if it was new, appends the entry. Answers one
// value per event: the new entry id, false for a duplicate, or "ERR <msg>"
// when the append failed (the marker is removed again, so a retry can
// succeed). The whole batch runs atomically.
var ingestBatchScript = goredis.NewScript(`
local out, a = {}, 1
for i = 1, #KEYS, 2 do
  local ttl, n = ARGV[a], tonumber(ARGV[a + 1])
  local from = a + 2
  a = from + n
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
    local ok, id = pcall(redis.call, 'XADD', KEYS[i + 1], '*', unpack(ARGV, from, a - 1))
    if ok then
      out[#out + 1] = id
    else
      redis.call('DEL', KEYS[i])
      out[#out + 1] = 'ERR ' .. tostring(id)
    end
  else
    out[#out + 1] = false
  end
end
return out
`)

// ackScript: KEYS stream; ARGV group, ids... Acknowledges and deletes.
var ackScript = goredis.NewScript(`
local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return n
`)

// retryScript: KEYS stream, delayed; ARGV group, id, due-ms, member.
var retryScript = goredis.NewScript(`
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
`)

// deadScript: KEYS stream, dead; ARGV group, id, maxlen, fields...
var deadScript = goredis.NewScript(`
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
`)

// moverScript: KEYS delayed, stream, dead; ARGV now-ms, limit, dead-maxlen.
// Moves due members of the delayed set to the stream (a member is the
// entry's fields as netstrings); a member that does not parse goes to the
// dead-letter stream as is. Returns {moved, next-due-ms or -1}.
var moverScript = goredis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local f, i, ok = {}, 1, true
  while i <= #m do
    local c = string.find(m, ':', i, true)
    if not c or c == i or c - i > 10 then ok = false break end
    local digits = string.sub(m, i, c - 1)
    local n = tonumber(digits)
    if not string.match(digits, '^%d+$') or not n or c + n > #m then ok = false break end
    f[#f + 1] = string.sub(m, c + 1, c + n)
    i = c + n + 1
  end
  if ok and #f > 0 and #f % 2 == 0 then
    redis.call('XADD', KEYS[2], '*', unpack(f))
  else
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'raw', m, 'err', 'malformed delayed entry')
  end
  redis.call('ZREM', KEYS[1], m)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #nxt == 0 then return {#due, '-1'} end
return {#due, nxt[2]}
`)

// replayScript: KEYS dead, stream; ARGV dead-id, fields...
// Returns the new entry id, or nil when the dead letter was already gone.
var replayScript = goredis.NewScript(`
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return false end
return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
`)

// statsScript: KEYS streams..., delayed, dead; ARGV group.
// Returns {length, pending, delayed, dead} summed over the streams.
var statsScript = goredis.NewScript(`
local n = #KEYS
local len, pend = 0, 0
for i = 1, n - 2 do
  len = len + redis.call('XLEN', KEYS[i])
  local p = redis.pcall('XPENDING', KEYS[i], ARGV[1])
  if type(p) == 'table' and type(p[1]) == 'number' then pend = pend + p[1] end
end
return {len, pend, redis.call('ZCARD', KEYS[n - 1]), redis.call('XLEN', KEYS[n])}
`)

// acquireScript: KEYS candidate leases; ARGV token, ttl-ms, want.
// Takes up to want free leases; returns the 1-based indexes taken.
var acquireScript = goredis.NewScript(`
local got = {}
local want = tonumber(ARGV[3])
for i, k in ipairs(KEYS) do
  if #got >= want then break end
  if redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then got[#got + 1] = i end
end
return got
`)

// renewScript: KEYS leases; ARGV token, ttl-ms.
// Returns one 1 (still ours, extended) or 0 (lost) per key.
var renewScript = goredis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`)

// releaseScript: KEYS lease; ARGV token. Deletes the lease if it is ours.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// pruneScript: KEYS stream; ARGV group, consumer. Deletes the consumer only
// if it has nothing pending, so no pending entry becomes unclaimable.
var pruneScript = goredis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
`)
