#!/usr/bin/env bash
# Start or stop the local Kafka-protocol broker (tansu, sqlite storage).
#   broker.sh start | stop | status
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DIR="$CISP_STACK_DIR/broker"
PID="$DIR/broker.pid"
LOG="$DIR/broker.log"

start() {
  if pid_alive "$PID"; then
    port_open "$CISP_KAFKA_PORT" || die "broker process $(cat "$PID") is alive but port $CISP_KAFKA_PORT is closed; see $LOG"
    log "broker: already running on $CISP_BROKER (pid $(cat "$PID"))"
    return 0
  fi
  [[ -x "$TANSU_BIN" ]] || bash "$CISP_ROOT/scripts/stack/install-broker.sh"
  if port_open "$CISP_KAFKA_PORT"; then
    # Another checkout on this machine (e.g. CI's clone) started it; tests
    # isolate themselves by topic prefix, so sharing it is safe.
    log "broker: a broker already listens on $CISP_BROKER (not started from this checkout); using it"
    return 0
  fi
  mkdir -p "$DIR"
  log "broker: starting tansu on $CISP_BROKER (data in $DIR)"
  # setsid: the broker outlives this script and the make target that ran it.
  # tansu reads the sqlite URL's path relative to its working directory.
  rm -f "$PID"
  (cd "$DIR" && spawn_detached "$PID" "$LOG" "$TANSU_BIN" broker \
    --listener-url "tcp://$CISP_BROKER" \
    --advertised-listener-url "tcp://$CISP_BROKER" \
    --storage-engine "sqlite://tansu.db")
  wait_for "port_open $CISP_KAFKA_PORT || ! pid_alive $PID" 30 || true
  if ! port_open "$CISP_KAFKA_PORT"; then
    tail -20 "$LOG" >&2 || true
    die "broker did not open port $CISP_KAFKA_PORT within 30 s; log: $LOG"
  fi
  log "broker: up"
}

stop() {
  stop_pidfile broker "$PID" 15
}

status() {
  if pid_alive "$PID" && port_open "$CISP_KAFKA_PORT"; then
    echo "broker: running on $CISP_BROKER (pid $(cat "$PID"))"
  else
    echo "broker: stopped"
    return 1
  fi
}

"${1:-status}"
