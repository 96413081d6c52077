# Sourced by flink-cluster.sh: the end-to-end check of the shaded job jar on the standalone cluster
# (one job manager, two task managers with one slot each, parallelism 2, topics of 4 partitions),
# with the failures production throws at it. An independent client (KafkaPeer.java, kafka-clients
# only) writes and reads the topics as an outside producer and a read_committed consumer would.
#  1. responses of the reference (version 0), λ(0), then version 1 with a malformed record: every
#     response on dualign.scored exactly once, the malformed one on dualign.dlq, λ steps on version 1;
#  2. kill -9 of a task manager while version 2 streams in, and a replacement started: the job
#     recovers, every response is scored exactly once, λ's steps go on 0, 1, 2 (none repeated);
#  3. a 2 MiB garbage record and a 10,000-word response: both dead-lettered with the reason (the
#     garbage truncated), and the job does not restart;
#  4. the policy server's Kafka loop (bin/dualign serve) answers prompts while the broker is stopped
#     for 30 s and started again: every prompt answered once, every answer scored once;
#  5. 16 clients that never finish their request: the server's /healthz and chat keep answering;
#     then overload: 256 clients, 64 of them slowloris, against a server limited to 48 requests in
#     progress and 16 waiting: /healthz within 1 s, 503 with Retry-After within 1 s past capacity,
#     every admitted request answered (tools/serving-checks/Overload.java, an outside process);
#     the official openai npm client against bin/dualign serve, and through bin/dualign serve as a
#     gateway in front of it (its answers logged as version 77, without log π_ref);
#  6. two fine-tuners, one active and one standing by; the active one killed between publishing a
#     version and committing its request: the standby takes over, exactly one version exists for
#     that request, and it is announced;
#  7. a plain `flink stop`, then `flink run -s` from the savepoint (the job's DJL/JNI code loaded
#     again by a new user-code class loader): version 3 is scored and λ steps on from the savepoint;
#  8. 2,000 responses of one version over 40 prompts: the records each subtask of each vertex read
#     (Flink's REST API), and no vertex that read ≥ 1,000 of them gave more than 75 % to one subtask.
check() {
  local n="${1:-1000}" jar peer_cp job sp restarts
  trap 'check_cleanup' EXIT
  mkdir -p "$WORK"
  jar="$("$ROOT/bin/dualign" job --jar | tail -n 1)"
  log "job jar: $jar ($(du -h "$jar" | cut -f1)); DJL for Flink's lib/: $(ls "$ROOT/streaming/target/flink-lib" | tr '\n' ' ')"
  build_dist
  cp "$ROOT"/streaming/target/flink-lib/*.jar "$FLINK_HOME/lib/"
  if [[ ! -d "$WORK/registry-base/harmless" ]]; then
    rm -rf "$WORK/registry-base"
    "$ROOT/bin/dualign" bootstrap --size tiny --out "$WORK/registry-base" >"$WORK/bootstrap.log" 2>&1
  fi
  # a fresh copy each run: the fine-tuner publishes into it
  rm -rf "$WORK/registry" && cp -r "$WORK/registry-base" "$WORK/registry"
  "$ROOT/bin/dualign" --help >/dev/null # the launcher's build: app/target/lib holds the Kafka client
  peer_cp="$(ls "$ROOT"/app/target/lib/kafka-clients-*.jar):$(ls "$ROOT"/app/target/lib/slf4j-api-*.jar)"
  # compiled once: the polls below run it many times
  javac -d "$WORK/peer" -cp "$peer_cp" "$HERE/KafkaPeer.java"
  PEER_CP="$WORK/peer:$peer_cp"
  BS="127.0.0.1:$KAFKA_PORT"

  rm -rf "$WORK/kafka" "$WORK/checkpoints" "$WORK/savepoints" "$WORK"/*.out
  # a small HTTP capacity, so that step 5's overload reaches it
  write_config "$WORK/dualign.yaml" "$SERVER_PORT" "  http:
    max-active: 48
    max-waiting: 16
    max-wait-ms: 250"
  write_config "$WORK/finetuner.yaml" "$FINETUNER_PORT"
  write_config "$WORK/finetuner-2.yaml" "$((FINETUNER_PORT + 1))"
  broker_start

  up
  log "flink run -d -c dev.dualign.streaming.JobMain $(basename "$jar") --config $WORK/dualign.yaml"
  flink run -d -c dev.dualign.streaming.JobMain "$jar" --config "$WORK/dualign.yaml" | tee "$WORK/run1.out"
  job="$(grep -o 'JobID [0-9a-f]\{32\}' "$WORK/run1.out" | awk '{print $2}')"
  [[ -n "$job" ]] || { log "no job id in the output of flink run"; return 1; }
  wait_running "$job"

  log "1. the reference's traffic, λ(0), then version 1"
  # the reference's own traffic (version 0) first: it never moves λ, but it starts the controller's
  # wait for reference samples, which ends in λ(0) = lambda-init; then version 1, which λ steps on
  peer produce "$BS" dualign.responses 100 1000000 0
  wait_for_dual 1 # λ(0) (init)
  peer produce "$BS" dualign.responses "$n" 0 1
  peer ids "$BS" dualign.scored 0 "$n" 180
  peer ids "$BS" dualign.scored 1000000 100 60
  peer count "$BS" dualign.dlq 2 60
  wait_for_dual 2 # a step on version 1
  log "after 1: $(last_dual)"
  metrics_check

  log "2. kill -9 a task manager while version 2 streams in, and start a replacement"
  peer produce "$BS" dualign.responses "$n" "$n" 2 100 &
  local producer=$!
  sleep 4
  kill -9 "$(cat "$WORK/taskmanager-2.pid")" && rm -f "$WORK/taskmanager-2.pid"
  log "killed taskmanager-2 (kill -9) mid-stream; starting taskmanager-3"
  start_taskmanager taskmanager-3
  wait "$producer"
  wait_taskmanagers 2
  peer ids "$BS" dualign.scored "$n" "$n" 300
  wait_for_dual 3 # a step on version 2
  peer steps "$BS" dualign.dual
  restarts="$(num_restarts "$job")"
  (( restarts >= 1 )) || { log "the job did not fail over after the task manager was killed"; return 1; }
  log "after 2: the job failed over $restarts time(s) and recovered; $(last_dual)"

  log "3. a 2 MiB garbage record and a 10,000-word response"
  peer oversized "$BS" dualign.responses 2
  peer count "$BS" dualign.dlq 5 120
  local dlq; dlq="$(peer dump "$BS" dualign.dlq)"
  grep -q '"rawSize":2097152' <<<"$dlq" || { log "no truncated dead letter of the 2 MiB record"; return 1; }
  grep -q 'too long to score: prompt 3 words + response 10000 words' <<<"$dlq" \
    || { log "no dead letter of the 10,000-word response"; return 1; }
  log "dead letters: $(grep -o '"error":"[^"]\{0,90\}' <<<"$dlq" | tail -n 2 | tr '\n' ' ')"
  sleep 10 # a sink failure would have restarted the job by now
  [[ "$(num_restarts "$job")" == "$restarts" ]] || { log "the job restarted after the oversized records"; return 1; }
  log "after 3: both dead-lettered, no restart (still $restarts)"

  log "4. the policy server's Kafka loop while the broker is stopped for 30 s"
  DUALIGN_JAVA_OPTS="-Xmx1g" "$ROOT/bin/dualign" serve --role server --config "$WORK/dualign.yaml" >"$WORK/server.out" 2>&1 &
  echo $! >"$WORK/server.pid"
  wait_http "$SERVER_PORT" /healthz 200 120
  # 300 prompts over 15 s, the broker stopped 5 s in: the producer, the server and the job all meet the outage
  peer prompts "$BS" dualign.prompts 300 0 20 &
  local prompter=$!
  sleep 5
  broker_stop
  log "broker stopped mid-stream; 30 s without Kafka"
  sleep 20
  log "/healthz 20 s into the outage: $(curl -s --max-time 5 "http://127.0.0.1:$SERVER_PORT/healthz" || true)"
  sleep 10
  broker_start
  wait "$prompter"
  peer prompts "$BS" dualign.prompts 100 300
  peer answers "$BS" q 400 300
  wait_http "$SERVER_PORT" /healthz 200 120
  log "after 4: the server and the job resumed; $(num_restarts "$job") job failover(s) in all"

  log "5. 16 slow HTTP clients"
  python3 "$HERE/slow_clients.py" 127.0.0.1 "$SERVER_PORT" 16
  log "5a. overload: 256 clients, 64 of them slowloris, for 30 s"
  "$JAVA" "$ROOT/tools/serving-checks/Overload.java" "http://127.0.0.1:$SERVER_PORT" 256 64 30 expect-shed \
    || { log "the overload check failed"; return 1; }
  log "5b. the official openai npm client against bin/dualign serve"
  if [[ ! -d "$ROOT/tools/openai-client/node_modules/openai" ]]; then
    log "the openai npm package is not installed: run npm ci --prefix tools/openai-client"; return 1
  fi
  node "$ROOT/tools/openai-client/check.mjs" "http://127.0.0.1:$SERVER_PORT" || { log "the openai client check failed against serve"; return 1; }
  log "5c. bin/dualign serve as a gateway in front of that server (server.backend: upstream)"
  write_config "$WORK/gateway.yaml" "$GATEWAY_PORT" "  backend: upstream
  upstream:
    url: http://127.0.0.1:$SERVER_PORT/v1
    version: 77"
  DUALIGN_JAVA_OPTS="-Xmx512m" "$ROOT/bin/dualign" serve --role server --config "$WORK/gateway.yaml" >"$WORK/gateway.out" 2>&1 &
  echo $! >"$WORK/gateway.pid"
  wait_http "$GATEWAY_PORT" /healthz 200 120
  node "$ROOT/tools/openai-client/check.mjs" "http://127.0.0.1:$GATEWAY_PORT" || { log "the openai client check failed through the gateway"; return 1; }
  local logged
  logged="$(peer dump "$BS" dualign.responses | grep -c '"policyVersion":77' || true)"
  # the client's two plain choices and its stream; refused requests are not logged
  [[ "$logged" -ge 3 ]] || { log "the gateway logged $logged answers as version 77 to dualign.responses, expected ≥ 3"; return 1; }
  if peer dump "$BS" dualign.responses | grep '"policyVersion":77' | grep -q refLogprob; then
    log "a gateway answer carries a refLogprob it cannot know"; return 1
  fi
  log "after 5c: the gateway relayed the client's requests and logged $logged answers as version 77, without log π_ref"
  kill "$(cat "$WORK/gateway.pid")" && rm -f "$WORK/gateway.pid"
  kill "$(cat "$WORK/server.pid")" && rm -f "$WORK/server.pid"

  log "6. two fine-tuners; the active one killed between publishing a version and committing its request"
  DUALIGN_JAVA_OPTS="-Xmx1g -Ddualign.fault.finetuner-halt-after-publish=true" \
    "$ROOT/bin/dualign" serve --role finetuner --config "$WORK/finetuner.yaml" >"$WORK/finetuner-1.out" 2>&1 &
  local ft=$! rc=0
  for _ in $(seq 1 60); do grep -q 'lease acquired' "$WORK/finetuner-1.out" && break; sleep 1; done
  grep -q 'lease acquired' "$WORK/finetuner-1.out" || { log "the first fine-tuner never became active"; kill -9 "$ft"; return 1; }
  # the standby: the same command on another machine in production
  DUALIGN_JAVA_OPTS="-Xmx1g" "$ROOT/bin/dualign" serve --role finetuner --config "$WORK/finetuner-2.yaml" \
    >"$WORK/finetuner-2.out" 2>&1 &
  echo $! >"$WORK/finetuner.pid"
  for _ in $(seq 1 300); do
    kill -0 "$ft" 2>/dev/null || break
    if grep -q 'waits for traffic' "$WORK/finetuner-1.out"; then
      kill -9 "$ft"; log "the fine-tuner found too little training data"; tail -n 5 "$WORK/finetuner-1.out" >&2; return 1
    fi
    sleep 1
  done
  if kill -0 "$ft" 2>/dev/null; then kill -9 "$ft"; log "the fine-tuner did not publish within 300 s"; tail -n 20 "$WORK/finetuner-1.out" >&2; return 1; fi
  wait "$ft" || rc=$?
  local line req version
  line="$(grep -o 'halting after publishing version [0-9]* for [^ ]*' "$WORK/finetuner-1.out" | tail -n 1)"
  [[ "$rc" == 137 && -n "$line" ]] || { log "the fine-tuner exited with $rc, not at the drill"; tail -n 20 "$WORK/finetuner-1.out" >&2; return 1; }
  version="$(awk '{print $5}' <<<"$line")"; req="$(awk '{print $7}' <<<"$line")"
  log "the active fine-tuner halted (exit $rc) with version $version of request $req in the registry, unannounced"
  for _ in $(seq 1 120); do peer dump "$BS" dualign.checkpoints | grep -q "\"version\":$version," && break; sleep 2; done
  peer dump "$BS" dualign.checkpoints | grep -q "\"version\":$version," || { log "version $version was never announced"; return 1; }
  local versions; versions="$(grep -l "\"requestId\" : \"$req\"" "$WORK"/registry/policy/*/manifest.json | wc -l)"
  [[ "$versions" == 1 ]] || { log "$versions registry versions for request $req"; return 1; }
  grep -q 'lease acquired' "$WORK/finetuner-2.out" || { log "the standby never became active"; return 1; }
  grep -q "was already published as version $version" "$WORK/finetuner-2.out" || { log "the standby did not find version $version"; return 1; }
  log "the standby: $(grep -o 'lease acquired.*' "$WORK/finetuner-2.out" | head -n 1)"
  kill "$(cat "$WORK/finetuner.pid")" && rm -f "$WORK/finetuner.pid"
  log "after 6: the standby took over; exactly one version ($version) for request $req, announced by the standby"

  log "7. a plain flink stop, then flink run -s from the savepoint"
  # a plain stop: the cluster's configuration names the savepoint directory, as a platform's should
  flink stop "$job" | tee "$WORK/stop.out"
  sp="$(grep -o 'file:[^ ]*savepoint-[^ ]*' "$WORK/stop.out" | tail -n 1)"
  [[ -n "$sp" ]] || { log "no savepoint path in the output of flink stop"; return 1; }
  local before; before="$(peer dump "$BS" dualign.dual | grep -c '"mode":"iterative"' || true)"
  log "flink run -d -s $sp ..."
  flink run -d -s "$sp" -c dev.dualign.streaming.JobMain "$jar" --config "$WORK/dualign.yaml" | tee "$WORK/run2.out"
  job="$(grep -o 'JobID [0-9a-f]\{32\}' "$WORK/run2.out" | awk '{print $2}')"
  wait_running "$job"
  peer produce "$BS" dualign.responses "$n" "$((2 * n))" 3
  peer ids "$BS" dualign.scored "$((2 * n))" "$n" 180
  wait_for_dual "$((before + 1))" # a step on version 3, from the restored state
  local last; last="$(last_dual)"
  log "after 7: $last"
  # λ continued from the savepoint: the step counter went on from before the stop, on version 3
  [[ "$last" == *"\"step\":$before "* && "$last" == *'"policyVersion":3 '* ]] \
    || { log "the resubmitted job did not continue from the savepoint (expected step $before on version 3)"; return 1; }
  peer steps "$BS" dualign.dual
  log "dual updates (step, version, λ):"
  peer dump "$BS" dualign.dual | grep -o '"lambda":{[^}]*}\|"step":[0-9]*\|"policyVersion":[0-9]*' | paste - - - >&2

  log "8. 2,000 responses of one version over 40 prompts: no subtask does most of a vertex's work"
  sleep 12 # the REST API's metrics lag by up to 10 s: the snapshot must include phase 7's records
  python3 "$HERE/subtasks.py" snapshot "http://localhost:$REST_PORT" "$job" >"$WORK/subtasks-before.json"
  peer produce "$BS" dualign.responses 2000 "$((3 * n))" 4 0 40
  peer ids "$BS" dualign.scored "$((3 * n))" 2000 180
  python3 "$HERE/subtasks.py" report "http://localhost:$REST_PORT" "$job" "$WORK/subtasks-before.json" 1000 0.75 2001
  if grep -iE 'UnsatisfiedLinkError|ClassNotFoundException|NoClassDefFoundError|LinkageError' "$FLINK_HOME"/log/taskmanager-*.log >&2; then
    log "class loading problems in the task manager log (above)"; return 1
  fi
  flink cancel "$job" >/dev/null
  log "CHECK PASSED"
}

