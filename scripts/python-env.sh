#!/usr/bin/env bash
# Create (once) the Python virtualenv with fastavro and confluent-kafka used
# by the interop test, in the per-user cache; print its python path.
source "$(dirname "${BASH_SOURCE[0]}")/stack/common.sh"
VENV="$CISP_CACHE_DIR/venv"
REQ="$CISP_ROOT/tests/interop/requirements.txt"
STAMP="$VENV/.requirements"
if [[ -x "$VENV/bin/python" ]] && cmp -s "$REQ" "$STAMP"; then
  echo "$VENV/bin/python"
  exit 0
fi
command -v python3 >/dev/null || die "python3 is needed for the interop test"
log "python: creating $VENV (fastavro, confluent-kafka)"
python3 -m venv "$VENV" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >&2 || die "pip install failed"
cp "$REQ" "$STAMP"
echo "$VENV/bin/python"
