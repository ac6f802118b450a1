#!/usr/bin/env bash
# Creates the secrets the compose deployment mounts, in docker/secrets/
# (mode 700; never commit it): a CA and the broker's TLS key and
# certificate, random passwords for the Kafka super user and controller listener, the fusion
# service and every member of config/members.toml, the ClickHouse password,
# Grafana's (admin, and its read-only ClickHouse user) and the id salt. Idempotent: existing files are kept.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/secrets}"
umask 077
mkdir -p "$out/users"

random() { head -c 32 /dev/urandom | base64 | tr -d '/+=\n'; }
keep() { [[ -s "$1" ]] || { random >"$1"; echo "created $1"; }; }

keep "$out/kafka_admin_password"        # the super user cisp-admin
keep "$out/kafka_controller_password"   # the controller listener (SASL/PLAIN, broker-internal)
keep "$out/clickhouse_password"
keep "$out/id_salt"
keep "$out/grafana_clickhouse_password"
keep "$out/grafana_admin_password"
for user in cisp-fusion cisp-intake $(sed -n 's/^id *= *"\([a-z0-9-]*\)".*/\1/p' "$here/../config/members.toml"); do
  keep "$out/users/$user"
done
cp "$out/users/cisp-fusion" "$out/cisp_fusion_password"
cp "$out/users/cisp-intake" "$out/cisp_intake_password"

if [[ ! -s "$out/ca.pem" ]]; then
  openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=CiSP Fusion local CA" \
    -keyout "$out/ca.key" -out "$out/ca.pem" 2>/dev/null
  openssl req -newkey rsa:3072 -nodes -subj "/CN=kafka" \
    -keyout "$out/kafka.key" -out "$out/kafka.csr" 2>/dev/null
  printf 'subjectAltName=DNS:kafka,DNS:localhost\n' >"$out/kafka.ext"
  openssl x509 -req -in "$out/kafka.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
    -days 825 -extfile "$out/kafka.ext" -out "$out/kafka.crt" 2>/dev/null
  cat "$out/kafka.crt" "$out/kafka.key" >"$out/kafka_keystore.pem"
  rm -f "$out/kafka.csr" "$out/kafka.ext"
  echo "created a CA and the broker certificate in $out (replace with your PKI's in production)"
fi
