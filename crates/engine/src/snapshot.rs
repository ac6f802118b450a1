//! Snapshots: the engine's whole state as bytes, so the service can resume
//! after a crash without replaying history.
//!
//! Format: a magic/version header, then the state in `postcard` (compact
//! serde). Reference data (public suffixes, warn-lists, ATT&CK profiles)
//! and the registry are not in it: they come from the build and the
//! configuration. A snapshot records a keyed check of the id salt and the
//! linking settings it was built under and refuses to load under others
//! (ids and campaigns would silently change meaning).

use std::collections::HashMap;

use cisp_model::Registry;
use petgraph::stable_graph::{NodeIndex, StableGraph};
use serde::{Deserialize, Serialize};

use crate::actors::Actors;
use crate::campaign::CampaignState;
use crate::engine::{Engine, Reference, WalkCost};
use crate::error::EngineError;
use crate::graph::{Chunked, Counts, Edge, Evidence, EvidenceIndex, Marks, Node, SubMeta};
use crate::ids::{IdKey, IndexMap, SubmissionKey};
use crate::revision::FeedbackState;
use crate::union_find::UnionFind;
use crate::EngineConfig;

const MAGIC: &[u8; 8] = b"CISPENG2";

#[derive(Serialize)]
struct Out<'a> {
    check: u64,
    graph: &'a StableGraph<Node, Edge>,
    evidence: &'a Chunked<Evidence>,
    subs: &'a Chunked<SubMeta>,
    uf: &'a UnionFind,
    campaigns: &'a IndexMap<u32, Box<CampaignState>>,
    actors: &'a Actors,
    actor_nodes: &'a Vec<NodeIndex>,
    withdrawn: &'a std::collections::BTreeSet<u32>,
    feedback: &'a HashMap<u32, FeedbackState>,
    actions: &'a std::collections::HashSet<SubmissionKey>,
    action_count: u64,
    decisions: &'a crate::decisions::Decisions,
}

#[derive(Deserialize)]
struct In {
    check: u64,
    graph: StableGraph<Node, Edge>,
    evidence: Chunked<Evidence>,
    subs: Chunked<SubMeta>,
    uf: UnionFind,
    campaigns: IndexMap<u32, Box<CampaignState>>,
    actors: Actors,
    actor_nodes: Vec<NodeIndex>,
    withdrawn: std::collections::BTreeSet<u32>,
    feedback: HashMap<u32, FeedbackState>,
    actions: std::collections::HashSet<SubmissionKey>,
    action_count: u64,
    decisions: crate::decisions::Decisions,
}

fn check(key: &IdKey, config: &EngineConfig) -> u64 {
    key.hash(&[
        "snapshot",
        &config.hot_observable_limit.to_string(),
        &config.common_after_campaigns.to_string(),
        &config.link_window_ms.to_string(),
        &config.warnlists_disabled.join(","),
        &config.commodity_malware_links.to_string(),
        // Attribution scoring (issue 26: commodity tools, claims, the
        // calibrated posterior): kept attributions and the profiles' norms
        // are in the snapshot, so a change of scoring replays.
        "attribution-3",
        crate::evidence::COMMODITY_MALWARE,
    ])
}

impl Engine {
    /// The engine's state as bytes (see the module docs).
    pub fn snapshot(&self) -> Result<Vec<u8>, EngineError> {
        let out = Out {
            check: check(&self.key, &self.config),
            graph: &self.graph,
            evidence: &self.evidence,
            subs: &self.subs,
            uf: &self.uf,
            campaigns: &self.campaigns,
            actors: &self.actors,
            actor_nodes: &self.actor_nodes,
            withdrawn: &self.withdrawn,
            feedback: &self.feedback,
            actions: &self.actions,
            action_count: self.action_count,
            decisions: &self.decisions,
        };
        // Room for a little more than a snapshot takes (measured: ~110
        // bytes per indexed observable, i.e. per 1.4 evidence entries and a
        // twelfth of a submission), so the buffer is not grown and copied
        // over and over while the engine is locked.
        let mut bytes =
            Vec::with_capacity(MAGIC.len() + 96 * self.evidence.len() + 160 * self.subs.len());
        bytes.extend_from_slice(MAGIC);
        postcard::to_extend(&out, bytes)
            .map_err(|e| EngineError::Snapshot(format!("cannot encode: {e}")))
    }

