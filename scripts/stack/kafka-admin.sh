#!/usr/bin/env bash
# Run the Kafka admin tool as the local broker's super user (cisp-admin):
#   kafka-admin.sh ping
#   kafka-admin.sh apply [--reset-passwords] < PLAN    (users, topics, ACLs)
#   kafka-admin.sh list-acls [PRINCIPAL]
# A plan for the registry comes from `cisp-fusion acls --format plan`;
# scripts/stack/provision.sh pipes one in. CISP_KAFKA_BOOTSTRAP overrides
# the broker address.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$CISP_ROOT/scripts/stack/install-broker.sh"
export CISP_KAFKA_BOOTSTRAP="${CISP_KAFKA_BOOTSTRAP:-$CISP_BROKER}"
export CISP_KAFKA_ADMIN_USER
export CISP_KAFKA_ADMIN_PASSWORD_FILE="$CISP_CREDENTIALS_DIR/$CISP_KAFKA_ADMIN_USER"
# A short-lived client: the quick JIT tier and a small heap start fastest.
exec java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dlog4j2.configurationFile="$CISP_ROOT/scripts/stack/kafka/log4j2-tools.properties" \
  -cp "$KAFKA_ADMIN_CLASSES:$KAFKA_LIBS/*" CispKafkaAdmin "$@"
