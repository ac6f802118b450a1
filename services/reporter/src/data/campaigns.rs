//! The campaign section (Q13, Q14): each submission counted in the
//! campaign it belongs to *now* (`submission_campaigns`, which follows
//! merges and the guard's splits; issue 20), the most active campaigns, and
//! the actors they are attributed to. Folding along `merged_into` is kept
//! for stores whose membership predates merges being recorded there. A community report keeps only campaigns every submission
//! of which the community may see.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use clickhouse::Row;
use serde::Deserialize;

use super::query::{Ctx, Scope};
use super::{CampaignRow, Change, LabelRow, TOP};
use crate::audience::Audience;
use crate::period::iso_date;

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

pub(super) struct Rows {
    members: Vec<CampaignMember>,
    facts: Vec<CampaignFact>,
}

pub(super) async fn fetch(ctx: &mut Ctx<'_>, sc: &Scope) -> anyhow::Result<Rows> {
    let (a, pt, st, et, live) = (&sc.a, &sc.pt, &sc.st, &sc.et, &sc.live);
    Ok(Rows {
        members: ctx
            .fetch(
                "Q13",
                "campaign participation per current campaign and member (all time, to decide what the reader may see)",
                format!(
                    "SELECT current_campaign, member_id, any(sector) AS sector, \
                     uniqExactIf(submission_id, submitted_at >= {st} AND submitted_at < {et}) AS current, \
                     uniqExactIf(submission_id, submitted_at >= {pt} AND submitted_at < {st}) AS previous, \
                     min({a}) AS visible, min(submitted_at) AS first_seen, max(submitted_at) AS last_seen, \
                     argMinIf(title, submitted_at, {a}) AS title \
                     FROM submissions ANY INNER JOIN submission_campaigns USING (member_id, submission_id) \
                     WHERE current_campaign != '' AND {live} GROUP BY current_campaign, member_id ORDER BY current_campaign, member_id"
                ),
            )
            .await?,
        facts: ctx
            .fetch(
                "Q14",
                "campaign merges and actor attributions (latest version of each campaign)",
                "SELECT campaign_id, argMax(merged_into, version) AS merged_into, argMax(actor_name, version) AS actor, \
                 argMax(attribution_confidence, version) AS confidence FROM campaigns GROUP BY campaign_id ORDER BY campaign_id"
                    .to_owned(),
            )
            .await?,
    })
}

/// Which campaign was absorbed into which.
pub(super) struct Merges<'a>(HashMap<&'a str, &'a str>);

impl<'a> Merges<'a> {
    fn of(facts: &'a [CampaignFact]) -> Merges<'a> {
        Merges(
            facts
                .iter()
                .filter(|f| !f.merged_into.is_empty())
                .map(|f| (f.campaign_id.as_str(), f.merged_into.as_str()))
                .collect(),
        )
    }

    /// Follows `merged_into` to the surviving campaign (bounded: a cycle,
    /// which the service never writes, stops the walk).
    pub(super) fn resolve(&self, id: &str) -> String {
        let mut cur = id;
        for _ in 0..64 {
            match self.0.get(cur) {
                Some(next) if *next != cur => cur = next,
                _ => break,
            }
        }
        cur.to_owned()
    }
}

/// The campaign section as the reader may see it.
pub(super) struct Section {
    pub(super) active: Change,
    pub(super) top: Vec<CampaignRow>,
    /// Surviving campaign id → its label in `top`.
    pub(super) labels: HashMap<String, String>,
    pub(super) actors_attributed: Vec<LabelRow>,
}

impl Rows {
    pub(super) fn merges(&self) -> Merges<'_> {
        Merges::of(&self.facts)
    }

    pub(super) fn section(&self, audience: Audience, shown_sectors: &BTreeSet<String>) -> Section {
        let campaigns = fold_campaigns(&self.members, &self.facts, audience, shown_sectors);
        let active = |f: fn(&Folded) -> u64| campaigns.iter().filter(|c| f(c) > 0).count() as u64;
        let top = top_campaigns(&campaigns, audience);
        let labels = campaigns
            .iter()
            .filter(|c| c.current > 0)
            .take(TOP)
            .map(|c| c.id.clone())
            .zip(top.iter().map(|r| r.label.clone()))
            .collect();
        Section {
            active: Change::new(active(|c| c.current), active(|c| c.previous)),
            actors_attributed: actors_attributed(&campaigns),
            top,
            labels,
        }
    }
}

/// The most active campaigns this quarter; a community report numbers
/// them instead of naming them.
fn top_campaigns(campaigns: &[Folded], audience: Audience) -> Vec<CampaignRow> {
    campaigns
        .iter()
        .filter(|c| c.current > 0)
        .take(TOP)
        .enumerate()
        .map(|(i, c)| CampaignRow {
            label: match audience {
                Audience::Community => format!("Campaign {}", i + 1),
                Audience::FusionCell => c.id.clone(),
            },
            campaign_id: (audience == Audience::FusionCell).then(|| c.id.clone()),
            headline: c.title.clone(),
            submissions: Change::new(c.current, c.previous),
            members: c.members_current,
            sectors: c.sectors.clone(),
            other_sectors: c.other_sectors,
            first_seen: iso_date(i64::from(c.first_seen / 86_400)),
            last_seen: iso_date(i64::from(c.last_seen / 86_400)),
            actor: c.actor.clone(),
            attribution_confidence: c.confidence,
        })
        .collect()
}

/// Actors by the campaigns attributed to them, this quarter against the
/// previous one.
fn actors_attributed(campaigns: &[Folded]) -> Vec<LabelRow> {
    let mut attributed: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in campaigns {
        if !c.actor.is_empty() && (c.current > 0 || c.previous > 0) {
            let e = attributed.entry(c.actor.clone()).or_default();
            e.0 += u64::from(c.current > 0);
            e.1 += u64::from(c.previous > 0);
        }
    }
    let mut rows: Vec<LabelRow> = attributed
        .into_iter()
        .filter(|(_, (cur, _))| *cur > 0)
        .map(|(label, (cur, prev))| LabelRow {
            label,
            submissions: Change::new(cur, prev),
            members: 0,
        })
        .collect();
    rows.sort_by(|x, y| {
        y.submissions
            .current
            .cmp(&x.submissions.current)
            .then(x.label.cmp(&y.label))
    });
    rows.truncate(TOP);
    rows
}

pub(super) struct Folded {
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
    let merged = Merges::of(facts);
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
        let root = merged.resolve(&r.campaign_id);
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
