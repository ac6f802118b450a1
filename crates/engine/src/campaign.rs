use std::collections::{BTreeMap, BTreeSet, HashSet};

use cisp_model::{Distribution, MemberId, SectorId, Tlp};
use petgraph::stable_graph::NodeIndex;
use serde::{Deserialize, Serialize};

use crate::ids::CampaignId;

/// The Fusion Cell's view of a campaign (it sees every submission).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignView {
    pub id: CampaignId,
    /// The engine sequence number of the change; increases monotonically.
    pub version: u64,
    pub merged_into: Option<CampaignId>,
    pub submission_count: u32,
    pub member_count: u32,
    pub observable_count: u32,
    pub members: Vec<MemberId>,
    pub sectors: Vec<SectorId>,
    pub tlp: Tlp,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub updated_at_ms: i64,
}

/// Live state of one campaign, keyed in the engine by its union-find root.
#[derive(Debug)]
pub(crate) struct CampaignState {
    pub(crate) id: CampaignId,
    /// Sequence number of the founding submission: the oldest survives a merge.
    pub(crate) founded_seq: u64,
    pub(crate) submission_count: u32,
    pub(crate) members: BTreeMap<MemberId, u32>,
    pub(crate) sectors: BTreeSet<SectorId>,
    pub(crate) observables: HashSet<NodeIndex>,
    pub(crate) tlp: Tlp,
    pub(crate) first_seen_ms: i64,
    pub(crate) last_seen_ms: i64,
    /// Members (and Fusion Cell staff) already sent an escalation for it.
    pub(crate) escalated: BTreeSet<MemberId>,
    /// (member, actor) pairs already told of a member's actor claim.
    pub(crate) actors_told: BTreeSet<(MemberId, String)>,
    /// Every submission in it (engine indexes, in no order), and those not
    /// shared with the whole community: a reader who may see all of the
    /// latter sees the whole campaign, and readers who may see the same
    /// ones have the same view.
    pub(crate) subs: Vec<u32>,
    pub(crate) restricted: Vec<Restricted>,
}

/// The campaign's submissions from one member with one (not community-wide)
/// distribution: whoever may see one of them may see them all.
#[derive(Debug)]
pub(crate) struct Restricted {
    pub(crate) member: MemberId,
    pub(crate) distribution: Distribution,
    pub(crate) subs: Vec<u32>,
}

/// Adds submission `si` to the group of its member and distribution.
pub(crate) fn add_restricted(
    groups: &mut Vec<Restricted>,
    member: &MemberId,
    distribution: &Distribution,
    subs: &[u32],
) {
    match groups
        .iter_mut()
        .find(|g| g.member == *member && g.distribution == *distribution)
    {
        Some(g) => g.subs.extend_from_slice(subs),
        None => groups.push(Restricted {
            member: member.clone(),
            distribution: distribution.clone(),
            subs: subs.to_vec(),
        }),
    }
}

impl CampaignState {
    pub(crate) fn absorb(&mut self, other: CampaignState) {
        self.submission_count += other.submission_count;
        for (m, n) in other.members {
            *self.members.entry(m).or_default() += n;
        }
        self.sectors.extend(other.sectors);
        if self.observables.len() < other.observables.len() {
            let mine = std::mem::replace(&mut self.observables, other.observables);
            self.observables.extend(mine);
        } else {
            self.observables.extend(other.observables);
        }
        self.tlp = self.tlp.max(other.tlp);
        self.escalated.extend(other.escalated);
        self.actors_told.extend(other.actors_told);
        self.subs.extend(other.subs);
        for g in other.restricted {
            add_restricted(&mut self.restricted, &g.member, &g.distribution, &g.subs);
        }
        self.first_seen_ms = self.first_seen_ms.min(other.first_seen_ms);
        self.last_seen_ms = self.last_seen_ms.max(other.last_seen_ms);
    }

    pub(crate) fn view(
        &self,
        version: u64,
        merged_into: Option<CampaignId>,
        now_ms: i64,
    ) -> CampaignView {
        CampaignView {
            id: self.id.clone(),
            version,
            merged_into,
            submission_count: self.submission_count,
            member_count: u32::try_from(self.members.len()).unwrap_or(u32::MAX),
            observable_count: u32::try_from(self.observables.len()).unwrap_or(u32::MAX),
            members: self.members.keys().cloned().collect(),
            sectors: self.sectors.iter().cloned().collect(),
            tlp: self.tlp,
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            updated_at_ms: now_ms,
        }
    }
}
