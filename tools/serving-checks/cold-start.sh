#!/usr/bin/env bash
# The cold-start check (issue #31): `bin/dualign serve` before λ(0) (fresh topics, no job yet, so it
# draws reference samples for the one-shot solve) against the same server with reference sampling
# off, 32 outside clients each (Overload.java), in the same run. It holds when the cold server's
# completions/s are ≥ 0.8 × the other's while its reference samples still arrive (the counter on
# /metrics grows during the measured seconds). Needs a bootstrapped registry (.dualign/registry,
# or REGISTRY=DIR). Exit status 0 when it held.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tools/serving-checks"
WORK="$(mktemp -d)"; KAFKA_PORT="${KAFKA_PORT:-19094}"; PORT="${PORT:-18082}"; SECONDS_MEASURED="${SECONDS_MEASURED:-20}"
JAVA="${JAVA:-java}"
cleanup() { [[ -f "$WORK/serve.pid" ]] && kill "$(cat "$WORK/serve.pid")" 2>/dev/null || true
            [[ -f "$WORK/kafka.pid" ]] && kill "$(cat "$WORK/kafka.pid")" 2>/dev/null || true; sleep 2; rm -rf "$WORK"; }
trap cleanup EXIT
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

run() { # label reference-fraction prefix → prints completions/s and reference samples made in the window
  cat >"$WORK/$1.yaml" <<YAML
kafka:
  bootstrap.servers: 127.0.0.1:$KAFKA_PORT
  topic-prefix: $3
constraints:
  harmless: 0.5
dual:
  one-shot:
    prompts: 100000   # the solve keeps wanting samples for the whole measurement
scoring:
  registry: "${REGISTRY:-}"
server:
  port: $PORT
  reference-fraction: $2
YAML
  DUALIGN_JAVA_OPTS="-Xmx2g" "$ROOT/bin/dualign" serve --role server --config "$WORK/$1.yaml" >"$WORK/$1.out" 2>&1 &
  echo $! >"$WORK/serve.pid"
  for _ in $(seq 1 240); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
    kill -0 "$(cat "$WORK/serve.pid")" 2>/dev/null || { tail -n 30 "$WORK/$1.out" >&2; return 1; }
    sleep 0.5
  done
  "$JAVA" "$HERE/Overload.java" "http://127.0.0.1:$PORT" 32 0 5 >/dev/null # warm-up
  local before; before="$(metric dualign_reference_samples_total)"
  "$JAVA" "$HERE/Overload.java" "http://127.0.0.1:$PORT" 32 0 "$SECONDS_MEASURED" >"$WORK/$1.client"
  local after sampling; after="$(metric dualign_reference_samples_total)"; sampling="$(metric dualign_reference_sampling)"
  local answered; answered="$(grep -o 'answered [0-9]*' "$WORK/$1.client" | awk '{print $2}')"
  kill "$(cat "$WORK/serve.pid")"; wait "$(cat "$WORK/serve.pid")" 2>/dev/null || true; rm -f "$WORK/serve.pid"
  echo "$1 $answered ${before:-0} ${after:-0} ${sampling:-0}"
}

echo "cold-start: commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD || echo ' (dirty)'), $(date -u +%F), $(nproc) cores"
"$ROOT/bin/dualign" kafka up --port "$KAFKA_PORT" >"$WORK/kafka.out" 2>&1 &
echo $! >"$WORK/kafka.pid"
for _ in $(seq 1 90); do grep -q 'running at' "$WORK/kafka.out" && break; sleep 1; done
read -r _ cold_n cold_b cold_a cold_s < <(run cold 0.3 cold.)
read -r _ warm_n _ _ _ < <(run warm 0 warm.)
python3 - "$cold_n" "$cold_b" "$cold_a" "$cold_s" "$warm_n" "$SECONDS_MEASURED" <<'PY'
import sys
cold, before, after, sampling, warm, secs = (float(x) for x in sys.argv[1:])
cold_rate, warm_rate, ref_rate = cold / secs, warm / secs, (after - before) / secs
print(f"cold-start: before λ(0) {cold_rate:.1f} completions/s with reference samples at {ref_rate:.1f}/s "
      f"(sampling {'on' if sampling == 1 else 'off'}); reference sampling off {warm_rate:.1f}/s; ratio {cold_rate / warm_rate:.2f}")
if ref_rate <= 0 or sampling != 1:
    sys.exit("cold-start: FAILED: no reference samples arrived while the cold server was measured")
if cold_rate < 0.8 * warm_rate:
    sys.exit(f"cold-start: FAILED: {cold_rate:.1f}/s is below 0.8 × {warm_rate:.1f}/s")
print("cold-start: ok")
PY
