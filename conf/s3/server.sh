#!/usr/bin/env bash
# A project-local S3-compatible server for the tests: moto's standalone server (PyPI moto with its
# s3 extra, flask and flask-cors, in the venv) on 127.0.0.1:9010, its log and pid in .cache/s3/.
#
#   conf/s3/server.sh ensure   use the S3 API at $S3_ENDPOINT if one answers to $S3_ACCESS_KEY/
#                              $S3_SECRET_KEY; else start moto there (127.0.0.1 only); then create
#                              the bucket $S3_BUCKET if it does not exist
#   conf/s3/server.sh start | stop | status
#
# S3_DIR and S3_ENV_FILE move the state folder and the env file (tests start servers of their own
# that way); PYTHON names the interpreter that has moto and boto3 (default: the project's venv).
# `ensure` writes .cache/s3.env (FEATURESTORE_TEST_S3_* for the tests). The secret is never printed.
#
# moto keeps everything in memory: a stopped server forgets its buckets and objects, and `ensure`
# re-creates the bucket on the next start. Tests should write under prefixes of their own.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${S3_DIR:-$ROOT/.cache/s3}"
PIDFILE="$DIR/moto.pid"
LOG="$DIR/moto.log"
HOST="${S3_HOST:-127.0.0.1}"
PORT="${S3_PORT:-9010}"
ENDPOINT="${S3_ENDPOINT:-http://$HOST:$PORT}"
ACCESS_KEY="${S3_ACCESS_KEY:-featurestore}"
SECRET_KEY="${S3_SECRET_KEY:-featurestore-test-secret}"
BUCKET="${S3_BUCKET:-featurestore-test}"
REGION="${S3_REGION:-us-east-1}"
ENV_FILE="${S3_ENV_FILE:-$ROOT/.cache/s3.env}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
# what `python -m moto.server` needs for S3 alone (pyproject's test extra has the same lines);
# moto[server] works too but adds every other service's dependencies (cfn-lint, docker, ...)
MOTO_REQUIREMENTS=("moto[s3]>=5.1,<6" "flask>=3" "flask-cors>=4" "boto3>=1.34")

say() { echo "s3: $*" >&2; }

# moto is started only for an endpoint on this machine, on the host and port it names
is_local() { [[ "$ENDPOINT" == "http://127.0.0.1:$PORT" || "$ENDPOINT" == "http://localhost:$PORT" ]]; }

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

# boto3 against the endpoint: `check` lists the buckets (a real S3 API with these keys answers),
# `bucket` also creates $S3_BUCKET if it is missing and round-trips a small object through it.
s3_call() {
  [[ -x "$PY" ]] || return 1
  S3_CALL_ENDPOINT="$ENDPOINT" S3_CALL_ACCESS_KEY="$ACCESS_KEY" S3_CALL_SECRET_KEY="$SECRET_KEY" \
  S3_CALL_BUCKET="$BUCKET" S3_CALL_REGION="$REGION" "$PY" - "$1" <<'PY'
import os, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

e = os.environ
s3 = boto3.client(
    "s3", endpoint_url=e["S3_CALL_ENDPOINT"], region_name=e["S3_CALL_REGION"],
    aws_access_key_id=e["S3_CALL_ACCESS_KEY"], aws_secret_access_key=e["S3_CALL_SECRET_KEY"],
    config=Config(s3={"addressing_style": "path"}, connect_timeout=3, read_timeout=10,
                  retries={"max_attempts": 1}),
)
s3.list_buckets()
if sys.argv[1] == "bucket":
    bucket = e["S3_CALL_BUCKET"]
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=bucket)   # us-east-1: no LocationConstraint
    key = ".featurestore-ensure"
    s3.put_object(Bucket=bucket, Key=key, Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"ok"
    s3.delete_object(Bucket=bucket, Key=key)
PY
}

answers() {   # an S3 API at the endpoint accepts these keys (nothing listening: no boto3 round)
  if is_local && ! port_open; then return 1; fi
  s3_call check >/dev/null 2>&1
}

install_moto() {
  [[ -x "$PY" ]] || { say "no Python at $PY: run make setup, or set PYTHON to an interpreter with moto[s3], flask, flask-cors and boto3"; exit 1; }
  "$PY" -c 'import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ("moto", "boto3", "flask", "flask_cors", "werkzeug")))' \
    >/dev/null 2>&1 && return 0
  say "installing ${MOTO_REQUIREMENTS[*]} into $("$PY" -c 'import sys; print(sys.prefix)') (pyproject's test extra)"
  "$PY" -m pip install --quiet "${MOTO_REQUIREMENTS[@]}" \
    || { say "could not install ${MOTO_REQUIREMENTS[*]} with pip"; exit 1; }
}

start() {
  if running; then return 0; fi
  if port_open; then
    say "something else listens on $HOST:$PORT and does not answer as S3 with these keys (see S3_PORT)"
    exit 1
  fi
  mkdir -p "$DIR"
  say "starting moto on $HOST:$PORT (log $LOG)"
  # setsid: its own session, so that it outlives the make recipe that started it
  setsid "$PY" -m moto.server --host "$HOST" --port "$PORT" </dev/null >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do
    if port_open; then return 0; fi
    if ! running; then break; fi
    sleep 0.1
  done
  say "moto did not start; the end of $LOG:"
  tail -20 "$LOG" >&2 || true
  rm -f "$PIDFILE"
  exit 1
}

stop() {
  running || { rm -f "$PIDFILE"; return 0; }
  local pid; pid="$(cat "$PIDFILE")"
  kill "$pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then rm -f "$PIDFILE"; return 0; fi
    sleep 0.1
  done
  say "the server (pid $pid) did not stop"; exit 1
}

write_env() {   # $1: 1 when this script manages the server
  mkdir -p "$(dirname "$ENV_FILE")"
  umask 077
  cat >"$ENV_FILE" <<EOF
FEATURESTORE_TEST_S3_ENDPOINT=$ENDPOINT
FEATURESTORE_TEST_S3_ACCESS_KEY=$ACCESS_KEY
FEATURESTORE_TEST_S3_SECRET_KEY=$SECRET_KEY
FEATURESTORE_TEST_S3_BUCKET=$BUCKET
FEATURESTORE_TEST_S3_REGION=$REGION
FEATURESTORE_TEST_S3_MANAGED=$1
EOF
}

make_bucket() {
  local out
  out="$(s3_call bucket 2>&1)" || {
    say "the S3 API at $ENDPOINT answers, but bucket $BUCKET cannot be created or written:"
    echo "$out" | tail -3 >&2
    exit 1
  }
}

ensure() {
  local managed=0
  install_moto   # boto3 makes the bucket whichever server answers
  if is_local && running; then
    managed=1
  elif ! answers; then
    if ! is_local; then
      say "no S3 API answers at $ENDPOINT with these keys (check S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY)"
      exit 1
    fi
    start
    managed=1
  fi
  make_bucket
  write_env "$managed"
  if [[ "$managed" == 1 ]]; then
    say "project server (moto, pid $(cat "$PIDFILE")) at $ENDPOINT, bucket $BUCKET"
  else
    say "using the S3 API at $ENDPOINT, bucket $BUCKET"
  fi
}

case "${1:-ensure}" in
  ensure) ensure ;;
  start) install_moto; start ;;
  stop) stop ;;
  status) if running; then echo "running (pid $(cat "$PIDFILE")) at $ENDPOINT"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: $0 ensure|start|stop|status" >&2; exit 2 ;;
esac
