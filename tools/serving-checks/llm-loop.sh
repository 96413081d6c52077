#!/usr/bin/env bash
# The loop for a real LLM, end to end on this machine (issue #32), each part its own process as in
# production: a broker; `bin/dualign serve` as the vLLM-compatible upstream (runtime adapter API);
# `bin/dualign serve` as the gateway in front of it (server.backend: upstream, adapters: vllm); the
# job (`bin/dualign job`); two built-in trainers (`--role finetuner`, finetune.answer: adapter), one
# active and one standing by; and outside chat clients (ChatTraffic.java) on the gateway. It holds when:
#  1. a policy step publishes a fine-tune request that names its dataset file, and the file is there
#     with the digest the request names, holding K > 1 responses for the prompts the gateway sampled
#     (server.upstream.sample-fraction);
#  2. the trainer that took it is killed with kill -9 before training (a failure drill holds it there),
#     the standby takes it over, and exactly one answer for that request is published;
#  3. the gateway loads the answer's adapter into the upstream over HTTP (the upstream logs the
#     load), records it in the registry by reference, canaries it by model name, and answers logged
#     on the responses topic carry the adapter's name and version;
#  4. the job decides the canary (promote or roll back, by the usual rule) and the gateway carries it out;
#  5. three forged answers are refused with their reason in the gateway's version log (a bad checksum,
#     a request the job never sent, an adapter the upstream refuses with HTTP 400), and the users' chat
#     never failed meanwhile.
# Needs a bootstrapped registry (.dualign/registry, or REGISTRY=DIR) and the launcher's build
# (app/target/lib). Exit status 0 when it held.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tools/serving-checks"
WORK="$(mktemp -d)"
KAFKA_PORT="${KAFKA_PORT:-19096}"; UP_PORT="${UP_PORT:-18091}"; GW_PORT="${GW_PORT:-18092}"; FT_PORT="${FT_PORT:-18093}"
JAVA="${JAVA:-java}"
BS="127.0.0.1:$KAFKA_PORT"
TOKEN="llm-loop-admin-token"
log() { echo "[llm-loop] $*" >&2; }
fail() { log "FAILED: $*"; for f in "$WORK"/*.out; do echo "--- $(basename "$f") (last 25 lines)" >&2; tail -n 25 "$f" >&2; done; exit 1; }
cleanup() {
  for f in "$WORK"/*.pid; do [[ -f "$f" ]] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 3
  for f in "$WORK"/*.pid; do [[ -f "$f" ]] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
start() { # name command... (output in $WORK/name.out)
  local name="$1"; shift
  "$@" >"$WORK/$name.out" 2>&1 &
  echo $! >"$WORK/$name.pid"
}
wait_log() { # name pattern seconds
  for _ in $(seq 1 $(( $3 * 2 ))); do
    grep -q -- "$2" "$WORK/$1.out" 2>/dev/null && return 0
    kill -0 "$(cat "$WORK/$1.pid")" 2>/dev/null || fail "$1 exited before '$2'"
    sleep 0.5
  done
  fail "$1: no '$2' within $3 s"
}
wait_http() { # name url seconds
  for _ in $(seq 1 $(( $3 * 2 ))); do
    curl -sf -o /dev/null "$2" && return 0
    kill -0 "$(cat "$WORK/$1.pid")" 2>/dev/null || fail "$1 exited before answering $2"
    sleep 0.5
  done
  fail "$1: $2 did not answer within $3 s"
}
PEER_CP="$WORK/peer:$(ls "$ROOT"/app/target/lib/kafka-clients-*.jar):$(ls "$ROOT"/app/target/lib/slf4j-api-*.jar)"
dump() { "$JAVA" -cp "$PEER_CP" KafkaPeer dump "$BS" "$1" 2>/dev/null; }
publish() { "$JAVA" -cp "$ROOT/app/target/lib/*" "$HERE/Publish.java" "$BS" "$1" "$2" "$3"; }

echo "llm-loop: commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD || echo ' (dirty)'), $(date -u +%F), $(nproc) cores"
javac -d "$WORK/peer" -cp "$PEER_CP" "$ROOT/tools/flink-cluster/KafkaPeer.java"
cp -r "${REGISTRY:-$ROOT/.dualign/registry}" "$WORK/registry" # the trainers publish into it; the upstream loads from it

common() { # the loop's processes share one file (topics llm.*), as in production
  cat <<YAML
kafka:
  bootstrap.servers: $BS
  topic-prefix: llm.
constraints:
  harmless: 0.9
dual:
  mode: iterative
  n-min: 60
  epsilon: 0.5
  estimate-every: 20
  lambda-init: 0.5
  reference-timeout-ms: 5000
  request-timeout-ms: 300000
scoring:
  registry: $WORK/registry
  device: cpu
checkpoint:
  dir: $WORK/checkpoints
  interval-ms: 1000
flink:
  parallelism: 1
  web-port: 0
metrics:
  prometheus-port: 0
dataset:
  root: $WORK/datasets
finetune:
  answer: adapter
  min-pairs: 32
  max-pairs: 128
  epochs: 1
YAML
}
# the gateway holds the upstream's key, so its own clients need theirs
CHAT_KEY="$("$ROOT/bin/dualign" keys add users --file "$WORK/clients.keys" | awk '/its key/ {print $NF}')"
[[ -n "$CHAT_KEY" ]] || fail "no client key made"
export CHAT_KEY
common >"$WORK/job.yaml"
{ common; cat <<YAML
server:
  port: $FT_PORT
YAML
} >"$WORK/trainer-a.yaml"
sed "s/port: $FT_PORT/port: $((FT_PORT + 1))/" "$WORK/trainer-a.yaml" >"$WORK/trainer-b.yaml"
{ common; cat <<YAML
server:
  port: $GW_PORT
  canary-fraction: 0.5
  backend: upstream
  client-keys-file: $WORK/clients.keys
  upstream:
    url: http://127.0.0.1:$UP_PORT/v1
    api-key-env: LLM_LOOP_UPSTREAM_KEY   # serve's admin token: the adapter API asks for it
    version: 0
    adapters: vllm
    max-loras: 2
    sample-fraction: 0.5   # K = 4 more responses for half the answered prompts: the dataset's K per prompt
    samples: 4
YAML
} >"$WORK/gateway.yaml"
# the upstream: a chatbot of its own (its own topics), loading adapters at run time
cat >"$WORK/upstream.yaml" <<YAML
kafka:
  bootstrap.servers: $BS
  topic-prefix: up.
constraints:
  harmless: 0.9
scoring:
  registry: $WORK/registry
server:
  port: $UP_PORT
  admin-token: $TOKEN
  reference-fraction: 0
  max-adapters: 4
YAML

start kafka "$ROOT/bin/dualign" kafka up --port "$KAFKA_PORT"
wait_log kafka 'running at' 90
DUALIGN_JAVA_OPTS="-Xmx1g" start upstream "$ROOT/bin/dualign" serve --role server --config "$WORK/upstream.yaml"
wait_http upstream "http://127.0.0.1:$UP_PORT/healthz" 180
LLM_LOOP_UPSTREAM_KEY="$TOKEN" DUALIGN_JAVA_OPTS="-Xmx1g" start gateway "$ROOT/bin/dualign" serve --role server --config "$WORK/gateway.yaml"
wait_http gateway "http://127.0.0.1:$GW_PORT/healthz" 180
DUALIGN_JAVA_OPTS="-Xmx2g" start job "$ROOT/bin/dualign" job --config "$WORK/job.yaml" --fresh
wait_log job 'Ctrl-C stops' 240
# trainer A holds every request it takes for 60 s before training: the drill's moment for kill -9
DUALIGN_JAVA_OPTS="-Xmx1g -Ddualign.fault.finetuner-hold-before-training-ms=60000" \
  start trainer-a "$ROOT/bin/dualign" serve --role finetuner --config "$WORK/trainer-a.yaml"
wait_http trainer-a "http://127.0.0.1:$FT_PORT/metrics" 180
DUALIGN_JAVA_OPTS="-Xmx1g" start trainer-b "$ROOT/bin/dualign" serve --role finetuner --config "$WORK/trainer-b.yaml"
wait_http trainer-b "http://127.0.0.1:$((FT_PORT + 1))/metrics" 180
start traffic "$JAVA" "$HERE/ChatTraffic.java" "http://127.0.0.1:$GW_PORT" 2 1500

log "1. a policy step's request, naming its dataset"
for _ in $(seq 1 300); do [[ -n "$(dump llm.control)" ]] && break; sleep 2; done
request="$(dump llm.control | head -n 1)"
[[ -n "$request" ]] || fail "no fine-tune request on llm.control within 600 s"
request_id="$(python3 - "$request" <<'PY'
import hashlib, json, sys, urllib.parse
r = json.loads(sys.argv[1])
d = r.get("dataset") or sys.exit(f"the request names no dataset: {r}")
path = urllib.parse.urlparse(d["uri"]).path
data = open(path, "rb").read()
assert hashlib.sha256(data).hexdigest() == d["sha256"], "the dataset's digest is not the one the request names"
lines = data.count(b"\n")
assert lines == d["records"] > 0, f"{lines} lines, the request names {d['records']}"
ks = [len(json.loads(l)["responses"]) for l in data.decode("utf-8").splitlines()]
assert max(ks) > 1, "every prompt of the dataset has one response: the gateway's samples did not reach it"
print(r["requestId"])
print(f"llm-loop: responses per prompt: {sum(k > 1 for k in ks)} prompts with K > 1 (most {max(ks)})", file=sys.stderr)
print(f"llm-loop: request {r['requestId']} at λ={r['lambda']}, β={r['beta']}: {d['records']} prompts in {d['uri']}", file=sys.stderr)
PY
)"

log "2. kill -9 the trainer holding $request_id; the standby answers it, once"
wait_log trainer-a "holding request $request_id" 120
kill -9 "$(cat "$WORK/trainer-a.pid")"; rm -f "$WORK/trainer-a.pid"
log "trainer A killed (kill -9) while it held $request_id"
for _ in $(seq 1 300); do dump llm.checkpoints | grep -q "\"requestId\":\"$request_id\"" && break; sleep 2; done
sleep 15 # a second answer, if there were one, would come now
answers="$(dump llm.checkpoints | grep -c "\"requestId\":\"$request_id\"" || true)"
[[ "$answers" == 1 ]] || fail "$answers answers to $request_id on llm.checkpoints, expected exactly 1"
answer="$(dump llm.checkpoints | grep "\"requestId\":\"$request_id\"")"
read -r version adapter _ _ < <(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); e=c["external"]
print(c["version"], e["adapter"], e["path"], c["sha256"])' "$answer")
log "answered once (by the standby): version $version as adapter $adapter"

log "3. the gateway loads $adapter into the upstream and canaries it by name"
# the upstream's own log of its adapter API: the loop may have decided the version and moved on by now
wait_log upstream "version $version: adapter-load (as '$adapter')" 120
wait_log gateway "version $version: canary" 60
# (the registry keeps the newest versions only, and the loop may be past version $version by now)
python3 - "$WORK/registry/policy-external" <<'PY' || fail "the gateway recorded no version in the registry by reference"
import glob, json, os, sys
ms = [json.load(open(f)) for f in glob.glob(os.path.join(sys.argv[1], "*", "manifest.json"))]
assert ms, "no manifest under " + sys.argv[1]
for m in ms:
    assert m["files"] == [] and m["info"]["adapter"] == f"dualign-policy-v{m['version']}", m
m = max(ms, key=lambda m: m["version"])
print(f"llm-loop: the registry lists {len(ms)} outside versions by reference, newest {m['version']}: "
      f"{m['info']['adapter']} at {m['info']['path']}", file=sys.stderr)
PY
curl -sf "http://127.0.0.1:$UP_PORT/v1/models" | python3 -c '
import json, sys
ids = [m["id"] for m in json.load(sys.stdin)["data"]]
print(f"llm-loop: the upstream serves models {ids} now", file=sys.stderr)' 
for _ in $(seq 1 120); do dump llm.responses | grep -q "\"model\":\"$adapter\"" && break; sleep 2; done
dump llm.responses | python3 -c '
import json, sys
version, adapter = int(sys.argv[1]), sys.argv[2]
rs = [json.loads(l) for l in sys.stdin if l.strip()]
named = [r for r in rs if r.get("model") == adapter]
if not named: sys.exit(f"no answer on llm.responses carries model {adapter}")
if any(r["policyVersion"] != version for r in named): sys.exit("an answer under the adapter name has another version")
print(f"llm-loop: {len(named)} of {len(rs)} logged answers carry model {adapter} (version {version})", file=sys.stderr)' "$version" "$adapter"

log "4. the job decides version $version; the gateway carries it out"
for _ in $(seq 1 300); do dump llm.decisions | grep -q "\"policyVersion\":$version[,}]" && break; sleep 2; done
decision="$(dump llm.decisions | grep "\"policyVersion\":$version[,}]" | head -n 1)"
[[ -n "$decision" ]] || fail "no decision on version $version within 600 s"
action="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["action"].lower())' "$decision")"
case "$action" in
  promote) wait_log gateway "version $version: promote" 60 ;;
  rollback) wait_log gateway "version $version: rollback" 60 ;;
  *) fail "decision on version $version: $decision" ;;
esac
log "the job's decision: $action; the gateway carried it out"

log "5. forged answers are refused with their reason; the stable version keeps serving"
outside="$WORK/adapters/not-in-the-registry"; mkdir -p "$outside"; echo '{"r": 8}' >"$outside/adapter_config.json"
outside_sha="$(python3 -c 'import sys, importlib.util as u
s = u.spec_from_file_location("t", sys.argv[1]); m = u.module_from_spec(s); s.loader.exec_module(m)
print(m.adapter_sha256(sys.argv[2]))' "$ROOT/examples/trl-dpo/train.py" "$outside")"
now=$(( $(date +%s) * 1000 ))
forged() { # version adapter path sha request-id
  printf '{"schema":1,"version":%s,"path":"policy/%s","sha256":"%s","lambda":{"harmless":0.5},"parentVersion":0,"timestamp":%s,"requestId":"%s","external":{"adapter":"%s","path":"%s"}}' \
    "$1" "$1" "$4" "$now" "$5" "$2" "$3"
}
# (an adapter outside the upstream's registry: the registry prunes old versions, this one stays)
publish llm.checkpoints "$request_id" "$(forged 900001 forged-v900001 "$outside" "$(printf 'f%.0s' {1..64})" "$request_id")"
publish llm.checkpoints no-such-request "$(forged 900002 forged-v900002 "$outside" "$outside_sha" no-such-request)"
publish llm.checkpoints "$request_id" "$(forged 900003 forged-v900003 "$outside" "$outside_sha" "$request_id")"
wait_log gateway "version 900001: refuse (checksum mismatch" 60
wait_log gateway "version 900002: refuse (the answer is to request 'no-such-request', which the job never sent" 60
wait_log gateway "version 900003: refuse (.*HTTP 400" 60
grep -E "version 90000[123]: refuse" "$WORK/gateway.out" | sed 's/^/llm-loop: /' >&2
for v in 900001 900002 900003; do
  ! curl -sf "http://127.0.0.1:$UP_PORT/v1/models" | grep -q "forged-v$v" || fail "forged-v$v was loaded into the upstream"
done
curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT/healthz" || fail "the gateway is not healthy after the refusals"
kill "$(cat "$WORK/traffic.pid")" 2>/dev/null || true
grep -q "HTTP \|no answer" "$WORK/traffic.out" && fail "a user's chat failed: $(grep -m1 'HTTP \|no answer' "$WORK/traffic.out")"
log "users' chat through it all: $(grep 'chat: ' "$WORK/traffic.out" | tail -n 1 | sed 's/^chat: //')"
echo "llm-loop: ok"
