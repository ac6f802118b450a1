#!/usr/bin/env bash
# Start or stop the local Apache Kafka broker: one KRaft node (broker and
# controller combined) on 127.0.0.1, SASL/SCRAM-SHA-512 for every client,
# ACLs enforced (config/kafka/broker.properties holds the settings the
# compose deployment shares).
#   broker.sh start | stop | status
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DIR="$CISP_STACK_DIR/broker"
PID="$DIR/broker.pid"
LOGDIR="$DIR/log"
LOG="$LOGDIR/server.log"
STDOUT="$LOGDIR/stdout.log"
DATA="$DIR/data"
PROPS="$DIR/server.properties"
CONTROLLER_SECRET="$DIR/controller.secret"   # the controller listener's PLAIN password
ADMIN_FINGERPRINT="$DIR/admin.sha256"        # which admin password the data was formatted with
ADMIN_PASSWORD_FILE="$CISP_CREDENTIALS_DIR/$CISP_KAFKA_ADMIN_USER"

admin() { bash "$CISP_ROOT/scripts/stack/kafka-admin.sh" "$@"; }
# Answers as a Kafka cluster to our administrator?
answers() { admin ping >/dev/null 2>&1; }

# The broker's configuration: the shared settings plus this machine's
# listeners, data folder and the two login lines (mode 600: passwords).
write_properties() {
  local admin_pw controller_pw
  admin_pw="$(cat "$ADMIN_PASSWORD_FILE")"
  controller_pw="$(cat "$CONTROLLER_SECRET")"
  (umask 077 && {
    echo "# Written by scripts/stack/broker.sh at each start; edit config/kafka/broker.properties instead."
    cat "$CISP_ROOT/config/kafka/broker.properties"
    echo
    echo "# Local stack: loopback only."
    echo "listeners=CLIENT://$CISP_BROKER,CONTROLLER://127.0.0.1:$CISP_KAFKA_CONTROLLER_PORT"
    echo "advertised.listeners=CLIENT://$CISP_BROKER"
    echo "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    echo "controller.quorum.voters=1@127.0.0.1:$CISP_KAFKA_CONTROLLER_PORT"
    echo "log.dirs=$DATA"
    echo "listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$CISP_KAFKA_ADMIN_USER\" password=\"$admin_pw\";"
    echo "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"cisp-controller\" password=\"$controller_pw\" user_cisp-controller=\"$controller_pw\";"
  } >"$PROPS")
}

kafka_java() {
  java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$CISP_ROOT/scripts/stack/kafka/log4j2-tools.properties" "$@"
}

# Format the data folder once, with the administrator's SCRAM credential in
# the first metadata records (the broker logs in to itself with it; every
# other user is added later through the Admin API).
format_once() {
  local fingerprint
  fingerprint="$(sha256sum "$ADMIN_PASSWORD_FILE" | cut -c1-64)"
  if [[ -f "$DATA/meta.properties" ]]; then
    if [[ -f "$ADMIN_FINGERPRINT" && "$(cat "$ADMIN_FINGERPRINT")" != "$fingerprint" ]]; then
      die "the broker data in $DATA was formatted with another $CISP_KAFKA_ADMIN_USER password than $ADMIN_PASSWORD_FILE holds now; restore that file or start afresh with: make clean-stack"
    fi
    return 0
  fi
  local cluster_id
  cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  [[ -n "$cluster_id" ]] || die "kafka-storage random-uuid printed nothing (is $KAFKA_LIBS complete?)"
  log "broker: formatting $DATA (cluster $cluster_id)"
  kafka_java kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" -c "$PROPS" \
    --add-scram "SCRAM-SHA-512=[name=$CISP_KAFKA_ADMIN_USER,password=$(cat "$ADMIN_PASSWORD_FILE")]" \
    >>"$STDOUT" 2>&1 || { tail -20 "$STDOUT" >&2; die "formatting the broker storage failed; log: $STDOUT"; }
  echo "$fingerprint" >"$ADMIN_FINGERPRINT"
}

