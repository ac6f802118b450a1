#!/usr/bin/env bash
# Give the local broker what a fusion configuration needs: its SCRAM
# users, topics (with the record-size limit) and ACLs, derived from the
# registry by `cisp-fusion acls --format plan` and applied by the admin
# tool as cisp-admin. Idempotent.
#   provision.sh [CONFIG]        (default: config/fusion.toml)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
config="${1:-$CISP_ROOT/config/fusion.toml}"
bin="$CISP_ROOT/target/debug/cisp-fusion"
# Built (or found up to date) first: the rules live in its code.
(cd "$CISP_ROOT" && cargo build -q -p cisp-fusion --bin cisp-fusion) || die "cannot build cisp-fusion"
ensure_api_token   # the config names it; loading the config reads it
plan="$("$bin" --config "$config" acls --format plan)" || die "cisp-fusion could not derive the ACLs from $config"
out="$(printf '%s\n' "$plan" | bash "$CISP_ROOT/scripts/stack/kafka-admin.sh" apply)" \
  || die "applying the users, topics and ACLs of $config failed"
log "provision: $config: $out"
