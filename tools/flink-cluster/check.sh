# Sourced by flink-cluster.sh: the end-to-end check of the shaded job jar on the standalone cluster.
# 1. builds the job jar (bin/dualign job --jar) and a tiny model registry; starts an embedded broker
#    (bin/dualign kafka up) and the cluster; 2. `flink run -d` the jar; 3. an independent client
#    (KafkaPeer.java, kafka-clients only) writes 100 responses of the reference (version 0), then,
#    once λ(0) is set, responses of version 1, each batch with one malformed record; every response
#    must come out on dualign.scored exactly once (read_committed), the malformed ones on
#    dualign.dlq, and λ must step on version 1; 4. a plain `flink stop`, then `flink run -s` from the
#    savepoint: the job's DJL/JNI code is loaded again by a new user-code class loader in the same
#    task manager; responses of version 2 must be scored too, and λ must continue from the savepoint
#    (step 2, on version 2).
check() {
  local n="${1:-1000}" jar peer_cp kafka_pid job sp
  trap 'check_cleanup' EXIT
  mkdir -p "$WORK"
  jar="$("$ROOT/bin/dualign" job --jar | tail -n 1)"
  log "job jar: $jar ($(du -h "$jar" | cut -f1)); DJL for Flink's lib/: $(ls "$ROOT/streaming/target/flink-lib" | tr '\n' ' ')"
  build_dist
  cp "$ROOT"/streaming/target/flink-lib/*.jar "$FLINK_HOME/lib/"
  if [[ ! -d "$WORK/registry/harmless" ]]; then
    "$ROOT/bin/dualign" bootstrap --size tiny --out "$WORK/registry" >"$WORK/bootstrap.log" 2>&1
  fi
  "$ROOT/bin/dualign" --help >/dev/null # the launcher's build: app/target/lib holds the Kafka client
  peer_cp="$(ls "$ROOT"/app/target/lib/kafka-clients-*.jar):$(ls "$ROOT"/app/target/lib/slf4j-api-*.jar)"
  # compiled once: the polls below run it many times
  javac -d "$WORK/peer" -cp "$peer_cp" "$HERE/KafkaPeer.java"
  peer_cp="$WORK/peer:$peer_cp"

  rm -rf "$WORK/kafka" "$WORK/checkpoints" "$WORK/savepoints"
  "$ROOT/bin/dualign" kafka up --port "$KAFKA_PORT" --dir "$WORK/kafka" >"$WORK/kafka.out" 2>&1 &
  kafka_pid=$!
  echo "$kafka_pid" >"$WORK/kafka.broker-pid"
  for _ in $(seq 1 60); do grep -q 'running at' "$WORK/kafka.out" && break; sleep 1; done
  grep -q 'running at' "$WORK/kafka.out" || { log "broker did not start"; cat "$WORK/kafka.out" >&2; return 1; }
  log "$(head -n 1 "$WORK/kafka.out")"

  up
  cat >"$WORK/dualign.yaml" <<YAML
kafka:
  bootstrap.servers: 127.0.0.1:$KAFKA_PORT
constraints:
  harmless: 0.5
dual:
  n-min: 100
  epsilon: 0.3
  # no reference samples here: λ(0) = lambda-init (0) after 2 s, then steps on versions 1 and 2
  reference-timeout-ms: 2000
scoring:
  registry: $WORK/registry
checkpoint:
  interval-ms: 1000
  dir: file://$WORK/checkpoints
YAML
  local BS="127.0.0.1:$KAFKA_PORT"
  log "flink run -d -c dev.dualign.streaming.JobMain $(basename "$jar") --config $WORK/dualign.yaml"
  flink run -d -c dev.dualign.streaming.JobMain "$jar" --config "$WORK/dualign.yaml" | tee "$WORK/run1.out"
  job="$(grep -o 'JobID [0-9a-f]\{32\}' "$WORK/run1.out" | awk '{print $2}')"
  [[ -n "$job" ]] || { log "no job id in the output of flink run"; return 1; }
  wait_running "$job"

  # the reference's own traffic (version 0) first: it never moves λ, but it starts the controller's
  # wait for reference samples, which ends in λ(0) = lambda-init; then version 1, which λ steps on
  "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$peer_cp" KafkaPeer produce "$BS" dualign.responses 100 1000000 0
  wait_for_dual "$BS" "$peer_cp" 1 # λ(0) (init)
  "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$peer_cp" KafkaPeer produce "$BS" dualign.responses "$n" 0 1
  "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$peer_cp" KafkaPeer count "$BS" dualign.scored "$((n + 100))" 180
  "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$peer_cp" KafkaPeer count "$BS" dualign.dlq 2 60
  wait_for_dual "$BS" "$peer_cp" 2 # a step on version 1
  local lambda1; lambda1="$(last_dual "$BS" "$peer_cp")"
  log "after run 1: $lambda1"
  metrics_check

  # a plain stop: the cluster's configuration names the savepoint directory, as a platform's should
  log "flink stop $job"
  flink stop "$job" | tee "$WORK/stop.out"
  sp="$(grep -o 'file:[^ ]*savepoint-[^ ]*' "$WORK/stop.out" | tail -n 1)"
  [[ -n "$sp" ]] || { log "no savepoint path in the output of flink stop"; return 1; }

  log "flink run -d -s $sp ..."
  flink run -d -s "$sp" -c dev.dualign.streaming.JobMain "$jar" --config "$WORK/dualign.yaml" | tee "$WORK/run2.out"
  job="$(grep -o 'JobID [0-9a-f]\{32\}' "$WORK/run2.out" | awk '{print $2}')"
  wait_running "$job"
  "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$peer_cp" KafkaPeer produce "$BS" dualign.responses "$n" "$n" 2
  "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$peer_cp" KafkaPeer count "$BS" dualign.scored "$((2 * n + 100))" 180
  "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$peer_cp" KafkaPeer count "$BS" dualign.dlq 3 60
  wait_for_dual "$BS" "$peer_cp" 3 # step 2, on version 2, from the restored state
  local lambda2; lambda2="$(last_dual "$BS" "$peer_cp")"
  log "after run 2: $lambda2"
  # λ continued from the savepoint: the step counter went on from run 1's, on version 2
  [[ "$lambda2" == *'"step":2'* && "$lambda2" == *'"policyVersion":2'* ]] \
    || { log "run 2 did not continue from run 1's controller state (expected step 2 on version 2)"; return 1; }
  log "dual updates (step, version, λ):"
  "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$peer_cp" KafkaPeer dump "$BS" dualign.dual | grep -o '"lambda":{[^}]*}\|"step":[0-9]*\|"policyVersion":[0-9]*' | paste - - - >&2
  if grep -iE 'UnsatisfiedLinkError|ClassNotFoundException|NoClassDefFoundError|LinkageError' "$FLINK_HOME/log/taskmanager.log" >&2; then
    log "class loading problems in the task manager log (above)"; return 1
  fi
  flink cancel "$job" >/dev/null
  log "CHECK PASSED"
}

wait_running() {
  for _ in $(seq 1 60); do
    if curl -sf "http://localhost:$REST_PORT/jobs/$1" | grep -q '"state":"RUNNING"'; then
      log "job $1 RUNNING (web UI http://localhost:$REST_PORT/#/job/running/$1/overview)"; return 0
    fi
    sleep 1
  done
  log "job $1 is not running"; curl -s "http://localhost:$REST_PORT/jobs/$1/exceptions" >&2; return 1
}

# at least the argument's number of dual updates (run 1: init and step 1; run 2: step 2 as well)
wait_for_dual() {
  local bs="$1" cp="$2" want="$3"
  for _ in $(seq 1 60); do
    local steps; steps="$("$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$cp" KafkaPeer dump "$bs" dualign.dual | grep -c '"mode":"iterative"' || true)"
    (( steps >= want )) && return 0
    sleep 2
  done
  log "λ did not step ($want expected)"; return 1
}

last_dual() { "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$2" KafkaPeer dump "$1" dualign.dual | tail -n 1 | grep -o '"lambda":{[^}]*}\|"step":[0-9]*\|"policyVersion":[0-9]*' | tr '\n' ' '; }

# what the alert rules in docker/prometheus/alerts.yml read, on the task manager's real Prometheus endpoint
metrics_check() {
  local all m pattern
  all="$(curl -sf http://localhost:19249/metrics http://localhost:19250/metrics 2>/dev/null || true)"
  for pattern in 'operator_constraint_lambda\{.*constraint="harmless"' 'operator_constraint_atLambdaMax\{.*constraint="harmless"' \
                 'operator_dualSteps\{' 'operator_version_estimate_violating\{.*estimate="harmless"' 'operator_deadLetters\{'; do
    m="$(grep -E "^flink_taskmanager_job_task_$pattern" <<<"$all" | head -n 1 || true)"
    if [[ -z "$m" ]]; then log "no metric matching $pattern on the task manager's Prometheus endpoint"; return 1; fi
    log "Prometheus (task manager): $m"
  done
}

check_cleanup() {
  down quiet
  if [[ -f "$WORK/kafka.broker-pid" ]]; then kill "$(cat "$WORK/kafka.broker-pid")" 2>/dev/null || true; rm -f "$WORK/kafka.broker-pid"; fi
}
