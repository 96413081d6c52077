#!/usr/bin/env bash
# A standalone Flink 2.2.1 session cluster (one job manager, two task managers with one slot each,
# separate JVMs) built from Flink's jars on Maven Central, and `flink` (Flink's CliFrontend) against
# it. Used to check that the shaded job jar works under `flink run` (the job's classes in Flink's
# child-first user-code class loader, Flink's own on the system class path, submission through the
# REST API) and survives the failures check.sh injects.
#
#   tools/flink-cluster/flink-cluster.sh up            build lib/ (Maven), start the cluster
#   tools/flink-cluster/flink-cluster.sh flink ARGS    Flink's command line (run, list, stop, cancel, ...)
#   tools/flink-cluster/flink-cluster.sh down          stop the cluster
#   tools/flink-cluster/flink-cluster.sh check [N]     end-to-end and failure check of the job jar (check.sh)
#
# The official binary distribution (flink-dist) is not served by Maven Central here, so bin/ and the
# flink-dist uber jar are replaced by this script and the modules flink-dist bundles (pom.xml);
# the process entry points, the configuration file and the classloading are Flink's own.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# the Flink version the project builds against (the parent pom's flink.version)
FLINK_VERSION="$(sed -n 's:.*<flink.version>\(.*\)</flink.version>.*:\1:p' "$ROOT/pom.xml" | head -n 1)"
FLINK_HOME="$HERE/target/flink-$FLINK_VERSION"
WORK="$HERE/target/work"
REST_PORT="${FLINK_REST_PORT:-18081}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
JAVA="${JAVA:-java}"
# What a Flink deployment puts in env.java.opts.taskmanager for Dualign: DJL offline, one intra-op thread.
TM_JAVA_OPTS="-Dai.djl.offline=true -DDJL_CACHE_DIR=$WORK/djl-cache -DENGINE_CACHE_DIR=$WORK/djl-cache -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1"

# What Flink's distribution sets in env.java.opts.all for Java 17 (its scripts pass it to every
# process, the command-line client included): Flink reflects into these JDK packages.
JDK17_OPTS="--add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED"
for pkg in java.lang java.net java.io java.nio sun.nio.ch java.lang.reflect java.text java.time java.util \
    java.util.concurrent java.util.concurrent.atomic java.util.concurrent.locks; do
  JDK17_OPTS="$JDK17_OPTS --add-opens=java.base/$pkg=ALL-UNNAMED"
done

log() { echo "[flink-cluster] $*" >&2; }

build_dist() {
  if [[ ! -f "$FLINK_HOME/lib/flink-runtime-$FLINK_VERSION.jar" ]]; then
    log "assembling lib/ and plugins/ from Maven Central (mvn -f tools/flink-cluster/pom.xml package)"
    if command -v mvn >/dev/null; then mvn -B -q -f "$HERE/pom.xml" package; else "$HERE/../../mvnw" -B -q -f "$HERE/pom.xml" package; fi
  fi
  mkdir -p "$FLINK_HOME/conf" "$FLINK_HOME/log" "$WORK"
  cat > "$FLINK_HOME/conf/config.yaml" <<YAML
jobmanager:
  rpc:
    address: localhost
    port: 16123
  memory:
    process:
      size: 1024m
taskmanager:
  host: localhost
  # one slot each: a job at parallelism 2 spans both task managers, so losing one is felt
  numberOfTaskSlots: 1
  memory:
    process:
      size: 2048m
# a killed task manager is noticed within seconds (the defaults wait up to 50 s)
heartbeat:
  interval: 2000
  timeout: 10000
rest:
  address: localhost
  port: $REST_PORT
parallelism:
  default: 2
execution:
  checkpointing:
    # the cluster's, as a platform sets it: a plain flink stop needs it (the job cannot set it for the REST handler)
    savepoint-dir: file://$WORK/savepoints
env:
  java:
    opts:
      all: "$JDK17_OPTS"
      taskmanager: "$TM_JAVA_OPTS"
metrics:
  reporter:
    prom:
      factory:
        class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory
      port: 19249-19253
YAML
  cat > "$FLINK_HOME/conf/log4j.properties" <<'PROPS'
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = MainAppender
appender.main.name = MainAppender
appender.main.type = File
appender.main.fileName = ${sys:log.file}
appender.main.layout.type = PatternLayout
appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
PROPS
  cp "$FLINK_HOME/conf/log4j.properties" "$FLINK_HOME/conf/log4j-cli.properties"
}

