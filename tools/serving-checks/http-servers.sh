#!/usr/bin/env bash
# `bin/dualign serve` measured from an outside client process (Overload.java), on each HTTP server in
# the same run: Jetty (what serve runs) and the JDK server it ran before (decision 28). For each:
# the cold start (process start to the first answered completion), 32 clients for 20 s after a 5 s
# warm-up, then the overload check (256 clients, 64 slowloris, 30 s). Needs a bootstrapped registry
# (.dualign/registry). Prints one line per figure; the overload check's verdict is printed, not
# enforced, since the JDK server is expected to fail it.
#
#   tools/serving-checks/http-servers.sh [jetty jdk]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tools/serving-checks"
ENGINES=("${@:-jetty jdk}"); [[ $# -eq 0 ]] && ENGINES=(jetty jdk)
WORK="$(mktemp -d)"; KAFKA_PORT=19092; PORT=18080
JAVA="${JAVA:-java}"
cleanup() { [[ -f "$WORK/serve.pid" ]] && kill "$(cat "$WORK/serve.pid")" 2>/dev/null || true
            [[ -f "$WORK/kafka.pid" ]] && kill "$(cat "$WORK/kafka.pid")" 2>/dev/null || true; sleep 2; rm -rf "$WORK"; }
trap cleanup EXIT

echo "http-servers: commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD || echo ' (dirty)'), $(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cat >"$WORK/dualign.yaml" <<YAML
kafka:
  bootstrap.servers: 127.0.0.1:$KAFKA_PORT
constraints:
  harmless: 0.5
server:
  port: $PORT
  reference-fraction: 0
YAML
"$ROOT/bin/dualign" kafka up --port "$KAFKA_PORT" --config "$WORK/dualign.yaml" >"$WORK/kafka.out" 2>&1 &
echo $! >"$WORK/kafka.pid"
for _ in $(seq 1 90); do grep -q 'running at' "$WORK/kafka.out" && break; sleep 1; done

body='{"model":"dualign","max_tokens":24,"messages":[{"role":"user","content":"i cannot sleep at night"}]}'
for engine in "${ENGINES[@]}"; do
  t0=$(date +%s.%N)
  DUALIGN_JAVA_OPTS="-Xmx2g -Ddualign.http.engine=$engine" "$ROOT/bin/dualign" serve --role server --config "$WORK/dualign.yaml" \
    >"$WORK/serve-$engine.out" 2>&1 &
  echo $! >"$WORK/serve.pid"
  until curl -sf -o /dev/null -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$PORT/v1/chat/completions"; do
    kill -0 "$(cat "$WORK/serve.pid")" 2>/dev/null || { tail -n 20 "$WORK/serve-$engine.out"; exit 1; }
    sleep 0.2
  done
  echo "http-servers: $engine: cold start to the first completion $(python3 -c "import sys; print(f\"{float(sys.argv[2]) - float(sys.argv[1]):.1f}\")" "$t0" "$(date +%s.%N)") s"
  "$JAVA" "$HERE/Overload.java" "http://127.0.0.1:$PORT" 32 0 5 >/dev/null || true # warm-up
  "$JAVA" "$HERE/Overload.java" "http://127.0.0.1:$PORT" 32 0 20 | sed "s/^/http-servers: $engine, 32 clients: /" || true
  "$JAVA" "$HERE/Overload.java" "http://127.0.0.1:$PORT" 256 64 30 | sed "s/^/http-servers: $engine, overload: /" || true
  kill "$(cat "$WORK/serve.pid")"; wait "$(cat "$WORK/serve.pid")" 2>/dev/null || true; rm -f "$WORK/serve.pid"
done
