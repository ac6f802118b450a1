use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use cisp_model::{
    Attribution, Distribution, Member, MemberId, Observable, Registry, Role, SectorId, Submission,
    SubmissionKind, Tlp,
};
use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::visit::NodeIndexable;
use petgraph::Direction;

use crate::alerts::{Alert, AlertLimits, Ctx, Draft, What};
use crate::campaign::{CampaignState, CampaignView};
use crate::ids::{CampaignId, IdKey, SubmissionKey};
use crate::union_find::UnionFind;

/// Tunables of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// An observable already contained in this many submissions stops
    /// linking new ones (shared hosting, CDNs, public resolvers).
    pub hot_observable_limit: u32,
    pub max_related_per_alert: usize,
    pub max_shared_per_alert: usize,
    /// Secret from which the key of every id handed to members is derived
    /// (campaign ids, alert ids, anonymous submissions' stand-in ids), so an
    /// id reveals nothing and cannot be tested against a guess. Never logged.
    pub id_salt: String,
    /// An anonymous submitter's sector is shown to members only when the
    /// sector has at least this many organisations.
    pub k_anonymity: u32,
    /// A campaign escalation alert goes to a member once the campaign, as it
    /// may see it, involves this many members…
    pub escalation_members: u32,
    /// …or this many sectors.
    pub escalation_sectors: u32,
    /// Most graph edges walked to work out one recipient's view of a
    /// campaign; beyond it the alert goes without a campaign id (counted).
    pub view_budget: u32,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            hot_observable_limit: 1000,
            max_related_per_alert: 50,
            max_shared_per_alert: 100,
            id_salt: String::new(),
            k_anonymity: 3,
            escalation_members: 3,
            escalation_sectors: 3,
            view_budget: 200_000,
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
    /// Recipients whose campaign view exceeded [`EngineConfig::view_budget`].
    pub views_over_budget: u32,
    /// What working out recipients' views cost (walks shared by readers
    /// with the same rights count once).
    pub view_walks: WalkCost,
}

/// Graph walks done to work out recipients' campaign views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkCost {
    pub walks: u32,
    /// Graph edges followed.
    pub edges: u64,
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
    /// An observable, how many submissions contain it, and the sequence
    /// number of the last submission it linked (`u32::MAX` while it still
    /// links: it stops at [`EngineConfig::hot_observable_limit`]).
    Observable {
        submissions: u32,
        cutoff: u32,
    },
}

/// One recipient's view of a campaign: the submissions it may see that are
/// connected to the triggering one through submissions it may see.
struct View {
    /// Lowest sequence number in the view: names it (stable as it grows).
    label: u32,
    subs: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
enum Edge {
    Contains,
}

/// The correlation engine. Single-threaded; the caller owns it.
pub struct Engine {
    registry: Arc<Registry>,
    config: EngineConfig,
    key: IdKey,
    limits: AlertLimits,
    graph: StableGraph<Node, Edge>,
    index: HashMap<Observable, NodeIndex>,
    subs: Vec<SubMeta>,
    sub_nodes: Vec<NodeIndex>,
    by_key: HashMap<SubmissionKey, u32>,
    uf: UnionFind,
    /// Live campaigns keyed by their union-find root.
    campaigns: HashMap<u32, CampaignState>,
    /// Scratch marks for view walks: `epoch` means "visited in this walk".
    epoch: u32,
    sub_mark: Vec<u32>,
    /// Restricted submissions the reader of the current walk may see.
    vis_mark: Vec<u32>,
    node_mark: Vec<u32>,
    /// Walks of the submission being processed.
    walk_cost: WalkCost,
}

impl Engine {
    pub fn new(registry: Arc<Registry>, config: EngineConfig) -> Engine {
        let limits = AlertLimits {
            max_related: config.max_related_per_alert,
            max_shared: config.max_shared_per_alert,
        };
        Engine {
            registry,
            key: IdKey::new(&config.id_salt),
            config,
            limits,
            graph: StableGraph::new(),
            index: HashMap::new(),
            subs: Vec::new(),
            sub_nodes: Vec::new(),
            by_key: HashMap::new(),
            uf: UnionFind::default(),
            campaigns: HashMap::new(),
            epoch: 0,
            sub_mark: Vec::new(),
            vis_mark: Vec::new(),
            node_mark: Vec::new(),
            walk_cost: WalkCost::default(),
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
                    let n = self.graph.add_node(Node::Observable {
                        submissions: 0,
                        cutoff: u32::MAX,
                    });
                    self.index.insert(sighted.observable.clone(), n);
                    n
                }
            };
            let Node::Observable {
                submissions,
                mut cutoff,
            } = self.graph[on]
            else {
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
            let submissions = submissions.saturating_add(1);
            if submissions == self.config.hot_observable_limit {
                cutoff = si; // the last submission it links
            }
            self.graph[on] = Node::Observable {
                submissions,
                cutoff,
            };
            obs_nodes.push(on);
        }

