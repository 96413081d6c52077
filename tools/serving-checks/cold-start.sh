#!/usr/bin/env bash
# The cold-start check (issue #31): one `bin/dualign serve` before λ(0) (fresh topics, no job yet, so
# it draws reference samples for the one-shot solve in the background), 32 outside clients
# (Overload.java); then λ(0) is published on the dual topic as the job would, the same server stops
# sampling, and the same clients measure it again. It holds when the completions/s before λ(0) are
# ≥ 0.8 × those after, while reference samples still arrived at the budgeted rate (they used at least
# 0.8 × server.reference-share of the measured seconds, by dualign_reference_busy_seconds_total on
# /metrics; REFERENCE_SHARE=… when the server runs another share). One process for both halves: two servers measured one after the other differed
# by more than the effect (ratios 0.73 to 0.96 on the same commit). Needs a bootstrapped registry
# (.dualign/registry, or REGISTRY=DIR). Exit status 0 when it held.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tools/serving-checks"
WORK="$(mktemp -d)"; KAFKA_PORT="${KAFKA_PORT:-19094}"; PORT="${PORT:-18082}"; SECONDS_MEASURED="${SECONDS_MEASURED:-30}"
JAVA="${JAVA:-java}"
cleanup() { [[ -f "$WORK/serve.pid" ]] && kill "$(cat "$WORK/serve.pid")" 2>/dev/null || true
            [[ -f "$WORK/kafka.pid" ]] && kill "$(cat "$WORK/kafka.pid")" 2>/dev/null || true; sleep 2; rm -rf "$WORK"; }
trap cleanup EXIT
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

CP="$ROOT/app/target/lib/*"
cat >"$WORK/serve.yaml" <<YAML
kafka:
  bootstrap.servers: 127.0.0.1:$KAFKA_PORT
  topic-prefix: cold.
constraints:
  harmless: 0.5
dual:
  one-shot:
    prompts: 100000   # the solve keeps wanting samples until λ(0) is published
scoring:
  registry: "${REGISTRY:-}"
server:
  port: $PORT
  reference-fraction: ${REFERENCE_FRACTION:-0.3}
${REFERENCE_SHARE:+  reference-share: $REFERENCE_SHARE}
YAML

echo "cold-start: commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD || echo ' (dirty)'), $(date -u +%F), $(nproc) cores"
"$ROOT/bin/dualign" kafka up --port "$KAFKA_PORT" >"$WORK/kafka.out" 2>&1 &
echo $! >"$WORK/kafka.pid"
for _ in $(seq 1 90); do grep -q 'running at' "$WORK/kafka.out" && break; sleep 1; done
DUALIGN_JAVA_OPTS="-Xmx2g" "$ROOT/bin/dualign" serve --role server --config "$WORK/serve.yaml" >"$WORK/serve.out" 2>&1 &
echo $! >"$WORK/serve.pid"
for _ in $(seq 1 240); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
  kill -0 "$(cat "$WORK/serve.pid")" 2>/dev/null || { tail -n 30 "$WORK/serve.out" >&2; exit 1; }
  sleep 0.5
done
measure() { # label → "completions reference-samples sampling busy-seconds" over SECONDS_MEASURED
  local before after sampling answered busy0 busy1
  before="$(metric dualign_reference_samples_total)"; busy0="$(metric dualign_reference_busy_seconds_total)"
  "$JAVA" "$HERE/Overload.java" "http://127.0.0.1:$PORT" 32 0 "$SECONDS_MEASURED" >"$WORK/$1.client"
  after="$(metric dualign_reference_samples_total)"; sampling="$(metric dualign_reference_sampling)"
  busy1="$(metric dualign_reference_busy_seconds_total)"
  answered="$(grep -o 'answered [0-9]*' "$WORK/$1.client" | awk '{print $2}')"
  echo "${answered:-0} $(awk -v a="${after:-0}" -v b="${before:-0}" 'BEGIN { print a - b }') ${sampling:-0}" \
       "$(awk -v a="${busy1:-0}" -v b="${busy0:-0}" 'BEGIN { print a - b }')"
}
# a long warm-up: the window after λ(0) comes later and would otherwise gain from a JIT the first lacked
"$JAVA" "$HERE/Overload.java" "http://127.0.0.1:$PORT" 32 0 20 >/dev/null
read -r cold_n cold_refs cold_s cold_busy < <(measure cold)
# λ(0), as the job publishes it; any λ update tells the server the one-shot solve is done
now_ms=$(( $(date +%s) * 1000 ))
"$JAVA" -cp "$CP" "$HERE/Publish.java" "127.0.0.1:$KAFKA_PORT" cold.dual harmless \
  "{\"schema\":1,\"constraintSet\":\"harmless\",\"lambda\":{\"harmless\":1.0},\"estimates\":{},\"mode\":\"one-shot\",\"kind\":\"one-shot\",\"step\":0,\"policyVersion\":0,\"timestamp\":$now_ms}" \
  2>"$WORK/publish.err" || { cat "$WORK/publish.err" >&2; exit 1; }
sampling_off() { metric dualign_reference_sampling | awk 'NF { off = ($1 == 0) } END { exit !off }'; }
for _ in $(seq 1 60); do sampling_off && break; sleep 0.5; done
sampling_off || { echo "cold-start: FAILED: the server still samples 30 s after λ(0) was published" >&2; exit 1; }
"$JAVA" "$HERE/Overload.java" "http://127.0.0.1:$PORT" 32 0 3 >/dev/null # the queue's last samples done
read -r warm_n warm_refs warm_s _ < <(measure warm)
python3 - "$cold_n" "$cold_refs" "$cold_s" "$warm_n" "$warm_refs" "$SECONDS_MEASURED" "$cold_busy" "${REFERENCE_SHARE:-0.05}" <<'PY'
import sys
cold, refs, sampling, warm, warm_refs, secs, busy, share = (float(x) for x in sys.argv[1:])
cold_rate, warm_rate, ref_rate = cold / secs, warm / secs, refs / secs
print(f"cold-start: before λ(0) {cold_rate:.1f} completions/s with reference samples at {ref_rate:.1f}/s "
      f"(sampling {'on' if sampling == 1 else 'off'}, {busy / secs:.3f} of the time for a budget of {share}); "
      f"after λ(0) {warm_rate:.1f}/s with {warm_refs / secs:.1f}/s; ratio {cold_rate / warm_rate:.2f}")
if ref_rate <= 0 or sampling != 1:
    sys.exit("cold-start: FAILED: no reference samples arrived while the cold server was measured")
# the budgeted rate: the sampler used (nearly) all the time its share gives it, so users kept their
# throughput with the samples arriving as configured, not because the samples stopped coming
if busy / secs < 0.8 * share:
    sys.exit(f"cold-start: FAILED: the reference samples used {busy / secs:.3f} of the time, below 0.8 × their share {share}")
if warm_refs > 0:
    sys.exit("cold-start: FAILED: reference samples still arrived after λ(0)")
if cold_rate < 0.8 * warm_rate:
    sys.exit(f"cold-start: FAILED: {cold_rate:.1f}/s is below 0.8 × {warm_rate:.1f}/s")
print("cold-start: ok")
PY
