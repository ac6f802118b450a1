//! A campaign's running state (members, sectors, marking, features for
//! attribution) and [`CampaignView`], what a campaign update carries; the
//! Fusion Cell sees the whole campaign, a member only its own view.

use std::collections::{BTreeSet, HashSet};

use cisp_model::{Distribution, MemberId, SectorId, Tlp};
use petgraph::stable_graph::NodeIndex;
use serde::{Deserialize, Serialize};

use crate::actors::{Actors, Attribution, Features};
use crate::graph::SubMeta;
use crate::ids::CampaignId;
use crate::views::Views;

/// The actor a campaign is attributed to, with the confidence and the
/// evidence that contributed most.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActorAttribution {
    /// ATT&CK group id (`G0007`) or `claim:<name>`.
    pub actor_id: String,
    pub actor_name: String,
    pub confidence: f64,
    pub evidence: Vec<String>,
}

/// The Fusion Cell's view of a campaign (it sees every submission).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    pub attribution: Option<ActorAttribution>,
}

/// Live state of one campaign, keyed in the engine by its union-find root.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CampaignState {
    pub(crate) id: CampaignId,
    /// Sequence number of the founding submission: the oldest survives a merge.
    pub(crate) founded_seq: u64,
    pub(crate) submission_count: u32,
    /// Submissions per member, sorted by member (a handful: a vector,
    /// where a B-tree's first node alone costs ~200 bytes per campaign).
    pub(crate) members: Vec<(MemberId, u32)>,
    /// Sorted, each once.
    pub(crate) sectors: Vec<SectorId>,
    /// Its observables (evidence indexes).
    pub(crate) observables: HashSet<u32>,
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
    /// Its node in the correlation graph.
    pub(crate) node: NodeIndex,
    /// Techniques, malware and actor claims, for attribution.
    pub(crate) features: Features,
    pub(crate) attribution: Option<Attribution>,
    /// Readers' views, kept as it grows (`views`); made when first asked
    /// for (most campaigns never are), rebuilt after a restore.
    #[serde(skip)]
    pub(crate) views: Option<Box<Views>>,
}

/// The campaign's submissions from one member with one (not community-wide)
/// distribution: whoever may see one of them may see them all.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Restricted {
    pub(crate) member: MemberId,
    #[serde(with = "crate::snapshot::distribution")]
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
    pub(crate) fn new(id: CampaignId, founded_seq: u64, node: NodeIndex) -> CampaignState {
        CampaignState {
            id,
            founded_seq,
            submission_count: 0,
            members: Vec::new(),
            sectors: Vec::new(),
            observables: HashSet::new(),
            tlp: Tlp::Clear,
            first_seen_ms: i64::MAX,
            last_seen_ms: i64::MIN,
            escalated: BTreeSet::new(),
            actors_told: BTreeSet::new(),
            subs: Vec::new(),
            restricted: Vec::new(),
            node,
            features: Features::default(),
            attribution: None,
            views: None,
        }
    }

    /// Counts submission `si` in (observables and features are the
    /// engine's to add: they need its evidence table).
    pub(crate) fn add_submission(&mut self, si: u32, meta: &SubMeta) {
        self.submission_count += 1;
        self.subs.push(si);
        if meta.distribution != Distribution::Community {
            add_restricted(
                &mut self.restricted,
                &meta.key.member,
                &meta.distribution,
                &[si],
            );
        }
        self.count_member(&meta.key.member, 1);
        if let Some(s) = &meta.sector {
            self.add_sector(s);
        }
        self.tlp = self.tlp.max(meta.tlp);
        if let Some(whole) = self.views.as_mut().and_then(|v| v.whole.as_mut()) {
            whole.add(si, meta);
        }
        self.first_seen_ms = self.first_seen_ms.min(meta.submitted_at_ms);
        self.last_seen_ms = self.last_seen_ms.max(meta.submitted_at_ms);
    }

    fn count_member(&mut self, member: &MemberId, n: u32) {
        match self.members.binary_search_by(|(m, _)| m.cmp(member)) {
            Ok(at) => self.members[at].1 += n,
            Err(at) => self.members.insert(at, (member.clone(), n)),
        }
    }

    fn add_sector(&mut self, sector: &SectorId) {
        if let Err(at) = self.sectors.binary_search(sector) {
            self.sectors.insert(at, sector.clone());
        }
    }

    pub(crate) fn absorb(&mut self, other: CampaignState) {
        let mine = self.views.as_mut().and_then(|v| v.whole.take());
        let theirs = other.views.and_then(|v| v.whole);
        if let Some(views) = &mut self.views {
            views.whole = match (mine, theirs) {
                (Some(mut a), Some(b)) => {
                    a.merge(b);
                    Some(a)
                }
                _ => None,
            };
            // The parts kept saw only this campaign's submissions.
            views.forget_parts();
        }
        self.submission_count += other.submission_count;
        for (m, n) in &other.members {
            self.count_member(m, *n);
        }
        for s in &other.sectors {
            self.add_sector(s);
        }
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
        for (t, n) in other.features.techniques {
            *self.features.techniques.entry(t).or_default() += n;
        }
        for (m, n) in other.features.malware {
            *self.features.malware.entry(m).or_default() += n;
        }
        for (a, who) in other.features.claims {
            self.features.claims.entry(a).or_default().extend(who);
        }
    }

    /// Its kept views, made if it has none yet.
    pub(crate) fn views(&mut self) -> &mut Views {
        self.views.get_or_insert_with(Box::default)
    }

    pub(crate) fn view(
        &self,
        version: u64,
        merged_into: Option<CampaignId>,
        now_ms: i64,
        actors: &Actors,
    ) -> CampaignView {
        CampaignView {
            id: self.id.clone(),
            version,
            merged_into,
            submission_count: self.submission_count,
            member_count: u32::try_from(self.members.len()).unwrap_or(u32::MAX),
            observable_count: u32::try_from(self.observables.len()).unwrap_or(u32::MAX),
            members: self.members.iter().map(|(m, _)| m.clone()).collect(),
            sectors: self.sectors.clone(),
            tlp: self.tlp,
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            updated_at_ms: now_ms,
            attribution: self.attribution.as_ref().and_then(|a| {
                let p = actors.profile(a.actor)?;
                Some(ActorAttribution {
                    actor_id: p.id.clone(),
                    actor_name: p.name.clone(),
                    confidence: a.confidence,
                    evidence: a.evidence.clone(),
                })
            }),
        }
    }
}
