#!/usr/bin/env bash
# A real multi-process Spark standalone cluster on 127.0.0.1 for the tests: one master and two
# workers, each a separate JVM started with the pyspark installed in .venv (SPARK_HOME = the
# pyspark package folder). Pid files, logs and work folders live in .cache/spark-cluster/.
#
#   conf/spark-cluster/cluster.sh start        start what is not running (reuses a running
#                                              cluster), wait until both workers are ALIVE,
#                                              print the master URL (also in master.url)
#   conf/spark-cluster/cluster.sh stop         stop the master and workers (and their executors)
#   conf/spark-cluster/cluster.sh status       print the master URL and worker states; exit 1
#                                              when the cluster is not fully up
#   conf/spark-cluster/cluster.sh worker-env   create the executors' Python environment if needed
#                                              and print its python
#
# The worker environment (.cache/spark-cluster/worker-env) sees the main venv's third-party
# packages (pandas, pyarrow, numpy, mysql-connector, pyspark, ...) but NOT featurestore_spark:
# its site-packages holds a .pth whose single line is the main venv's site-packages folder. A
# plain path line adds the folder to sys.path without processing the .pth files inside it, so
# the editable install's finder (__editable__...pth) is never installed. Executors therefore find
# featurestore_spark only the documented way (--py-files with a zip). Submit with
#   PYSPARK_PYTHON="$(conf/spark-cluster/cluster.sh worker-env)"  (or --conf spark.pyspark.python=...)
# and --conf spark.driver.host=127.0.0.1 (or SPARK_LOCAL_IP=127.0.0.1 in the driver's env).
#
# Environment (all optional):
#   SPARK_CLUSTER_DIR          state folder (default .cache/spark-cluster)
#   SPARK_CLUSTER_PORT         master RPC port (default 7177)
#   SPARK_CLUSTER_WEBUI_PORT   master web UI / JSON port (default 8177; the workers' UIs take
#                              the next two ports)
#   SPARK_CLUSTER_WORKER_CORES / SPARK_CLUSTER_WORKER_MEMORY   per worker (default 1 / 1536m)
#   SPARK_CLUSTER_DAEMON_MEMORY  heap of the master and worker JVMs (default 256m)
#   SPARK_CLUSTER_TIMEOUT      seconds to wait for both workers to be ALIVE (default 90)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$ROOT/.venv"
DIR="${SPARK_CLUSTER_DIR:-$ROOT/.cache/spark-cluster}"
HOST=127.0.0.1
PORT="${SPARK_CLUSTER_PORT:-7177}"
WEBUI_PORT="${SPARK_CLUSTER_WEBUI_PORT:-8177}"
WORKERS=2
WORKER_CORES="${SPARK_CLUSTER_WORKER_CORES:-1}"
WORKER_MEMORY="${SPARK_CLUSTER_WORKER_MEMORY:-1536m}"
DAEMON_MEMORY="${SPARK_CLUSTER_DAEMON_MEMORY:-256m}"
TIMEOUT="${SPARK_CLUSTER_TIMEOUT:-90}"
MASTER_URL="spark://$HOST:$PORT"
JSON_URL="http://$HOST:$WEBUI_PORT/json/"
WENV="$DIR/worker-env"

say() { echo "spark-cluster: $*" >&2; }
die() { say "$*"; exit 1; }

venv_python() {
  [[ -x "$VENV/bin/python" ]] || die "no virtual environment at $VENV: run 'make setup' first"
  echo "$VENV/bin/python"
}

spark_home() {
  "$(venv_python)" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' \
    || die "pyspark is not importable from $VENV"
}

# --- the executors' Python environment --------------------------------------------------------

worker_env() {
  local py base main_site wsite pth
  py="$(venv_python)"
  base="$("$py" -c 'import sys; print(sys._base_executable)')"
  main_site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  pth="_featurestore_worker_env.pth"
  if [[ -x "$WENV/bin/python" ]]; then
    wsite="$("$WENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)"
    if [[ -n "$wsite" && -f "$wsite/$pth" && "$(cat "$wsite/$pth")" == "$main_site" ]]; then
      echo "$WENV/bin/python"
      return 0
    fi
    rm -rf "$WENV"
  fi
  mkdir -p "$DIR"
  "$base" -m venv --without-pip "$WENV" || die "could not create $WENV with $base"
  wsite="$("$WENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  mkdir -p "$wsite"
  printf '%s\n' "$main_site" >"$wsite/$pth"
  # must see the third-party packages, must not see featurestore_spark (checked from /)
  (cd / && env -u PYTHONPATH "$WENV/bin/python" -c 'import pandas, pyarrow, numpy, mysql.connector, pyspark') \
    || die "$WENV cannot import the third-party packages of $main_site"
  if (cd / && env -u PYTHONPATH "$WENV/bin/python" -c 'import featurestore_spark' 2>/dev/null); then
    die "$WENV can import featurestore_spark, which executors must only get through --py-files"
  fi
  echo "$WENV/bin/python"
}

# --- processes ----------------------------------------------------------------------------------

alive() {   # alive NAME: its pid file names a running JVM of ours
  local f="$DIR/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE "org.apache.spark.deploy.(master.Master|worker.Worker)"
}

