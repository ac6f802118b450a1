//! Read-only questions the Fusion Cell asks of the engine (the query API):
//! a campaign with its submissions, observables, actors and evidence; an
//! observable with every campaign and sighting; a campaign's graph in
//! Graphviz DOT. These are Fusion Cell views: they show everything.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;

use cisp_model::Observable;
use petgraph::visit::EdgeRef;
use serde::Serialize;

use crate::campaign::CampaignView;
use crate::engine::Engine;
use crate::evidence::EvidenceKey;
use crate::graph::{Edge, Link, Node};
use crate::ids::{CampaignId, SubmissionKey};
use crate::linking::Hop;

/// At most this many submissions are explained or drawn per campaign.
pub const MAX_DETAIL_SUBMISSIONS: usize = 2000;

#[derive(Debug, Clone, Serialize)]
pub struct SubmissionSummary {
    pub member: String,
    pub id: String,
    pub kind: String,
    pub tlp: String,
    pub title: String,
    pub submitted_at_ms: i64,
    pub anonymous: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObservableSummary {
    pub kind: &'static str,
    pub value: String,
    pub score: f32,
    pub reporters: u32,
    pub warnlist: Option<String>,
    pub common_infrastructure: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignDetail {
    pub campaign: CampaignView,
    pub submissions: Vec<SubmissionSummary>,
    pub observables: Vec<ObservableSummary>,
    pub techniques: Vec<String>,
    pub malware: Vec<String>,
    /// Actor claims: actor name → claiming members.
    pub claims: BTreeMap<String, BTreeSet<String>>,
    /// Why each submission is in the campaign: a spanning tree of links
    /// from the oldest one, each with its evidence.
    pub evidence: Vec<Hop>,
    /// More submissions than [`MAX_DETAIL_SUBMISSIONS`]: lists are cut.
    pub truncated: bool,
    /// The best-scoring actors (at most three), best first, whether or not
    /// one reached the threshold: the winner, the runner-up and the margin
    /// between them, and what speaks for and against each (issue 26).
    pub candidates: Vec<Candidate>,
    /// Confidence of the first candidate minus the second's (the first's
    /// own when alone).
    pub margin: Option<f64>,
}

/// One actor's case for a campaign (the Fusion Cell's view).
/// What the Fusion Cell may tell a member whose asset is in a report the
/// member may not see ([`Engine::victim_release`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VictimRelease {
    /// Stable: releasing twice sends the same alert id.
    pub alert_id: String,
    /// The member's declared asset (domain or network), not the value.
    pub asset: String,
    pub kind: cisp_model::SubmissionKind,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub actor_id: String,
    pub actor_name: String,
    pub confidence: f64,
    /// Belief from techniques and software alone.
    pub overlap: f64,
    /// Claiming members whose claims counted (a claim counts only for an
    /// actor the evidence supports, when it can tip a close call).
    pub claims_counted: usize,
    /// What the claims added: confidence − overlap.
    pub claims_contribution: f64,
    /// The campaign's techniques and software the actor's profile holds.
    pub matching: Vec<String>,
    /// The campaign's techniques and software the profile lacks.
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sighting {
    pub member: String,
    pub submission: String,
    pub submitted_at_ms: i64,
    pub campaign: CampaignId,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObservableDetail {
    #[serde(flatten)]
    pub summary: ObservableSummary,
    pub campaigns: Vec<CampaignId>,
    pub sightings: Vec<Sighting>,
    /// What it is derived from and what derives from it (kind, value).
    pub derived: Vec<(&'static str, String)>,
    /// Members' feedback on it, with who said what (Fusion Cell view).
    pub feedback: crate::FeedbackCounts,
}

impl Engine {
    /// Why two submissions are in one campaign: the shortest chain of
    /// links between them, each with its evidence (Fusion Cell view).
    /// `None` if they are not linked.
    pub fn explain(&self, a: &crate::SubmissionKey, b: &crate::SubmissionKey) -> Option<Vec<Hop>> {
        let (&x, &y) = (self.by_key.get(a)?, self.by_key.get(b)?);
        let mut prev: HashMap<u32, (u32, Link)> = HashMap::new();
        let mut seen: HashSet<u32> = HashSet::from([x]);
        let mut queue = std::collections::VecDeque::from([x]);
        let mut weak = crate::ids::IndexMap::default();
        let mut cost = 0;
        while let Some(s) = queue.pop_front() {
            if s == y {
                break;
            }
            let mut next = Vec::new();
            self.links(s, |_| true, &mut weak, &mut cost, |t, l| next.push((t, l)));
            for (t, l) in next {
                if seen.insert(t) {
                    prev.insert(t, (s, l));
                    queue.push_back(t);
                }
            }
        }
        if x != y && !prev.contains_key(&y) {
            return None;
        }
        let mut hops = Vec::new();
        let mut at = y;
        while at != x {
            let (from, link) = prev[&at];
            hops.push(self.hop(from, at, link));
            at = from;
        }
        hops.reverse();
        Some(hops)
    }

    fn campaign_root(&self, id: &str) -> Option<u32> {
        self.campaign_roots.get(&CampaignId::from_wire(id)).copied()
    }

    fn summary(&self, e: u32, now_ms: i64) -> Option<ObservableSummary> {
        let ev = &self.evidence[e as usize];
        let EvidenceKey::Observable(o) = &ev.key else {
            return None;
        };
        Some(ObservableSummary {
            kind: o.kind().name(),
            value: o.value().to_owned(),
            score: self.score_of(e, now_ms),
            reporters: u32::try_from(ev.reporters.len()).unwrap_or(u32::MAX),
            warnlist: ev.warn.map(|w| self.warn.name(w).to_owned()),
            common_infrastructure: ev.common,
        })
    }

    /// A campaign by id, as the Fusion Cell sees it.
    pub fn campaign(&self, id: &str, now_ms: i64) -> Option<CampaignDetail> {
        let root = self.campaign_root(id)?;
        let state = &self.campaigns[&root];
        let mut subs = state.subs.clone();
        subs.sort_unstable();
        let truncated = subs.len() > MAX_DETAIL_SUBMISSIONS;
        subs.truncate(MAX_DETAIL_SUBMISSIONS);
        let submissions = subs
            .iter()
            .map(|&s| {
                let m = &self.subs[s as usize];
                SubmissionSummary {
                    member: m.key.member.to_string(),
                    id: m.key.id.to_string(),
                    kind: m.kind.name().to_owned(),
                    tlp: m.tlp.to_string(),
                    title: m.title.clone(),
                    submitted_at_ms: m.submitted_at_ms,
                    anonymous: m.attribution == cisp_model::Attribution::Anonymous,
                }
            })
            .collect();
        let mut obs: Vec<u32> = state.observables.iter().copied().collect();
        obs.sort_unstable();
        let observables = obs
            .iter()
            .take(MAX_DETAIL_SUBMISSIONS * 10)
            .filter_map(|&e| self.summary(e, now_ms))
            .collect();
        let claims = state
            .features
            .claims
            .iter()
            .filter_map(|(a, who)| Some((self.actors.profile(*a)?.name.clone(), who.clone())))
            .collect();
        let candidates: Vec<Candidate> = self
            .actors
            .ranked(&state.features)
            .into_iter()
            .filter(|r| r.confidence > 0.0)
            .take(3)
            .filter_map(|r| {
                let p = self.actors.profile(r.actor)?;
                let (matching, missing) = self.actors.for_and_against(&state.features, r.actor);
                Some(Candidate {
                    actor_id: p.id.clone(),
                    actor_name: p.name.clone(),
                    confidence: r.confidence,
                    overlap: r.overlap,
                    claims_counted: r.claims_counted,
                    claims_contribution: r.confidence - r.overlap,
                    matching,
                    missing,
                })
            })
            .collect();
        let margin = match candidates.as_slice() {
            [] => None,
            [only] => Some(only.confidence),
            [first, second, ..] => Some(first.confidence - second.confidence),
        };
        Some(CampaignDetail {
            campaign: state.view(self.subs.len() as u64, None, now_ms, &self.actors),
            submissions,
            observables,
            techniques: state
                .features
                .techniques
                .keys()
                .map(|t| t.to_string())
                .collect(),
            malware: state
                .features
                .malware
                .keys()
                .map(|t| t.to_string())
                .collect(),
            claims,
            evidence: self.spanning_tree(&subs),
            truncated,
            margin,
            candidates,
        })
    }

    /// Links from the first of `subs` reaching the others (breadth first,
    /// within `subs`).
    fn spanning_tree(&self, subs: &[u32]) -> Vec<Hop> {
        let inside: std::collections::HashSet<u32> = subs.iter().copied().collect();
        let Some(&first) = subs.first() else {
            return Vec::new();
        };
        let mut seen = std::collections::HashSet::from([first]);
        let mut queue = VecDeque::from([first]);
        let mut weak = crate::ids::IndexMap::default();
        let mut cost = 0;
        let mut hops = Vec::new();
        while let Some(x) = queue.pop_front() {
            let mut next = Vec::new();
            self.links(
                x,
                |y| inside.contains(&y),
                &mut weak,
                &mut cost,
                |y, l| {
                    next.push((y, l));
                },
            );
            for (y, l) in next {
                if seen.insert(y) {
                    queue.push_back(y);
                    hops.push(self.hop(x, y, l));
                }
            }
        }
        hops
    }

    pub(crate) fn hop(&self, x: u32, y: u32, l: Link) -> Hop {
        let evidence = match l {
            Link::Strong(e) => vec![self.evidence[e as usize].key.describe()],
            Link::Weak(e, f) => vec![
                self.evidence[e as usize].key.describe(),
                self.evidence[f as usize].key.describe(),
            ],
            Link::Forced => vec![("decision", "forced by the Fusion Cell".to_owned())],
        };
        Hop {
            from: self.subs[x as usize].key.clone(),
            to: self.subs[y as usize].key.clone(),
            evidence,
        }
    }

    /// An observable with every campaign it is in and every sighting.
    pub fn observable(&self, o: &Observable, now_ms: i64) -> Option<ObservableDetail> {
        let e = self
            .index
            .get(&EvidenceKey::Observable(o.clone()), &self.evidence)?;
        let ev = &self.evidence[e as usize];
        let mut campaigns = BTreeSet::new();
        let sightings = ev
            .subs
            .iter()
            .map(|&s| {
                let m = &self.subs[s as usize];
                let campaign = self.campaign_id_of(s);
                campaigns.insert(campaign.clone());
                Sighting {
                    member: m.key.member.to_string(),
                    submission: m.key.id.to_string(),
                    submitted_at_ms: m.submitted_at_ms,
                    campaign,
                }
            })
            .collect();
        let derived = self
            .graph
            .edges_directed(ev.node, petgraph::Direction::Outgoing)
            .chain(
                self.graph
                    .edges_directed(ev.node, petgraph::Direction::Incoming),
            )
            .filter(|r| matches!(r.weight(), Edge::DerivedFrom))
            .filter_map(|r| {
                let other = if r.source() == ev.node {
                    r.target()
                } else {
                    r.source()
                };
                match self.graph[other] {
                    Node::Evidence(x) => Some(self.evidence[x as usize].key.describe()),
                    _ => None,
                }
            })
            .collect();
        Some(ObservableDetail {
            summary: self.summary(e, now_ms)?,
            campaigns: campaigns.into_iter().collect(),
            sightings,
            derived,
            feedback: self.counts_of(e, true),
        })
    }

    fn campaign_id_of(&self, s: u32) -> CampaignId {
        let root = self.uf.root(s);
        self.campaigns
            .get(&root)
            .map_or_else(|| self.key.campaign(s), |c| c.id.clone())
    }

    /// The campaign of submission `key` (without path compression).
    /// Whether the Fusion Cell may release a victim notification about
    /// submission `key` to `owner` (issue 23): the owner's own asset is in
    /// it, the owner may not see it (else it was told already), and its
    /// marking allows telling the owner that much — CLEAR, GREEN and AMBER
    /// do; AMBER+STRICT and RED keep it with their audience. What may be
    /// released: the owner's asset, the kind of report, and a stable id.
    pub fn victim_release(
        &self,
        key: &SubmissionKey,
        owner: &cisp_model::MemberId,
    ) -> Result<VictimRelease, &'static str> {
        let si = *self.by_key.get(key).ok_or("no such submission")?;
        let meta = &self.subs[si as usize];
        let member = self.registry.member(owner).ok_or("no such member")?;
        if member.role == cisp_model::Role::FusionCell || *owner == key.member {
            return Err("the member sees that report already");
        }
        if self
            .registry
            .may_see(owner, &key.member, &meta.distribution)
        {
            return Err("the member may see that report: it was told when it arrived");
        }
        if meta.tlp > cisp_model::Tlp::Amber {
            return Err("its marking (AMBER+STRICT or RED) keeps it with its audience: nothing may be released");
        }
        let asset = meta.evidence[..(meta.reported as usize).min(meta.evidence.len())]
            .iter()
            .find_map(|&e| match &self.evidence[e as usize].key {
                crate::evidence::EvidenceKey::Observable(o) => self
                    .registry
                    .asset_matches(o)
                    .into_iter()
                    .find(|(_, m)| *m == owner)
                    .map(|(a, _)| a.to_owned()),
                _ => None,
            })
            .ok_or("none of the member's own assets is in that report")?;
        Ok(VictimRelease {
            alert_id: format!(
                "R-{:016x}",
                self.key.hash(&[
                    "victim-release",
                    owner.as_str(),
                    key.member.as_str(),
                    key.id.as_str()
                ])
            ),
            asset,
            kind: meta.kind,
        })
    }

    pub fn campaign_of_key(&self, key: &SubmissionKey) -> Option<CampaignId> {
        self.by_key.get(key).map(|&s| self.campaign_id_of(s))
    }

    /// Every piece of evidence that is common infrastructure, as
    /// (kind, value).
    /// Every value the guard has stopped linking, of every kind, with why
    /// and how many submissions carry it now (`groups` is known only at
    /// the moment of judgement: 0 here). Sorted by kind and value.
    pub fn common_judgements(&self) -> Vec<crate::CommonJudgement> {
        let mut out: Vec<crate::CommonJudgement> = self
            .evidence
            .iter()
            .filter(|e| e.common)
            .map(|e| {
                let (kind, value) = e.key.describe();
                let hot = e.subs.len() > self.config.hot_observable_limit as usize;
                crate::CommonJudgement {
                    kind,
                    value,
                    reason: if hot {
                        crate::CommonReason::Hot
                    } else {
                        crate::CommonReason::Shared
                    },
                    submissions: u32::try_from(e.subs.len()).unwrap_or(u32::MAX),
                    groups: 0,
                }
            })
            .collect();
        out.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
        out
    }

    /// The malware families that are context by rule (the shipped
    /// commodity list), or none when `commodity_malware_links` is on.
    pub fn commodity_families(&self) -> Vec<&'static str> {
        if self.config.commodity_malware_links {
            return Vec::new();
        }
        crate::evidence::commodity_families().collect()
    }

    pub fn common_evidence(&self) -> Vec<(&'static str, String)> {
        self.evidence
            .iter()
            .filter(|e| e.common)
            .map(|e| e.key.describe())
            .collect()
    }

    /// Every live campaign, largest first (at most `limit`).
    pub fn campaign_views(&self, now_ms: i64, limit: usize) -> Vec<CampaignView> {
        let mut c: Vec<&crate::campaign::CampaignState> = self
            .campaigns
            .iter()
            .filter(|(r, _)| !self.withdrawn.contains(r))
            .map(|(_, c)| &**c)
            .collect();
        c.sort_by_key(|c| (std::cmp::Reverse(c.submission_count), c.founded_seq));
        c.into_iter()
            .take(limit)
            .map(|c| c.view(self.subs.len() as u64, None, now_ms, &self.actors))
            .collect()
    }

    /// Every live campaign's id, oldest first.
    pub fn campaign_ids(&self) -> Vec<CampaignId> {
        let mut c: Vec<_> = self
            .campaigns
            .iter()
            .filter(|(r, _)| !self.withdrawn.contains(r))
            .map(|(_, c)| (c.founded_seq, c.id.clone()))
            .collect();
        c.sort();
        c.into_iter().map(|(_, id)| id).collect()
    }

    /// A campaign's part of the graph in Graphviz DOT: its submissions,
    /// their evidence (with derivations), and its actor. Labels are
    /// escaped; member-supplied titles are not drawn.
    pub fn campaign_dot(&self, id: &str) -> Option<String> {
        let root = self.campaign_root(id)?;
        let state = &self.campaigns[&root];
        let mut subs = state.subs.clone();
        subs.sort_unstable();
        subs.truncate(MAX_DETAIL_SUBMISSIONS);
        let mut out = String::from("digraph campaign {\n  rankdir=LR;\n  node [fontsize=10];\n");
        let _ = writeln!(
            out,
            "  c [shape=doubleoctagon, label=\"{}\"];",
            dot_escape(state.id.as_str())
        );
        let mut drawn: BTreeSet<u32> = BTreeSet::new();
        let mut edges: BTreeSet<String> = BTreeSet::new();
        for &s in &subs {
            let m = &self.subs[s as usize];
            let _ = writeln!(
                out,
                "  s{s} [shape=box, label=\"{}\"];",
                dot_escape(&m.key.to_string())
            );
            edges.insert(format!("  s{s} -> c [label=\"member-of\"];"));
            let mut stack: Vec<u32> =
                m.evidence[..(m.reported as usize).min(m.evidence.len())].to_vec();
            for &e in &stack {
                edges.insert(format!("  s{s} -> e{e} [label=\"contains\"];"));
            }
            while let Some(e) = stack.pop() {
                if !drawn.insert(e) {
                    continue;
                }
                let ev = &self.evidence[e as usize];
                let (kind, value) = ev.key.describe();
                let style = if ev.warn.is_some() || ev.common {
                    ", style=dashed, color=gray"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  e{e} [shape=ellipse, label=\"{}\\n{}\"{style}];",
                    dot_escape(kind),
                    dot_escape(&value)
                );
                for r in self
                    .graph
                    .edges_directed(ev.node, petgraph::Direction::Outgoing)
                {
                    if let (Edge::DerivedFrom, Node::Evidence(x)) =
                        (r.weight(), self.graph[r.target()])
                    {
                        edges.insert(format!("  e{e} -> e{x} [label=\"derived-from\"];"));
                        stack.push(x);
                    }
                }
            }
        }
        if let Some(a) = &state.attribution {
            if let Some(p) = self.actors.profile(a.actor) {
                let _ = writeln!(
                    out,
                    "  a [shape=house, label=\"{} {}\"];",
                    dot_escape(&p.id),
                    dot_escape(&p.name)
                );
                edges.insert(format!(
                    "  c -> a [label=\"attributed-to {:.2}\"];",
                    a.confidence
                ));
            }
        }
        for e in edges {
            out.push_str(&e);
            out.push('\n');
        }
        out.push_str("}\n");
        Some(out)
    }
}

/// Escapes a string for a double-quoted DOT label.
pub fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
