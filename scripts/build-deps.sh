#!/usr/bin/env bash
# Install (once) the C libraries the Rust build links: OpenSSL's headers,
# for librdkafka's SASL/SCRAM and TLS (the local broker requires SCRAM;
# production brokers add TLS). Idempotent: does nothing when present.
source "$(dirname "${BASH_SOURCE[0]}")/stack/common.sh"

if command -v pkg-config >/dev/null && pkg-config --exists openssl; then
  exit 0
fi
log "build: installing Debian's libssl-dev and pkg-config (librdkafka's SCRAM and TLS)"
apt_install libssl-dev pkg-config
log "build: installed libssl-dev"
