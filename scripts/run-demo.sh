#!/usr/bin/env bash
# `make run`: (re)start the fusion service on the local stack, publish the
# demo scenario, show what each member received, and say how to stop.
source "$(dirname "${BASH_SOURCE[0]}")/stack/common.sh"

BIN="${CISP_BIN_DIR:-$CISP_ROOT/target/debug}"
PID="$CISP_STACK_DIR/fusion.pid"
LOG="$CISP_STACK_DIR/fusion.log"
export CISP_CONFIG="${CISP_CONFIG:-$CISP_ROOT/config/fusion.toml}"
ensure_api_token
METRICS="$("$BIN/cisp-fusion" config --get metrics_addr)"
[[ -n "$METRICS" ]] || die "cannot read metrics_addr from $CISP_CONFIG"

bash "$CISP_ROOT/scripts/fusion.sh" restart

# A failed check (or a failed publish) is this run's verdict, but the rest
# of the tour still runs: common.sh's `set -e` must not end it here.
status=0
"$BIN/cisp-demo" --scenario "$CISP_ROOT/demo/scenario.json" run || status=$?

# Members talk back (issue 22): gridco withdraws a report, three members
# dispute a value; who was told what.
echo
echo "== Talking back: a withdrawal and a dispute (demo/collaboration.json) =="
"$BIN/cisp-demo" --scenario "$CISP_ROOT/demo/collaboration.json" run || status=$?

# The Fusion Cell's picture, from the query API: the largest campaign, why
# its submissions belong together, and its graph.
AUTH="Authorization: Bearer $(cat "$CISP_API_TOKEN_FILE")"
CAMPAIGN="$(curl -fsS -H "$AUTH" "http://$METRICS/api/campaigns?limit=1" \
  | sed -n 's/^ *"id": "\(C-[0-9a-f]*\)",$/\1/p' | head -1)"
if [[ -n "$CAMPAIGN" ]]; then
  echo
  echo "== Fusion Cell view of campaign $CAMPAIGN (query API) =="
  curl -fsS -H "$AUTH" "http://$METRICS/api/campaigns/$CAMPAIGN" \
    | python3 "$CISP_ROOT/scripts/show-campaign.py" \
    || echo "(query API not reachable)"
  echo "graph:     curl -H \"Authorization: Bearer \$(cat $CISP_API_TOKEN_FILE)\" http://$METRICS/api/campaigns/$CAMPAIGN/graph.dot | dot -Tsvg > campaign.svg"
fi

# The quarterly threat-trend report of the demo quarter (the quarter of the
# scenario's newest submission), for the community and for the Fusion Cell.
DEMO_QUARTER="$(python3 -c '
import json, sys, datetime
s = json.load(open(sys.argv[1]))
t = max(r["record"]["submitted_at"] for r in s["records"] if r.get("record"))
d = datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc)
print(f"{d.year}Q{(d.month - 1) // 3 + 1}")
' "$CISP_ROOT/demo/scenario.json")"
echo
echo "== Quarterly threat-trend report (cisp-report, from ClickHouse) =="
for audience in community fusion-cell; do
  "$BIN/cisp-report" --quarter "$DEMO_QUARTER" --audience "$audience" --out "$CISP_ROOT/reports" \
    || echo "(the $audience report could not be built)"
done

# Intake: members without a Kafka producer. smallbiz uploads a CSV of
# indicators, northbank forwards a phishing e-mail; both go through the
# cisp-intake CLI as the member's own broker user, are linked by the
# fusion service, and smallbiz's alerts come back as a STIX 2.1 bundle.
echo
echo "== Intake: a CSV from smallbiz, a phishing e-mail from northbank (cisp-intake) =="
"$BIN/cisp-intake" submit --member smallbiz --format csv --tlp green \
  "$CISP_ROOT/demo/intake/smallbiz-iocs.csv" || echo "(the CSV upload failed)"
"$BIN/cisp-intake" submit --member northbank --format eml --tlp green \
  "$CISP_ROOT/demo/intake/phish.eml" || echo "(the e-mail upload failed)"
mkdir -p "$CISP_ROOT/reports"
STIX="$CISP_ROOT/reports/smallbiz-alerts.stix.json"
for _ in $(seq 1 20); do
  "$BIN/cisp-intake" export-stix --member smallbiz --out "$STIX" 2>/dev/null || true
  grep -q "secure-payroll-check.example" "$STIX" 2>/dev/null && break
  sleep 1
done
if grep -q "secure-payroll-check.example" "$STIX" 2>/dev/null; then
  echo "smallbiz was told about northbank's phishing report; its alerts as STIX 2.1: $STIX"
else
  echo "(no alert for smallbiz yet; see $LOG)"
fi
# Feeds a member's firewall and IDS pull (the gateway serves the same at
# /v1/feeds/NAME): gridco's block list of addresses and its Suricata
# rules. The demo's reports are months old, so their scores have decayed
# below the default min_score 0.3: shown with --min-score 0.
echo
echo "== Feeds: gridco's address block list and Suricata rules (cisp-intake feed) =="
"$BIN/cisp-intake" feed --member gridco ip.txt --min-score 0 || echo "(the feed could not be built)"
"$BIN/cisp-intake" feed --member gridco suricata.rules --min-score 0 || echo "(the rules could not be built)"
echo "a firewall polls: curl -H \"Authorization: Bearer \$KEY\" -H \"If-None-Match: \$ETAG\" 'http://127.0.0.1:8088/v1/feeds/ip.txt?min_score=0.5'"

CAMPAIGNS_STIX="$CISP_ROOT/reports/fusion-cell-campaigns.stix.json"
"$BIN/cisp-intake" export-stix --member fusion-cell --campaigns --out "$CAMPAIGNS_STIX" 2>/dev/null \
  && echo "the Fusion Cell's campaigns, with attributions, as STIX 2.1: $CAMPAIGNS_STIX" \
  || echo "(the campaigns could not be exported)"


cat <<MSG

The fusion service keeps running (pid $(cat "$PID"), log $LOG):
  metrics   http://$METRICS/metrics
  health    http://$METRICS/health
  again     make run            (re-publishing is idempotent: the same submissions are duplicates)
  show      target/debug/cisp-demo show
  report    make report QUARTER=2025Q4 AUDIENCE=community   (reports/, open the .html)
  query API curl -H "Authorization: Bearer \$(cat $CISP_API_TOKEN_FILE)" http://$METRICS/api/campaigns
  intake    target/debug/cisp-intake submit --member northbank --format eml|stix|misp|csv|sample FILE [--dry-run]
  gateway   make intake-gateway   (HTTP uploads and TAXII 2.1; API key: target/debug/cisp-intake keys add --member ID)
Stop it:    make stop           (fusion only)
            make stack-down     (fusion, broker and ClickHouse; data kept in .stack/)
            make clean-stack    (stop everything and delete .stack/)
MSG
if [[ $status -ne 0 ]]; then
  echo "make run: the demo scenario's checks failed (exit $status); see the lines marked above and $LOG" >&2
fi
exit $status
