//! The engine itself: its configuration, what processing one submission
//! takes ([`Ingest`]) and gives ([`Outcome`], [`Effects`]), and
//! [`Engine::process`], which indexes the submission's evidence, links it
//! (`linking`), decides who is told what (`recipients`), builds the alerts
//! (`alerts`) and scores the indicators (`scoring`).

use std::collections::HashMap;
use std::sync::Arc;

use cisp_model::{Distribution, MemberId, Registry, Submission};
use petgraph::stable_graph::{NodeIndex, StableGraph};

use crate::actors::Actors;
use crate::alerts::{Alert, AlertLimits};
use crate::campaign::{ActorAttribution, CampaignState, CampaignView};
use crate::error::EngineError;
use crate::evidence::{self, EvidenceKey, Via};
use crate::graph::{Chunked, Counts, Edge, Evidence, EvidenceIndex, Marks, Node, SubMeta};
use crate::ids::{CampaignId, IdKey, IndexMap, SubmissionKey};
use crate::psl::PublicSuffixList;
use crate::union_find::UnionFind;
use crate::warnlist::WarnLists;

/// Tunables of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// A piece of evidence carried by this many submissions stops linking
    /// (a hard bound on the work one lookup can cause).
    pub hot_observable_limit: u32,
    /// Over-correlation guard: a piece of evidence that holds together
    /// more than this many unrelated groups of recurring indicators (one
    /// per campaign that uses it: shared hosting, CDNs, commodity tools)
    /// stops linking, for everyone and retroactively (the campaigns it
    /// alone joined split again), and is reported as common
    /// infrastructure. Checked at each sighting up to 24, then at powers
    /// of two.
    pub common_after_campaigns: u32,
    /// Two submissions link only when they were submitted at most this far
    /// apart.
    pub link_window_ms: i64,
    /// Shipped warn-lists switched off by name (see `data/warnlists/`).
    pub warnlists_disabled: Vec<String>,
    /// A campaign is attributed to its best-scoring actor from this
    /// confidence on (0–1).
    pub attribution_threshold: f64,
    pub max_related_per_alert: usize,
    pub max_shared_per_alert: usize,
    /// Secret from which the key of every id handed to members is derived
    /// (campaign ids, alert ids, anonymous submissions' stand-in ids), so an
    /// id reveals nothing and cannot be tested against a guess. Never logged.
    pub id_salt: cisp_model::Secret,
    /// An anonymous submitter's sector is shown to members only when the
    /// sector has at least this many organisations.
    pub k_anonymity: u32,
    /// A campaign escalation alert goes to a member once the campaign, as it
    /// may see it, involves this many members…
    pub escalation_members: u32,
    /// …or this many sectors.
    pub escalation_sectors: u32,
    /// Most posting-list entries looked at to build the kept views of a
    /// campaign for one key (the recipients who may see the same restricted
    /// groups: `views`); beyond it their alerts go without a campaign id
    /// (counted) until the campaign is split or merged.
    pub view_budget: u32,
    /// Whether malware families on the shipped commodity list
    /// (`data/commodity-malware.txt`: Cobalt Strike, Mimikatz, loaders sold
    /// as a service…) link reports as weak evidence. Off by default: used
    /// by many unrelated actors, they are context.
    pub commodity_malware_links: bool,
    /// A value reported as a false positive by this many distinct members
    /// (who may see it) stops linking, retroactively (issue 22).
    pub dispute_members: u32,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            hot_observable_limit: 1000,
            common_after_campaigns: 3,
            link_window_ms: 30 * 24 * 3600 * 1000,
            warnlists_disabled: Vec::new(),
            attribution_threshold: 0.5,
            max_related_per_alert: 50,
            max_shared_per_alert: 100,
            id_salt: cisp_model::Secret::default(),
            k_anonymity: cisp_model::DEFAULT_K_ANONYMITY,
            escalation_members: 3,
            escalation_sectors: 3,
            view_budget: 200_000,
            commodity_malware_links: false,
            dispute_members: 3,
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
    /// The same (member, submission id) was processed before: nothing
    /// changes. `same_content` is false when the earlier one said something
    /// else (a member reusing an id, not a redelivery): the caller must not
    /// let that pass silently.
    Duplicate {
        campaign_id: CampaignId,
        same_content: bool,
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
    /// Changed campaigns: the one the submission joined, any absorbed by a
    /// merge (with `merged_into` set), and the parts of any campaign that
    /// split because a value turned out to be common infrastructure.
    pub campaigns: Vec<CampaignView>,
    /// Evidence of this submission too common to link (hot or common
    /// infrastructure), counting observables only.
    pub hot_observables: u32,
    /// Evidence of any kind (observables, /24s, registrable domains,
    /// malware families, techniques, technique sets) that the guard made
    /// non-linking with this submission, with its reason and counts.
    pub common_infrastructure: Vec<CommonJudgement>,
    /// Per reported observable (in the submission's order): the warn-list
    /// it is on (a likely false positive), if any.
    pub warnlisted: Vec<Option<String>>,
    /// Per reported observable: its indicator score as the Fusion Cell sees
    /// it (all reporters), after this submission.
    pub scores: Vec<f32>,
    /// Recipients whose campaign view exceeded [`EngineConfig::view_budget`].
    pub views_over_budget: u32,
    /// What building kept views cost (one walk per key whose views were
    /// not kept yet; most submissions need none).
    pub view_walks: WalkCost,
    /// Earlier submissions whose campaign changed with this one (merged
    /// into its campaign, or split off when a value became common), each
    /// once, with the campaign it is in now.
    pub moved: Vec<Moved>,
    /// Campaigns whose attributed actor changed with this submission (the
    /// Fusion Cell is alerted to each; `campaigns` holds their new rows).
    pub attribution_changes: Vec<AttributionChange>,
}

