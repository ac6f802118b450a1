#!/usr/bin/env bash
# Install the tansu Kafka-protocol broker into the per-user cache, once.
# The build takes ~17 minutes on 2 cores; later runs (and fresh clones on the
# same machine) find the binary and return at once.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ -x "$TANSU_BIN" ]]; then
  log "broker: tansu $TANSU_VERSION already installed at $TANSU_BIN"
  exit 0
fi
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup) first"
mkdir -p "$CISP_CACHE_DIR"
# Serialise concurrent installs from several clones.
exec 9>"$CISP_CACHE_DIR/.tansu-install.lock"
flock 9
if [[ -x "$TANSU_BIN" ]]; then exit 0; fi
log "broker: building tansu $TANSU_VERSION into $TANSU_ROOT (one-off, ~17 min on 2 cores)"
# A private target dir keeps the broker's build out of the workspace target/.
CARGO_TARGET_DIR="$CISP_CACHE_DIR/tansu-build" \
  cargo install tansu --version "$TANSU_VERSION" --locked --features libsql \
  --root "$TANSU_ROOT" >"$CISP_CACHE_DIR/tansu-build.log" 2>&1 \
  || { tail -30 "$CISP_CACHE_DIR/tansu-build.log" >&2; die "tansu build failed, full log: $CISP_CACHE_DIR/tansu-build.log"; }
rm -rf "$CISP_CACHE_DIR/tansu-build"
log "broker: installed $TANSU_BIN"
