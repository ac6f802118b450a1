#!/usr/bin/env bash
# Install (once) the C libraries the Rust build links: OpenSSL's headers,
# for librdkafka's SASL/SCRAM and TLS (the local broker requires SCRAM;
# production brokers add TLS). Idempotent: does nothing when present.
source "$(dirname "${BASH_SOURCE[0]}")/stack/common.sh"

if command -v pkg-config >/dev/null && pkg-config --exists openssl; then
  exit 0
fi
command -v apt-get >/dev/null || die "OpenSSL's development files are missing and apt-get is not available; install libssl-dev and pkg-config yourself"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "installing libssl-dev needs root (or sudo)"
  SUDO="sudo"
fi
log "build: installing Debian's libssl-dev and pkg-config (librdkafka's SCRAM and TLS)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >/dev/null 2>&1 \
  || { $SUDO apt-get update -qq >/dev/null 2>&1; \
       $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >/dev/null; } \
  || die "apt-get could not install libssl-dev"
log "build: installed libssl-dev"
