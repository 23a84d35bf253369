-- wrk script: 20 polls per submit, as clients do (they poll each task
-- every few seconds until it ends).
--
-- Environment:
--   BENCH_KEY   the user's key
--   MIX_SEED    a task id the user owns, polled until a submit answers
--
-- Every 21st request is POST /mj-relax/mj/submit/imagine (the upstream
-- answers a new task id); the others are GET /mj-relax/mj/task/{id}/fetch
-- of the tasks those submits made: each new id is polled first, by the
-- next poll sent, then polls pick one of the last 64 ids at random.  The
-- upstream answers /mj-relax/ fetches with the task SUCCESS, so each task
-- leaves the gateway's cap on unfinished tasks (mj_limit_tasks, 16 at
-- most) at its first poll, and the cap never refuses a submit.

local key = os.getenv("BENCH_KEY")
local seed = assert(os.getenv("MIX_SEED"), "MIX_SEED is not set")
local every = 21
local ring_size = 64

local submit, tail
local head = "GET /mj-relax/mj/task/"
local n = 0
local fresh, fresh_head, fresh_tail = {}, 1, 0     -- ids not polled yet
local ring, ring_n, ring_next = {}, 0, 1            -- recent ids

function init(args)
    submit = wrk.format("POST", "/mj-relax/mj/submit/imagine", {
        ["Authorization"] = "Bearer " .. key,
        ["Content-Type"] = "application/json",
    }, '{"prompt":"a lighthouse at dusk, oil on canvas --ar 3:2"}')
    tail = "/fetch HTTP/1.1\r\nHost: " .. wrk.headers["Host"]
           .. "\r\nAuthorization: Bearer " .. key .. "\r\n\r\n"
    math.randomseed(os.time())
end

local function remember(id)
    ring[ring_next] = id
    ring_next = ring_next % ring_size + 1
    if ring_n < ring_size then ring_n = ring_n + 1 end
end

function request()
    n = n + 1
    if n % every == 0 then
        return submit
    end
    local id
    if fresh_head <= fresh_tail then
        id = fresh[fresh_head]
        fresh[fresh_head] = nil
        fresh_head = fresh_head + 1
        remember(id)
    elseif ring_n > 0 then
        id = ring[math.random(ring_n)]
    else
        id = seed
    end
    return head .. id .. tail
end

function response(status, headers, body)
    -- a submit's answer is short and starts with its code; a task is not
    if status == 200 and #body < 200 then
        local id = body:match('^{"code":1,.*"result":"([%w_%-]+)"')
        if id then
            fresh_tail = fresh_tail + 1
            fresh[fresh_tail] = id
        end
    end
end
