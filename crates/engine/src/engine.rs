use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use cisp_model::{
    Attribution, Distribution, Observable, Registry, SectorId, Submission, SubmissionKind, Tlp,
};
use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::Direction;

use crate::alerts::{Alert, AlertLimits, PeerSighting};
use crate::campaign::{CampaignState, CampaignView};
use crate::ids::{stable_hash, CampaignId, SubmissionKey};
use crate::union_find::UnionFind;

/// Tunables of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// An observable already contained in this many submissions stops
    /// linking new ones (shared hosting, CDNs, public resolvers).
    pub hot_observable_limit: u32,
    pub max_related_per_alert: usize,
    pub max_shared_per_alert: usize,
    /// Secret mixed into campaign ids so an id reveals nothing about the
    /// submission that founded it. Never logged.
    pub id_salt: String,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            hot_observable_limit: 1000,
            max_related_per_alert: 50,
            max_shared_per_alert: 100,
            id_salt: String::new(),
        }
    }
}

/// The time context of one submission: when it was published to the
/// broker and "now" as the caller sees it. The engine reads no clock.
#[derive(Clone, Copy, Debug)]
pub struct Ingest {
    pub published_at_ms: i64,
    pub now_ms: i64,
}

/// What processing one submission produced.
#[derive(Debug)]
pub enum Outcome {
    /// The same (member, submission id) was processed before: nothing changes.
    Duplicate {
        campaign_id: CampaignId,
    },
    Accepted(Effects),
}

/// The effects of an accepted submission, for the caller to make durable.
#[derive(Debug)]
pub struct Effects {
    /// Position of this submission in the engine's history (0-based).
    pub seq: u64,
    pub campaign_id: CampaignId,
    pub alerts: Vec<Alert>,
    /// Changed campaigns: the one the submission joined, and any absorbed
    /// by a merge (with `merged_into` set).
    pub campaigns: Vec<CampaignView>,
    /// Observables too common to link (see [`EngineConfig::hot_observable_limit`]).
    pub hot_observables: u32,
}

/// Sizes, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub submissions: u64,
    pub observables: u64,
    pub campaigns: u64,
    pub graph_nodes: u64,
    pub graph_edges: u64,
}

/// What the engine keeps of a submission (observables live in the graph).
#[derive(Debug)]
pub(crate) struct SubMeta {
    pub(crate) key: SubmissionKey,
    pub(crate) kind: SubmissionKind,
    pub(crate) tlp: Tlp,
    pub(crate) distribution: Distribution,
    pub(crate) attribution: Attribution,
    pub(crate) title: String,
    pub(crate) submitted_at_ms: i64,
    pub(crate) sector: Option<SectorId>,
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Submission(u32),
    /// An observable and how many submissions contain it.
    Observable {
        submissions: u32,
    },
}

#[derive(Debug, Clone, Copy)]
enum Edge {
    Contains,
}

/// The correlation engine. Single-threaded; the caller owns it.
pub struct Engine {
    registry: Arc<Registry>,
    config: EngineConfig,
    limits: AlertLimits,
    graph: StableGraph<Node, Edge>,
    index: HashMap<Observable, NodeIndex>,
    subs: Vec<SubMeta>,
    sub_nodes: Vec<NodeIndex>,
    by_key: HashMap<SubmissionKey, u32>,
    uf: UnionFind,
    /// Live campaigns keyed by their union-find root.
    campaigns: HashMap<u32, CampaignState>,
}

impl Engine {
    pub fn new(registry: Arc<Registry>, config: EngineConfig) -> Engine {
        let limits = AlertLimits {
            max_related: config.max_related_per_alert,
            max_shared: config.max_shared_per_alert,
        };
        Engine {
            registry,
            config,
            limits,
            graph: StableGraph::new(),
            index: HashMap::new(),
            subs: Vec::new(),
            sub_nodes: Vec::new(),
            by_key: HashMap::new(),
            uf: UnionFind::default(),
            campaigns: HashMap::new(),
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            submissions: self.subs.len() as u64,
            observables: self.index.len() as u64,
            campaigns: self.campaigns.len() as u64,
            graph_nodes: self.graph.node_count() as u64,
            graph_edges: self.graph.edge_count() as u64,
        }
    }

