//! The alert section (Q11, Q12): alerts sent by kind and severity, and the
//! notable ones. Only alerts built entirely from submissions the reader
//! may see count, each in the quarter of the submission that triggered it.

use std::collections::{BTreeMap, HashMap};

use clickhouse::Row;
use serde::Deserialize;

use super::campaigns::Merges;
use super::query::{Ctx, Scope};
use super::{AlertCount, Change, NotableAlert, TOP};
use crate::audience::{Audience, Reader};
use crate::period::iso_date;

#[derive(Row, Deserialize)]
struct AlertRow {
    period: String,
    kind: String,
    severity: String,
    alerts: u64,
    recipients: u64,
}

#[derive(Row, Deserialize)]
struct Notable {
    created_at: u32,
    kind: String,
    severity: String,
    tlp: String,
    campaign_id: String,
    summary: String,
}

pub(super) struct Rows {
    counts: Vec<AlertRow>,
    notable: Vec<Notable>,
}

pub(super) async fn fetch(ctx: &mut Ctx<'_>, sc: &Scope, reader: &Reader) -> anyhow::Result<Rows> {
    let (a, live) = (&sc.a, &sc.live);
    let visible_keys = format!(
        "SELECT concat(member_id, '/', submission_id) FROM submissions WHERE {a} AND {live}"
    );
    let tlps = reader
        .tlps()
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let eligible = match reader.audience {
        Audience::Community => format!(
            "alert_id IN (SELECT alert_id FROM alerts ARRAY JOIN provenance AS p GROUP BY alert_id \
             HAVING min(p IN ({visible_keys})) = 1) AND tlp IN ({tlps})"
        ),
        Audience::FusionCell => format!("tlp IN ({tlps})"),
    };
    let keys_between = |from: &str, to: &str| {
        format!(
            "SELECT concat(member_id, '/', submission_id) FROM submissions \
             WHERE submitted_at >= {from} AND submitted_at < {to} AND {live}"
        )
    };
    Ok(Rows {
        counts: ctx
            .fetch(
                "Q11",
                "alerts sent (distinct recipient × alert) by kind and severity, by the quarter of their triggering submission",
                format!(
                    "SELECT if(key IN ({cur}), 'current', 'previous') AS period, kind, severity, \
                     uniqExact(recipient, alert_id) AS alerts, uniqExact(recipient) AS recipients \
                     FROM (SELECT concat(trigger_member, '/', trigger_submission) AS key, kind, severity, recipient, alert_id \
                     FROM alerts WHERE {eligible}) WHERE key IN ({both}) \
                     GROUP BY period, kind, severity ORDER BY kind, severity, period",
                    cur = keys_between(&sc.st, &sc.et),
                    both = keys_between(&sc.pt, &sc.et),
                ),
            )
            .await?,
        notable: ctx
            .fetch(
                "Q12",
                "notable alerts this quarter: most severe first, one per kind and campaign",
                format!(
                    "SELECT created_at, kind, severity, tlp, campaign_id, summary FROM alerts \
                     WHERE {eligible} AND concat(trigger_member, '/', trigger_submission) IN ({cur}) \
                     ORDER BY indexOf(['critical', 'high', 'medium', 'low'], severity), created_at, alert_id \
                     LIMIT 1 BY kind, campaign_id LIMIT {TOP}",
                    cur = keys_between(&sc.st, &sc.et),
                ),
            )
            .await?,
    })
}

impl Rows {
    /// Alerts and recipients per kind and severity, both quarters.
    pub(super) fn counts(&self) -> Vec<AlertCount> {
        let mut by: BTreeMap<(String, String), (u64, u64, u64)> = BTreeMap::new();
        for r in &self.counts {
            let e = by.entry((r.kind.clone(), r.severity.clone())).or_default();
            if r.period == "current" {
                e.0 = r.alerts;
                e.2 = r.recipients;
            } else {
                e.1 = r.alerts;
            }
        }
        by.into_iter()
            .map(|((kind, severity), (cur, prev, recipients))| AlertCount {
                kind,
                severity,
                alerts: Change::new(cur, prev),
                recipients,
            })
            .collect()
    }

    /// The notable alerts, each naming its surviving campaign as the
    /// reader knows it: the Fusion Cell by id, the community by its label
    /// in the top-campaign table (or not at all).
    pub(super) fn notable(
        self,
        merges: &Merges<'_>,
        labels: &HashMap<String, String>,
        audience: Audience,
    ) -> Vec<NotableAlert> {
        self.notable
            .into_iter()
            .map(|n| {
                let root = merges.resolve(&n.campaign_id);
                NotableAlert {
                    created_at: iso_date(i64::from(n.created_at / 86_400)),
                    kind: n.kind,
                    severity: n.severity,
                    tlp: n.tlp,
                    campaign: match audience {
                        Audience::FusionCell => root,
                        Audience::Community => labels.get(&root).cloned().unwrap_or_default(),
                    },
                    summary: (audience == Audience::FusionCell).then_some(n.summary),
                }
            })
            .collect()
    }
}

/// All alerts of a table, this quarter against the previous one.
pub(super) fn total(counts: &[AlertCount]) -> Change {
    Change::new(
        counts.iter().map(|x| x.alerts.current).sum(),
        counts.iter().map(|x| x.alerts.previous).sum(),
    )
}
