//! The breakdown sections (Q3–Q8): submissions by sector (suppressed below
//! k contributing members), by kind and by observable type, the weekly
//! series, and the top actors claimed, malware and techniques.

use std::collections::{BTreeSet, HashMap};

use clickhouse::Row;
use serde::Deserialize;

use super::query::{grouped, Ctx, GroupCounts, Scope};
use super::{Breakdown, Change, LabelRow, WeekRow, TOP};
use crate::period::{iso_date, Quarter};

#[derive(Row, Deserialize)]
struct LabelCounts {
    facet: String,
    label: String,
    current: u64,
    members: u64,
    previous: u64,
}

#[derive(Row, Deserialize)]
struct Week {
    week: u16,
    kind: String,
    submissions: u64,
}

/// What the breakdown queries return.
pub(super) struct Rows {
    sectors: Vec<GroupCounts>,
    kinds: Vec<GroupCounts>,
    types: Vec<GroupCounts>,
    type_members: Vec<GroupCounts>,
    weeks: Vec<Week>,
    labels: Vec<LabelCounts>,
}

pub(super) async fn fetch(ctx: &mut Ctx<'_>, sc: &Scope) -> anyhow::Result<Rows> {
    let (period, window) = (&sc.period, &sc.window);
    let (s, e, a) = (&sc.s, &sc.e, &sc.a);
    Ok(Rows {
        sectors: ctx
            .fetch(
                "Q3",
                "submissions and contributing members by the submitter's sector",
                format!(
                    "SELECT {period} AS period, sector AS label, uniqExactMerge(submissions) AS a, uniqExactMerge(members) AS b \
                     FROM submissions_daily_current WHERE {window} GROUP BY period, label ORDER BY label, period"
                ),
            )
            .await?,
        kinds: ctx
            .fetch(
                "Q4",
                "submissions and contributing members by kind",
                format!(
                    "SELECT {period} AS period, kind AS label, uniqExactMerge(submissions) AS a, uniqExactMerge(members) AS b \
                     FROM submissions_daily_current WHERE {window} GROUP BY period, label ORDER BY label, period"
                ),
            )
            .await?,
        types: ctx
            .fetch(
                "Q5",
                "distinct observables and sightings by observable type",
                format!(
                    "SELECT {period} AS period, obs_type AS label, uniqExactMerge(observables) AS a, uniqExactMerge(sightings) AS b \
                     FROM trend_daily_current WHERE {window} GROUP BY period, label ORDER BY label, period"
                ),
            )
            .await?,
        type_members: ctx
            .fetch(
                "Q6",
                "contributing members by observable type",
                format!(
                    "SELECT {period} AS period, obs_type AS label, uniqExactMerge(members) AS a, toUInt64(0) AS b \
                     FROM trend_daily_current WHERE {window} GROUP BY period, label ORDER BY label, period"
                ),
            )
            .await?,
        weeks: ctx
            .fetch(
                "Q7",
                "submissions per week (weeks start on Monday) by kind, this quarter",
                format!(
                    "SELECT toMonday(day) AS week, kind, uniqExactMerge(submissions) AS submissions \
                     FROM submissions_daily_current WHERE day >= {s} AND day < {e} AND {a} GROUP BY week, kind ORDER BY week, kind"
                ),
            )
            .await?,
        labels: ctx
            .fetch(
                "Q8",
                "actors claimed, malware families and ATT&CK techniques named in submissions (top 10 of each)",
                format!(
                    "SELECT facet, label, uniqExactMergeIf(submissions, day >= {s}) AS current, \
                     uniqExactMergeIf(members, day >= {s}) AS members, uniqExactMergeIf(submissions, day < {s}) AS previous \
                     FROM labels_daily_current WHERE {window} GROUP BY facet, label HAVING current > 0 \
                     ORDER BY facet, current DESC, label LIMIT {TOP} BY facet"
                ),
            )
            .await?,
    })
}

