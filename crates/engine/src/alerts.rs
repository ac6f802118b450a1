//! Building alerts, one recipient at a time, from only what that recipient
//! may see.

use std::collections::{BTreeMap, BTreeSet};

use cisp_model::{
    AlertKind, Attribution, MemberId, Observable, Registry, SectorId, Severity, SubmissionId,
    SubmissionKind, Tlp,
};
use serde::{Deserialize, Serialize};

use crate::engine::SubMeta;
use crate::ids::{stable_hash, CampaignId, SubmissionKey};

/// A submission as shown to one recipient: the submitter is named only when
/// it chose attribution (or the recipient is the Fusion Cell).
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    pub campaign_id: CampaignId,
    pub your_submissions: Vec<SubmissionId>,
    pub related: Vec<RelatedSubmission>,
    pub shared: Vec<Observable>,
    pub other_member_count: u32,
    pub summary: String,
    /// Every submission the alert was built from (for the audit table).
    pub provenance: Vec<SubmissionKey>,
}

pub(crate) struct AlertLimits {
    pub(crate) max_related: usize,
    pub(crate) max_shared: usize,
}

/// Describes `meta` to `recipient`, hiding an anonymous submitter.
pub(crate) fn related_view(
    meta: &SubMeta,
    recipient: &MemberId,
    registry: &Registry,
) -> RelatedSubmission {
    let named = meta.attribution == Attribution::Attributed || registry.is_fusion_cell(recipient);
    let member = registry.member(&meta.key.member);
    RelatedSubmission {
        id: meta.key.id.clone(),
        member: named.then(|| meta.key.member.clone()),
        member_name: if named {
            member.map(|m| m.name.clone())
        } else {
            None
        },
        sector: if named {
            member.map(|m| m.sector.clone())
        } else {
            None
        },
        kind: meta.kind,
        tlp: meta.tlp,
        title: meta.title.clone(),
        submitted_at_ms: meta.submitted_at_ms,
    }
}

pub(crate) struct PeerSighting<'a> {
    pub(crate) recipient: MemberId,
    /// The submission whose arrival triggered the alert.
    pub(crate) trigger: &'a SubMeta,
    /// The recipient's own submissions involved.
    pub(crate) own: Vec<&'a SubMeta>,
    /// Others' submissions involved, all in the recipient's audience.
    pub(crate) others: Vec<&'a SubMeta>,
    pub(crate) shared: BTreeSet<Observable>,
    pub(crate) campaign: CampaignId,
}

impl PeerSighting<'_> {
    pub(crate) fn build(
        self,
        registry: &Registry,
        limits: &AlertLimits,
        now_ms: i64,
        published_ms: i64,
    ) -> Alert {
        let mut tlp = self.trigger.tlp;
        for m in self.own.iter().chain(&self.others) {
            tlp = tlp.max(m.tlp);
        }
        // Distinct named members, plus one per anonymous submission: the
        // count never says two anonymous reports came from one member.
        let mut named: BTreeSet<&MemberId> = BTreeSet::new();
        let mut anonymous = 0u32;
        for m in &self.others {
            if m.attribution == Attribution::Anonymous && !registry.is_fusion_cell(&self.recipient)
            {
                anonymous += 1;
            } else {
                named.insert(&m.key.member);
            }
        }
        let other_member_count = u32::try_from(named.len())
            .unwrap_or(u32::MAX)
            .saturating_add(anonymous);
        let severe_kind = self
            .others
            .iter()
            .any(|m| matches!(m.kind, SubmissionKind::Incident | SubmissionKind::Malware));
        let severity = match other_member_count {
            0 | 1 if !severe_kind => Severity::Low,
            0 | 1 => Severity::Medium,
            2 => Severity::Medium,
            _ => Severity::High,
        };
        let mut provenance: Vec<SubmissionKey> = self
            .own
            .iter()
            .chain(&self.others)
            .map(|m| m.key.clone())
            .collect();
        provenance.sort();
        provenance.dedup();
        let shared_total = self.shared.len();
        let shared: Vec<Observable> = self.shared.into_iter().take(limits.max_shared).collect();
        let examples: Vec<String> = shared.iter().take(3).map(ToString::to_string).collect();
        let more = shared_total.saturating_sub(examples.len());
        let summary = format!(
            "{} other member{} reported {} observable{} you reported ({}{}) — campaign {}",
            other_member_count,
            if other_member_count == 1 { "" } else { "s" },
            shared_total,
            if shared_total == 1 { "" } else { "s" },
            examples.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            self.campaign,
        );
        let mut related: Vec<RelatedSubmission> = self
            .others
            .iter()
            .map(|m| related_view(m, &self.recipient, registry))
            .collect();
        related.truncate(limits.max_related);
        let id = format!(
            "A-{:016x}",
            stable_hash(&[
                "peer",
                self.recipient.as_str(),
                self.trigger.key.member.as_str(),
                self.trigger.key.id.as_str()
            ])
        );
        let mut your: BTreeMap<&SubmissionId, ()> = BTreeMap::new();
        for m in &self.own {
            your.insert(&m.key.id, ());
        }
        Alert {
            id,
            recipient: self.recipient,
            created_at_ms: now_ms,
            trigger_published_at_ms: published_ms,
            kind: AlertKind::PeerSighting,
            severity,
            tlp,
            campaign_id: self.campaign,
            your_submissions: your.into_keys().cloned().collect(),
            related,
            shared,
            other_member_count,
            summary,
            provenance,
        }
    }
}
