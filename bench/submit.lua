-- wrk script: POST /mj/submit/imagine with a small JSON body (the user's
-- key comes with wrk's -H)
wrk.method = "POST"
wrk.body = '{"prompt":"a lighthouse at dusk"}'
wrk.headers["Content-Type"] = "application/json"
