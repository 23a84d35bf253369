-- republish.lua: a task a node has, published again (Redis restarted
-- empty, or the node committed it while Redis could not be reached).
-- What Redis has already is newer: it stays.
--
-- KEYS  1 P{U}:t:ID, 2 P{U}:o
-- ARGV  1 the record, 2 its time left (ms), 3 ID, 4 created, 5 unfinished
--       (1: it counts against the cap), 6 age (s), 7 the largest cap
-- Returns 1 when it was published, 0 when Redis had it.

if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end

if ARGV[5] == '1' and tonumber(ARGV[4]) > now_s() - tonumber(ARGV[6]) then
  track(KEYS[2], ARGV[3], ARGV[4], ARGV[6], tonumber(ARGV[7]))
end

return 1