launch() {  # launch NAME CLASS ARGS...: a JVM in its own session, pid = the java process
  local name="$1"; shift
  local home path; home="$(spark_home)"
  mkdir -p "$DIR/conf"
  # executors resolve the driver's default python ("python3", used when neither PYSPARK_PYTHON
  # nor spark.pyspark.python is set) on the worker's PATH: make that the worker environment's,
  # never the main venv's (whose editable finder would make featurestore_spark importable)
  path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$VENV/bin" | paste -sd: -)"
  path="$WENV/bin:$path"
  # cwd in the state folder, nothing from the caller's Python or Spark set-up leaks in
  ( cd "$DIR" && exec env -u PYTHONPATH -u PYSPARK_PYTHON -u PYSPARK_DRIVER_PYTHON -u VIRTUAL_ENV \
      -u SPARK_CONF_DIR -u SPARK_ENV_LOADED \
      PATH="$path" SPARK_HOME="$home" SPARK_CONF_DIR="$DIR/conf" SPARK_LOCAL_IP="$HOST" \
      SPARK_LOCAL_HOSTNAME="$HOST" SPARK_LOG_DIR="$DIR" SPARK_LOCAL_DIRS="$DIR/local" \
      SPARK_DAEMON_MEMORY="$DAEMON_MEMORY" SPARK_NO_DAEMONIZE=1 \
      SPARK_DAEMON_JAVA_OPTS="-Dspark.port.maxRetries=0" \
      SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false" \
      SPARK_WORKER_OPTS="-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.interval=600 -Dspark.worker.cleanup.appDataTtl=3600" \
      setsid "$home/bin/spark-class" "$@" </dev/null >"$DIR/$name.log" 2>&1 ) &
  echo $! >"$DIR/$name.pid"
}

master_json() { curl -fsS --max-time 3 "$JSON_URL" 2>/dev/null; }

alive_workers() {   # the number of ALIVE workers the master reports (0 when it does not answer)
  local json
  json="$(master_json)" || { echo 0; return 0; }
  printf '%s' "$json" | "$(venv_python)" -c '
import json, sys
try:
    print(sum(w.get("state") == "ALIVE" for w in json.load(sys.stdin).get("workers", [])))
except ValueError:
    print(0)'
}

start() {
  local started=0 i t0 n p
  worker_env >/dev/null
  mkdir -p "$DIR/local"
  t0=$SECONDS
  if ! alive master; then
    for p in "$PORT" "$WEBUI_PORT"; do
      if (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
        die "port $p is taken by another process: set SPARK_CLUSTER_PORT / SPARK_CLUSTER_WEBUI_PORT"
      fi
    done
    say "starting the master on $MASTER_URL (web UI http://$HOST:$WEBUI_PORT)"
    launch master org.apache.spark.deploy.master.Master \
      --host "$HOST" --port "$PORT" --webui-port "$WEBUI_PORT"
    started=1
  fi
  for i in $(seq 1 "$WORKERS"); do
    if ! alive "worker-$i"; then
      if (exec 3<>"/dev/tcp/$HOST/$((WEBUI_PORT + i))") 2>/dev/null; then
        die "port $((WEBUI_PORT + i)) (worker $i's web UI) is taken by another process: set SPARK_CLUSTER_WEBUI_PORT"
      fi
      mkdir -p "$DIR/work-$i"
      say "starting worker $i ($WORKER_CORES core(s), $WORKER_MEMORY)"
      launch "worker-$i" org.apache.spark.deploy.worker.Worker "$MASTER_URL" \
        --host "$HOST" --cores "$WORKER_CORES" --memory "$WORKER_MEMORY" \
        --work-dir "$DIR/work-$i" --webui-port "$((WEBUI_PORT + i))"
      started=1
    fi
  done
  while :; do
    n="$(alive_workers)"
    [[ "$n" -ge "$WORKERS" ]] && break
    alive master || { tail -n 20 "$DIR/master.log" >&2 || true; die "the master exited; see $DIR/master.log"; }
    for i in $(seq 1 "$WORKERS"); do
      alive "worker-$i" || { tail -n 20 "$DIR/worker-$i.log" >&2 || true; die "worker $i exited; see $DIR/worker-$i.log"; }
    done
    if (( SECONDS - t0 >= TIMEOUT )); then
      say "after ${TIMEOUT}s the master at $JSON_URL reports $n of $WORKERS workers ALIVE; logs in $DIR:"
      tail -n 5 "$DIR"/master.log "$DIR"/worker-*.log >&2 || true
      say "the processes are left running (a later start reuses them): $0 stop to end them"
      exit 1
    fi
    sleep 0.5
  done
  (( started )) && say "up in $((SECONDS - t0))s"
  echo "$MASTER_URL" >"$DIR/master.url"
  echo "$MASTER_URL"
}

stop() {
  local name pid stopped=0
  for name in worker-2 worker-1 master; do
    if alive "$name"; then
      pid="$(cat "$DIR/$name.pid")"
      # the whole session: the JVM, and for a worker its executors and their Python workers
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      stopped=1
    fi
    rm -f "$DIR/$name.pid"
  done
  rm -f "$DIR/master.url"
  (( stopped )) && say "stopped" || say "not running"
}

status() {
  local i ok=0 n
  alive master && ok=1
  for i in $(seq 1 "$WORKERS"); do alive "worker-$i" || ok=0; done
  n="$(alive_workers)"
  if (( ok )) && [[ "$n" -ge "$WORKERS" ]]; then
    echo "$MASTER_URL"
    say "master pid $(cat "$DIR/master.pid"), $n workers ALIVE, web UI http://$HOST:$WEBUI_PORT, executors' python $WENV/bin/python"
    return 0
  fi
  say "not running (master: $(alive master && echo up || echo down), ALIVE workers: $n)"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  worker-env) worker_env ;;
  *) echo "usage: $0 start | stop | status | worker-env" >&2; exit 2 ;;
esac
