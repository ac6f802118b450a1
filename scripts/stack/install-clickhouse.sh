#!/usr/bin/env bash
# Install Debian's ClickHouse server and client if they are missing.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null; then
  log "clickhouse: already installed ($(clickhouse-client --version 2>/dev/null | head -1))"
  exit 0
fi
command -v apt-get >/dev/null || die "clickhouse-server is missing and apt-get is not available; install ClickHouse yourself"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "installing clickhouse-server needs root (or sudo)"
  SUDO="sudo"
fi
log "clickhouse: installing Debian's clickhouse-server and clickhouse-client"
# The package's own service is not used: we run our own server under $CISP_STACK_DIR.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client curl >/dev/null 2>&1 \
  || { $SUDO apt-get update -qq >/dev/null 2>&1; \
       $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client curl >/dev/null; } \
  || die "apt-get could not install clickhouse-server"
log "clickhouse: installed"
