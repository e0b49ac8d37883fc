#!/usr/bin/env bash
# A project-local Apache Kafka broker for the streaming tests and benchmarks: one node in KRaft mode
# (broker and controller in one JVM, no ZooKeeper), from Apache Kafka's JARs on Maven Central
# (conf/kafka/pom.xml, copied into $KAFKA_DIR/jars by `make kafka`), on 127.0.0.1 only, its data,
# log and pid in .cache/kafka/ (git-ignored).
#
#   conf/kafka/server.sh ensure   use the broker at $KAFKA_BOOTSTRAP if one answers; else start ours
#                                 there (formatting its data folder the first time); then write
#                                 .cache/kafka.env (FEATURESTORE_TEST_KAFKA_BOOTSTRAP)
#   conf/kafka/server.sh start | stop | status
#
# KAFKA_DIR and KAFKA_ENV_FILE move the state folder and the env file; JAVA names the java to run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${KAFKA_DIR:-$ROOT/.cache/kafka}"
JARS="${KAFKA_JARS:-$DIR/jars}"
HOST="${KAFKA_HOST:-127.0.0.1}"
PORT="${KAFKA_PORT:-9192}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9193}"
BOOTSTRAP="${KAFKA_BOOTSTRAP:-$HOST:$PORT}"
ENV_FILE="${KAFKA_ENV_FILE:-$ROOT/.cache/kafka.env}"
JAVA="${JAVA:-java}"
HEAP="${KAFKA_HEAP:--Xms256m -Xmx512m}"
PIDFILE="$DIR/broker.pid"
LOG="$DIR/broker.log"
CONF="$DIR/server.properties"

say() { echo "kafka: $*" >&2; }

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

answers() { (exec 3<>"/dev/tcp/${BOOTSTRAP%:*}/${BOOTSTRAP##*:}") 2>/dev/null; }

run_java() { "$JAVA" $HEAP -cp "$JARS/*" -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
  -Dkafka.logs.dir="$DIR/logs" "$@"; }

write_config() {
  mkdir -p "$DIR/data" "$DIR/logs"
  cat > "$CONF" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/data
num.partitions=2
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
CONF
  cat > "$DIR/log4j2.properties" <<'LOG4J'
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d %p %c{1}: %m%n
logger.kafka.name = kafka
logger.kafka.level = INFO
LOG4J
}

start() {
  if running; then say "broker running (pid $(cat "$PIDFILE")) at $BOOTSTRAP"; return 0; fi
  ls "$JARS"/kafka_2.13-*.jar >/dev/null 2>&1 || { say "no broker JARs in $JARS: run \`make kafka\`"; exit 1; }
  write_config
  if [[ ! -f "$DIR/data/meta.properties" ]]; then
    say "formatting the data folder $DIR/data (KRaft, standalone controller)"
    local id
    id="$(run_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    run_java kafka.tools.StorageTool format --standalone -t "$id" -c "$CONF" >>"$LOG" 2>&1 \
      || { say "formatting failed: see $LOG"; exit 1; }
  fi
  say "starting on $BOOTSTRAP"
  setsid nohup "$JAVA" $HEAP -cp "$JARS/*" -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
    -Dkafka.logs.dir="$DIR/logs" kafka.Kafka "$CONF" >>"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 120); do
    if answers; then say "broker running (pid $(cat "$PIDFILE")) at $BOOTSTRAP"; return 0; fi
    running || { say "the broker stopped at start: see $LOG and $DIR/logs/server.log"; tail -20 "$LOG" >&2; exit 1; }
    sleep 0.5
  done
  say "the broker did not answer on $BOOTSTRAP within 60 s: see $LOG"; exit 1
}

stop() {
  if running; then
    local pid; pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    say "stopped"
  fi
  rm -f "$PIDFILE"
}

ensure() {
  if answers; then
    say "broker answers at $BOOTSTRAP"
  else
    start
  fi
  mkdir -p "$(dirname "$ENV_FILE")"
  echo "FEATURESTORE_TEST_KAFKA_BOOTSTRAP=$BOOTSTRAP" > "$ENV_FILE"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  start) start ;;
  stop) stop ;;
  status) if running; then say "running (pid $(cat "$PIDFILE")) at $BOOTSTRAP"; else say "not running"; exit 1; fi ;;
  *) echo "usage: $0 ensure|start|stop|status" >&2; exit 2 ;;
esac
