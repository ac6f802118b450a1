//! Building alerts, one recipient at a time, from only what that recipient
//! may see.
//!
//! Every alert is assembled by [`Draft::build`]: the caller supplies the
//! submissions the alert is derived from — each already checked to be in the
//! recipient's audience — and the builder derives everything else from them
//! alone: the TLP (most restrictive input), the counts, the related list, the
//! provenance for the audit table. Nothing else reaches an alert, so the
//! no-leak property of the engine reduces to "every input passed the
//! audience check", which the engine's property tests assert for every kind.

use std::collections::{BTreeMap, BTreeSet};

use cisp_model::{
    AlertKind, Attribution, MemberId, Observable, Registry, SectorId, Severity, SubmissionId,
    SubmissionKind, Tlp,
};
use serde::{Deserialize, Serialize};

use crate::graph::SubMeta;
use crate::ids::{CampaignId, IdKey, SubmissionKey};

/// A submission as shown to one recipient. For an anonymous submission
/// (unless the recipient is the Fusion Cell) the submitter, its name and its
/// own submission id are withheld — the id is replaced by a keyed stand-in,
/// because members' ids often carry their name — and the sector is shown only
/// when the sector has at least k organisations (k-anonymity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedSubmission {
    pub id: SubmissionId,
    pub member: Option<MemberId>,
    pub member_name: Option<String>,
    pub sector: Option<SectorId>,
    pub kind: SubmissionKind,
    pub tlp: Tlp,
    pub title: String,
    pub submitted_at_ms: i64,
}

/// A message to one member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable across redelivery and replay.
    pub id: String,
    pub recipient: MemberId,
    pub created_at_ms: i64,
    pub trigger_published_at_ms: i64,
    pub kind: AlertKind,
    pub severity: Severity,
    /// Most restrictive TLP of everything the alert was built from.
    pub tlp: Tlp,
    /// The campaign as the recipient may see it: the connected part of the
    /// correlation graph reachable through submissions in its audience.
    /// Equal to the Fusion Cell's id when the recipient sees the whole
    /// campaign; never reveals a link through a submission it may not see.
    /// `None` for alerts about a single submission, or when the recipient's
    /// view was larger than the per-alert budget.
    pub campaign_id: Option<CampaignId>,
    /// The Fusion Cell's id of the whole campaign: for the audit table only,
    /// never sent to a member.
    pub fusion_campaign_id: CampaignId,
    pub your_submissions: Vec<SubmissionId>,
    pub related: Vec<RelatedSubmission>,
    pub shared: Vec<Observable>,
    /// Indicator score of each of `shared` (same order), from the alert's
    /// own inputs only.
    pub shared_scores: Vec<f32>,
    pub other_member_count: u32,
    pub summary: String,
    /// Every submission the alert was built from (for the audit table).
    pub provenance: Vec<SubmissionKey>,
    /// The submission whose arrival triggered the alert (for the audit
    /// table; for an update, the first sighting it holds).
    pub trigger: SubmissionKey,
    /// How many sightings the alert stands for: 1 for an alert sent at
    /// once, more for an update that coalesces the sightings of one campaign
    /// that followed within the coalescing window (`coalesce`).
    pub sightings: u32,
    /// Whether this is a coalesced update (sent when its window closed,
    /// not at once), even one that holds a single sighting.
    pub coalesced: bool,
    /// For a revocation or a dispute: the earlier alerts to this
    /// recipient whose basis is gone.
    #[serde(default)]
    pub revokes: Vec<String>,
}

pub(crate) struct AlertLimits {
    pub(crate) max_related: usize,
    pub(crate) max_shared: usize,
}

/// What the alert builder needs besides the alert's own inputs.
pub(crate) struct Ctx<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) key: &'a IdKey,
    pub(crate) limits: &'a AlertLimits,
    pub(crate) k_anonymity: usize,
    pub(crate) now_ms: i64,
    pub(crate) published_ms: i64,
}

