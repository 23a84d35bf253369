-- wrk script: POST to the URL given (/mj/submit/imagine), the same small
-- body every time.
-- The upstream answers each with a new task id, so through the gateway
-- every submit records a new task: the zone fills while this runs.
-- The key comes from wrk's -H "Authorization: ...".

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"prompt":"a lighthouse at dusk, oil on canvas --ar 3:2"}'
