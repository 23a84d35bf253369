-- common.lua: what every script of the shared store begins with (lua.sh
-- puts it in front of each).  The keys, under redis_prefix (P) and the
-- user's identity (U, 16 hex digits: a hash of the user's name) as the
-- hash tag, so that each script's keys sit in one cluster slot:
--
--   P{U}:t:ID  a task of the user: "UKEY,ACTION,STATUS,CREATED" (the
--              upstream key's identity in 8 hex digits, the action and
--              status as the module numbers them, the unix time); it
--              lives max_age
--   P{U}:q     the user's counters (hash): sl, se / pl, pe (the submit and
--              poll buckets: last ms, excess in 1/1000 requests), d (the
--              UTC day of u), u (the day's quota units)
--   P{U}:o     the user's unfinished tasks (zset: id -> created)
--   P{U}:f     the user's submits in flight (zset: reservation ->
--              deadline): they count against the cap until settled
--   P{N}:node  a node's mark (N: the node's identity); its absence tells
--              the node that Redis lost what the node published
--
-- Nothing secret is kept: no key of a user, no hash of one, no upstream
-- key.  The numbers below are the module's (ngx_http_mj_store.h,
-- ngx_http_mj_limit.h).

local MODAL, SUCCESS = 3, 5
local REJ_RATE, REJ_TASKS, REJ_QUOTA, REJ_NONE = 0, 1, 2, 4

local function now_s()
  return tonumber(redis.call('TIME')[1])
end

-- a task record's parts: "ukey,action", status, created
local function task_parse(v)
  local head, st, created = string.match(v, '^([^,]*,[^,]*),(%d+),(%d+)$')
  if not head then
    return redis.error_reply('mj: not a task record: ' .. v)
  end
  return head, tonumber(st), tonumber(created)
end

-- an unfinished task counts against its owner's cap; more than the
-- largest cap ("track") and the oldest counts no more
local function track(open, id, created, age, max)
  redis.call('ZADD', open, 'NX', created, id)
  redis.call('ZREMRANGEBYRANK', open, 0, -(max + 1))
  redis.call('EXPIRE', open, age)
end

-- a submit is answered: no longer in flight; its units back if "refund"
-- and the day is still the one they were charged on
local function settle(q, inflight, rid, refund, day)
  if rid ~= '' then
    redis.call('ZREM', inflight, rid)
  end
  refund = tonumber(refund)
  if refund > 0 then
    local c = redis.call('HMGET', q, 'd', 'u')
    if tonumber(c[1]) == tonumber(day) then
      redis.call('HSET', q, 'u', math.max((tonumber(c[2]) or 0) - refund, 0))
    end
  end
end
