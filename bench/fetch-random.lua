-- wrk script: GET /mj/task/{id}/fetch for an id drawn at random, for each
-- request, from the tasks recorded so far, so the ownership check touches
-- the whole table rather than one hot slot.
--
-- Environment:
--   BENCH_KEY   the user's key
--   FETCH_IDS   the file fill.lua wrote: 32-character ids, one a line
--
-- The ids stay in one string (33 bytes a line), so a million of them cost
-- 33 MB of the wrk process and no per-id Lua objects.

local key = os.getenv("BENCH_KEY")
local ids = assert(io.open(os.getenv("FETCH_IDS"), "rb")):read("*a")
local width = 33
local count = math.floor(#ids / width)

assert(count > 0, "no task ids in " .. os.getenv("FETCH_IDS"))
assert(ids:sub(width, width) == "\n", "task ids are not 32 characters")

local head = "GET /mj/task/"
local tail = nil

function init(args)
    tail = "/fetch HTTP/1.1\r\nHost: " .. wrk.headers["Host"]
           .. "\r\nAuthorization: Bearer " .. key .. "\r\n\r\n"
    math.randomseed(os.time())
end

function request()
    local k = math.random(0, count - 1) * width
    return head .. ids:sub(k + 1, k + 32) .. tail
end