    /// The campaign a submission belongs to now, if it was processed.
    pub fn campaign_of(&mut self, key: &SubmissionKey) -> Option<CampaignId> {
        let si = *self.by_key.get(key)?;
        let root = self.uf.find(si);
        self.campaigns.get(&root).map(|c| c.id.clone())
    }

    /// Processes one validated submission. Deterministic: the same sequence
    /// of calls gives the same outcomes, ids included.
    pub fn process(&mut self, sub: &Submission, ingest: Ingest) -> Outcome {
        let key = SubmissionKey {
            member: sub.member.clone(),
            id: sub.id.clone(),
        };
        if let Some(&si) = self.by_key.get(&key) {
            let root = self.uf.find(si);
            let campaign_id = self.campaigns[&root].id.clone();
            return Outcome::Duplicate { campaign_id };
        }
        let seq = self.subs.len() as u64;
        let si = self.uf.push();
        let node = self.graph.add_node(Node::Submission(si));
        self.subs.push(SubMeta {
            key: key.clone(),
            kind: sub.kind,
            tlp: sub.tlp,
            distribution: sub.distribution.clone(),
            attribution: sub.attribution,
            title: sub.title.clone(),
            submitted_at_ms: sub.submitted_at_ms,
            sector: self.registry.member(&sub.member).map(|m| m.sector.clone()),
        });
        self.sub_nodes.push(node);
        self.by_key.insert(key, si);

        // Link observables; collect earlier submissions sharing each one.
        let mut matches: BTreeMap<u32, BTreeSet<Observable>> = BTreeMap::new();
        let mut obs_nodes = Vec::with_capacity(sub.observables.len());
        let mut hot = 0u32;
        for sighted in &sub.observables {
            let on = match self.index.get(&sighted.observable) {
                Some(&n) => n,
                None => {
                    let n = self.graph.add_node(Node::Observable { submissions: 0 });
                    self.index.insert(sighted.observable.clone(), n);
                    n
                }
            };
            let Node::Observable { submissions } = self.graph[on] else {
                continue;
            };
            if submissions >= self.config.hot_observable_limit {
                hot += 1;
            } else {
                for n in self.graph.neighbors_directed(on, Direction::Incoming) {
                    if let Node::Submission(j) = self.graph[n] {
                        matches
                            .entry(j)
                            .or_default()
                            .insert(sighted.observable.clone());
                    }
                }
            }
            self.graph.add_edge(node, on, Edge::Contains);
            self.graph[on] = Node::Observable {
                submissions: submissions.saturating_add(1),
            };
            obs_nodes.push(on);
        }

        let (campaign_id, campaigns) =
            self.join_campaign(si, seq, &matches, &obs_nodes, ingest.now_ms);
        let alerts = self.peer_alerts(si, &matches, &campaign_id, ingest);
        Outcome::Accepted(Effects {
            seq,
            campaign_id,
            alerts,
            campaigns,
            hot_observables: hot,
        })
    }

    /// Puts submission `si` into a campaign: a new one, the one its matches
    /// are in, or the oldest of several, which absorbs the others.
    fn join_campaign(
        &mut self,
        si: u32,
        seq: u64,
        matches: &BTreeMap<u32, BTreeSet<Observable>>,
        obs_nodes: &[NodeIndex],
        now_ms: i64,
    ) -> (CampaignId, Vec<CampaignView>) {
        let mut roots: Vec<u32> = matches.keys().map(|&j| self.uf.find(j)).collect();
        roots.sort_unstable();
        roots.dedup();
        let mut views = Vec::new();
        let (mut root, mut state) = match roots.iter().min_by_key(|r| self.campaigns[r].founded_seq)
        {
            None => {
                let salt_seq = seq.to_string();
                let id = CampaignId::from_hash(stable_hash(&[&self.config.id_salt, &salt_seq]));
                (si, CampaignState::new(id, seq))
            }
            Some(&survivor) => {
                let mut state = self
                    .campaigns
                    .remove(&survivor)
                    .expect("every root has a campaign");
                let mut root = survivor;
                for &r in roots.iter().filter(|&&r| r != survivor) {
                    let absorbed = self
                        .campaigns
                        .remove(&r)
                        .expect("every root has a campaign");
                    views.push(absorbed.view(seq, Some(state.id.clone()), now_ms));
                    state.absorb(absorbed);
                    root = self.uf.union_roots(root, r);
                }
                (root, state)
            }
        };
        root = self.uf.union_roots(root, si);
        let meta = &self.subs[si as usize];
        state.add_submission(
            &meta.key.member,
            meta.sector.as_ref(),
            meta.tlp,
            meta.submitted_at_ms,
            obs_nodes,
        );
        views.push(state.view(seq, None, now_ms));
        let id = state.id.clone();
        self.campaigns.insert(root, state);
        (id, views)
    }

