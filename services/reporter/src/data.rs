//! Everything the report says, read from ClickHouse. Each number comes from
//! one of the queries logged in [`Report::queries`] (the appendix); the
//! only computation here is folding campaigns along `merged_into`, ranking,
//! and the k-anonymity suppression of sectors.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context;
use cisp_model::Tlp;
use clickhouse::{Client, Row, RowOwned, RowRead};
use serde::{Deserialize, Serialize};

use crate::audience::{Audience, Reader};
use crate::period::{iso_date, Quarter};

/// Top-N lists hold this many rows.
pub const TOP: usize = 10;

/// One quarter against the previous one.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Change {
    pub current: u64,
    pub previous: u64,
    /// Percent change; `None` when the previous quarter had none.
    pub change_pct: Option<f64>,
}

impl Change {
    pub fn new(current: u64, previous: u64) -> Change {
        let change_pct = (previous > 0).then(|| {
            ((current as f64 - previous as f64) / previous as f64 * 1000.0).round() / 10.0
        });
        Change {
            current,
            previous,
            change_pct,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Headline {
    pub name: &'static str,
    pub value: Change,
    pub query: &'static str,
}

/// A row of a breakdown (by sector, kind, observable type).
#[derive(Clone, Debug, Serialize)]
pub struct Breakdown {
    pub label: String,
    /// Submissions (or observables, for the observable-type table).
    pub value: Change,
    /// Distinct contributing members this quarter.
    pub members: u64,
    /// Sightings, for observable types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sightings: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LabelRow {
    pub label: String,
    pub submissions: Change,
    pub members: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CampaignRow {
    /// `Campaign 1`, … in a community report; the Fusion Cell id otherwise.
    pub label: String,
    /// The Fusion Cell's campaign id (only in a Fusion Cell report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// The title of the campaign's earliest submission the reader may see.
    pub headline: String,
    pub submissions: Change,
    pub members: u64,
    /// Sectors of its members this quarter that are not suppressed.
    pub sectors: Vec<String>,
    /// How many further sectors are not named (fewer than k members).
    pub other_sectors: usize,
    pub first_seen: String,
    pub last_seen: String,
    pub actor: String,
    pub attribution_confidence: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct AlertCount {
    pub kind: String,
    pub severity: String,
    pub alerts: Change,
    pub recipients: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct NotableAlert {
    pub created_at: String,
    pub kind: String,
    pub severity: String,
    pub tlp: String,
    pub campaign: String,
    /// The alert's one-line summary (Fusion Cell reports only: a summary is
    /// written for its recipient).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IndicatorAge {
    pub obs_type: String,
    pub new: u64,
    pub recurring: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WeekRow {
    pub week: String,
    pub kind: String,
    pub submissions: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LoggedQuery {
    pub id: &'static str,
    pub purpose: &'static str,
    pub sql: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub title: String,
    pub quarter: String,
    pub previous_quarter: String,
    pub period_start: String,
    pub period_end_exclusive: String,
    pub audience: Audience,
    /// The most restrictive marking among the data the report includes.
    pub tlp: String,
    pub k_anonymity: u64,
    pub generated_at: String,
    pub headline: Vec<Headline>,
    pub by_sector: Vec<Breakdown>,
    pub suppressed_sectors: usize,
    pub by_kind: Vec<Breakdown>,
    pub by_observable_type: Vec<Breakdown>,
    /// Every week (its Monday) the quarter touches, for the weekly chart.
    pub weeks: Vec<String>,
    pub weekly: Vec<WeekRow>,
    pub top_campaigns: Vec<CampaignRow>,
    pub top_actors_claimed: Vec<LabelRow>,
    pub top_actors_attributed: Vec<LabelRow>,
    pub top_malware: Vec<LabelRow>,
    pub top_techniques: Vec<LabelRow>,
    pub indicators: Vec<IndicatorAge>,
    pub new_indicators: Change,
    pub alerts: Vec<AlertCount>,
    pub notable_alerts: Vec<NotableAlert>,
    pub queries: Vec<LoggedQuery>,
}

/// What a report is built from.
pub struct Request {
    pub quarter: Quarter,
    pub reader: Reader,
    pub k: u64,
    pub generated_at: String,
}

struct Ctx<'a> {
    client: &'a Client,
    log: Vec<LoggedQuery>,
}

impl Ctx<'_> {
    async fn fetch<T>(
        &mut self,
        id: &'static str,
        purpose: &'static str,
        sql: String,
    ) -> anyhow::Result<Vec<T>>
    where
        T: RowOwned + RowRead,
    {
        let rows = self
            .client
            .query(&sql)
            .fetch_all::<T>()
            .await
            .with_context(|| format!("report query {id} ({purpose})"))?;
        self.log.push(LoggedQuery { id, purpose, sql });
        Ok(rows)
    }
}

#[derive(Row, Deserialize)]
struct PeriodCounts {
    period: String,
    a: u64,
    b: u64,
}

#[derive(Row, Deserialize)]
struct GroupCounts {
    period: String,
    label: String,
    a: u64,
    b: u64,
}

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

#[derive(Row, Deserialize)]
struct Age {
    obs_type: String,
    new: u64,
    recurring: u64,
}

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

#[derive(Row, Deserialize)]
struct CampaignMember {
    campaign_id: String,
    member_id: String,
    sector: String,
    current: u64,
    previous: u64,
    visible: u8,
    first_seen: u32,
    last_seen: u32,
    title: String,
}

#[derive(Row, Deserialize)]
struct CampaignFact {
    campaign_id: String,
    merged_into: String,
    actor: String,
    confidence: f32,
}

#[derive(Row, Deserialize)]
struct Tlps {
    tlps: Vec<String>,
}

/// Builds the report: every query runs against `client`'s database.
pub async fn build(client: &Client, req: &Request) -> anyhow::Result<Report> {
    let q = req.quarter;
    let prev = q.previous();
    let a = req.reader.filter();
    let (p, s, e) = (
        format!("toDate('{}')", iso_date(prev.start())),
        format!("toDate('{}')", iso_date(q.start())),
        format!("toDate('{}')", iso_date(q.end())),
    );
    let dt = |day: i64| format!("toDateTime('{} 00:00:00')", iso_date(day));
    let (pt, st, et) = (dt(prev.start()), dt(q.start()), dt(q.end()));
    let period = format!("if(day >= {s}, 'current', 'previous')");
    let window = format!("day >= {p} AND day < {e} AND {a}");
    let mut ctx = Ctx {
        client,
        log: Vec::new(),
    };

    // Headline numbers.
    let totals: Vec<PeriodCounts> = ctx
        .fetch(
            "Q1",
            "submissions and contributing members, this and the previous quarter",
            format!(
                "SELECT {period} AS period, uniqExactMerge(submissions) AS a, uniqExactMerge(members) AS b \
                 FROM submissions_daily WHERE {window} GROUP BY period ORDER BY period"
            ),
        )
        .await?;
    let obs: Vec<PeriodCounts> = ctx
        .fetch(
            "Q2",
            "distinct observables and sightings, this and the previous quarter",
            format!(
                "SELECT {period} AS period, uniqExactMerge(observables) AS a, uniqExactMerge(sightings) AS b \
                 FROM trend_daily WHERE {window} GROUP BY period ORDER BY period"
            ),
        )
        .await?;
    let pick = |rows: &[PeriodCounts], which: &str, f: fn(&PeriodCounts) -> u64| {
        rows.iter().find(|r| r.period == which).map(f).unwrap_or(0)
    };
    let change = |rows: &[PeriodCounts], f: fn(&PeriodCounts) -> u64| {
        Change::new(pick(rows, "current", f), pick(rows, "previous", f))
    };

    // Breakdowns.
    let sectors: Vec<GroupCounts> = ctx
        .fetch(
            "Q3",
            "submissions and contributing members by the submitter's sector",
            format!(
                "SELECT {period} AS period, sector AS label, uniqExactMerge(submissions) AS a, uniqExactMerge(members) AS b \
                 FROM submissions_daily WHERE {window} GROUP BY period, label ORDER BY label, period"
            ),
        )
        .await?;
    let kinds: Vec<GroupCounts> = ctx
        .fetch(
            "Q4",
            "submissions and contributing members by kind",
            format!(
                "SELECT {period} AS period, kind AS label, uniqExactMerge(submissions) AS a, uniqExactMerge(members) AS b \
                 FROM submissions_daily WHERE {window} GROUP BY period, label ORDER BY label, period"
            ),
        )
        .await?;
    let types: Vec<GroupCounts> = ctx
        .fetch(
            "Q5",
            "distinct observables and sightings by observable type",
            format!(
                "SELECT {period} AS period, obs_type AS label, uniqExactMerge(observables) AS a, uniqExactMerge(sightings) AS b \
                 FROM trend_daily WHERE {window} GROUP BY period, label ORDER BY label, period"
            ),
        )
        .await?;
    let type_members: Vec<GroupCounts> = ctx
        .fetch(
            "Q6",
            "contributing members by observable type",
            format!(
                "SELECT {period} AS period, obs_type AS label, uniqExactMerge(members) AS a, toUInt64(0) AS b \
                 FROM trend_daily WHERE {window} GROUP BY period, label ORDER BY label, period"
            ),
        )
        .await?;
    let weeks: Vec<Week> = ctx
        .fetch(
            "Q7",
            "submissions per week (weeks start on Monday) by kind, this quarter",
            format!(
                "SELECT toMonday(day) AS week, kind, uniqExactMerge(submissions) AS submissions \
                 FROM submissions_daily WHERE day >= {s} AND day < {e} AND {a} GROUP BY week, kind ORDER BY week, kind"
            ),
        )
        .await?;
    let labels: Vec<LabelCounts> = ctx
        .fetch(
            "Q8",
            "actors claimed, malware families and ATT&CK techniques named in submissions (top 10 of each)",
            format!(
                "SELECT facet, label, uniqExactMergeIf(submissions, day >= {s}) AS current, \
                 uniqExactMergeIf(members, day >= {s}) AS members, uniqExactMergeIf(submissions, day < {s}) AS previous \
                 FROM labels_daily WHERE {window} GROUP BY facet, label HAVING current > 0 \
                 ORDER BY facet, current DESC, label LIMIT {TOP} BY facet"
            ),
        )
        .await?;
    let ages_sql = |from: &str, from_t: &str, to_t: &str| {
        format!(
            "SELECT obs_type, countIf(first >= {from}) AS new, countIf(first < {from}) AS recurring FROM \
             (SELECT obs_type, value, toDate(min(observed_at)) AS first, \
             max(observed_at >= {from_t}) AS seen FROM observations \
             WHERE observed_at < {to_t} AND {a} GROUP BY obs_type, value HAVING seen = 1) \
             GROUP BY obs_type ORDER BY obs_type"
        )
    };
    let ages: Vec<Age> = ctx
        .fetch(
            "Q9",
            "indicators seen this quarter: new (first sighting, among what the reader may see, in the quarter) or recurring",
            ages_sql(&s, &st, &et),
        )
        .await?;
    let ages_prev: Vec<Age> = ctx
        .fetch(
            "Q10",
            "the same for the previous quarter",
            ages_sql(&p, &pt, &st),
        )
        .await?;

    // Alerts: only those built entirely from submissions the reader may
    // see, assigned to the quarter of the submission that triggered them.
    let visible_keys =
        format!("SELECT concat(member_id, '/', submission_id) FROM submissions WHERE {a}");
    let tlps = req
        .reader
        .tlps()
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let eligible = match req.reader.audience {
        Audience::Community => format!(
            "alert_id IN (SELECT alert_id FROM alerts ARRAY JOIN provenance AS p GROUP BY alert_id \
             HAVING min(p IN ({visible_keys})) = 1) AND tlp IN ({tlps})"
        ),
        Audience::FusionCell => format!("tlp IN ({tlps})"),
    };
    let keys_between = |from: &str, to: &str| {
        format!(
            "SELECT concat(member_id, '/', submission_id) FROM submissions \
             WHERE submitted_at >= {from} AND submitted_at < {to}"
        )
    };
    let alert_rows: Vec<AlertRow> = ctx
        .fetch(
            "Q11",
            "alerts sent (distinct recipient × alert) by kind and severity, by the quarter of their triggering submission",
            format!(
                "SELECT if(key IN ({cur}), 'current', 'previous') AS period, kind, severity, \
                 uniqExact(recipient, alert_id) AS alerts, uniqExact(recipient) AS recipients \
                 FROM (SELECT concat(trigger_member, '/', trigger_submission) AS key, kind, severity, recipient, alert_id \
                 FROM alerts WHERE {eligible}) WHERE key IN ({both}) \
                 GROUP BY period, kind, severity ORDER BY kind, severity, period",
                cur = keys_between(&st, &et),
                both = keys_between(&pt, &et),
            ),
        )
        .await?;
    let notable: Vec<Notable> = ctx
        .fetch(
            "Q12",
            "notable alerts this quarter: most severe first, one per kind and campaign",
            format!(
                "SELECT created_at, kind, severity, tlp, campaign_id, summary FROM alerts \
                 WHERE {eligible} AND concat(trigger_member, '/', trigger_submission) IN ({cur}) \
                 ORDER BY indexOf(['critical', 'high', 'medium', 'low'], severity), created_at, alert_id \
                 LIMIT 1 BY kind, campaign_id LIMIT {TOP}",
                cur = keys_between(&st, &et),
            ),
        )
        .await?;

    // Campaigns: per campaign id and member, folded along merged_into.
    let members: Vec<CampaignMember> = ctx
        .fetch(
            "Q13",
            "campaign participation per campaign id and member (all time, to decide what the reader may see)",
            format!(
                "SELECT campaign_id, member_id, any(sector) AS sector, \
                 uniqExactIf(submission_id, submitted_at >= {st} AND submitted_at < {et}) AS current, \
                 uniqExactIf(submission_id, submitted_at >= {pt} AND submitted_at < {st}) AS previous, \
                 min({a}) AS visible, min(submitted_at) AS first_seen, max(submitted_at) AS last_seen, \
                 argMinIf(title, submitted_at, {a}) AS title \
                 FROM submissions WHERE campaign_id != '' GROUP BY campaign_id, member_id ORDER BY campaign_id, member_id"
            ),
        )
        .await?;
    let facts: Vec<CampaignFact> = ctx
        .fetch(
            "Q14",
            "campaign merges and actor attributions (latest version of each campaign)",
            "SELECT campaign_id, argMax(merged_into, version) AS merged_into, argMax(actor_name, version) AS actor, \
             argMax(attribution_confidence, version) AS confidence FROM campaigns GROUP BY campaign_id ORDER BY campaign_id"
                .to_owned(),
        )
        .await?;
    let tlp_rows: Vec<Tlps> = ctx
        .fetch(
            "Q15",
            "the markings of the submissions the report includes",
            format!(
                "SELECT arraySort(groupUniqArray(tlp)) AS tlps FROM submissions_daily WHERE day >= {p} AND day < {e} AND {a}"
            ),
        )
        .await?;

    // Sectors below k contributing members are suppressed, in this
    // quarter and the previous one alike.
    let k = req.k;
    let mut by_sector = Vec::new();
    let mut suppressed = 0;
    let mut shown_sectors = BTreeSet::new();
    for (label, cur, prev) in grouped(&sectors) {
        let cur_ok = cur.map_or(0, |r| r.b) >= k;
        let prev_ok = prev.map_or(0, |r| r.b) >= k;
        if cur.is_some() && !cur_ok {
            suppressed += 1;
        }
        if !cur_ok && !prev_ok {
            continue;
        }
        if cur_ok {
            shown_sectors.insert(label.clone());
        }
        by_sector.push(Breakdown {
            label,
            value: Change::new(
                if cur_ok { cur.map_or(0, |r| r.a) } else { 0 },
                if prev_ok { prev.map_or(0, |r| r.a) } else { 0 },
            ),
            members: if cur_ok { cur.map_or(0, |r| r.b) } else { 0 },
            sightings: None,
        });
    }
    by_sector.sort_by(|x, y| {
        y.value
            .current
            .cmp(&x.value.current)
            .then(x.label.cmp(&y.label))
    });

    let mut by_kind: Vec<Breakdown> = grouped(&kinds)
        .into_iter()
        .map(|(label, cur, prev)| Breakdown {
            label,
            value: Change::new(cur.map_or(0, |r| r.a), prev.map_or(0, |r| r.a)),
            members: cur.map_or(0, |r| r.b),
            sightings: None,
        })
        .collect();
    by_kind.sort_by(|x, y| {
        y.value
            .current
            .cmp(&x.value.current)
            .then(x.label.cmp(&y.label))
    });
    let type_member: HashMap<&str, u64> = type_members
        .iter()
        .filter(|r| r.period == "current")
        .map(|r| (r.label.as_str(), r.a))
        .collect();
    let mut by_type: Vec<Breakdown> = grouped(&types)
        .into_iter()
        .map(|(label, cur, prev)| Breakdown {
            members: type_member.get(label.as_str()).copied().unwrap_or(0),
            value: Change::new(cur.map_or(0, |r| r.a), prev.map_or(0, |r| r.a)),
            sightings: Some(cur.map_or(0, |r| r.b)),
            label,
        })
        .collect();
    by_type.sort_by(|x, y| {
        y.value
            .current
            .cmp(&x.value.current)
            .then(x.label.cmp(&y.label))
    });

    let label_rows = |facet: &str| -> Vec<LabelRow> {
        labels
            .iter()
            .filter(|l| l.facet == facet)
            .map(|l| LabelRow {
                label: l.label.clone(),
                submissions: Change::new(l.current, l.previous),
                members: l.members,
            })
            .collect()
    };

    let campaigns = fold_campaigns(&members, &facts, req.reader.audience, &shown_sectors);
    let active = |f: fn(&Folded) -> u64| campaigns.iter().filter(|c| f(c) > 0).count() as u64;
    let active_campaigns = Change::new(active(|c| c.current), active(|c| c.previous));
    let mut top_campaigns = Vec::new();
    for (i, c) in campaigns
        .iter()
        .filter(|c| c.current > 0)
        .take(TOP)
        .enumerate()
    {
        top_campaigns.push(CampaignRow {
            label: match req.reader.audience {
                Audience::Community => format!("Campaign {}", i + 1),
                Audience::FusionCell => c.id.clone(),
            },
            campaign_id: (req.reader.audience == Audience::FusionCell).then(|| c.id.clone()),
            headline: c.title.clone(),
            submissions: Change::new(c.current, c.previous),
            members: c.members_current,
            sectors: c.sectors.clone(),
            other_sectors: c.other_sectors,
            first_seen: iso_date(i64::from(c.first_seen / 86_400)),
            last_seen: iso_date(i64::from(c.last_seen / 86_400)),
            actor: c.actor.clone(),
            attribution_confidence: c.confidence,
        });
    }
    let campaign_label: HashMap<String, String> = campaigns
        .iter()
        .filter(|c| c.current > 0)
        .take(TOP)
        .map(|c| c.id.clone())
        .zip(top_campaigns.iter().map(|r| r.label.clone()))
        .collect();
    let mut attributed: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in &campaigns {
        if !c.actor.is_empty() && (c.current > 0 || c.previous > 0) {
            let e = attributed.entry(c.actor.clone()).or_default();
            e.0 += u64::from(c.current > 0);
            e.1 += u64::from(c.previous > 0);
        }
    }
    let mut top_actors_attributed: Vec<LabelRow> = attributed
        .into_iter()
        .filter(|(_, (cur, _))| *cur > 0)
        .map(|(label, (cur, prev))| LabelRow {
            label,
            submissions: Change::new(cur, prev),
            members: 0,
        })
        .collect();
    top_actors_attributed.sort_by(|x, y| {
        y.submissions
            .current
            .cmp(&x.submissions.current)
            .then(x.label.cmp(&y.label))
    });
    top_actors_attributed.truncate(TOP);

    let resolve = merged_targets(&facts);
    let notable_alerts = notable
        .into_iter()
        .map(|n| {
            let root = resolve_id(&resolve, &n.campaign_id);
            NotableAlert {
                created_at: iso_date(i64::from(n.created_at / 86_400)),
                kind: n.kind,
                severity: n.severity,
                tlp: n.tlp,
                campaign: match req.reader.audience {
                    Audience::FusionCell => root,
                    Audience::Community => campaign_label.get(&root).cloned().unwrap_or_default(),
                },
                summary: (req.reader.audience == Audience::FusionCell).then_some(n.summary),
            }
        })
        .collect();

    let mut alert_map: BTreeMap<(String, String), (u64, u64, u64)> = BTreeMap::new();
    for r in &alert_rows {
        let e = alert_map
            .entry((r.kind.clone(), r.severity.clone()))
            .or_default();
        if r.period == "current" {
            e.0 = r.alerts;
            e.2 = r.recipients;
        } else {
            e.1 = r.alerts;
        }
    }
    let alerts: Vec<AlertCount> = alert_map
        .into_iter()
        .map(|((kind, severity), (cur, prev, recipients))| AlertCount {
            kind,
            severity,
            alerts: Change::new(cur, prev),
            recipients,
        })
        .collect();
    let alert_total = Change::new(
        alerts.iter().map(|x| x.alerts.current).sum(),
        alerts.iter().map(|x| x.alerts.previous).sum(),
    );
    let new_indicators = Change::new(
        ages.iter().map(|x| x.new).sum(),
        ages_prev.iter().map(|x| x.new).sum(),
    );

    let tlp = tlp_rows
        .iter()
        .flat_map(|r| r.tlps.iter())
        .filter_map(|t| Tlp::parse(t).ok())
        .max()
        .unwrap_or(Tlp::Clear);

    let headline = vec![
        Headline {
            name: "Submissions",
            value: change(&totals, |r| r.a),
            query: "Q1",
        },
        Headline {
            name: "Contributing members",
            value: change(&totals, |r| r.b),
            query: "Q1",
        },
        Headline {
            name: "Distinct observables",
            value: change(&obs, |r| r.a),
            query: "Q2",
        },
        Headline {
            name: "Sightings",
            value: change(&obs, |r| r.b),
            query: "Q2",
        },
        Headline {
            name: "New indicators",
            value: new_indicators.clone(),
            query: "Q9, Q10",
        },
        Headline {
            name: "Active campaigns",
            value: active_campaigns,
            query: "Q13, Q14",
        },
        Headline {
            name: "Alerts sent",
            value: alert_total,
            query: "Q11",
        },
    ];

    Ok(Report {
        title: format!("CiSP quarterly threat-trend report {q}"),
        quarter: q.to_string(),
        previous_quarter: prev.to_string(),
        period_start: iso_date(q.start()),
        period_end_exclusive: iso_date(q.end()),
        audience: req.reader.audience,
        tlp: tlp.label().to_owned(),
        k_anonymity: k,
        generated_at: req.generated_at.clone(),
        headline,
        by_sector,
        suppressed_sectors: suppressed,
        by_kind,
        by_observable_type: by_type,
        weeks: {
            let mut monday = q.start() - (q.start() + 3).rem_euclid(7);
            let mut all = Vec::new();
            while monday < q.end() {
                all.push(iso_date(monday));
                monday += 7;
            }
            all
        },
        weekly: weeks
            .into_iter()
            .map(|w| WeekRow {
                week: iso_date(i64::from(w.week)),
                kind: w.kind,
                submissions: w.submissions,
            })
            .collect(),
        top_campaigns,
        top_actors_claimed: label_rows("actor"),
        top_actors_attributed,
        top_malware: label_rows("malware"),
        top_techniques: label_rows("technique"),
        indicators: ages
            .into_iter()
            .map(|x| IndicatorAge {
                obs_type: x.obs_type,
                new: x.new,
                recurring: x.recurring,
            })
            .collect(),
        new_indicators,
        alerts,
        notable_alerts,
        queries: ctx.log,
    })
}

/// Rows of a `(period, label)` query, paired by label.
fn grouped(rows: &[GroupCounts]) -> Vec<(String, Option<&GroupCounts>, Option<&GroupCounts>)> {
    let mut by: BTreeMap<&str, (Option<&GroupCounts>, Option<&GroupCounts>)> = BTreeMap::new();
    for r in rows {
        let e = by.entry(r.label.as_str()).or_default();
        if r.period == "current" {
            e.0 = Some(r);
        } else {
            e.1 = Some(r);
        }
    }
    by.into_iter()
        .map(|(l, (c, p))| (l.to_owned(), c, p))
        .collect()
}

fn merged_targets(facts: &[CampaignFact]) -> HashMap<&str, &str> {
    facts
        .iter()
        .filter(|f| !f.merged_into.is_empty())
        .map(|f| (f.campaign_id.as_str(), f.merged_into.as_str()))
        .collect()
}

/// Follows `merged_into` to the surviving campaign (bounded: a cycle, which
/// the service never writes, stops the walk).
fn resolve_id(merged: &HashMap<&str, &str>, id: &str) -> String {
    let mut cur = id;
    for _ in 0..64 {
        match merged.get(cur) {
            Some(next) if *next != cur => cur = next,
            _ => break,
        }
    }
    cur.to_owned()
}

struct Folded {
    id: String,
    current: u64,
    previous: u64,
    members_current: u64,
    sectors: Vec<String>,
    other_sectors: usize,
    first_seen: u32,
    last_seen: u32,
    title: String,
    actor: String,
    confidence: f32,
}

/// Folds per-(campaign id, member) rows into surviving campaigns. A
/// community report keeps only campaigns every submission of which the
/// community may see: a campaign partly built from restricted submissions
/// could reveal a link that runs through them.
fn fold_campaigns(
    rows: &[CampaignMember],
    facts: &[CampaignFact],
    audience: Audience,
    shown_sectors: &BTreeSet<String>,
) -> Vec<Folded> {
    let merged = merged_targets(facts);
    let fact: HashMap<&str, &CampaignFact> =
        facts.iter().map(|f| (f.campaign_id.as_str(), f)).collect();
    struct Acc<'a> {
        current: u64,
        previous: u64,
        visible: bool,
        members: BTreeSet<&'a str>,
        sectors: BTreeSet<&'a str>,
        first_seen: u32,
        last_seen: u32,
        title: (u32, &'a str),
    }
    let mut acc: BTreeMap<String, Acc<'_>> = BTreeMap::new();
    for r in rows {
        let root = resolve_id(&merged, &r.campaign_id);
        let a = acc.entry(root).or_insert_with(|| Acc {
            current: 0,
            previous: 0,
            visible: true,
            members: BTreeSet::new(),
            sectors: BTreeSet::new(),
            first_seen: u32::MAX,
            last_seen: 0,
            title: (u32::MAX, ""),
        });
        a.current += r.current;
        a.previous += r.previous;
        a.visible &= r.visible == 1;
        if r.current > 0 {
            a.members.insert(&r.member_id);
            a.sectors.insert(&r.sector);
        }
        a.first_seen = a.first_seen.min(r.first_seen);
        a.last_seen = a.last_seen.max(r.last_seen);
        if !r.title.is_empty() && r.first_seen < a.title.0 {
            a.title = (r.first_seen, &r.title);
        }
    }
    let mut out: Vec<Folded> = acc
        .into_iter()
        .filter(|(_, a)| a.visible || audience == Audience::FusionCell)
        .map(|(id, a)| {
            let f = fact.get(id.as_str());
            let sectors: Vec<String> = a
                .sectors
                .iter()
                .filter(|s| shown_sectors.contains(**s))
                .map(|s| (*s).to_owned())
                .collect();
            Folded {
                other_sectors: a.sectors.len() - sectors.len(),
                sectors,
                current: a.current,
                previous: a.previous,
                members_current: a.members.len() as u64,
                first_seen: a.first_seen,
                last_seen: a.last_seen,
                title: a.title.1.to_owned(),
                actor: f.map(|f| f.actor.clone()).unwrap_or_default(),
                confidence: f.map_or(0.0, |f| f.confidence),
                id,
            }
        })
        .collect();
    out.sort_by(|x, y| {
        y.current
            .cmp(&x.current)
            .then(y.members_current.cmp(&x.members_current))
            .then(x.id.cmp(&y.id))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_percentages_of_the_previous_quarter() {
        assert_eq!(Change::new(15, 10).change_pct, Some(50.0));
        assert_eq!(Change::new(1, 3).change_pct, Some(-66.7));
        assert_eq!(Change::new(4, 0).change_pct, None);
    }

    fn member(c: &str, m: &str, sector: &str, current: u64, visible: u8) -> CampaignMember {
        CampaignMember {
            campaign_id: c.into(),
            member_id: m.into(),
            sector: sector.into(),
            current,
            previous: 0,
            visible,
            first_seen: 100,
            last_seen: 200,
            title: format!("{c} by {m}"),
        }
    }

    #[test]
    fn campaigns_fold_along_merges_and_hide_partly_restricted_ones() {
        let rows = vec![
            member("C-a", "m1", "finance", 2, 1),
            member("C-b", "m2", "energy", 1, 1), // merged into C-a
            member("C-c", "m3", "water", 3, 1),
            member("C-c", "m4", "health", 1, 0), // restricted: C-c is hidden
        ];
        let facts = vec![CampaignFact {
            campaign_id: "C-b".into(),
            merged_into: "C-a".into(),
            actor: String::new(),
            confidence: 0.0,
        }];
        let shown: BTreeSet<String> = ["finance".to_owned()].into();
        let community = fold_campaigns(&rows, &facts, Audience::Community, &shown);
        assert_eq!(community.len(), 1);
        assert_eq!(community[0].id, "C-a");
        assert_eq!(community[0].current, 3);
        assert_eq!(community[0].members_current, 2);
        assert_eq!(community[0].sectors, vec!["finance".to_owned()]);
        assert_eq!(community[0].other_sectors, 1);
        let fusion = fold_campaigns(&rows, &facts, Audience::FusionCell, &shown);
        assert_eq!(fusion.len(), 2);
        assert_eq!(fusion[0].id, "C-c", "ranked by submissions this quarter");
        assert_eq!(fusion[0].current, 4);
    }
}
