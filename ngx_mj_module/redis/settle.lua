-- settle.lua: a submit that made no task is answered: it is no longer in
-- flight, and its units come back if they are to.
--
-- KEYS  1 P{U}:q, 2 P{U}:f
-- ARGV  1 reservation ("": none), 2 units to give back, 3 their day

settle(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])

return 1