/// Walks done to build recipients' kept campaign views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkCost {
    pub walks: u32,
    /// Posting-list entries looked at.
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
    pub common_infrastructure: u64,
    pub attributed_campaigns: u64,
}

/// The correlation engine. Single-threaded; the caller owns it.
pub struct Engine {
    pub(crate) registry: Arc<Registry>,
    pub(crate) config: EngineConfig,
    pub(crate) key: IdKey,
    pub(crate) limits: AlertLimits,
    pub(crate) psl: Arc<PublicSuffixList>,
    pub(crate) warn: Arc<WarnLists>,
    pub(crate) graph: StableGraph<Node, Edge>,
    pub(crate) index: EvidenceIndex,
    pub(crate) evidence: Chunked<Evidence>,
    pub(crate) subs: Chunked<SubMeta>,
    /// Submission times, apart for the hot linking loop.
    pub(crate) sub_time: Vec<i64>,
    /// Per submission, its restricted group (`views::COMMUNITY` when it
    /// goes to the whole community): one id per (member, distribution).
    pub(crate) sub_group: Vec<u32>,
    pub(crate) groups: HashMap<(MemberId, Distribution), u32>,
    /// Per submission, its position in its campaign's submission list
    /// (`CampaignState::subs`), where the campaign's kept views find it.
    pub(crate) sub_pos: Vec<u32>,
    pub(crate) by_key: HashMap<SubmissionKey, u32>,
    pub(crate) uf: UnionFind,
    /// Live campaigns keyed by their union-find root.
    pub(crate) campaigns: IndexMap<u32, Box<CampaignState>>,
    /// Live campaign id → its root (for queries by id).
    pub(crate) campaign_roots: HashMap<CampaignId, u32>,
    pub(crate) actors: Actors,
    pub(crate) actor_nodes: Vec<NodeIndex>,
    pub(crate) marks: Marks,
    /// Evidence counts kept as it changes (stats are read every batch).
    pub(crate) counts: Counts,
    /// Walks of the submission being processed.
    pub(crate) walk_cost: WalkCost,
    /// Earlier submissions whose campaign the one being processed changed
    /// (absorbed by a merge, split off).
    pub(crate) moved: Vec<u32>,
    /// Campaigns whose attributed actor the one being processed changed.
    pub(crate) attribution_changes: Vec<AttributionChange>,
    /// Submissions withdrawn by their submitters (`revision`).
    pub(crate) withdrawn: std::collections::BTreeSet<u32>,
    /// Feedback per evidence number.
    pub(crate) feedback: HashMap<u32, crate::revision::FeedbackState>,
    /// (member, id) of every correction and feedback applied.
    pub(crate) actions: std::collections::HashSet<SubmissionKey>,
    pub(crate) action_count: u64,
    /// The Fusion Cell's decisions (`decisions`).
    pub(crate) decisions: crate::decisions::Decisions,
}

