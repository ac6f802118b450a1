//! Everything the report says, read from ClickHouse. Each number comes from
//! one of the queries logged in [`Report::queries`] (the appendix); the
//! only computation here is folding campaigns along `merged_into`, ranking,
//! and the k-anonymity suppression of sectors.
//!
//! One module per section, each with its queries and what it makes of
//! them: `breakdowns` (Q3–Q8), `indicators` (Q9–Q10), `alerts` (Q11–Q12),
//! `campaigns` (Q13–Q14); the headline (Q1–Q2) and the marking (Q15) are
//! here, in [`build`], which runs the sections in query order and puts the
//! report together.

mod alerts;
mod breakdowns;
mod campaigns;
mod indicators;
mod query;

use cisp_model::Tlp;
use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use crate::audience::{Audience, Reader};
use crate::period::{iso_date, Quarter};
use query::{change, Ctx, PeriodCounts, Scope};

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

#[derive(Row, Deserialize)]
struct Tlps {
    tlps: Vec<String>,
}

/// Builds the report: every query runs against `client`'s database, in
/// the order of their ids.
pub async fn build(client: &Client, req: &Request) -> anyhow::Result<Report> {
    let sc = Scope::new(req);
    let mut ctx = Ctx::new(client);
    let (totals, observables) = headline_rows(&mut ctx, &sc).await?;
    let breakdowns = breakdowns::fetch(&mut ctx, &sc).await?;
    let indicators = indicators::fetch(&mut ctx, &sc).await?;
    let alerts = alerts::fetch(&mut ctx, &sc, &req.reader).await?;
    let campaigns = campaigns::fetch(&mut ctx, &sc).await?;
    let tlp = marking(&mut ctx, &sc).await?;

    let sectors = breakdowns.by_sector(req.k);
    let campaign = campaigns.section(req.reader.audience, &sectors.shown);
    let alert_counts = alerts.counts();
    let new_indicators = indicators.new_indicators();
    let headline = vec![
        headline("Submissions", change(&totals, |r| r.a), "Q1"),
        headline("Contributing members", change(&totals, |r| r.b), "Q1"),
        headline("Distinct observables", change(&observables, |r| r.a), "Q2"),
        headline("Sightings", change(&observables, |r| r.b), "Q2"),
        headline("New indicators", new_indicators.clone(), "Q9, Q10"),
        headline("Active campaigns", campaign.active.clone(), "Q13, Q14"),
        headline("Alerts sent", alerts::total(&alert_counts), "Q11"),
    ];
    let notable_alerts = alerts.notable(&campaigns.merges(), &campaign.labels, req.reader.audience);
    Ok(Report {
        title: format!("CiSP quarterly threat-trend report {}", sc.q),
        quarter: sc.q.to_string(),
        previous_quarter: sc.prev.to_string(),
        period_start: iso_date(sc.q.start()),
        period_end_exclusive: iso_date(sc.q.end()),
        audience: req.reader.audience,
        tlp: tlp.label().to_owned(),
        k_anonymity: req.k,
        generated_at: req.generated_at.clone(),
        headline,
        by_sector: sectors.rows,
        suppressed_sectors: sectors.suppressed,
        by_kind: breakdowns.by_kind(),
        by_observable_type: breakdowns.by_type(),
        weeks: breakdowns::weeks_of(sc.q),
        top_actors_claimed: breakdowns.top("actor"),
        top_malware: breakdowns.top("malware"),
        top_techniques: breakdowns.top("technique"),
        weekly: breakdowns.weekly(),
        top_campaigns: campaign.top,
        top_actors_attributed: campaign.actors_attributed,
        indicators: indicators.by_type(),
        new_indicators,
        alerts: alert_counts,
        notable_alerts,
        queries: ctx.log,
    })
}

fn headline(name: &'static str, value: Change, query: &'static str) -> Headline {
    Headline { name, value, query }
}

/// Q1, Q2: submissions and members, observables and sightings, both
/// quarters.
async fn headline_rows(
    ctx: &mut Ctx<'_>,
    sc: &Scope,
) -> anyhow::Result<(Vec<PeriodCounts>, Vec<PeriodCounts>)> {
    let (period, window) = (&sc.period, &sc.window);
    let totals = ctx
        .fetch(
            "Q1",
            "submissions and contributing members, this and the previous quarter",
            format!(
                "SELECT {period} AS period, uniqExactMerge(submissions) AS a, uniqExactMerge(members) AS b \
                 FROM submissions_daily_current WHERE {window} GROUP BY period ORDER BY period"
            ),
        )
        .await?;
    let observables = ctx
        .fetch(
            "Q2",
            "distinct observables and sightings, this and the previous quarter",
            format!(
                "SELECT {period} AS period, uniqExactMerge(observables) AS a, uniqExactMerge(sightings) AS b \
                 FROM trend_daily_current WHERE {window} GROUP BY period ORDER BY period"
            ),
        )
        .await?;
    Ok((totals, observables))
}

/// Q15: the most restrictive marking among the submissions the report
/// includes.
async fn marking(ctx: &mut Ctx<'_>, sc: &Scope) -> anyhow::Result<Tlp> {
    let (p, e, a) = (&sc.p, &sc.e, &sc.a);
    let rows: Vec<Tlps> = ctx
        .fetch(
            "Q15",
            "the markings of the submissions the report includes",
            format!(
                "SELECT arraySort(groupUniqArray(tlp)) AS tlps FROM submissions_daily_current WHERE day >= {p} AND day < {e} AND {a}"
            ),
        )
        .await?;
    Ok(rows
        .iter()
        .flat_map(|r| r.tlps.iter())
        .filter_map(|t| Tlp::parse(t).ok())
        .max()
        .unwrap_or(Tlp::Clear))
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
}
