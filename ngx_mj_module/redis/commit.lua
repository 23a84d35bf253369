-- commit.lua: a submit's task recorded, and the submit settled
-- (settle.lua), in one step.  A task the user has already (a modal step
-- confirmed) is the same task, running now: its status follows, its
-- time-to-live stays.
--
-- KEYS  1 P{U}:t:ID, 2 P{U}:o, 3 P{U}:q, 4 P{U}:f
-- ARGV  1 "UKEY,ACTION", 2 status, 3 max_age (ms), 4 ID, 5 age (s), 6 the
--       largest cap (0: the user has no cap, nothing to count), 7
--       reservation ("": none), 8 units to give back, 9 their day
-- Returns the task's creation time.

local st = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
local created = now_s()

if cur then
  local head, cst, ccreated = task_parse(cur)
  if not cst then
    return head
  end
  created = ccreated
  if cst == MODAL and st ~= MODAL then
    redis.call('SET', KEYS[1], head .. ',' .. st .. ',' .. created,
               'KEEPTTL')
  else
    st = cst
  end
else
  redis.call('SET', KEYS[1], ARGV[1] .. ',' .. st .. ',' .. created,
             'PX', ARGV[3])
end

if st ~= MODAL and st < SUCCESS and ARGV[6] ~= '0' then
  track(KEYS[2], ARGV[4], created, ARGV[5], tonumber(ARGV[6]))
end

settle(KEYS[3], KEYS[4], ARGV[7], ARGV[8], ARGV[9])

return created