SERVER_PORT="${SERVER_PORT:-18090}"
FINETUNER_PORT="${FINETUNER_PORT:-18091}"
GATEWAY_PORT="${GATEWAY_PORT:-18092}"

peer() { "$JAVA" -Dslf4j.internal.verbosity=ERROR -cp "$PEER_CP" KafkaPeer "$@"; }

write_config() { # file server-port [more server: lines]
  cat >"$1" <<YAML
kafka:
  bootstrap.servers: $BS
  partitions: 4
constraints:
  harmless: 0.5
dual:
  n-min: 100
  epsilon: 0.3
  # no reference samples here: λ(0) = lambda-init (0) after 2 s, then steps on versions 1, 2 and 3
  reference-timeout-ms: 2000
scoring:
  registry: $WORK/registry
checkpoint:
  interval-ms: 1000
  dir: file://$WORK/checkpoints
server:
  port: $2
${3:-}
finetune:
  min-pairs: 64
  max-pairs: 256
YAML
}

broker_start() {
  "$ROOT/bin/dualign" kafka up --port "$KAFKA_PORT" --dir "$WORK/kafka" --config "$WORK/dualign.yaml" >>"$WORK/kafka.out" 2>&1 &
  echo $! >"$WORK/kafka.broker-pid"
  local before; before="$(grep -c 'running at' "$WORK/kafka.out" || true)"
  for _ in $(seq 1 90); do
    (( $(grep -c 'running at' "$WORK/kafka.out" || true) > before )) && { log "$(grep 'running at' "$WORK/kafka.out" | tail -n 1)"; return 0; }
    sleep 1
  done
  log "broker did not start"; tail -n 30 "$WORK/kafka.out" >&2; return 1
}

