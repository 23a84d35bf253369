-- limits.lua: a user's limits checked and taken in one step, by the rules
-- ngx_http_mj_limit_apply() keeps on a node's own counters
-- (ngx_http_mj_limit.c): the request's leaky bucket, then for a submit
-- the cap of unfinished tasks (submits in flight count) and the UTC day's
-- quota units.  A submit that passes is in flight until settle.lua or
-- commit.lua settles it, or its deadline passes (a node that died).
-- TIME is the clock: the same for every node.
--
-- KEYS  1 P{U}:q, 2 P{U}:o, 3 P{U}:f
-- ARGV  1 bucket ("s" or "p"), 2 rate (requests a 1000 s; 0: none),
--       3 burst, 4 submit (1: the cap and the quota too), 5 cap (-1: none),
--       6 age (s), 7 quota (-1: none), 8 cost, 9 reservation ("": none),
--       10 how long it may stay in flight (s), 11 how long q lives (s)
-- Returns {reject, delay (ms: the bucket's), wait (s: the cap's or the
-- quota's), charged, left, empty (ms), used, now (s)}; reject is REJ_NONE
-- when the request passes.

local q, open, inflight = KEYS[1], KEYS[2], KEYS[3]
local b, rate, burst = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local submit = ARGV[4] == '1'
local cap, age = tonumber(ARGV[5]), tonumber(ARGV[6])
local quota, cost = tonumber(ARGV[7]), tonumber(ARGV[8])

local t = redis.call('TIME')
local now = tonumber(t[1])
local ms = now * 1000 + math.floor(tonumber(t[2]) / 1000)
local reject, delay, wait = REJ_NONE, 0, 0
local charged, left, empty, used = 0, 0, 0, 0
local c = redis.call('HMGET', q, b .. 'l', b .. 'e', 'd', 'u')

-- the bucket, in 1/1000 requests (ngx_http_mj_bucket)
if rate > 0 then
  local last, ex = tonumber(c[1]) or 0, tonumber(c[2]) or 0
  local elapsed = ms - last
  if last == 0 then
    elapsed = 60000000
  elseif elapsed < 0 then
    elapsed = 0
  end
  ex = math.max(ex - math.floor(rate * elapsed / 1000), 0)
  if ex + 1000 > burst * 1000 + 1000 then
    reject = REJ_RATE
    delay = math.floor((ex - burst * 1000) * 1000 / rate) + 1
    left = 0
  else
    ex = ex + 1000
    redis.call('HSET', q, b .. 'l', ms, b .. 'e', ex)
    left = math.floor((burst * 1000 + 1000 - ex) / 1000)
  end
  empty = math.floor(ex * 1000 / rate)
end

-- unfinished tasks older than the age count no more
if submit and cap >= 0 then
  redis.call('ZREMRANGEBYSCORE', open, '-inf', now - age)
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
  if reject == REJ_NONE
     and redis.call('ZCARD', open) + redis.call('ZCARD', inflight) >= cap
  then
    local oldest = redis.call('ZRANGE', open, 0, 0, 'WITHSCORES')
    reject = REJ_TASKS
    wait = age
    if oldest[2] then
      wait = tonumber(oldest[2]) + age - now
    end
  end
end

if submit and quota >= 0 then
  local day = math.floor(now / 86400)
  if tonumber(c[3]) == day then
    used = tonumber(c[4]) or 0
  end
  if reject == REJ_NONE then
    if used + cost > quota then
      reject = REJ_QUOTA
      wait = (day + 1) * 86400 - now
    else
      used = used + cost
      charged = cost
    end
  end
  redis.call('HSET', q, 'd', day, 'u', used)
end

if reject == REJ_NONE and ARGV[9] ~= '' then
  redis.call('ZADD', inflight, now + tonumber(ARGV[10]), ARGV[9])
  redis.call('EXPIRE', inflight, ARGV[10])
end
redis.call('EXPIRE', q, ARGV[11])

return {reject, delay, wait, charged, left, empty, used, now}