    /// An engine in the state `bytes` describe. Refused when the snapshot
    /// was made with another id salt or other linking settings.
    pub fn restore(
        registry: std::sync::Arc<Registry>,
        config: EngineConfig,
        reference: Reference,
        bytes: &[u8],
    ) -> Result<Engine, EngineError> {
        let body = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(|| {
            EngineError::Snapshot("not a CiSP engine snapshot (or an older format)".into())
        })?;
        let s: In = postcard::from_bytes(body)
            .map_err(|e| EngineError::Snapshot(format!("corrupt: {e}")))?;
        let mut engine = Engine::with_reference(registry, config, reference);
        if s.check != check(&engine.key, &engine.config) {
            return Err(EngineError::Snapshot(
                "made with another id salt or other linking settings".into(),
            ));
        }
        let index = EvidenceIndex::of(&s.evidence);
        let by_key: HashMap<SubmissionKey, u32> = s
            .subs
            .iter()
            .enumerate()
            .map(|(i, m)| (m.key.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        engine.sub_time = s.subs.iter().map(|m| m.submitted_at_ms).collect();
        engine.sub_group = s
            .subs
            .iter()
            .map(|m| engine.group_of(&m.key.member, &m.distribution))
            .collect();
        engine.graph = s.graph;
        engine.index = index;
        engine.counts = Counts::of(&s.evidence);
        engine.evidence = s.evidence;
        engine.subs = s.subs;
        engine.by_key = by_key;
        engine.uf = s.uf;
        engine.campaign_roots = s
            .campaigns
            .iter()
            .map(|(&root, c)| (c.id.clone(), root))
            .collect();
        engine.sub_pos = vec![u32::MAX; engine.subs.len()];
        for state in s.campaigns.values() {
            for (at, &sub) in (0u32..).zip(&state.subs) {
                if let Some(p) = engine.sub_pos.get_mut(sub as usize) {
                    *p = at;
                }
            }
        }
        engine.campaigns = s.campaigns;
        engine.actors = s.actors;
        engine.actor_nodes = s.actor_nodes;
        engine.withdrawn = s.withdrawn;
        engine.feedback = s.feedback;
        engine.actions = s.actions;
        engine.action_count = s.action_count;
        engine.decisions = s.decisions;
        engine.marks = Marks::default();
        engine.walk_cost = WalkCost::default();
        Ok(engine)
    }

    /// Submissions processed so far (the sequence number of the next one).
    pub fn processed(&self) -> u64 {
        self.subs.len() as u64
    }
}

/// `Distribution` is internally tagged for JSON, which a compact binary
/// format cannot read back; snapshots store it externally tagged.
pub(crate) mod distribution {
    use std::collections::BTreeSet;

    use cisp_model::{Distribution, GroupId, MemberId};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    enum Repr {
        FusionCellOnly,
        NamedMembers(BTreeSet<MemberId>),
        SharingGroups(BTreeSet<GroupId>),
        Sector,
        Community,
    }

    pub(crate) fn serialize<S: Serializer>(d: &Distribution, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Distribution::FusionCellOnly => Repr::FusionCellOnly,
            Distribution::NamedMembers { members } => Repr::NamedMembers(members.clone()),
            Distribution::SharingGroups { groups } => Repr::SharingGroups(groups.clone()),
            Distribution::Sector => Repr::Sector,
            Distribution::Community => Repr::Community,
        }
        .serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Distribution, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::FusionCellOnly => Distribution::FusionCellOnly,
            Repr::NamedMembers(members) => Distribution::NamedMembers { members },
            Repr::SharingGroups(groups) => Distribution::SharingGroups { groups },
            Repr::Sector => Distribution::Sector,
            Repr::Community => Distribution::Community,
        })
    }
}