impl Ctx<'_> {
    /// Whether `reader` may learn who submitted `meta`.
    fn names_submitter(&self, meta: &SubMeta, reader: &MemberId) -> bool {
        meta.attribution == Attribution::Attributed || self.registry.is_fusion_cell(reader)
    }

    /// The sector of `meta`'s submitter as `reader` may learn it.
    pub(crate) fn sector_for(&self, meta: &SubMeta, reader: &MemberId) -> Option<SectorId> {
        let sector = meta.sector.as_ref()?;
        (self.names_submitter(meta, reader)
            || self.registry.sector_hides_member(sector, self.k_anonymity))
        .then(|| sector.clone())
    }

    /// Describes `meta` to `reader`.
    pub(crate) fn related_view(&self, meta: &SubMeta, reader: &MemberId) -> RelatedSubmission {
        let named = self.names_submitter(meta, reader);
        let member = self.registry.member(&meta.key.member);
        let id = if named {
            meta.key.id.clone()
        } else {
            let h = self
                .key
                .hash(&["anonymous", meta.key.member.as_str(), meta.key.id.as_str()]);
            SubmissionId::anonymous(h)
        };
        RelatedSubmission {
            id,
            member: named.then(|| meta.key.member.clone()),
            member_name: if named {
                member.map(|m| m.name.clone())
            } else {
                None
            },
            sector: self.sector_for(meta, reader),
            kind: meta.kind,
            tlp: meta.tlp,
            title: meta.title.clone(),
            submitted_at_ms: meta.submitted_at_ms,
        }
    }

    /// Other members behind `subs` as `reader` may count them: distinct
    /// named members, plus one per anonymous submission, so the count never
    /// says two anonymous reports came from one member.
    pub(crate) fn member_count(&self, subs: &[&SubMeta], reader: &MemberId) -> u32 {
        let mut named: BTreeSet<&MemberId> = BTreeSet::new();
        let mut anonymous = 0u32;
        for m in subs {
            if self.names_submitter(m, reader) {
                named.insert(&m.key.member);
            } else {
                anonymous = anonymous.saturating_add(1);
            }
        }
        u32::try_from(named.len())
            .unwrap_or(u32::MAX)
            .saturating_add(anonymous)
    }
}

/// Why the alert is sent, with what its summary needs.
pub(crate) enum What<'a> {
    PeerSighting,
    /// The campaign in the recipient's view reached the thresholds.
    Escalation {
        members: u32,
        sectors: Vec<SectorId>,
    },
    SectorTargeting {
        sector: &'a SectorId,
    },
    ActorClaim {
        actor: &'a str,
    },
    SupplyChain {
        supplier: &'a str,
    },
    PartnerAdvisory,
    /// For the Fusion Cell: the campaign's attributed actor changed.
    AttributionChange(&'a crate::AttributionChange),
    /// The trigger (a report earlier alerts were built on) was withdrawn
    /// whole, or narrowed by the observables in `shared`; `action` is the
    /// correction's id.
    Revocation {
        whole: bool,
        action: &'a str,
    },
    /// The value in `shared` is disputed by `disputers` members and no
    /// longer links; `action` is the feedback that tipped it.
    Dispute {
        disputers: u32,
        k: u32,
        action: &'a str,
        /// Declared benign by the Fusion Cell rather than disputed by
        /// members.
        by_fusion_cell: bool,
    },
    /// The recipient's own asset in a report it may see; or, with
    /// `owner`, to the Fusion Cell: that member's asset in a report the
    /// member may not see.
    VictimNotification {
        asset: &'a str,
        owner: Option<&'a MemberId>,
    },
}

impl What<'_> {
    fn kind(&self) -> AlertKind {
        match self {
            What::PeerSighting => AlertKind::PeerSighting,
            What::Escalation { .. } => AlertKind::CampaignEscalation,
            What::SectorTargeting { .. } => AlertKind::SectorTargeting,
            What::ActorClaim { .. } => AlertKind::ActorAttribution,
            What::SupplyChain { .. } => AlertKind::SupplyChain,
            What::PartnerAdvisory => AlertKind::PartnerAdvisory,
            What::AttributionChange(_) => AlertKind::ActorAttribution,
            What::VictimNotification { .. } => AlertKind::VictimNotification,
            What::Revocation { .. } => AlertKind::Revocation,
            What::Dispute { .. } => AlertKind::Dispute,
        }
    }
}

/// One alert before it is built.
pub(crate) struct Draft<'a> {
    pub(crate) what: What<'a>,
    pub(crate) recipient: &'a MemberId,
    /// The submission whose arrival triggered the alert.
    pub(crate) trigger: &'a SubMeta,
    /// The recipient's own submissions involved.
    pub(crate) own: Vec<&'a SubMeta>,
    /// Others' submissions involved, all in the recipient's audience, most
    /// relevant first (the related list keeps the first `max_related`).
    pub(crate) others: Vec<&'a SubMeta>,
    pub(crate) shared: BTreeSet<Observable>,
    pub(crate) campaign: Option<CampaignId>,
    pub(crate) fusion_campaign: &'a CampaignId,
}

