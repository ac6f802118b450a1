#!/usr/bin/env bash
# Start, stop or restart the fusion service in the background.
#   fusion.sh start | stop | restart | status
source "$(dirname "${BASH_SOURCE[0]}")/stack/common.sh"

BIN="${CISP_BIN_DIR:-$CISP_ROOT/target/debug}"
PID="$CISP_STACK_DIR/fusion.pid"
LOG="$CISP_STACK_DIR/fusion.log"
export CISP_CONFIG="${CISP_CONFIG:-$CISP_ROOT/config/fusion.toml}"

metrics_addr() {
  "$BIN/cisp-fusion" config --get metrics_addr
}

start() {
  [[ -x "$BIN/cisp-fusion" ]] || die "$BIN/cisp-fusion is not built; run make build"
  ensure_api_token
  if pid_alive "$PID"; then
    log "fusion: already running (pid $(cat "$PID"))"
    return 0
  fi
  mkdir -p "$CISP_STACK_DIR"
  local addr
  addr="$(metrics_addr)"
  if curl -fsS --max-time 2 "http://$addr/health" >/dev/null 2>&1; then
    die "something else already serves http://$addr (another cisp-fusion?); stop it or change metrics_addr"
  fi
  log "fusion: starting (log $LOG)"
  rm -f "$PID"
  spawn_detached "$PID" "$LOG" "$BIN/cisp-fusion" run
  wait_for "curl -fsS http://$addr/health || ! pid_alive $PID" 120 || true
  if ! curl -fsS "http://$addr/health" >/dev/null 2>&1; then
    tail -20 "$LOG" >&2
    die "fusion did not become healthy on $addr; log: $LOG"
  fi
  log "fusion: healthy on http://$addr (query API: curl -H \"Authorization: Bearer \$(cat $CISP_API_TOKEN_FILE)\" http://$addr/api/campaigns)"
}

stop() {
  # TERM lets the service finish and commit its current batch.
  stop_pidfile fusion "$PID" 60
}

restart() { stop; start; }

status() {
  if pid_alive "$PID"; then echo "fusion: running (pid $(cat "$PID"))"; else echo "fusion: stopped"; return 1; fi
}

"${1:-status}"