# Flink's BashJavaUtils derives the JVM flags and the dynamic memory options from config.yaml,
# exactly as bin/jobmanager.sh and bin/taskmanager.sh do.
resource_params() {
  "$JAVA" -cp "$FLINK_HOME/lib/*" org.apache.flink.runtime.util.bash.BashJavaUtils "$1" \
      --configDir "$FLINK_HOME/conf" 2>/dev/null | grep '^BASH_JAVA_UTILS_EXEC_RESULT:' | sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://'
}

start_process() { # name main-class extra-jvm-opts params-kind
  local name="$1" main="$2" opts="$3" kind="$4" params jvm dyn
  params="$(resource_params "$kind")"
  jvm="$(sed -n 1p <<<"$params")"
  dyn="$(sed -n 2p <<<"$params")"
  # shellcheck disable=SC2086
  FLINK_CONF_DIR="$FLINK_HOME/conf" FLINK_LIB_DIR="$FLINK_HOME/lib" FLINK_PLUGINS_DIR="$FLINK_HOME/plugins" \
    nohup "$JAVA" $jvm $JDK17_OPTS $opts -Dlog.file="$FLINK_HOME/log/$name.log" \
      -Dlog4j.configurationFile="file:$FLINK_HOME/conf/log4j.properties" \
      -cp "$FLINK_HOME/lib/*" "$main" --configDir "$FLINK_HOME/conf" $dyn \
      >"$FLINK_HOME/log/$name.out" 2>&1 &
  echo $! >"$WORK/$name.pid"
}

up() {
  build_dist
  down quiet
  rm -f "$FLINK_HOME"/log/*
  log "starting the job manager (REST on localhost:$REST_PORT) and two task managers with one slot each"
  start_process jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint "" GET_JM_RESOURCE_PARAMS
  start_taskmanager taskmanager-1
  start_taskmanager taskmanager-2
  wait_taskmanagers 2
}

start_taskmanager() { start_process "$1" org.apache.flink.runtime.taskexecutor.TaskManagerRunner "$TM_JAVA_OPTS" GET_TM_RESOURCE_PARAMS; }

# until the cluster has this many task managers registered (the overview counts live ones)
wait_taskmanagers() {
  for _ in $(seq 1 120); do
    if curl -sf "http://localhost:$REST_PORT/overview" 2>/dev/null | grep -Eq "\"taskmanagers\":$1[,}]"; then
      log "cluster up: $(curl -sf "http://localhost:$REST_PORT/overview")"
      return 0
    fi
    sleep 1
  done
  log "the cluster did not reach $1 task managers; logs in $FLINK_HOME/log"; tail -n 30 "$FLINK_HOME/log/"*.log >&2 || true
  return 1
}

down() {
  local f
  for f in "$WORK"/*.pid; do
    [[ -f "$f" ]] || continue
    kill "$(cat "$f")" 2>/dev/null && [[ "${1:-}" != quiet ]] && log "stopped $(basename "$f" .pid)"
    rm -f "$f"
  done
  sleep 1
}

flink() {
  FLINK_CONF_DIR="$FLINK_HOME/conf" FLINK_LIB_DIR="$FLINK_HOME/lib" FLINK_PLUGINS_DIR="$FLINK_HOME/plugins" \
    "$JAVA" $JDK17_OPTS -Dlog.file="$FLINK_HOME/log/client.log" -Dlog4j.configurationFile="file:$FLINK_HOME/conf/log4j-cli.properties" \
      -cp "$FLINK_HOME/lib/*" org.apache.flink.client.cli.CliFrontend "$@"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  flink) shift; flink "$@" ;;
  check) shift; source "$HERE/check.sh"; check "$@" ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
