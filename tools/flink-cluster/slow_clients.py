#!/usr/bin/env python3
"""16 clients that open a request to the policy server and never finish it, while /healthz and chat
must keep answering; after the server's idle timeout (server.http.idle-timeout-ms, 10 s) the slow
connections must have been closed by the server. Exit status 0 when all of that held.

    slow_clients.py HOST PORT [CLIENTS]
"""
import json, socket, sys, time, urllib.request

host, port = sys.argv[1], int(sys.argv[2])
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 16
base = f"http://{host}:{port}"

slow = []
for i in range(clients):
    s = socket.create_connection((host, port), timeout=5)
    # headers sent, the body promised and never finished
    s.sendall(b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"pro")
    slow.append(s)
print(f"slow clients: {clients} requests opened and left unfinished")

failures = []
def timed(what, fn):
    t0 = time.monotonic()
    try:
        out = fn()
        took = time.monotonic() - t0
        print(f"slow clients: {what} answered in {took:.2f} s: {out}")
    except Exception as e:
        failures.append(f"{what}: {e!r}")
        print(f"slow clients: {what} FAILED: {e!r}")

def healthz():
    with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
        return f"{r.status} {r.read(200).decode(errors='replace').strip()[:80]}"

def chat():
    req = urllib.request.Request(base + "/v1/chat", data=json.dumps({"prompt": "i cannot sleep"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        body = json.loads(r.read())
        return f"{r.status} version {body.get('policyVersion')}: {str(body.get('response'))[:40]!r}"

for round_ in range(3):
    timed(f"round {round_ + 1}: GET /healthz", healthz)
    timed(f"round {round_ + 1}: POST /v1/chat", chat)
    time.sleep(2)

# the server's idle timeout (server.http.idle-timeout-ms, 10 s) closes them
deadline = time.monotonic() + 20
open_ = list(slow)
while open_ and time.monotonic() < deadline:
    still = []
    for s in open_:
        s.settimeout(0.5)
        try:
            if s.recv(1) == b"":
                continue  # closed by the server
            continue  # an answer (an error response) also ends the request
        except socket.timeout:
            still.append(s)
        except OSError:
            continue  # reset by the server
    open_ = still
if open_:
    failures.append(f"{len(open_)} of {clients} slow connections still open 20 s after the idle timeout")
else:
    print(f"slow clients: the server closed all {clients} unfinished requests")
for s in slow:
    s.close()
if failures:
    print("slow clients: FAILED: " + "; ".join(failures))
    sys.exit(1)
print("slow clients: ok")
