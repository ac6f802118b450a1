#!/usr/bin/env bash
# Stop the fusion service and the local stack; data stays in $CISP_STACK_DIR.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$CISP_ROOT/scripts/fusion.sh" stop || true
bash "$CISP_ROOT/scripts/stack/broker.sh" stop
bash "$CISP_ROOT/scripts/stack/clickhouse.sh" stop
log "stack: stopped"