pub(crate) fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Draft<'_> {
    pub(crate) fn build(self, ctx: &Ctx<'_>) -> Alert {
        let mut tlp = self.trigger.tlp;
        for m in self.own.iter().chain(&self.others) {
            tlp = tlp.max(m.tlp);
        }
        let other_member_count = ctx.member_count(&self.others, self.recipient);
        let trigger_view = ctx.related_view(self.trigger, self.recipient);
        let mut provenance: Vec<SubmissionKey> = std::iter::once(self.trigger)
            .chain(self.own.iter().copied())
            .chain(self.others.iter().copied())
            .map(|m| m.key.clone())
            .collect();
        provenance.sort();
        provenance.dedup();
        let shared_total = self.shared.len();
        let shared: Vec<Observable> = self
            .shared
            .into_iter()
            .take(ctx.limits.max_shared)
            .collect();
        let examples: Vec<String> = shared.iter().take(3).map(ToString::to_string).collect();
        let more = shared_total.saturating_sub(examples.len());
        let example_text = format!(
            "{}{}",
            examples.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        let campaign_text = self
            .campaign
            .as_ref()
            .map_or_else(String::new, |c| format!(" — campaign {c}"));
        let severe_kind =
            |m: &&SubMeta| matches!(m.kind, SubmissionKind::Incident | SubmissionKind::Malware);
        let trigger_from = match (&trigger_view.member_name, &trigger_view.sector) {
            (Some(name), _) => name.clone(),
            (None, Some(sector)) => format!("an anonymous {sector} member"),
            (None, None) => "an anonymous member".to_owned(),
        };
        let (severity, summary, id_extra) = match &self.what {
            What::PeerSighting => {
                let severity = match other_member_count {
                    0 | 1 if !self.others.iter().any(severe_kind) => Severity::Low,
                    0..=2 => Severity::Medium,
                    _ => Severity::High,
                };
                let summary = format!(
                    "{} reported {} you reported ({example_text}){campaign_text}",
                    plural(other_member_count, "other member", "other members"),
                    plural(shared_total as u64, "observable", "observables"),
                );
                (severity, summary, String::new())
            }
            What::Escalation { members, sectors } => {
                let severity = if sectors.len() >= 3 || *members >= 5 {
                    Severity::High
                } else {
                    Severity::Medium
                };
                let names: Vec<&str> = sectors.iter().map(SectorId::as_str).collect();
                let summary = format!(
                    "a campaign you are part of now involves {} in {} ({}), as far as you may see{campaign_text}",
                    plural(*members, "member", "members"),
                    plural(sectors.len() as u64, "sector", "sectors"),
                    names.join(", "),
                );
                let label = self.campaign.as_ref().map_or("", CampaignId::as_str);
                (severity, summary, label.to_owned())
            }
            What::SectorTargeting { sector } => {
                let severity = if severe_kind(&self.trigger) {
                    Severity::High
                } else {
                    Severity::Medium
                };
                let summary = format!(
                    "{trigger_from} reports your sector ({sector}) as targeted: {} \"{}\"",
                    self.trigger.kind.name(),
                    self.trigger.title
                );
                (severity, summary, sector.to_string())
            }
            What::ActorClaim { actor } => {
                let summary = format!(
                    "{trigger_from} attributes activity linked to your reports to \"{actor}\"{campaign_text}"
                );
                let label = self.campaign.as_ref().map_or("", CampaignId::as_str);
                (Severity::Medium, summary, format!("{label}\u{0}{actor}"))
            }
            What::SupplyChain { supplier } => {
                let summary = format!(
                    "your declared supplier {supplier} appears in {} report from {trigger_from} ({example_text})",
                    self.trigger.kind.with_article()
                );
                (Severity::High, summary, (*supplier).to_owned())
            }
            What::PartnerAdvisory => {
                let summary = format!("advisory from {trigger_from}: \"{}\"", self.trigger.title);
                (Severity::Medium, summary, String::new())
            }
            What::VictimNotification { asset, owner: None } => {
                let summary = format!(
                    "your own asset {asset} appears in {} report from {trigger_from} ({example_text})",
                    self.trigger.kind.with_article()
                );
                (Severity::High, summary, (*asset).to_owned())
            }
            What::VictimNotification {
                asset,
                owner: Some(owner),
            } => {
                let summary = format!(
                    "{owner}'s own asset {asset} appears in {} report from {trigger_from} that {owner} may not see ({example_text}): nothing was sent to {owner}",
                    self.trigger.kind.with_article()
                );
                (Severity::Medium, summary, format!("{owner}\u{0}{asset}"))
            }
            What::Revocation {
                whole: true,
                action,
            } => {
                let summary = format!(
                    "{trigger_from} withdrew its {} report \"{}\": alerts you received were built on it; stop acting on what came only from it",
                    self.trigger.kind.name(),
                    self.trigger.title
                );
                (Severity::Medium, summary, (*action).to_owned())
            }
            What::Revocation {
                whole: false,
                action,
            } => {
                let summary = format!(
                    "{trigger_from} took {} out of its {} report \"{}\" ({example_text}): alerts you received were built on it; stop acting on what came only from it",
                    plural(shared_total as u64, "observable", "observables"),
                    self.trigger.kind.name(),
                    self.trigger.title
                );
                (Severity::Medium, summary, (*action).to_owned())
            }
            What::Dispute {
                by_fusion_cell: true,
                action,
                ..
            } => {
                let summary = format!(
                    "the CiSP Fusion Cell declared {example_text} benign for the partnership: it no longer links reports, and alerts you received were about it"
                );
                (Severity::Medium, summary, (*action).to_owned())
            }
            What::Dispute {
                disputers,
                k,
                action,
                by_fusion_cell: false,
            } => {
                // A count below the k-anonymity threshold could name the
                // disputers: it is not given.
                let who = if disputers >= k {
                    format!("{disputers} members of the partnership")
                } else {
                    "several members of the partnership".to_owned()
                };
                let summary = format!(
                    "{who} report {example_text} as a false positive: it no longer links reports, and alerts you received were about it"
                );
                (Severity::Medium, summary, (*action).to_owned())
            }
            What::AttributionChange(c) => {
                let actor = |a: &crate::ActorAttribution| {
                    format!("{} ({}) at {:.2}", a.actor_name, a.actor_id, a.confidence)
                };
                let runner_up = c.runner_up.as_ref().map_or_else(
                    || "no other candidate".to_owned(),
                    |(name, conf)| format!("runner-up {name} at {conf:.2}"),
                );
                let id = &c.campaign_id;
                let summary = match (&c.before, &c.after) {
                    (None, Some(now)) => {
                        format!("campaign {id} attributed to {}; {runner_up}", actor(now))
                    }
                    (Some(was), Some(now)) => format!(
                        "campaign {id} now attributed to {}, was {}; {runner_up}",
                        actor(now),
                        actor(was)
                    ),
                    (Some(was), None) => format!(
                        "campaign {id} no longer attributed to {}: the evidence falls below the threshold; {runner_up}",
                        actor(was)
                    ),
                    (None, None) => format!("campaign {id}: attribution unchanged"),
                };
                let name = |a: &Option<crate::ActorAttribution>| {
                    a.as_ref().map_or("", |a| a.actor_id.as_str()).to_owned()
                };
                let extra = format!("{id}\u{0}{}\u{0}{}", name(&c.before), name(&c.after));
                (Severity::Medium, summary, extra)
            }
        };
        let kind = self.what.kind();
        // An alert about one submission is named by it; an escalation or
        // an actor claim is once per recipient and view (and actor), so it
        // is named by those alone: handling the same records again — after
        // a crash, possibly in another order, so another submission crosses
        // the threshold — gives the same id.
        let about_view = matches!(self.what, What::Escalation { .. } | What::ActorClaim { .. });
        let id = format!(
            "A-{:016x}",
            if about_view {
                ctx.key
                    .hash(&[kind.name(), self.recipient.as_str(), &id_extra])
            } else {
                ctx.key.hash(&[
                    kind.name(),
                    self.recipient.as_str(),
                    self.trigger.key.member.as_str(),
                    self.trigger.key.id.as_str(),
                    &id_extra,
                ])
            }
        );
        let mut related: Vec<RelatedSubmission> = self
            .others
            .iter()
            .take(ctx.limits.max_related)
            .map(|m| ctx.related_view(m, self.recipient))
            .collect();
        if related.is_empty() && self.trigger.key.member != *self.recipient {
            related.push(trigger_view);
        }
        let mut your: BTreeMap<&SubmissionId, ()> = BTreeMap::new();
        for m in &self.own {
            your.insert(&m.key.id, ());
        }
        Alert {
            id,
            recipient: self.recipient.clone(),
            created_at_ms: ctx.now_ms,
            trigger_published_at_ms: ctx.published_ms,
            kind,
            severity,
            tlp,
            campaign_id: self.campaign,
            fusion_campaign_id: self.fusion_campaign.clone(),
            your_submissions: your.into_keys().cloned().collect(),
            related,
            shared,
            shared_scores: Vec::new(),
            other_member_count,
            summary,
            provenance,
            trigger: self.trigger.key.clone(),
            sightings: 1,
            coalesced: false,
            revokes: Vec::new(),
        }
    }
}
