"""The Lua run atomically on the Redis server: a guarded commit, and the lock's own two steps.

Layout under the store's prefix ``p``: ``p..'v:'..key`` holds the revision (16 hex digits)
followed by the value, so one MGET reads both; the sorted set ``p..'keys'`` holds every key
(score 0, so ZRANGEBYLEX orders them by their bytes: UTF-8 code point order); ``p..'rev'`` is
the store-wide revision counter; the stream ``p..'log'`` gets one entry per changed key per
commit, in the same atomic step, which is what the watch reads.
"""

COMMIT = """
local p, keep = ARGV[1], ARGV[2]
local i = 3
local failed = {}
local checks = tonumber(ARGV[i]); i = i + 1
for c = 1, checks do
  local kind, key, arg = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  local current = redis.call('GET', p .. 'v:' .. key)
  local ok
  if kind == 'A' then ok = not current
  elseif kind == 'E' then ok = current ~= false
  elseif kind == 'V' then ok = current ~= false and string.sub(current, 17) == arg
  else ok = current ~= false and string.sub(current, 1, 16) == arg end
  if not ok then failed[#failed + 1] = c end
end
if #failed > 0 then return {0, failed} end
local revision = redis.call('INCR', p .. 'rev')
local stamp = string.format('%016x', revision)
local order, final = {}, {}
local operations = tonumber(ARGV[i]); i = i + 1
for o = 1, operations do
  local kind, key, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if final[key] == nil then order[#order + 1] = key end
  if kind == 'P' then
    redis.call('SET', p .. 'v:' .. key, stamp .. value)
    redis.call('ZADD', p .. 'keys', 0, key)
    final[key] = value
  elseif redis.call('DEL', p .. 'v:' .. key) == 1 then
    redis.call('ZREM', p .. 'keys', key)
    final[key] = false
  elseif final[key] == nil then
    order[#order] = nil  -- deleting what was not there changes nothing
  end
end
local log = p .. 'log'
for _, key in ipairs(order) do
  if final[key] then
    redis.call('XADD', log, 'MAXLEN', '~', keep, '*', 'r', revision, 'k', key, 'v', final[key])
  else
    redis.call('XADD', log, 'MAXLEN', '~', keep, '*', 'r', revision, 'k', key)
  end
end
return {1, revision}
"""

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

CAS = """
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2])
else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""
