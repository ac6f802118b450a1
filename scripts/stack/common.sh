# Shared settings for the local stack scripts. Sourced, never run.
#
# Everything the stack writes lives under $CISP_STACK_DIR (default: .stack/ in
# the checkout); heavy, reusable installs (Apache Kafka's jars, the Maven
# repository they come from) live under $CISP_CACHE_DIR (default:
# ~/.cache/cisp-fusion) so every clone on this machine, CI's included,
# downloads them once.
set -euo pipefail

CISP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CISP_STACK_DIR="${CISP_STACK_DIR:-$CISP_ROOT/.stack}"
CISP_CACHE_DIR="${CISP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cisp-fusion}"

# Apache Kafka, from Maven Central: the version is the pom's (one truth).
KAFKA_POM="$CISP_ROOT/scripts/stack/kafka/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"
KAFKA_HOME="$CISP_CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_ADMIN_SRC="$CISP_ROOT/scripts/stack/kafka/CispKafkaAdmin.java"
# Compiled admin tool, keyed by its source so an edited tool recompiles.
KAFKA_ADMIN_CLASSES="$KAFKA_HOME/admin-$(sha256sum "$KAFKA_ADMIN_SRC" | cut -c1-12)"
# Heap of the local broker: Kafka serves from the page cache, so a small
# heap leaves the 2-core, shared machine to ClickHouse and the service.
# 512 MiB ran out (OutOfMemoryError) once a developer's stack held ~10 000
# partitions: every test run leaves its prefixed topics behind.
CISP_KAFKA_HEAP="${CISP_KAFKA_HEAP:-1g}"

CISP_KAFKA_PORT="${CISP_KAFKA_PORT:-19092}"
CISP_CH_HTTP_PORT="${CISP_CH_HTTP_PORT:-18123}"
CISP_CH_TCP_PORT="${CISP_CH_TCP_PORT:-19000}"
CISP_KAFKA_CONTROLLER_PORT="${CISP_KAFKA_CONTROLLER_PORT:-19093}"
CISP_BROKER="127.0.0.1:$CISP_KAFKA_PORT"

# The local broker requires SASL/SCRAM-SHA-512. One password file per
# broker user (the administrator cisp-admin, the fusion service, intake and
# every member of config/members.toml), generated once, mode 600, outside
# the checkout so every clone on this machine (CI's included) talks to
# whichever local broker is running.
CISP_CREDENTIALS_DIR="${CISP_CREDENTIALS_DIR:-$CISP_CACHE_DIR/broker-credentials}"
export CISP_KAFKA_SASL_PASSWORD_FILE="${CISP_KAFKA_SASL_PASSWORD_FILE:-$CISP_CREDENTIALS_DIR/cisp-fusion}"
export CISP_CREDENTIALS_DIR
CISP_CLICKHOUSE_URL="http://127.0.0.1:$CISP_CH_HTTP_PORT"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# Is a process with the pid in file $1 alive?
pid_alive() {
  [[ -f "$1" ]] || return 1
  local pid state
  pid="$(cat "$1")"
  kill -0 "$pid" 2>/dev/null || return 1
  # A killed process nobody has reaped yet (a zombie) is not alive.
  state="$(ps -o stat= -p "$pid" 2>/dev/null)"
  [[ -n "$state" && "$state" != Z* ]]
}

# Wait up to $2 seconds for command "$1" (a string, eval'd) to succeed.
wait_for() {
  local check="$1" secs="$2" i
  for ((i = 0; i < secs * 5; i++)); do
    if eval "$check" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Stop the process whose pid is in file $2 (named $1 in messages): TERM,
# wait up to $3 seconds, then KILL. Removes the pid file.
stop_pidfile() {
  local name="$1" pidfile="$2" secs="${3:-30}"
  if pid_alive "$pidfile"; then
    log "$name: stopping (pid $(cat "$pidfile"))"
    kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
    wait_for "! kill -0 $(cat "$pidfile")" "$secs" || { log "$name: still running after ${secs} s, killing"; kill -9 "$(cat "$pidfile")" 2>/dev/null || true; }
  fi
  rm -f "$pidfile"
}

# Run "$@" detached (own session, survives this script) with stdout/stderr
# appended to $2; the process itself writes its pid to $1 just before it
# execs the program, so the pid file names the server, not a wrapper.
spawn_detached() {
  local pidfile="$1" logfile="$2"
  shift 2
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null &
  wait_for "[[ -s '$pidfile' ]]" 10
}

member_ids() {
  sed -n 's/^id *= *"\([a-z0-9-]*\)".*/\1/p' "$CISP_ROOT/config/members.toml"
}

# Every SCRAM user of the local broker: the administrator (super user, also
# the broker's own login), the two services, every member.
CISP_KAFKA_ADMIN_USER="cisp-admin"
broker_users() {
  echo "$CISP_KAFKA_ADMIN_USER cisp-fusion cisp-intake $(member_ids)"
}

# Make sure every broker user has a password file (never overwrites one).
ensure_credentials() {
  (umask 077 && mkdir -p "$CISP_CREDENTIALS_DIR")
  local user file
  for user in $(broker_users); do
    file="$CISP_CREDENTIALS_DIR/$user"
    if [[ ! -s "$file" ]]; then
      (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$file")
      log "credentials: created a broker password for $user in $file"
    fi
  done
}

# The Fusion Cell query API's bearer token (local stack): created once,
# mode 600, next to the broker credentials; the service reads it through
# CISP_API_TOKEN_FILE.
export CISP_API_TOKEN_FILE="${CISP_API_TOKEN_FILE:-$CISP_CACHE_DIR/api-token}"
ensure_api_token() {
  if [[ ! -s "$CISP_API_TOKEN_FILE" ]]; then
    (umask 077 && mkdir -p "$(dirname "$CISP_API_TOKEN_FILE")" \
      && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$CISP_API_TOKEN_FILE")
    log "credentials: created the query API token in $CISP_API_TOKEN_FILE"
  fi
}

# Install Debian packages "$@" with apt-get (as root or through sudo),
# updating the package lists only if the first attempt fails.
apt_install() {
  command -v apt-get >/dev/null || die "$* missing and apt-get is not available; install them yourself"
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "installing $* needs root (or sudo)"
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null 2>&1; \
         $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } \
    || die "apt-get could not install $*"
}