/// A campaign's attributed actor changed: attributed (`before` none),
/// changed, or withdrawn (`after` none). Confidence alone moving is no
/// change.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributionChange {
    pub campaign_id: CampaignId,
    pub before: Option<ActorAttribution>,
    pub after: Option<ActorAttribution>,
    /// The best candidate besides `after` (or the best at all, when
    /// withdrawn), with its confidence: what an analyst weighs it against.
    pub runner_up: Option<(String, f64)>,
}

impl AttributionChange {
    pub fn change(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, Some(_)) => "attributed",
            (Some(_), None) => "withdrawn",
            _ => "changed",
        }
    }
}

/// Why the over-correlation guard stopped a value linking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommonReason {
    /// More than `hot_observable_limit` submissions carry it.
    Hot,
    /// It comes with more than `common_after_campaigns` groups of
    /// otherwise unrelated indicators (shared hosting, a commodity tool).
    Shared,
}

impl CommonReason {
    pub fn name(self) -> &'static str {
        match self {
            CommonReason::Hot => "hot",
            CommonReason::Shared => "shared",
        }
    }
}

/// One judgement of the guard: what stopped linking, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommonJudgement {
    /// The kind of evidence as the API names it: an observable type,
    /// `prefix`, `registrable-domain`, `malware`, `technique`,
    /// `technique-set`.
    pub kind: &'static str,
    pub value: String,
    pub reason: CommonReason,
    /// Submissions carrying it, the new one included.
    pub submissions: u32,
    /// Unrelated groups it came with (counted only when not hot).
    pub groups: u32,
}

/// An earlier submission now in another campaign: what ClickHouse's
/// current membership needs besides the new submission's own campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    pub key: SubmissionKey,
    pub campaign_id: CampaignId,
}

/// Reference data the engine is built with: shared, read-only.
#[derive(Debug)]
pub struct Reference {
    pub psl: Arc<PublicSuffixList>,
    pub warnlists: Arc<WarnLists>,
    pub actors: Actors,
}

impl Reference {
    /// What this build ships, minus the warn-lists `disabled`.
    pub fn shipped(disabled: &[String]) -> Result<Reference, EngineError> {
        Ok(Reference {
            psl: Arc::new(PublicSuffixList::shipped()),
            warnlists: Arc::new(WarnLists::shipped(disabled)?),
            actors: Actors::shipped(),
        })
    }
}

impl Engine {
    /// An engine with the shipped reference data.
    ///
    /// # Panics
    /// When `config.warnlists_disabled` names a list that does not exist
    /// (configuration is checked before this; see [`Engine::with_reference`]).
    pub fn new(registry: Arc<Registry>, config: EngineConfig) -> Engine {
        #[allow(clippy::expect_used)]
        let reference = Reference::shipped(&config.warnlists_disabled)
            .expect("warn-list names are checked with the configuration");
        Engine::with_reference(registry, config, reference)
    }

    pub fn with_reference(
        registry: Arc<Registry>,
        config: EngineConfig,
        reference: Reference,
    ) -> Engine {
        let limits = AlertLimits {
            max_related: config.max_related_per_alert,
            max_shared: config.max_shared_per_alert,
        };
        let mut engine = Engine {
            registry,
            key: IdKey::new(config.id_salt.expose()),
            config,
            limits,
            psl: reference.psl,
            warn: reference.warnlists,
            graph: StableGraph::new(),
            index: EvidenceIndex::default(),
            evidence: Chunked::default(),
            subs: Chunked::default(),
            sub_time: Vec::new(),
            sub_group: Vec::new(),
            groups: HashMap::new(),
            sub_pos: Vec::new(),
            by_key: HashMap::new(),
            uf: UnionFind::default(),
            campaigns: IndexMap::default(),
            campaign_roots: HashMap::new(),
            actors: reference.actors,
            actor_nodes: Vec::new(),
            marks: Marks::default(),
            counts: Counts::default(),
            walk_cost: WalkCost::default(),
            moved: Vec::new(),
            attribution_changes: Vec::new(),
            withdrawn: std::collections::BTreeSet::new(),
            feedback: HashMap::new(),
            actions: std::collections::HashSet::new(),
            action_count: 0,
            decisions: crate::decisions::Decisions::default(),
        };
        engine.seed_actors();
        engine
    }

