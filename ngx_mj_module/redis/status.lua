-- status.lua: a task's status as an answer showed it.  A finished task no
-- longer counts against its owner's cap, whichever node saw it finish.
--
-- KEYS  1 P{U}:t:ID, 2 P{U}:o
-- ARGV  1 ID, 2 status
-- Returns 1, or 0 when the task is not (or no longer) in Redis.

local cur = redis.call('GET', KEYS[1])
if not cur then
  return 0
end

local head, st, created = task_parse(cur)
if not st then
  return head
end

redis.call('SET', KEYS[1], head .. ',' .. ARGV[2] .. ',' .. created,
           'KEEPTTL')

if tonumber(ARGV[2]) >= SUCCESS then
  redis.call('ZREM', KEYS[2], ARGV[1])
end

return 1
