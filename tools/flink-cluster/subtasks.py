#!/usr/bin/env python3
"""Records each subtask of each job vertex read and wrote, from Flink's REST API, so a hot key
(one subtask doing a vertex's work) is visible.

    subtasks.py snapshot REST_URL JOB_ID > before.json
    subtasks.py report   REST_URL JOB_ID before.json MIN_READ MAX_SHARE [EXPECTED]

`report` prints, for every vertex, what each subtask read and wrote since the snapshot, and exits
1 when a vertex that read at least MIN_READ records in all gave more than MAX_SHARE of them to
one subtask. With EXPECTED, it first waits (up to 60 s) until some vertex has read that many since
the snapshot: the REST API's metrics are refreshed every 10 s or so. (A source vertex reads from Kafka, not from the network: its read count is 0 and its
spread follows the partitions.)
"""
import json, sys, time, urllib.request

def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)

def counts(rest, job):
    out = {}
    for v in get(f"{rest}/jobs/{job}")["vertices"]:
        detail = get(f"{rest}/jobs/{job}/vertices/{v['id']}")
        out[v["id"]] = {"name": v["name"], "subtasks": {
            str(s["subtask"]): [s["metrics"].get("read-records", 0), s["metrics"].get("write-records", 0)]
            for s in detail["subtasks"]}}
    return out

cmd, rest, job = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
if cmd == "snapshot":
    counts(rest, job)  # the first request of a while only starts the REST API's metric refresh
    time.sleep(3)
    json.dump(counts(rest, job), sys.stdout)
    sys.exit(0)
before = json.load(open(sys.argv[4]))
min_read, max_share = int(sys.argv[5]), float(sys.argv[6])
expected = int(sys.argv[7]) if len(sys.argv) > 7 else 0

def read_since(now):
    return max((sum(r for r, _ in v["subtasks"].values()) - sum(r for r, _ in before.get(vid, {"subtasks": {}})["subtasks"].values())
                for vid, v in now.items()), default=0)

now = counts(rest, job)
deadline = time.monotonic() + 60
while read_since(now) < expected and time.monotonic() < deadline:
    time.sleep(5)
    now = counts(rest, job)
if read_since(now) < expected:
    print(f"subtasks: the REST API's counts show {read_since(now)} records read, {expected} expected")
    sys.exit(1)
bad = []
for vid, v in now.items():
    old = before.get(vid, {"subtasks": {}})["subtasks"]
    reads, writes = [], []
    for i, (r, w) in sorted(v["subtasks"].items(), key=lambda kv: int(kv[0])):
        r0, w0 = old.get(i, [0, 0])
        reads.append(r - r0)
        writes.append(w - w0)
    total = sum(reads)
    share = max(reads) / total if total else 0.0
    name = v["name"] if len(v["name"]) <= 70 else v["name"][:67] + "..."
    print(f"subtasks: {name:70s} read {reads} (max share {share:.0%}), wrote {writes}")
    if total >= min_read and share > max_share:
        bad.append(f"{name}: {max(reads)} of {total} records read by one subtask")
if bad:
    print("subtasks: a hot key: " + "; ".join(bad))
    sys.exit(1)
print(f"subtasks: no vertex that read ≥ {min_read} records gave more than {max_share:.0%} of them to one subtask")
