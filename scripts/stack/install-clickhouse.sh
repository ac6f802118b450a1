#!/usr/bin/env bash
# Install Debian's ClickHouse server and client if they are missing.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null; then
  log "clickhouse: already installed ($(clickhouse-client --version 2>/dev/null | head -1))"
  exit 0
fi
log "clickhouse: installing Debian's clickhouse-server and clickhouse-client"
# The package's own service is not used: we run our own server under $CISP_STACK_DIR.
apt_install clickhouse-server clickhouse-client curl
log "clickhouse: installed"