    /// Peer-sighting alerts, in both directions, each built only from
    /// submissions whose audience contains its recipient.
    fn peer_alerts(
        &self,
        si: u32,
        matches: &BTreeMap<u32, BTreeSet<Observable>>,
        campaign: &CampaignId,
        ingest: Ingest,
    ) -> Vec<Alert> {
        let new = &self.subs[si as usize];
        let submitter = &new.key.member;
        let mut for_submitter = Vec::new();
        let mut shared_for_submitter = BTreeSet::new();
        let mut for_earlier: BTreeMap<
            &cisp_model::MemberId,
            (Vec<&SubMeta>, BTreeSet<Observable>),
        > = BTreeMap::new();
        for (&j, shared) in matches {
            let earlier = &self.subs[j as usize];
            let owner = &earlier.key.member;
            if owner == submitter {
                continue; // a member's own reports matching each other tell it nothing
            }
            if self
                .registry
                .may_see(submitter, owner, &earlier.distribution)
            {
                for_submitter.push(earlier);
                shared_for_submitter.extend(shared.iter().cloned());
            }
            if self.registry.may_see(owner, submitter, &new.distribution) {
                let entry = for_earlier.entry(owner).or_default();
                entry.0.push(earlier);
                entry.1.extend(shared.iter().cloned());
            }
        }
        let build = |p: PeerSighting<'_>| {
            p.build(
                &self.registry,
                &self.limits,
                ingest.now_ms,
                ingest.published_at_ms,
            )
        };
        let mut alerts = Vec::new();
        if !for_submitter.is_empty() {
            alerts.push(build(PeerSighting {
                recipient: submitter.clone(),
                trigger: new,
                own: vec![new],
                others: for_submitter,
                shared: shared_for_submitter,
                campaign: campaign.clone(),
            }));
        }
        for (owner, (own, shared)) in for_earlier {
            alerts.push(build(PeerSighting {
                recipient: owner.clone(),
                trigger: new,
                own,
                others: vec![new],
                shared,
                campaign: campaign.clone(),
            }));
        }
        alerts
    }
}

impl CampaignState {
    fn new(id: CampaignId, founded_seq: u64) -> CampaignState {
        CampaignState {
            id,
            founded_seq,
            submission_count: 0,
            members: BTreeMap::new(),
            sectors: BTreeSet::new(),
            observables: HashSet::new(),
            tlp: Tlp::Clear,
            first_seen_ms: i64::MAX,
            last_seen_ms: i64::MIN,
        }
    }

    fn add_submission(
        &mut self,
        member: &cisp_model::MemberId,
        sector: Option<&SectorId>,
        tlp: Tlp,
        at_ms: i64,
        obs: &[NodeIndex],
    ) {
        self.submission_count += 1;
        *self.members.entry(member.clone()).or_default() += 1;
        if let Some(s) = sector {
            self.sectors.insert(s.clone());
        }
        self.observables.extend(obs.iter().copied());
        self.tlp = self.tlp.max(tlp);
        self.first_seen_ms = self.first_seen_ms.min(at_ms);
        self.last_seen_ms = self.last_seen_ms.max(at_ms);
    }
}