broker_stop() {
  local pid; pid="$(cat "$WORK/kafka.broker-pid")"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  rm -f "$WORK/kafka.broker-pid"
}

wait_http() { # port path status timeout-s
  local code
  for _ in $(seq 1 "$4"); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1$2" || true)"
    [[ "$code" == "$3" ]] && { log "GET :$1$2 answers $code"; return 0; }
    sleep 1
  done
  log "GET :$1$2 answered $code, not $3, for $4 s"; curl -s --max-time 5 "http://127.0.0.1:$1$2" >&2 || true; return 1
}

# the job's failures so far (each one a restart of the whole job or of a region), from its exception
# history (the numRestarts gauge stays 0 when only a pipelined region restarts)
num_restarts() {
  curl -sf "http://localhost:$REST_PORT/jobs/$1/exceptions?maxExceptions=1000" \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["exceptionHistory"]["entries"]))'
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
  local want="$1"
  for _ in $(seq 1 90); do
    local steps; steps="$(peer dump "$BS" dualign.dual | grep -c '"mode":"iterative"' || true)"
    (( steps >= want )) && return 0
    sleep 2
  done
  log "λ did not step ($want expected)"; return 1
}

last_dual() { peer dump "$BS" dualign.dual | tail -n 1 | grep -o '"lambda":{[^}]*}\|"step":[0-9]*\|"policyVersion":[0-9]*' | tr '\n' ' '; }

