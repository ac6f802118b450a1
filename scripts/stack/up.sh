#!/usr/bin/env bash
# Install what is missing and start the local stack (idempotent).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$CISP_ROOT/scripts/stack/install-clickhouse.sh"
bash "$CISP_ROOT/scripts/stack/install-broker.sh"
bash "$CISP_ROOT/scripts/stack/broker.sh" start
bash "$CISP_ROOT/scripts/stack/clickhouse.sh" start
log "stack: broker $CISP_BROKER, clickhouse $CISP_CLICKHOUSE_URL, data in $CISP_STACK_DIR"
