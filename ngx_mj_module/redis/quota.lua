-- quota.lua: a user's units of the day as a node counted them, published
-- again after Redis lost them: the larger count of the same day stays.
--
-- KEYS  1 P{U}:q
-- ARGV  1 day, 2 units used, 3 how long q lives (s)
-- Returns 1 when Redis took the node's count.

local c = redis.call('HMGET', KEYS[1], 'd', 'u')
local day, used = tonumber(ARGV[1]), tonumber(ARGV[2])

if tonumber(c[1]) == day and (tonumber(c[2]) or 0) >= used then
  return 0
end

if c[1] and tonumber(c[1]) > day then
  return 0
end

redis.call('HSET', KEYS[1], 'd', day, 'u', used)
redis.call('EXPIRE', KEYS[1], ARGV[3])

return 1
