#!/usr/bin/env bash
# Install what is missing and start the local stack (idempotent): Apache
# Kafka with the users, topics and ACLs of config/fusion.toml, and ClickHouse.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$CISP_ROOT/scripts/stack/install-clickhouse.sh"
bash "$CISP_ROOT/scripts/stack/install-broker.sh"
bash "$CISP_ROOT/scripts/stack/broker.sh" start
bash "$CISP_ROOT/scripts/stack/clickhouse.sh" start
bash "$CISP_ROOT/scripts/stack/provision.sh"
log "stack: broker $CISP_BROKER (Apache Kafka $KAFKA_VERSION), clickhouse $CISP_CLICKHOUSE_URL, data in $CISP_STACK_DIR"
