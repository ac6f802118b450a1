#!/usr/bin/env bash
# Start or stop the local Kafka-protocol broker (tansu, sqlite storage).
#   broker.sh start | stop | status
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DIR="$CISP_STACK_DIR/broker"
PID="$DIR/broker.pid"
LOG="$DIR/broker.log"

AUTH="$DIR/authentication"   # present while a broker started with SASL/SCRAM runs
LOG_MARK="$DIR/log-start"    # size of the log when the running broker started

# tansu 0.6.0's sqlite storage runs in one task; when that task panics
# (seen under load: "more or less than one row" in its idempotent-producer
# check) the process keeps its port open but answers every request,
# authentication included, with an error. Such a broker is restarted.
wedged() {
  [[ -f "$LOG_MARK" && -f "$LOG" ]] || return 1
  # grep reads to the end (no -q): an early exit would fail the pipe (pipefail).
  [[ "$(tail -c +"$(( $(cat "$LOG_MARK") + 1 ))" "$LOG" | grep -c "panicked at")" -gt 0 ]]
}

start() {
  if pid_alive "$PID"; then
    port_open "$CISP_KAFKA_PORT" || die "broker process $(cat "$PID") is alive but port $CISP_KAFKA_PORT is closed; see $LOG"
    if wedged; then
      log "broker: its storage task panicked (tansu bug; see $LOG); restarting it"
      stop
    elif [[ -f "$AUTH" ]]; then
      log "broker: already running on $CISP_BROKER with SASL/SCRAM (pid $(cat "$PID"))"
      return 0
    else
      log "broker: running without authentication (started by an older version of this script); restarting it"
      stop
    fi
  fi
  [[ -x "$TANSU_BIN" ]] || bash "$CISP_ROOT/scripts/stack/install-broker.sh"
  if port_open "$CISP_KAFKA_PORT"; then
    # Another checkout on this machine (e.g. CI's clone) started it; tests
    # isolate themselves by topic prefix, so sharing it is safe. Its users
    # come from the same per-user credentials folder.
    log "broker: a broker already listens on $CISP_BROKER (not started from this checkout); using it"
    return 0
  fi
  mkdir -p "$DIR"
  ensure_credentials

  # Users are created through the Kafka protocol, which a broker that
  # requires authentication refuses to anyone without a user yet. So:
  # set every user's password on a setup broker that listens on a private
  # port with authentication off, stop it, then serve with it on.
  local setup_port=$((CISP_KAFKA_PORT + 1000)) setup_pid="$DIR/setup.pid" user
  port_open "$setup_port" && die "port $setup_port (broker setup) is in use"
  rm -f "$PID" "$setup_pid" "$AUTH"
  log "broker: setting the passwords of $(ls "$CISP_CREDENTIALS_DIR" | wc -l) users"
  (cd "$DIR" && spawn_detached "$setup_pid" "$LOG" "$TANSU_BIN" broker \
    --listener-url "tcp://127.0.0.1:$setup_port" \
    --advertised-listener-url "tcp://127.0.0.1:$setup_port" \
    --storage-engine "sqlite://tansu.db")
  wait_for "port_open $setup_port || ! pid_alive $setup_pid" 30 || true
  port_open "$setup_port" || { tail -20 "$LOG" >&2; die "setup broker did not start; log: $LOG"; }
  for user in $(ls "$CISP_CREDENTIALS_DIR"); do
    # Creating an existing user sets its password (idempotent).
    "$TANSU_BIN" user create "$user" "$(cat "$CISP_CREDENTIALS_DIR/$user")" \
      --mechanism scram512 --broker "tcp://127.0.0.1:$setup_port" >>"$LOG" 2>&1 \
      || { stop_pidfile "broker (setup)" "$setup_pid" 15; die "cannot set the broker password of $user; log: $LOG"; }
  done
  stop_pidfile "broker (setup)" "$setup_pid" 15

  log "broker: starting tansu on $CISP_BROKER with SASL/SCRAM-SHA-512 (data in $DIR)"
  stat -c %s "$LOG" >"$LOG_MARK" 2>/dev/null || echo 0 >"$LOG_MARK"
  # setsid: the broker outlives this script and the make target that ran it.
  # tansu reads the sqlite URL's path relative to its working directory.
  (cd "$DIR" && spawn_detached "$PID" "$LOG" "$TANSU_BIN" broker \
    --listener-url "tcp://$CISP_BROKER" \
    --advertised-listener-url "tcp://$CISP_BROKER" \
    --storage-engine "sqlite://tansu.db" \
    --authentication)
  wait_for "port_open $CISP_KAFKA_PORT || ! pid_alive $PID" 30 || true
  if ! port_open "$CISP_KAFKA_PORT"; then
    tail -20 "$LOG" >&2 || true
    die "broker did not open port $CISP_KAFKA_PORT within 30 s; log: $LOG"
  fi
  echo "SCRAM-SHA-512" >"$AUTH"
  log "broker: up"
}

stop() {
  stop_pidfile broker "$PID" 15
  rm -f "$AUTH"
}

status() {
  if pid_alive "$PID" && wedged; then
    echo "broker: wedged (its storage task panicked; make stack-up restarts it)"
    return 1
  elif pid_alive "$PID" && port_open "$CISP_KAFKA_PORT"; then
    echo "broker: running on $CISP_BROKER (pid $(cat "$PID"), $(cat "$AUTH" 2>/dev/null || echo 'no authentication'))"
  else
    echo "broker: stopped"
    return 1
  fi
}

"${1:-status}"
