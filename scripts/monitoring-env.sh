#!/usr/bin/env bash
# Install (once) what the monitoring tests need and print where:
#   * prometheus and promtool (Debian's package, no recommends), to run the
#     real Prometheus against the fusion service and check config and rules;
#   * node packages @grafana/schema and typescript (pinned in
#     dashboards/check/package.json), in the per-user cache, to check the
#     dashboards against Grafana's dashboard schema.
# Prints the node folder (holding node_modules) on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/stack/common.sh"

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  log "monitoring: installing Debian's prometheus (for prometheus and promtool)"
  # Only our own instance is used (on a test port). On a machine run by
  # systemd the package also enables its own service on :9090.
  apt_install --no-install-recommends prometheus
fi

NODE_DIR="$CISP_CACHE_DIR/grafana-schema"
PKG="$CISP_ROOT/dashboards/check/package.json"
STAMP="$NODE_DIR/.package.json"
if [[ -x "$NODE_DIR/node_modules/.bin/tsc" ]] && cmp -s "$PKG" "$STAMP"; then
  echo "$NODE_DIR"
  exit 0
fi
command -v npm >/dev/null || apt_install nodejs npm
log "monitoring: installing @grafana/schema and typescript into $NODE_DIR"
mkdir -p "$NODE_DIR"
cp "$PKG" "$NODE_DIR/package.json"
(cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error >&2) \
  || die "npm install failed in $NODE_DIR"
cp "$PKG" "$STAMP"
echo "$NODE_DIR"
