#!/usr/bin/env bash
# `make report QUARTER=2026Q3 AUDIENCE=community`: render the quarterly
# threat-trend report from the local ClickHouse into reports/.
source "$(dirname "${BASH_SOURCE[0]}")/stack/common.sh"
BIN="${CISP_BIN_DIR:-$CISP_ROOT/target/debug}"
export CISP_CONFIG="${CISP_CONFIG:-$CISP_ROOT/config/fusion.toml}"
"$BIN/cisp-report" --quarter "${1:-latest}" --audience "${2:-community}" --out "$CISP_ROOT/reports"