/// Largest this quarter first, then by label.
fn rank(rows: &mut [Breakdown]) {
    rows.sort_by(|x, y| {
        y.value
            .current
            .cmp(&x.value.current)
            .then(x.label.cmp(&y.label))
    });
}

/// The sector table. Sectors below `k` contributing members are
/// suppressed, in this quarter and the previous one alike.
pub(super) struct Sectors {
    pub(super) rows: Vec<Breakdown>,
    /// Sectors with submissions this quarter that are not shown.
    pub(super) suppressed: usize,
    /// Sectors that may be named this quarter.
    pub(super) shown: BTreeSet<String>,
}

impl Rows {
    pub(super) fn by_sector(&self, k: u64) -> Sectors {
        let mut out = Sectors {
            rows: Vec::new(),
            suppressed: 0,
            shown: BTreeSet::new(),
        };
        for (label, cur, prev) in grouped(&self.sectors) {
            let cur_ok = cur.map_or(0, |r| r.b) >= k;
            let prev_ok = prev.map_or(0, |r| r.b) >= k;
            if cur.is_some() && !cur_ok {
                out.suppressed += 1;
            }
            if !cur_ok && !prev_ok {
                continue;
            }
            if cur_ok {
                out.shown.insert(label.clone());
            }
            out.rows.push(Breakdown {
                label,
                value: Change::new(
                    if cur_ok { cur.map_or(0, |r| r.a) } else { 0 },
                    if prev_ok { prev.map_or(0, |r| r.a) } else { 0 },
                ),
                members: if cur_ok { cur.map_or(0, |r| r.b) } else { 0 },
                sightings: None,
            });
        }
        rank(&mut out.rows);
        out
    }

    pub(super) fn by_kind(&self) -> Vec<Breakdown> {
        let mut rows: Vec<Breakdown> = grouped(&self.kinds)
            .into_iter()
            .map(|(label, cur, prev)| Breakdown {
                label,
                value: Change::new(cur.map_or(0, |r| r.a), prev.map_or(0, |r| r.a)),
                members: cur.map_or(0, |r| r.b),
                sightings: None,
            })
            .collect();
        rank(&mut rows);
        rows
    }

    pub(super) fn by_type(&self) -> Vec<Breakdown> {
        let type_member: HashMap<&str, u64> = self
            .type_members
            .iter()
            .filter(|r| r.period == "current")
            .map(|r| (r.label.as_str(), r.a))
            .collect();
        let mut rows: Vec<Breakdown> = grouped(&self.types)
            .into_iter()
            .map(|(label, cur, prev)| Breakdown {
                members: type_member.get(label.as_str()).copied().unwrap_or(0),
                value: Change::new(cur.map_or(0, |r| r.a), prev.map_or(0, |r| r.a)),
                sightings: Some(cur.map_or(0, |r| r.b)),
                label,
            })
            .collect();
        rank(&mut rows);
        rows
    }

    /// The top rows of one facet of Q8 (`actor`, `malware`, `technique`).
    pub(super) fn top(&self, facet: &str) -> Vec<LabelRow> {
        self.labels
            .iter()
            .filter(|l| l.facet == facet)
            .map(|l| LabelRow {
                label: l.label.clone(),
                submissions: Change::new(l.current, l.previous),
                members: l.members,
            })
            .collect()
    }

    pub(super) fn weekly(self) -> Vec<WeekRow> {
        self.weeks
            .into_iter()
            .map(|w| WeekRow {
                week: iso_date(i64::from(w.week)),
                kind: w.kind,
                submissions: w.submissions,
            })
            .collect()
    }
}

/// Every week (its Monday) quarter `q` touches.
pub(super) fn weeks_of(q: Quarter) -> Vec<String> {
    let mut monday = q.start() - (q.start() + 3).rem_euclid(7);
    let mut all = Vec::new();
    while monday < q.end() {
        all.push(iso_date(monday));
        monday += 7;
    }
    all
}