    /// Actor nodes with `uses` edges to their techniques and software.
    fn seed_actors(&mut self) {
        let profiles = self.actors.profiles().to_vec();
        for (i, p) in profiles.iter().enumerate() {
            let a = u32::try_from(i).unwrap_or(u32::MAX);
            let node = self.graph.add_node(Node::Actor(a));
            self.actor_nodes.push(node);
            let keys = p
                .techniques
                .iter()
                .map(|t| EvidenceKey::Technique(t.as_str().into()))
                .chain(
                    p.software
                        .iter()
                        .map(|s| EvidenceKey::Malware(s.as_str().into())),
                );
            for k in keys {
                let (e, _) = self.evidence_for(k);
                let en = self.evidence[e as usize].node;
                self.graph.add_edge(node, en, Edge::Uses);
            }
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn warnlists(&self) -> &WarnLists {
        &self.warn
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            submissions: self.subs.len() as u64,
            observables: self.counts.observables,
            // (a withdrawn submission sits alone in a campaign of its own)
            campaigns: (self.campaigns.len() - self.withdrawn.len()) as u64,
            graph_nodes: self.graph.node_count() as u64,
            graph_edges: self.graph.edge_count() as u64,
            common_infrastructure: self.counts.common,
            attributed_campaigns: self
                .campaigns
                .values()
                .filter(|c| c.attribution.is_some())
                .count() as u64,
        }
    }

    /// The campaign a submission belongs to now, if it was processed.
    pub fn campaign_of(&mut self, key: &SubmissionKey) -> Option<CampaignId> {
        let si = *self.by_key.get(key)?;
        let root = self.uf.find(si);
        self.campaigns.get(&root).map(|c| c.id.clone())
    }

    /// The evidence index for `key`, created (with its graph node and
    /// warn-list check) if new; `true` when created.
    pub(crate) fn evidence_for(&mut self, key: EvidenceKey) -> (u32, bool) {
        if let Some(e) = self.index.get(&key, &self.evidence) {
            return (e, false);
        }
        let e = u32::try_from(self.evidence.len()).unwrap_or(u32::MAX);
        let node = self.graph.add_node(Node::Evidence(e));
        let warn = match &key {
            EvidenceKey::Observable(o) | EvidenceKey::Prefix(o) | EvidenceKey::Registrable(o) => {
                self.warn.check(o)
            }
            _ => None,
        };
        let observable = matches!(key, EvidenceKey::Observable(_));
        self.evidence.push(Evidence {
            strength: key.strength_with(self.config.commodity_malware_links),
            key,
            node,
            warn,
            common: false,
            disputed: false,
            subs: Vec::new(),
            reporters: Vec::new(),
            last_seen_ms: i64::MIN,
        });
        if observable {
            self.counts.observables += 1;
        }
        self.index.insert(e, &self.evidence);
        (e, true)
    }

    /// Processes one validated submission. Deterministic: the same sequence
    /// of calls gives the same outcomes, ids included.
    /// The submissions moved while processing `si` (not `si` itself), each
    /// once, with the campaign each is in now.
    pub(crate) fn take_moved(&mut self, si: u32) -> Vec<Moved> {
        let mut moved = std::mem::take(&mut self.moved);
        moved.sort_unstable();
        moved.dedup();
        let out = moved
            .iter()
            .filter(|&&s| s != si)
            .map(|&s| Moved {
                key: self.subs[s as usize].key.clone(),
                campaign_id: self.campaign_of_sub(s).clone(),
            })
            .collect();
        moved.clear();
        self.moved = moved;
        out
    }

    fn campaign_of_sub(&mut self, s: u32) -> &CampaignId {
        let root = self.uf.find(s);
        &self.campaigns[&root].id
    }

    /// Every submission with the campaign it is in now, in engine order:
    /// what a store's current membership is rebuilt from.
    pub fn memberships(&mut self) -> Vec<Moved> {
        (0..self.subs.len())
            .map(|s| {
                let s = u32::try_from(s).unwrap_or(u32::MAX);
                Moved {
                    key: self.subs[s as usize].key.clone(),
                    campaign_id: self.campaign_of_sub(s).clone(),
                }
            })
            .collect()
    }

    /// A digest of everything `sub` says but when it was submitted (intake
    /// stamps the upload time, so the same file uploaded again differs
    /// only there).
    fn content_digest(&self, sub: &Submission) -> u64 {
        let said = (
            sub.kind,
            sub.tlp,
            &sub.distribution,
            sub.attribution,
            &sub.title,
            &sub.description,
            &sub.observables,
            &sub.ttps,
            &sub.malware,
            &sub.actor_claims,
            &sub.targeted_sectors,
            sub.confidence,
        );
        let bytes = postcard::to_allocvec(&said).unwrap_or_default();
        self.key.digest(&bytes)
    }

    pub fn process(&mut self, sub: &Submission, ingest: Ingest) -> Outcome {
        let key = SubmissionKey {
            member: sub.member.clone(),
            id: sub.id.clone(),
        };
        let content = self.content_digest(sub);
        if let Some(&si) = self.by_key.get(&key) {
            let root = self.uf.find(si);
            let campaign_id = self.campaigns[&root].id.clone();
            return Outcome::Duplicate {
                campaign_id,
                same_content: self.subs[si as usize].content == content,
            };
        }
        let seq = self.subs.len() as u64;
        self.moved.clear();
        self.attribution_changes.clear();
        let si = self.uf.push();
        let node = self.graph.add_node(Node::Submission(si));

        // Its evidence: reported observables, what they are derived from,
        // techniques and malware.
        let warn = self.warn.clone();
        let derived = evidence::derive(sub, &self.psl, &|o| warn.check(o).is_some());
        let items = derived.items;
        let reported = sub.observables.len();
        let mut ids: Vec<u32> = Vec::with_capacity(items.len());
        let mut created: Vec<bool> = Vec::with_capacity(items.len());
        for (k, via) in items {
            let uses = matches!(
                k,
                EvidenceKey::Technique(_) | EvidenceKey::TechniqueSet(_) | EvidenceKey::Malware(_)
            );
            let (e, new) = self.evidence_for(k);
            let en = self.evidence[e as usize].node;
            match via {
                Via::Direct => {
                    let edge = if uses { Edge::Uses } else { Edge::Contains };
                    self.graph.add_edge(node, en, edge);
                }
                // A value's derivations never change: their edges are drawn
                // when the value is first seen.
                Via::DerivedFrom(from) if created[from] => {
                    let fnode = self.evidence[ids[from] as usize].node;
                    self.graph.add_edge(fnode, en, Edge::DerivedFrom);
                }
                Via::DerivedFrom(_) => {}
            }
            ids.push(e);
            created.push(new);
        }
        let mut sources: Vec<(u32, u32)> = derived
            .sources
            .iter()
            .map(|&(d, from)| (ids[d], ids[from]))
            .collect();
        sources.sort_unstable();
        let claims: Vec<u32> = sub
            .actor_claims
            .iter()
            .map(|c| self.resolve_claim(c))
            .collect();
        let confidence = sub.confidence;
        self.subs.push(SubMeta {
            key: key.clone(),
            kind: sub.kind,
            tlp: sub.tlp,
            distribution: sub.distribution.clone(),
            attribution: sub.attribution,
            title: sub.title.clone(),
            submitted_at_ms: sub.submitted_at_ms,
            sector: self.registry.member(&sub.member).map(|m| m.sector.clone()),
            confidence,
            node,
            evidence: ids.clone(),
            sources,
            reported: u32::try_from(reported).unwrap_or(u32::MAX),
            claims,
            content,
        });
        self.sub_time.push(sub.submitted_at_ms);
        let group = self.group_of(&sub.member, &sub.distribution);
        self.sub_group.push(group);
        self.sub_pos.push(u32::MAX); // until it joins its campaign
        self.by_key.insert(key, si);

        let linked = self.link_new(si, seq, ingest.now_ms);
        // Only now does the submission enter the posting lists: it never
        // links to itself, and a split above did not see it.
        for &e in &ids {
            let ev = &mut self.evidence[e as usize];
            ev.subs.push(si);
            ev.last_seen_ms = ev.last_seen_ms.max(sub.submitted_at_ms);
            if matches!(ev.key, EvidenceKey::Observable(_)) {
                match ev.reporters.iter_mut().find(|(m, _)| *m == sub.member) {
                    Some((_, c)) => *c = (*c).max(confidence),
                    None => {
                        // Most values have one reporter: no room for four.
                        ev.reporters.reserve_exact(1);
                        ev.reporters.push((sub.member.clone(), confidence));
                    }
                }
            }
        }
        let (campaign_id, mut campaigns, root) =
            self.join_campaign(si, seq, &linked.roots, ingest.now_ms);
        self.extend_views(root, si, &linked.links);
        let mut all_views = linked.views;
        all_views.append(&mut campaigns);
        self.walk_cost = WalkCost::default();
        let (mut alerts, views_over_budget) = self.alerts(si, sub, &linked.matches, root, ingest);
        let attribution_changes = std::mem::take(&mut self.attribution_changes);
        alerts.extend(self.attribution_alerts(si, &attribution_changes, &all_views, ingest));
        for a in &mut alerts {
            a.shared_scores = self.alert_scores(a, ingest.now_ms);
        }
        let reported_ids = &ids[..reported.min(ids.len())];
        let hot_observables = ids
            .iter()
            .filter(|&&e| {
                let ev = &self.evidence[e as usize];
                ev.common && matches!(ev.key, EvidenceKey::Observable(_))
            })
            .count();
        let warnlisted = reported_ids
            .iter()
            .map(|&e| {
                self.evidence[e as usize]
                    .warn
                    .map(|w| self.warn.name(w).to_owned())
            })
            .collect();
        let scores = reported_ids
            .iter()
            .map(|&e| self.score_of(e, ingest.now_ms))
            .collect();
        Outcome::Accepted(Effects {
            seq,
            campaign_id,
            alerts,
            campaigns: all_views,
            hot_observables: u32::try_from(hot_observables).unwrap_or(u32::MAX),
            common_infrastructure: linked.common,
            warnlisted,
            scores,
            views_over_budget,
            view_walks: self.walk_cost,
            moved: self.take_moved(si),
            attribution_changes,
        })
    }

    /// The restricted-group id of (member, distribution), made if new.
    pub(crate) fn group_of(&mut self, member: &MemberId, distribution: &Distribution) -> u32 {
        if *distribution == Distribution::Community {
            return crate::views::COMMUNITY;
        }
        let next = u32::try_from(self.groups.len()).unwrap_or(crate::views::COMMUNITY - 1);
        *self
            .groups
            .entry((member.clone(), distribution.clone()))
            .or_insert(next)
    }

    fn resolve_claim(&mut self, claim: &str) -> u32 {
        let before = self.actors.len();
        let a = self.actors.resolve_claim(claim);
        if self.actors.len() > before {
            let node = self.graph.add_node(Node::Actor(a));
            self.actor_nodes.push(node);
        }
        a
    }
}

impl Engine {
    /// In-memory sizes of the structures an indexed observable costs (the
    /// fixed part of each; heap parts — strings, posting lists, reporters —
    /// come on top), for the memory accounting in docs/DESIGN-NOTES.md.
    pub fn layout() -> Vec<(&'static str, usize)> {
        use std::mem::size_of;
        vec![
            ("evidence entry (Evidence)", size_of::<Evidence>()),
            ("index entry (evidence number)", size_of::<u32>()),
            (
                "graph node (weight and two edge heads)",
                size_of::<Option<Node>>() + 2 * size_of::<u32>(),
            ),
            (
                "graph edge (weight, two ends, two next links)",
                size_of::<Option<Edge>>() + 4 * size_of::<u32>(),
            ),
            ("submission (SubMeta)", size_of::<SubMeta>()),
            (
                "per submission, apart: time, group, position, union-find",
                size_of::<i64>() + 3 * size_of::<u32>() + 2 * size_of::<u32>(),
            ),
            ("campaign (CampaignState)", size_of::<CampaignState>()),
        ]
    }
}
