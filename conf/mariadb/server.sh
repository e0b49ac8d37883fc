#!/usr/bin/env bash
# A project-local MariaDB for the tests and benchmarks: data, socket and logs in .cache/mariadb/.
#
#   conf/mariadb/server.sh ensure   use the server at $MYSQL_HOST:$MYSQL_PORT if one answers with
#                                   $MYSQL_USER/$MYSQL_PASSWORD; else install mariadb-server if
#                                   needed, initialise .cache/mariadb/data, start it, create the user
#   conf/mariadb/server.sh start | stop | status
#
# MARIADB_DIR and MARIADB_ENV_FILE move the data folder and the env file (tests start servers of
# their own that way).
# `ensure` writes .cache/mysql.env (FEATURESTORE_MYSQL_* for the tests). The password is never
# printed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${MARIADB_DIR:-$ROOT/.cache/mariadb}"
SOCK="$DIR/mysqld.sock"
PIDFILE="$DIR/mysqld.pid"
HOST="${MYSQL_HOST:-127.0.0.1}"
PORT="${MYSQL_PORT:-3307}"
USER_NAME="${MYSQL_USER:-featurestore}"
PASSWORD="${MYSQL_PASSWORD:-featurestore-test}"
ENV_FILE="${MARIADB_ENV_FILE:-$ROOT/.cache/mysql.env}"
# the mariadb clients read MYSQL_HOST and MYSQL_TCP_PORT themselves: keep them on the socket
unset MYSQL_HOST MYSQL_TCP_PORT MYSQL_PWD

say() { echo "mariadb: $*" >&2; }

can_login() {   # a real login over TCP with the configured user
  command -v mariadb >/dev/null 2>&1 || return 1
  MYSQL_PWD="$PASSWORD" mariadb --no-defaults --connect-timeout=3 -h "$HOST" -P "$PORT" \
    -u "$USER_NAME" -e 'SELECT 1' >/dev/null 2>&1
}

is_local() { [[ "$HOST" == "127.0.0.1" || "$HOST" == "localhost" ]]; }

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

install_server() {
  command -v mariadbd >/dev/null 2>&1 && return 0
  say "installing mariadb-server (Debian package)"
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { say "mariadb-server is not installed and this user cannot install it: apt-get install mariadb-server, or point MYSQL_HOST/MYSQL_PORT at a running server"; exit 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null \
    || { say "could not install mariadb-server with apt-get"; exit 1; }
}

start() {
  if running; then return 0; fi
  mkdir -p "$DIR"
  if [[ ! -d "$DIR/data/mysql" ]]; then
    say "initialising $DIR/data"
    mariadb-install-db --no-defaults --datadir="$DIR/data" --user="$(id -un)" \
      --auth-root-authentication-method=normal >"$DIR/install.log" 2>&1 \
      || { tail -20 "$DIR/install.log" >&2; exit 1; }
  fi
  say "starting on $HOST:$PORT (socket $SOCK)"
  setsid mariadbd --no-defaults --datadir="$DIR/data" --socket="$SOCK" --port="$PORT" \
    --bind-address=127.0.0.1 --user="$(id -un)" --pid-file="$PIDFILE" \
    --log-error="$DIR/error.log" --skip-log-bin --local-infile=1 --max-connections=300 \
    --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=2 \
    --max-allowed-packet=64M </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 120); do
    if mariadb-admin --no-defaults --socket="$SOCK" -uroot ping >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  say "the server did not start; the end of $DIR/error.log:"
  tail -20 "$DIR/error.log" >&2 || true
  exit 1
}

create_user() {   # anonymous users would shadow 'user'@'%' from 127.0.0.1 (ENVIRONMENT.md)
  local pw="${PASSWORD//\'/\'\'}"
  mariadb --no-defaults --socket="$SOCK" -uroot <<SQL
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS '$USER_NAME'@'%' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$USER_NAME'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'%';
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'localhost';
FLUSH PRIVILEGES;
SQL
}

stop() {
  running || return 0
  local pid; pid="$(cat "$PIDFILE")"
  mariadb-admin --no-defaults --socket="$SOCK" -uroot shutdown >/dev/null 2>&1 || kill "$pid"
  for _ in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  say "the server (pid $pid) did not stop"; exit 1
}

write_env() {   # $1: 1 when this script manages the server
  local socket=""
  [[ "$1" == 1 ]] && socket="$SOCK"
  mkdir -p "$(dirname "$ENV_FILE")"
  umask 077
  cat >"$ENV_FILE" <<EOF
FEATURESTORE_MYSQL_HOST=$HOST
FEATURESTORE_MYSQL_PORT=$PORT
FEATURESTORE_MYSQL_USER=$USER_NAME
FEATURESTORE_MYSQL_PASSWORD=$PASSWORD
FEATURESTORE_MYSQL_UNIX_SOCKET=$socket
FEATURESTORE_TEST_MYSQL_MANAGED=$1
EOF
}

ensure() {
  if is_local && running; then
    can_login || create_user
    can_login || { say "the project server runs but $USER_NAME cannot log in over TCP on port $PORT"; exit 1; }
    write_env 1; say "project server running on $HOST:$PORT"; return 0
  fi
  if can_login; then
    write_env 0; say "using the server at $HOST:$PORT"; return 0
  fi
  if ! is_local; then
    say "no server answers at $HOST:$PORT for user $USER_NAME (check MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD)"
    exit 1
  fi
  install_server
  start
  can_login || create_user
  can_login || { say "the server runs but $USER_NAME cannot log in over TCP on port $PORT"; exit 1; }
  write_env 1
  say "project server running on $HOST:$PORT"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  start) install_server; start ;;
  stop) stop ;;
  status) if running; then echo "running (pid $(cat "$PIDFILE"))"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: $0 ensure|start|stop|status" >&2; exit 2 ;;
esac