start() {
  bash "$CISP_ROOT/scripts/stack/install-broker.sh"
  ensure_credentials
  if pid_alive "$PID"; then
    if wait_for "answers" 60; then
      log "broker: already running on $CISP_BROKER (pid $(cat "$PID"), Apache Kafka $KAFKA_VERSION)"
      ensure_users
      return 0
    fi
    log "broker: process $(cat "$PID") does not answer as a Kafka broker within 60 s; restarting it (log: $LOG)"
    stop
  fi
  if port_open "$CISP_KAFKA_PORT"; then
    # Another checkout on this machine (e.g. CI's clone) started it; its
    # users come from the same per-user credentials folder, and tests
    # isolate themselves by topic prefix, so sharing it is safe.
    if answers; then
      log "broker: a Kafka broker already answers on $CISP_BROKER to $CISP_KAFKA_ADMIN_USER (not started from this checkout); using it"
      ensure_users
      return 0
    fi
    die "port $CISP_KAFKA_PORT is taken by another program that is not a broker our administrator can log in to; stop it, or choose other ports with CISP_KAFKA_PORT and CISP_KAFKA_CONTROLLER_PORT"
  fi
  port_open "$CISP_KAFKA_CONTROLLER_PORT" \
    && die "port $CISP_KAFKA_CONTROLLER_PORT (broker controller) is taken by another program; stop it or set CISP_KAFKA_CONTROLLER_PORT"

  mkdir -p "$DIR" "$LOGDIR" "$DATA"
  [[ -s "$CONTROLLER_SECRET" ]] || (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$CONTROLLER_SECRET")
  write_properties
  format_once

  log "broker: starting Apache Kafka $KAFKA_VERSION on $CISP_BROKER (heap $CISP_KAFKA_HEAP, data in $DATA)"
  rm -f "$PID"
  # setsid: the broker outlives this script and the make target that ran it.
  spawn_detached "$PID" "$STDOUT" java \
    -Xms"$CISP_KAFKA_HEAP" -Xmx"$CISP_KAFKA_HEAP" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dcisp.kafka.log.dir="$LOGDIR" \
    -Dlog4j2.configurationFile="$CISP_ROOT/scripts/stack/kafka/log4j2.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$PROPS"
  # A fresh broker opens its port in seconds; one with thousands of
  # partition folders (a developer's stack after many test runs) loads
  # them first and can take minutes. A dead broker ends the wait at once.
  local start_wait="${CISP_KAFKA_START_SECONDS:-300}"
  wait_for "port_open $CISP_KAFKA_PORT || ! pid_alive $PID" "$start_wait" || true
  if ! port_open "$CISP_KAFKA_PORT"; then
    tail -20 "$STDOUT" "$LOG" >&2 2>/dev/null || true
    die "broker did not open port $CISP_KAFKA_PORT within $start_wait s (CISP_KAFKA_START_SECONDS); logs: $LOG, $STDOUT"
  fi
  if ! wait_for "answers" 60; then
    tail -20 "$LOG" >&2 || true
    die "broker listens on $CISP_KAFKA_PORT but does not answer $CISP_KAFKA_ADMIN_USER; log: $LOG"
  fi
  ensure_users
  log "broker: up (pid $(cat "$PID"))"
}

# Every SCRAM user of the registry exists (created through the Admin API;
# an existing user keeps its credential).
ensure_users() {
  local out
  out="$(for u in $(broker_users); do echo "user $u"; done | admin apply)" \
    || die "cannot create the broker users"
  log "broker: $out"
}

stop() {
  stop_pidfile broker "$PID" 60
}

status() {
  if pid_alive "$PID" && port_open "$CISP_KAFKA_PORT"; then
    local rss
    rss="$(ps -o rss= -p "$(cat "$PID")" 2>/dev/null | awk '{printf "%.0f MiB", $1/1024}')"
    echo "broker: running on $CISP_BROKER (pid $(cat "$PID"), Apache Kafka $KAFKA_VERSION, SASL/SCRAM-SHA-512, ACLs, resident $rss)"
  else
    echo "broker: stopped"
    return 1
  fi
}

"${1:-status}"
