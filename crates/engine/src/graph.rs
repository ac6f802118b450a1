//! The correlation graph's types: what the engine keeps of a submission
//! ([`SubMeta`]), the graph's nodes and edges, a piece of evidence with
//! its posting list, one reader's view of a campaign, why two submissions
//! link, and the scratch marks graph walks reuse. Data only: the rules
//! that act on it live in `linking` (clustering), `recipients` (who is
//! told what) and `alerts` (what they are told).

use std::collections::HashMap;

use cisp_model::{Attribution, Distribution, MemberId, SectorId, SubmissionKind, Tlp};
use petgraph::stable_graph::NodeIndex;
use serde::{Deserialize, Serialize};

use crate::evidence::{EvidenceKey, Strength};
use crate::ids::SubmissionKey;

/// What the engine keeps of a submission (its evidence lives in the graph).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SubMeta {
    pub(crate) key: SubmissionKey,
    pub(crate) kind: SubmissionKind,
    pub(crate) tlp: Tlp,
    #[serde(with = "crate::snapshot::distribution")]
    pub(crate) distribution: Distribution,
    pub(crate) attribution: Attribution,
    pub(crate) title: String,
    pub(crate) submitted_at_ms: i64,
    pub(crate) sector: Option<SectorId>,
    pub(crate) confidence: u8,
    pub(crate) node: NodeIndex,
    /// Everything it carries (reported and derived), as evidence indexes;
    /// the first `reported` are its observables in the submission's order.
    pub(crate) evidence: Vec<u32>,
    /// (derived evidence, evidence it was derived from), sorted: a value
    /// derived only from values that no longer link (common) links nothing.
    pub(crate) sources: Vec<(u32, u32)>,
    pub(crate) reported: u32,
    /// Actors its member claims (profile indexes).
    pub(crate) claims: Vec<u32>,
}

/// A node of the correlation graph.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum Node {
    Submission(u32),
    /// An observable, derived value, technique, technique set or malware
    /// family (index into the evidence table).
    Evidence(u32),
    Campaign,
    Actor(u32),
}

/// An edge of the correlation graph.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum Edge {
    /// submission → observable it reports
    Contains,
    /// submission or actor → technique, technique set or malware
    Uses,
    /// value → value derived from it (url → host → registrable domain,
    /// ip → /24, e-mail → domain)
    DerivedFrom,
    /// submission → its campaign
    MemberOf,
    /// campaign → actor, with the attribution's confidence
    AttributedTo(f32),
}

/// One piece of evidence: a node of the graph and its posting list.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Evidence {
    pub(crate) key: EvidenceKey,
    pub(crate) node: NodeIndex,
    pub(crate) strength: Strength,
    /// Index of the warn-list it is on.
    pub(crate) warn: Option<u16>,
    /// Common infrastructure: links nothing any more.
    pub(crate) common: bool,
    /// Submissions carrying it, in engine order (sorted).
    pub(crate) subs: Vec<u32>,
    /// Distinct reporting members and the highest confidence each gave.
    pub(crate) reporters: Vec<(MemberId, u8)>,
    pub(crate) last_seen_ms: i64,
}

impl Evidence {
    pub(crate) fn links(&self) -> bool {
        self.strength != Strength::Context && self.warn.is_none() && !self.common
    }
}

/// One recipient's view of a campaign: the submissions it may see that are
/// connected to the triggering one through submissions it may see.
pub(crate) struct View {
    /// Lowest sequence number in the view: names it (stable as it grows).
    pub(crate) label: u32,
    pub(crate) subs: Vec<u32>,
}

/// Why two submissions are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    Strong(u32),
    /// Two different weak pieces.
    Weak(u32, u32),
}

/// Scratch space for graph walks, reused between them.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    /// `epoch` means "visited in this walk".
    pub(crate) epoch: u32,
    pub(crate) sub_mark: Vec<u32>,
    /// Restricted submissions the reader of the current walk may see.
    pub(crate) vis_mark: Vec<u32>,
    /// First weak piece seen per candidate while listing one submission's links.
    pub(crate) weak: HashMap<u32, u32>,
}

impl Marks {
    /// Starts a walk over `n` submissions; returns its epoch.
    pub(crate) fn next(&mut self, n: usize) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.sub_mark.fill(0);
            self.vis_mark.fill(0);
            self.epoch = 1;
        }
        self.sub_mark.resize(n, 0);
        self.vis_mark.resize(n, 0);
        self.epoch
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) observables: u64,
    pub(crate) common: u64,
}

impl Counts {
    pub(crate) fn of(evidence: &[Evidence]) -> Counts {
        Counts {
            observables: evidence
                .iter()
                .filter(|e| matches!(e.key, EvidenceKey::Observable(_)))
                .count() as u64,
            common: evidence.iter().filter(|e| e.common).count() as u64,
        }
    }
}
