#!/usr/bin/env bash
# Debian's kcat against the local broker, as a member (or any broker user),
# over SASL/SCRAM-SHA-512 with that user's own password:
#   scripts/kcat.sh MEMBER [kcat arguments...]
#   scripts/kcat.sh northbank -C -t cisp.alerts.northbank -G northbank.kcat -e
#   scripts/kcat.sh northbank -P -t cisp.submissions.northbank -k MY-ID submission.avro
#
# kcat needs librdkafka 2.6.1 or newer for SCRAM against Kafka 4.x: older
# versions compute the SCRAM client proof over a doubled nonce, which
# Kafka 4 (strict, as RFC 5802 asks) refuses as "invalid credentials".
# Debian 12 ships librdkafka 2.0.2, so Debian's kcat binary is run here on
# the librdkafka 2.x that PyPI's confluent-kafka wheel carries (the
# project's Python environment has it); with a new enough system
# librdkafka, kcat runs as installed.
source "$(dirname "${BASH_SOURCE[0]}")/stack/common.sh"

[[ $# -ge 1 ]] || die "usage: scripts/kcat.sh USER [kcat arguments...]  |  scripts/kcat.sh --install"
user="$1"
shift
command -v kcat >/dev/null || { log "kcat: installing Debian's kcat"; apt_install kcat; }

# "2.0.2" -> 2000002, to compare versions as numbers.
version_number() { awk -F. '{ printf "%d", $1 * 1000000 + $2 * 1000 + $3 }' <<<"$1"; }
system_version="$(kcat -V 2>/dev/null | sed -n 's/.*librdkafka \([0-9][0-9.]*\).*/\1/p' | head -1)"
if [[ -z "$system_version" || "$(version_number "$system_version")" -lt "$(version_number 2.6.1)" ]]; then
  python="$(bash "$CISP_ROOT/scripts/python-env.sh")"
  wheel_lib="$("$python" -c 'import confluent_kafka, glob, os; d = os.path.dirname(confluent_kafka.__file__) + ".libs"; print((glob.glob(d + "/librdkafka*.so*") or [""])[0])')"
  [[ -n "$wheel_lib" ]] || die "kcat's librdkafka $system_version cannot log in to Kafka 4 with SCRAM, and no newer librdkafka was found in $python's confluent-kafka"
  libdir="$CISP_CACHE_DIR/kcat-librdkafka"
  mkdir -p "$libdir"
  ln -sf "$wheel_lib" "$libdir/librdkafka.so.1"
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [[ "$user" == "--install" ]]; then
  log "kcat: $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*librdkafka \([0-9.]*\).*/kcat \1 on librdkafka \2/p')"
  exit 0
fi
password_file="$CISP_CREDENTIALS_DIR/$user"
[[ -s "$password_file" ]] || die "no broker password for $user in $CISP_CREDENTIALS_DIR (a member of config/members.toml? run make stack-up)"

# The password goes in a private properties file, not on the command line.
conf="$(umask 077 && mktemp)"
trap 'rm -f "$conf"' EXIT
{
  echo "bootstrap.servers=${CISP_KAFKA_BOOTSTRAP:-$CISP_BROKER}"
  echo "security.protocol=SASL_PLAINTEXT"
  echo "sasl.mechanisms=SCRAM-SHA-512"
  echo "sasl.username=$user"
  echo "sasl.password=$(cat "$password_file")"
} >"$conf"
kcat -F "$conf" "$@"