        let (campaign_id, campaigns, root) =
            self.join_campaign(si, seq, &matches, &obs_nodes, ingest.now_ms);
        self.walk_cost = WalkCost::default();
        let (alerts, views_over_budget) = self.alerts(si, sub, &matches, root, ingest);
        Outcome::Accepted(Effects {
            seq,
            campaign_id,
            alerts,
            campaigns,
            hot_observables: hot,
            views_over_budget,
            view_walks: self.walk_cost,
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
    ) -> (CampaignId, Vec<CampaignView>, u32) {
        let mut roots: Vec<u32> = matches.keys().map(|&j| self.uf.find(j)).collect();
        roots.sort_unstable();
        roots.dedup();
        let mut views = Vec::new();
        let (mut root, mut state) = match roots.iter().min_by_key(|r| self.campaigns[r].founded_seq)
        {
            None => (si, CampaignState::new(self.key.campaign(si), seq)),
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
            si,
            &meta.distribution,
            &meta.key.member,
            meta.sector.as_ref(),
            meta.tlp,
            meta.submitted_at_ms,
            obs_nodes,
        );
        views.push(state.view(seq, None, now_ms));
        let id = state.id.clone();
        self.campaigns.insert(root, state);
        (id, views, root)
    }

    /// Every alert the arrival of submission `si` causes. Phase one works
    /// out who may be told what and computes each recipient's view of the
    /// campaign (mutable scratch space); phase two builds the alerts from
    /// audience-checked inputs only.
    fn alerts(
        &mut self,
        si: u32,
        sub: &Submission,
        matches: &BTreeMap<u32, BTreeSet<Observable>>,
        root: u32,
        ingest: Ingest,
    ) -> (Vec<Alert>, u32) {
        let submitter = sub.member.clone();
        let new_dist = self.subs[si as usize].distribution.clone();

        // Peer sightings, both directions.
        let mut for_submitter: Vec<u32> = Vec::new();
        let mut shared_for_submitter = BTreeSet::new();
        let mut for_earlier: BTreeMap<MemberId, (Vec<u32>, BTreeSet<Observable>)> = BTreeMap::new();
        for (&j, shared) in matches {
            let earlier = &self.subs[j as usize];
            let owner = &earlier.key.member;
            if *owner == submitter {
                continue; // a member's own reports matching each other tell it nothing
            }
            if self
                .registry
                .may_see(&submitter, owner, &earlier.distribution)
            {
                for_submitter.push(j);
                shared_for_submitter.extend(shared.iter().cloned());
            }
            if self.registry.may_see(owner, &submitter, &new_dist) {
                let entry = for_earlier.entry(owner.clone()).or_default();
                entry.0.push(j);
                entry.1.extend(shared.iter().cloned());
            }
        }

        // Campaign-level alerts: who might cross a threshold or hear of a claim.
        let state = &self.campaigns[&root];
        let may_escalate = state.members.len() >= self.config.escalation_members as usize
            || state.sectors.len() >= self.config.escalation_sectors as usize;
        let fusion_cells: Vec<MemberId> = self
            .registry
            .members()
            .filter(|m| m.role == Role::FusionCell)
            .map(|m| m.id.clone())
            .collect();
        let involved: BTreeSet<MemberId> = state
            .members
            .keys()
            .chain(&fusion_cells)
            .filter(|m| self.registry.may_see(m, &submitter, &new_dist))
            .cloned()
            .collect();
        let escalation_candidates: Vec<MemberId> = if may_escalate {
            involved
                .iter()
                .filter(|m| !state.escalated.contains(*m))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let claim_candidates: Vec<MemberId> = if sub.actor_claims.is_empty() {
            Vec::new()
        } else {
            involved
                .iter()
                .filter(|m| **m != submitter)
                .cloned()
                .collect()
        };

        let mut views: BTreeMap<MemberId, Option<Rc<View>>> = BTreeMap::new();
        let mut over_budget = 0u32;
        let wanted = std::iter::once(&submitter)
            .filter(|_| !for_submitter.is_empty())
            .chain(for_earlier.keys())
            .chain(&escalation_candidates)
            .chain(&claim_candidates);
        let wanted: BTreeSet<MemberId> = wanted.cloned().collect();
        // A reader's view depends only on which of the campaign's restricted
        // (not community-wide) submissions it may see: readers with the same
        // set share one walk, and one who sees them all sees the campaign.
        let state = &self.campaigns[&root];
        let whole = || {
            let mut subs = state.subs.clone();
            subs.sort_unstable();
            let label = subs.first().copied().unwrap_or(si);
            Rc::new(View { label, subs })
        };
        let mut whole_view: Option<Rc<View>> = None;
        let mut signatures: Vec<(MemberId, Vec<bool>)> = Vec::with_capacity(wanted.len());
        for reader in wanted {
            let sees: Vec<bool> = state
                .restricted
                .iter()
                .map(|g| self.registry.may_see(&reader, &g.member, &g.distribution))
                .collect();
            if sees.iter().all(|&b| b) {
                let v = whole_view.get_or_insert_with(whole).clone();
                views.insert(reader, Some(v));
            } else {
                signatures.push((reader, sees));
            }
        }
        let mut walked: HashMap<Vec<bool>, Option<Rc<View>>> = HashMap::new();
        for (reader, sees) in signatures {
            let v = match walked.get(&sees) {
                Some(v) => v.clone(),
                None => {
                    let state = &self.campaigns[&root];
                    let visible: Vec<u32> = state
                        .restricted
                        .iter()
                        .zip(&sees)
                        .filter(|(_, &b)| b)
                        .flat_map(|(g, _)| g.subs.iter().copied())
                        .collect();
                    let v = self.view(&visible, si).map(Rc::new);
                    walked.insert(sees, v.clone());
                    v
                }
            };
            if v.is_none() {
                over_budget += 1;
            }
            views.insert(reader, v);
        }

        // Phase two: build.
        let ctx = Ctx {
            registry: &self.registry,
            key: &self.key,
            limits: &self.limits,
            k_anonymity: self.config.k_anonymity as usize,
            now_ms: ingest.now_ms,
            published_ms: ingest.published_at_ms,
        };
        let fusion_campaign = self.campaigns[&root].id.clone();
        let new = &self.subs[si as usize];
        let label = |reader: &MemberId| -> Option<CampaignId> {
            views
                .get(reader)
                .and_then(|v| v.as_ref())
                .map(|v| self.key.campaign(v.label))
        };
        let metas = |ids: &[u32]| -> Vec<&SubMeta> {
            ids.iter().map(|&j| &self.subs[j as usize]).collect()
        };
        let mut alerts = Vec::new();
        if !for_submitter.is_empty() {
            alerts.push(
                Draft {
                    what: What::PeerSighting,
                    recipient: &submitter,
                    trigger: new,
                    own: vec![new],
                    others: metas(&for_submitter),
                    shared: shared_for_submitter,
                    campaign: label(&submitter),
                    fusion_campaign: &fusion_campaign,
                }
                .build(&ctx),
            );
        }
        for (owner, (own, shared)) in &for_earlier {
            alerts.push(
                Draft {
                    what: What::PeerSighting,
                    recipient: owner,
                    trigger: new,
                    own: metas(own),
                    others: vec![new],
                    shared: shared.clone(),
                    campaign: label(owner),
                    fusion_campaign: &fusion_campaign,
                }
                .build(&ctx),
            );
        }

        // Escalation and actor claims, from the recipient's view only.
        let mut escalated = Vec::new();
        let mut told_claims = Vec::new();
        let state = &self.campaigns[&root];
        let readers: BTreeSet<&MemberId> = escalation_candidates
            .iter()
            .chain(&claim_candidates)
            .collect();
        for reader in readers {
            let Some(Some(view)) = views.get(reader) else {
                continue;
            };
            let fusion = self.registry.is_fusion_cell(reader);
            let (own, mut others): (Vec<&SubMeta>, Vec<&SubMeta>) = view
                .subs
                .iter()
                .map(|&j| &self.subs[j as usize])
                .partition(|m| m.key.member == *reader);
            if own.is_empty() && !fusion {
                continue; // the campaign as it may see it does not involve it
            }
            others.reverse(); // newest first in the related list
            let campaign = Some(self.key.campaign(view.label));
            let about_view = |what| {
                Draft {
                    what,
                    recipient: reader,
                    trigger: new,
                    own: own.clone(),
                    others: others.clone(),
                    shared: BTreeSet::new(),
                    campaign: campaign.clone(),
                    fusion_campaign: &fusion_campaign,
                }
                .build(&ctx)
            };
            let is_escalation = escalation_candidates.contains(reader);
            if is_escalation && !state.escalated.contains(reader) && !escalated.contains(reader) {
                let members = ctx
                    .member_count(&others, reader)
                    .saturating_add(u32::from(!own.is_empty()));
                let sectors: BTreeSet<SectorId> = own
                    .iter()
                    .chain(&others)
                    .filter_map(|m| ctx.sector_for(m, reader))
                    .collect();
                if members >= self.config.escalation_members
                    || sectors.len() >= self.config.escalation_sectors as usize
                {
                    escalated.push(reader.clone());
                    alerts.push(about_view(What::Escalation {
                        members,
                        sectors: sectors.into_iter().collect(),
                    }));
                }
            }
            if claim_candidates.contains(reader) {
                for actor in &sub.actor_claims {
                    let k = (reader.clone(), actor.clone());
                    if state.actors_told.contains(&k) {
                        continue;
                    }
                    alerts.push(about_view(What::ActorClaim { actor }));
                    told_claims.push(k);
                }
            }
        }

        self.submission_alerts(sub, new, &fusion_campaign, &ctx, &mut alerts);

        let state = self
            .campaigns
            .get_mut(&root)
            .expect("the submission's campaign exists");
        state.escalated.extend(escalated);
        state.actors_told.extend(told_claims);
        (alerts, over_budget)
    }

    /// Alerts about the new submission itself, not its campaign: sector
    /// targeting, partner advisories, supply chain. Each goes only to
    /// members in the submission's audience.
    fn submission_alerts(
        &self,
        sub: &Submission,
        new: &SubMeta,
        fusion_campaign: &CampaignId,
        ctx: &Ctx<'_>,
        alerts: &mut Vec<Alert>,
    ) {
        let submitter = &sub.member;
        let reg = &*self.registry;
        let audience = |m: &Member| {
            m.id != *submitter
                && m.role != Role::FusionCell
                && reg.may_see(&m.id, submitter, &new.distribution)
        };
        let single = |what, recipient, shared| Draft {
            what,
            recipient,
            trigger: new,
            own: Vec::new(),
            others: vec![new],
            shared,
            campaign: None,
            fusion_campaign,
        };
        let targeted: BTreeSet<&SectorId> = sub.targeted_sectors.iter().collect();
        for sector in targeted {
            for m in reg.members_in_sector(sector).filter(|m| audience(m)) {
                let what = What::SectorTargeting { sector };
                alerts.push(single(what, &m.id, BTreeSet::new()).build(ctx));
            }
        }
        let from_partner = reg
            .member(submitter)
            .is_some_and(|m| matches!(m.role, Role::Partner | Role::FusionCell));
        if sub.kind == SubmissionKind::Advisory && from_partner {
            for m in reg.members().filter(|m| audience(m)) {
                alerts.push(single(What::PartnerAdvisory, &m.id, BTreeSet::new()).build(ctx));
            }
        }
        let mut supplied: BTreeMap<&MemberId, (&str, BTreeSet<Observable>)> = BTreeMap::new();
        for o in &sub.observables {
            let Some(host) = o.observable.host() else {
                continue;
            };
            for (domain, member) in reg.supplier_matches(host) {
                supplied
                    .entry(member)
                    .or_insert_with(|| (domain, BTreeSet::new()))
                    .1
                    .insert(o.observable.clone());
            }
        }
        for (member, (supplier, shared)) in supplied {
            if reg.member(member).is_some_and(&audience) {
                let what = What::SupplyChain { supplier };
                alerts.push(single(what, member, shared).build(ctx));
            }
        }
    }

    /// The part of the correlation graph `reader` may see that contains
    /// submission `start` (which must be in its audience): every submission
    /// reachable through linking observables and submissions in its
    /// audience. `None` when the walk exceeds [`EngineConfig::view_budget`].
    /// The view from `start` of a reader who may see every community-wide
    /// submission and, of the others, exactly `visible`.
    fn view(&mut self, visible: &[u32], start: u32) -> Option<View> {
        let mut budget = u64::from(self.config.view_budget);
        let view = self.walk(visible, start, &mut budget);
        self.walk_cost.walks += 1;
        self.walk_cost.edges += u64::from(self.config.view_budget) - budget;
        view
    }

    /// [`Engine::view`]'s walk; `budget` is what is left of
    /// [`EngineConfig::view_budget`] when it ends.
    fn walk(&mut self, visible: &[u32], start: u32, budget: &mut u64) -> Option<View> {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.sub_mark.fill(0);
            self.vis_mark.fill(0);
            self.node_mark.fill(0);
            self.epoch = 1;
        }
        let epoch = self.epoch;
        self.sub_mark.resize(self.subs.len(), 0);
        self.vis_mark.resize(self.subs.len(), 0);
        self.node_mark.resize(self.graph.node_bound(), 0);
        for &j in visible {
            self.vis_mark[j as usize] = epoch;
        }
        let mut spend = |n: u64| {
            *budget = budget.checked_sub(n)?;
            Some(())
        };
        let mut stack = vec![start];
        self.sub_mark[start as usize] = epoch;
        let mut subs = Vec::new();
        while let Some(x) = stack.pop() {
            subs.push(x);
            let xn = self.sub_nodes[x as usize];
            for on in self.graph.neighbors_directed(xn, Direction::Outgoing) {
                spend(1)?;
                let Node::Observable { cutoff, .. } = self.graph[on] else {
                    continue;
                };
                if x > cutoff || self.node_mark[on.index()] == epoch {
                    continue; // x did not link through it, or it was walked
                }
                self.node_mark[on.index()] = epoch;
                for n in self.graph.neighbors_directed(on, Direction::Incoming) {
                    spend(1)?;
                    let Node::Submission(j) = self.graph[n] else {
                        continue;
                    };
                    if j > cutoff || self.sub_mark[j as usize] == epoch {
                        continue;
                    }
                    self.sub_mark[j as usize] = epoch;
                    let community = self.subs[j as usize].distribution == Distribution::Community;
                    if community || self.vis_mark[j as usize] == epoch {
                        stack.push(j);
                    }
                }
            }
        }
        subs.sort_unstable();
        let label = subs.first().copied().unwrap_or(start);
        Some(View { label, subs })
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
            escalated: BTreeSet::new(),
            actors_told: BTreeSet::new(),
            subs: Vec::new(),
            restricted: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_submission(
        &mut self,
        si: u32,
        distribution: &Distribution,
        member: &cisp_model::MemberId,
        sector: Option<&SectorId>,
        tlp: Tlp,
        at_ms: i64,
        obs: &[NodeIndex],
    ) {
        self.submission_count += 1;
        self.subs.push(si);
        if *distribution != Distribution::Community {
            crate::campaign::add_restricted(&mut self.restricted, member, distribution, &[si]);
        }
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
