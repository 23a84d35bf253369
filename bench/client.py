# ngx_mj bench client (callgrind.sh, journal.sh): N requests one after
# another on one keepalive connection, each answered 200, the headers wrk
# sends; prints the last answer.
#   python3 client.py PORT METHOD PATH N KEY
# METHOD GET or POST (a small submit body); MIX: each 21st a submit to
# /mj-relax/ (its task answers SUCCESS), the others polls of the task the
# last submit made
import http.client, re, sys
port, method, path, n, key = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                              int(sys.argv[4]), sys.argv[5])
body = b'{"prompt":"a lighthouse at dusk, oil on canvas --ar 3:2"}'
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)


# the headers wrk sends: Host, the key, and a body's; no Accept-Encoding
def send(method, path, body):
    c.putrequest(method, path, skip_accept_encoding=True)
    c.putheader("Authorization", "Bearer " + key)
    if body is not None:
        c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)


last = b""
task = None
for i in range(n):
    if method == "MIX":
        if i % 21 == 0 or task is None:
            send("POST", "/mj-relax/mj/submit/imagine", body)
        else:
            send("GET", "/mj-relax/mj/task/%s/fetch" % task, None)
    else:
        send(method, path, body if method == "POST" else None)
    r = c.getresponse()
    last = r.read()
    if r.status != 200:
        sys.exit("%s %s: %d %s" % (method, path, r.status, last[:200]))
    m = re.match(rb'{"code":1,.*"result":"([A-Za-z0-9_-]+)"', last)
    if m:
        task = m.group(1).decode()
sys.stdout.write(last.decode())