# what the alert rules in docker/prometheus/alerts.yml read, on the task manager's real Prometheus endpoint
metrics_check() {
  local all m pattern
  all="$(for port in 19249 19250 19251 19252 19253; do curl -sf "http://localhost:$port/metrics" 2>/dev/null || true; done)"
  for pattern in 'operator_constraint_lambda\{.*constraint="harmless"' 'operator_constraint_atLambdaMax\{.*constraint="harmless"' \
                 'operator_dualSteps\{' 'operator_version_estimate_violating\{.*estimate="harmless"' 'operator_deadLetters\{'; do
    m="$(grep -E "^flink_taskmanager_job_task_$pattern" <<<"$all" | head -n 1 || true)"
    if [[ -z "$m" ]]; then log "no metric matching $pattern on the task manager's Prometheus endpoint"; return 1; fi
    log "Prometheus (task manager): $m"
  done
}

check_cleanup() {
  local f
  for f in server finetuner gateway; do
    [[ -f "$WORK/$f.pid" ]] && { kill "$(cat "$WORK/$f.pid")" 2>/dev/null || true; rm -f "$WORK/$f.pid"; }
  done
  down quiet
  if [[ -f "$WORK/kafka.broker-pid" ]]; then kill "$(cat "$WORK/kafka.broker-pid")" 2>/dev/null || true; rm -f "$WORK/kafka.broker-pid"; fi
}
