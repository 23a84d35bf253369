-- wrk script: record tasks through the gateway with POST /mj/submit/imagine.
--
-- Environment:
--   BENCH_KEY       the user's key (sent as "Authorization: Bearer ...")
--   FILL_N          submits to send; 0 sends until the zone refuses (503)
--   FILL_IDS        a file the recorded task ids are appended to, one a
--                   line (empty: do not keep them)
--   FILL_DONE       a file created once the fill is over
--
-- Exactly FILL_N submits are sent.  Once they are all out, the connections
-- are kept busy with a fetch of an id nobody owns (the gateway answers it
-- with a local 404, nothing is recorded) until every submit has its answer;
-- then the thread stops and FILL_DONE appears: wrk's main thread sleeps the
-- whole -d regardless, so the bench script sends it SIGINT, after which
-- wrk reports as usual.  done() prints one line the bench script reads:
--   FILL sent=N ok=N refused=N other=N
-- ok: answers 200 with "code":1 and a task id, i.e. tasks the gateway
-- recorded (it holds a submit's answer until the task is in the zone).

local key = os.getenv("BENCH_KEY")
local budget = tonumber(os.getenv("FILL_N") or "0")
local idfile = os.getenv("FILL_IDS") or ""
local donefile = os.getenv("FILL_DONE") or ""

-- built in init(): wrk adds the Host header only once it is running
local submit, filler

-- globals: read back by done() through thread:get()
sent, ok, refused, other = 0, 0, 0, 0

local out = nil
local stopping = false

function init(args)
    submit = wrk.format("POST", "/mj/submit/imagine", {
        ["Authorization"] = "Bearer " .. key,
        ["Content-Type"] = "application/json",
    }, '{"prompt":"a lighthouse at dusk, oil on canvas --ar 3:2"}')

    filler = wrk.format("GET", "/mj/task/bench-nobody-owns-this/fetch", {
        ["Authorization"] = "Bearer " .. key,
    })

    if idfile ~= "" then
        out = assert(io.open(idfile, "a"))
    end
end

-- wrk calls request() once before the run, on thread 1's state, only to
-- look at the request (script_verify_request); that one is never sent.
local verified = false

function request()
    if not verified then
        verified = true
        return submit
    end
    if budget == 0 or sent < budget then
        sent = sent + 1
        return submit
    end
    return filler
end

local function finish()
    if not stopping then
        stopping = true
        if out then out:close() end
        wrk.thread:stop()
        if donefile ~= "" then
            assert(io.open(donefile, "w")):close()
        end
    end
end

function response(status, headers, body)
    if stopping or status == 404 then
        return                    -- over, or a filler request
    end

    if status == 200 then
        local id = body:match('"code":%s*1%s*,.*"result":%s*"([%w_%-]+)"')
        if id then
            ok = ok + 1
            if out then
                out:write(id, "\n")
                if ok % 50000 == 0 then out:flush() end
            end
        else
            other = other + 1
        end
    elseif status == 503 then
        refused = refused + 1
    else
        other = other + 1
    end

    if other >= 1000 and ok == 0 then
        finish()                  -- something is wrong: let the script say so
    elseif budget > 0 and ok + refused + other >= budget then
        finish()
    elseif budget == 0 and refused >= 256 then
        -- the zone is full: every connection has hit the limit by now
        finish()
    end
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function done(summary, latency, requests)
    local s, o, r, x = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        s = s + t:get("sent")
        o = o + t:get("ok")
        r = r + t:get("refused")
        x = x + t:get("other")
    end
    io.write(string.format("FILL sent=%d ok=%d refused=%d other=%d\n",
                           s, o, r, x))
end
