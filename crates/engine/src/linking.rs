//! Clustering: which submissions are linked, and the campaigns that are
//! the connected parts of that graph.
//!
//! **The rule** (one function, [`Engine::links`], used by clustering, the
//! per-reader views, splits and explanations alike): submissions `x` and
//! `y`, submitted at most [`EngineConfig::link_window_ms`] apart, are
//! linked when they share a strong piece of evidence, or two different
//! weak ones (see [`crate::evidence`]), that is on no warn-list and not
//! common infrastructure.
//!
//! **Campaigns** are the connected components of the linked graph,
//! maintained incrementally with a union-find: a new submission joins,
//! merges (the oldest campaign survives; the absorbed ids point to it) or
//! founds a campaign. A value becoming common infrastructure withdraws
//! its links retroactively: the campaigns it touched are recomputed
//! (`recluster`) from their members' remaining links. So at every moment the
//! campaigns equal the components computed from scratch, which the
//! property tests check.
//!
//! [`EngineConfig::link_window_ms`]: crate::EngineConfig::link_window_ms

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cisp_model::ObservableKind;

use crate::actors::Attribution;
use crate::campaign::{CampaignState, CampaignView};
use crate::engine::{AttributionChange, CommonJudgement, CommonReason, Engine};
use crate::evidence::{EvidenceKey, Strength};
use crate::graph::{Edge, Link, Node};
use crate::ids::{CampaignId, IndexMap};
use crate::views::{Parts, Views};

/// What linking a new submission found.
pub(crate) struct Linked {
    /// Earlier submissions sharing strong observables with it, and those.
    /// (as evidence numbers of observables; each pair once).
    pub(crate) matches: BTreeMap<u32, Vec<u32>>,
    /// Campaign roots it links to.
    pub(crate) roots: Vec<u32>,
    /// The earlier submissions it links to, each once.
    pub(crate) links: Vec<u32>,
    /// Campaign views changed by splits.
    pub(crate) views: Vec<CampaignView>,
    /// Evidence that became common infrastructure, and why.
    pub(crate) common: Vec<CommonJudgement>,
}

/// One hop of an explanation: `from` and `to` are linked by `evidence`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hop {
    pub from: crate::SubmissionKey,
    pub to: crate::SubmissionKey,
    /// (kind, value) of each shared piece: one strong, or two weak.
    pub evidence: Vec<(&'static str, String)>,
}

impl Engine {
    /// Calls `f(y, link)` for every submission `y` (accepted by `accept`)
    /// linked to `x`, possibly more than once per `y`. `cost` counts the
    /// posting-list entries looked at.
    pub(crate) fn links(
        &self,
        x: u32,
        accept: impl Fn(u32) -> bool,
        weak: &mut IndexMap<u32, u32>,
        cost: &mut u64,
        mut f: impl FnMut(u32, Link),
    ) {
        weak.clear();
        let window = self.config.link_window_ms;
        let tx = self.sub_time[x as usize];
        for &e in &self.subs[x as usize].evidence {
            let ev = &self.evidence[e as usize];
            if !ev.links() || !self.carries(x, e) {
                continue;
            }
            // Values that can be derived (hosts, addresses, /24s,
            // registrable domains) link a submission only while it carries
            // them (see `carries`).
            let derived = match &ev.key {
                EvidenceKey::Prefix(_) | EvidenceKey::Registrable(_) => true,
                EvidenceKey::Observable(o) => matches!(
                    o.kind(),
                    ObservableKind::Domain | ObservableKind::Ipv4 | ObservableKind::Ipv6
                ),
                _ => false,
            };
            *cost += ev.subs.len() as u64;
            for &y in &ev.subs {
                if y == x || self.sub_time[y as usize].abs_diff(tx) > window.unsigned_abs() {
                    continue;
                }
                if !accept(y) || (derived && !self.carries(y, e)) || !self.link_allowed(x, y) {
                    continue;
                }
                if ev.strength == Strength::Strong {
                    f(y, Link::Strong(e));
                    continue;
                }
                match weak.get(&y) {
                    None => {
                        weak.insert(y, e);
                    }
                    Some(&first) if first != e && first != u32::MAX => {
                        f(y, Link::Weak(first, e));
                        weak.insert(y, u32::MAX); // linked: once is enough
                    }
                    Some(_) => {}
                }
            }
        }
        // The Fusion Cell's forced links (issue 22).
        for &y in self.forced_links(x) {
            if accept(y) {
                f(y, Link::Forced);
            }
        }
    }

    /// Whether submission `s` still carries evidence `e`: reported, or
    /// derived from at least one value that still links (the /24 of an
    /// address that turned out to be shared hosting says nothing more
    /// than the address).
    #[inline]
    pub(crate) fn carries(&self, s: u32, e: u32) -> bool {
        let mut sources = self.sources(s, e).peekable();
        sources.peek().is_none()
            || sources.any(|from| {
                let src = &self.evidence[from as usize];
                !src.stopped() && src.warn.is_none()
            })
    }

    /// What submission `s` derived `e` from (nothing if it reported `e`).
    fn sources(&self, s: u32, e: u32) -> impl Iterator<Item = u32> + '_ {
        let sources = &self.subs[s as usize].sources;
        let start = sources.partition_point(|&(d, _)| d < e);
        sources[start..]
            .iter()
            .take_while(move |&&(d, _)| d == e)
            .map(|&(_, from)| from)
    }

    /// Every link of `x`, to any submission.
    fn all_links(&self, x: u32, weak: &mut IndexMap<u32, u32>) -> Vec<(u32, Link)> {
        let mut found = Vec::new();
        let mut cost = 0;
        self.links(x, |_| true, weak, &mut cost, |y, l| found.push((y, l)));
        found
    }

    /// Links new submission `si` (not yet in any posting list) to earlier
    /// ones, applying the over-correlation guard first.
    pub(crate) fn link_new(&mut self, si: u32, seq: u64, now_ms: i64) -> Linked {
        let mut weak = std::mem::take(&mut self.marks.weak);
        let mut found = self.all_links(si, &mut weak);

        // The guard: a value carried by too many submissions, or holding
        // together more than `common_after_campaigns` groups of otherwise
        // unrelated indicators, is common infrastructure.
        let own: Vec<u32> = self.subs[si as usize]
            .evidence
            .iter()
            .copied()
            .filter(|&e| self.evidence[e as usize].links())
            .collect();
        let mut newly_common: Vec<u32> = Vec::new();
        let mut judged: Vec<CommonJudgement> = Vec::new();
        for &e in &own {
            let n = self.evidence[e as usize].subs.len() + 1;
            // (declared malicious by the Fusion Cell: never judged common)
            let hot = n > self.config.hot_observable_limit as usize && !self.declared_malicious(e);
            let check = n >= 3 && (n <= 24 || n.is_power_of_two());
            let groups = if !hot && check && !self.declared_malicious(e) {
                self.tenants(e, si)
            } else {
                0
            };
            if hot || groups > self.config.common_after_campaigns as usize {
                newly_common.push(e);
                let (kind, value) = self.evidence[e as usize].key.describe();
                judged.push(CommonJudgement {
                    kind,
                    value,
                    reason: if hot {
                        CommonReason::Hot
                    } else {
                        CommonReason::Shared
                    },
                    submissions: u32::try_from(n).unwrap_or(u32::MAX),
                    groups: u32::try_from(groups).unwrap_or(u32::MAX),
                });
            }
        }

        let mut views = Vec::new();
        let common = judged;
        if !newly_common.is_empty() {
            let mut roots = BTreeSet::new();
            for &e in &newly_common {
                let ev = &mut self.evidence[e as usize];
                ev.common = true;
                self.counts.common += 1;
                let subs = ev.subs.clone();
                for y in subs {
                    roots.insert(self.uf.find(y));
                }
            }
            views = self.recluster(&roots, seq, now_ms);
            found = self.all_links(si, &mut weak);
        }
        self.marks.weak = weak;

        let mut matches: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut roots: Vec<u32> = Vec::new();
        for &(y, l) in &found {
            roots.push(self.uf.find(y));
            if let Link::Strong(e) = l {
                if matches!(self.evidence[e as usize].key, EvidenceKey::Observable(_)) {
                    matches.entry(y).or_default().push(e);
                }
            }
        }
        roots.sort_unstable();
        roots.dedup();
        let mut links: Vec<u32> = found.iter().map(|&(y, _)| y).collect();
        links.sort_unstable();
        links.dedup();
        Linked {
            matches,
            roots,
            links,
            views,
            common,
        }
    }

    /// How many unrelated groups of indicators `e` holds together. Over
    /// the submissions carrying it (and `new`, not yet indexed), their
    /// other indicators that recur (in two submissions or more) — strong
    /// ones, and the registrable domains and /24s of their network
    /// indicators — are joined when reported together; a group counts
    /// when it comes with `e` in two submissions or more. A campaign's own
    /// C2 or payload sits with one group (its reports share hosts,
    /// registrable domains or other indicators; a victim's one-off values
    /// do not recur); a shared-hosting address or a commodity tool sits
    /// with one group per campaign that uses it.
    pub(crate) fn tenants(&self, e: u32, new: u32) -> usize {
        let mut parent: IndexMap<u32, u32> = IndexMap::default();
        fn find(parent: &mut IndexMap<u32, u32>, mut x: u32) -> u32 {
            while let Some(&p) = parent.get(&x) {
                if p == x {
                    break;
                }
                let g = parent.get(&p).copied().unwrap_or(p);
                parent.insert(x, g);
                x = g;
            }
            x
        }
        let new_evidence = &self.subs[new as usize].evidence;
        let reports: Vec<u32> = self.evidence[e as usize]
            .subs
            .iter()
            .copied()
            .chain(std::iter::once(new))
            .collect();
        let mut firsts: Vec<Option<u32>> = Vec::with_capacity(reports.len());
        for &r in &reports {
            let mut first: Option<u32> = None;
            for &v in &self.subs[r as usize].evidence {
                let ev = &self.evidence[v as usize];
                let network =
                    matches!(ev.key, EvidenceKey::Prefix(_) | EvidenceKey::Registrable(_));
                if v == e || !(ev.strength == Strength::Strong || network) || !ev.links() {
                    continue;
                }
                let seen = ev.subs.len() + usize::from(r != new && new_evidence.contains(&v));
                let recurs = seen + usize::from(r == new) >= 2;
                if !recurs || !self.carries(r, v) || self.derived_only_from(r, v, e) {
                    continue;
                }
                parent.entry(v).or_insert(v);
                match first {
                    None => first = Some(v),
                    Some(f) => {
                        let (a, b) = (find(&mut parent, f), find(&mut parent, v));
                        if a != b {
                            parent.insert(b, a);
                        }
                    }
                }
            }
            firsts.push(first);
        }
        // Submissions per group.
        let mut per_group: IndexMap<u32, u32> = IndexMap::default();
        for f in firsts.into_iter().flatten() {
            *per_group.entry(find(&mut parent, f)).or_default() += 1;
        }
        per_group.len()
    }

    /// Whether `s` carries `w` only because it carries `e`.
    fn derived_only_from(&self, s: u32, w: u32, e: u32) -> bool {
        let mut sources = self.sources(s, w).peekable();
        sources.peek().is_some() && sources.all(|from| from == e)
    }

    /// The connected parts of `members` under the linking rule, each
    /// sorted, in order of their first member.
    pub(crate) fn components(&mut self, members: &[u32]) -> Vec<Vec<u32>> {
        let mut members = members.to_vec();
        members.sort_unstable();
        let mut marks = std::mem::take(&mut self.marks);
        let epoch = marks.next(self.subs.len());
        for &s in &members {
            marks.sub_mark[s as usize] = epoch; // in the set, not yet placed
        }
        let mut parts: Vec<Vec<u32>> = Vec::new();
        let mut cost = 0;
        for &start in &members {
            if marks.sub_mark[start as usize] != epoch {
                continue;
            }
            marks.sub_mark[start as usize] = 0;
            let mut part = vec![start];
            let mut stack = vec![start];
            while let Some(x) = stack.pop() {
                let mut next = Vec::new();
                let sub_mark = &marks.sub_mark;
                self.links(
                    x,
                    |y| sub_mark[y as usize] == epoch,
                    &mut marks.weak,
                    &mut cost,
                    |y, _| next.push(y),
                );
                for y in next {
                    if marks.sub_mark[y as usize] == epoch {
                        marks.sub_mark[y as usize] = 0;
                        part.push(y);
                        stack.push(y);
                    }
                }
            }
            part.sort_unstable();
            parts.push(part);
        }
        self.marks = marks;
        parts
    }

    /// Puts submission `si` into a campaign: a new one, the one it links
    /// to, or the oldest of several, which absorbs the others.
    pub(crate) fn join_campaign(
        &mut self,
        si: u32,
        seq: u64,
        roots: &[u32],
        now_ms: i64,
    ) -> (crate::CampaignId, Vec<CampaignView>, u32) {
        let mut views = Vec::new();
        let survivor = roots
            .iter()
            .copied()
            .min_by_key(|r| self.campaigns[r].founded_seq);
        let (mut root, mut state) = match survivor {
            None => {
                let node = self.graph.add_node(Node::Campaign);
                (si, CampaignState::new(self.key.campaign(si), seq, node))
            }
            Some(survivor) => {
                let mut state = self.take_campaign(survivor);
                let mut root = survivor;
                for &r in roots.iter().filter(|&&r| r != survivor) {
                    let absorbed = self.take_campaign(r);
                    // Its attribution now lives in the survivor's: the
                    // absorbed row keeps none, so no report shows it.
                    let mut view = absorbed.view(seq, Some(state.id.clone()), now_ms, &self.actors);
                    view.attribution = None;
                    views.push(view);
                    self.graph.remove_node(absorbed.node);
                    let offset = state.subs.len();
                    self.moved.extend_from_slice(&absorbed.subs);
                    for (i, &s) in absorbed.subs.iter().enumerate() {
                        let sn = self.subs[s as usize].node;
                        self.graph.add_edge(sn, state.node, Edge::MemberOf);
                        self.sub_pos[s as usize] = u32::try_from(offset + i).unwrap_or(u32::MAX);
                    }
                    state.absorb(absorbed);
                    root = self.uf.union_roots(root, r);
                }
                (root, state)
            }
        };
        root = self.uf.union_roots(root, si);
        let before = state.features.size();
        self.add_to(&mut state, si);
        // Attribution reads only the features: re-score when they changed.
        if !views.is_empty() || state.features.size() != before || state.submission_count == 1 {
            let was = state.attribution.clone();
            self.attribute(&mut state);
            self.note_attribution(&state, was.as_ref());
        }
        views.push(state.view(seq, None, now_ms, &self.actors));
        let id = state.id.clone();
        self.put_campaign(root, state);
        (id, views, root)
    }

    pub(crate) fn take_campaign(&mut self, root: u32) -> CampaignState {
        // (boxed in the map: growing it moves pointers, not states)
        #[allow(clippy::expect_used)]
        let state = self
            .campaigns
            .remove(&root)
            .expect("every root has a campaign");
        self.campaign_roots.remove(&state.id);
        *state
    }

    pub(crate) fn put_campaign(&mut self, root: u32, state: CampaignState) {
        self.campaign_roots.insert(state.id.clone(), root);
        self.campaigns.insert(root, Box::new(state));
    }

    /// Adds submission `s` to `state` (and its member-of edge).
    pub(crate) fn add_to(&mut self, state: &mut CampaignState, s: u32) {
        self.sub_pos[s as usize] = u32::try_from(state.subs.len()).unwrap_or(u32::MAX);
        let meta = &self.subs[s as usize];
        self.graph.add_edge(meta.node, state.node, Edge::MemberOf);
        state.add_submission(s, meta);
        for &e in &meta.evidence {
            match &self.evidence[e as usize].key {
                EvidenceKey::Observable(_) => {
                    state.observables.insert(e);
                }
                EvidenceKey::Technique(t) => {
                    *state.features.techniques.entry(t.clone()).or_default() += 1;
                }
                EvidenceKey::Malware(m) => {
                    *state.features.malware.entry(m.clone()).or_default() += 1;
                }
                _ => {}
            }
        }
        for &a in &meta.claims {
            state
                .features
                .claims
                .entry(a)
                .or_default()
                .insert(meta.key.member.to_string());
        }
    }

    /// Re-scores `state` against every actor and redraws its attributed-to
    /// edge.
    pub(crate) fn attribute(&mut self, state: &mut CampaignState) {
        let new = self.attribution_for(state);
        if new == state.attribution {
            return;
        }
        if let Some(old) = &state.attribution {
            if let Some(&an) = self.actor_nodes.get(old.actor as usize) {
                if let Some(edge) = self.graph.find_edge(state.node, an) {
                    self.graph.remove_edge(edge);
                }
            }
        }
        if let Some(a) = &new {
            if let Some(&an) = self.actor_nodes.get(a.actor as usize) {
                #[allow(clippy::cast_possible_truncation)]
                self.graph
                    .add_edge(state.node, an, Edge::AttributedTo(a.confidence as f32));
            }
        }
        state.attribution = new;
    }

    /// Records a change of `state`'s attributed actor from `was`.
    pub(crate) fn note_attribution(&mut self, state: &CampaignState, was: Option<&Attribution>) {
        let now = state.attribution.as_ref();
        if now.map(|a| a.actor) == was.map(|a| a.actor) {
            return;
        }
        let runner_up = self
            .actors
            .ranked(&state.features)
            .into_iter()
            .filter(|r| r.confidence > 0.0 && Some(r.actor) != now.map(|a| a.actor))
            .find_map(|r| {
                let p = self.actors.profile(r.actor)?;
                Some((p.name.clone(), r.confidence))
            });
        let change = AttributionChange {
            campaign_id: state.id.clone(),
            before: was.and_then(|a| self.actor_attribution(a)),
            after: now.and_then(|a| self.actor_attribution(a)),
            runner_up,
        };
        self.attribution_changes.push(change);
    }

    fn actor_attribution(&self, a: &Attribution) -> Option<crate::ActorAttribution> {
        let p = self.actors.profile(a.actor)?;
        Some(crate::ActorAttribution {
            actor_id: p.id.clone(),
            actor_name: p.name.clone(),
            confidence: a.confidence,
            evidence: a.evidence.clone(),
        })
    }

    /// Recomputes the campaigns rooted at `roots` together from their
    /// members' links: after a value stopped linking (the guard, members'
    /// disputes), a report was withdrawn or the Fusion Cell decided, they
    /// may split, merge, or both. Ids: each old campaign, oldest first,
    /// passes its id to the part holding its oldest report not withdrawn,
    /// if that part has none yet; other parts are new campaigns (a part of
    /// withdrawn reports only gets an id of its own kind, never an old
    /// one); an old campaign whose id no part took was merged into the
    /// part holding its oldest report not withdrawn (none: it is gone with
    /// its reports, and no update is sent for it). The views returned are
    /// of live campaigns only.
    pub(crate) fn recluster(
        &mut self,
        roots: &BTreeSet<u32>,
        seq: u64,
        now: i64,
    ) -> Vec<CampaignView> {
        let mut olds: Vec<CampaignState> = roots.iter().map(|&r| self.take_campaign(r)).collect();
        olds.sort_by_key(|c| c.founded_seq);
        let mut members: Vec<u32> = Vec::new();
        let mut old_id: HashMap<u32, CampaignId> = HashMap::new();
        for old in &olds {
            self.graph.remove_node(old.node);
            for &s in &old.subs {
                self.uf.reset(s);
                members.push(s);
                old_id.insert(s, old.id.clone());
            }
        }
        let parts = self.components(&members);
        let mut part_of: HashMap<u32, usize> = HashMap::new();
        for (i, p) in parts.iter().enumerate() {
            for &s in p {
                part_of.insert(s, i);
            }
        }
        let mut keeps: Vec<Option<usize>> = vec![None; parts.len()];
        let mut kept = vec![false; olds.len()];
        for (k, old) in olds.iter().enumerate() {
            let oldest = old
                .subs
                .iter()
                .copied()
                .filter(|&s| !self.withdrawn_sub(s))
                .min();
            if let Some(p) = oldest.and_then(|s| part_of.get(&s).copied()) {
                if keeps[p].is_none() {
                    keeps[p] = Some(k);
                    kept[k] = true;
                }
            }
        }
        let mut views = Vec::new();
        let mut new_ids: Vec<CampaignId> = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let first = part[0];
            let node = self.graph.add_node(Node::Campaign);
            // (a withdrawn report links nothing: it is a part alone)
            let withdrawn = part.iter().all(|&s| self.withdrawn_sub(s));
            let id = match keeps[i] {
                Some(k) => olds[k].id.clone(),
                None if withdrawn => self.key.withdrawn_campaign(first),
                None => self.key.campaign(first),
            };
            let mut state = CampaignState::new(id, u64::from(first), node);
            for old in &olds {
                if old.subs.iter().any(|s| part_of.get(s) == Some(&i)) {
                    state.escalated.extend(old.escalated.iter().cloned());
                    state.actors_told.extend(old.actors_told.iter().cloned());
                }
            }
            let mut r = first;
            for &s in part {
                self.add_to(&mut state, s);
                let rr = self.uf.find(r);
                r = self.uf.union_roots(rr, s);
                if old_id.get(&s) != Some(&state.id) {
                    self.moved.push(s);
                }
            }
            self.attribute(&mut state);
            let was = keeps[i].and_then(|k| olds[k].attribution.as_ref());
            self.note_attribution(&state, was);
            // A withdrawn report's campaign of its own is no campaign to
            // report on: no update for it.
            if !withdrawn {
                views.push(state.view(seq, None, now, &self.actors));
            }
            new_ids.push(state.id.clone());
            let r = self.uf.find(r);
            self.put_campaign(r, state);
        }
        // Campaigns whose id no part took were merged into another.
        for (k, old) in olds.iter().enumerate() {
            if kept[k] || new_ids.contains(&old.id) {
                continue;
            }
            let Some(into) = old
                .subs
                .iter()
                .copied()
                .filter(|&s| !self.withdrawn_sub(s))
                .min()
                .and_then(|s| part_of.get(&s))
                .map(|&p| new_ids[p].clone())
            else {
                continue;
            };
            let mut view = old.view(seq, Some(into), now, &self.actors);
            view.attribution = None;
            views.push(view);
        }
        views
    }

    /// The connected parts of the campaign `members` that a reader with
    /// `key` may see (community-wide submissions and those of the
    /// restricted groups in `key`): one pass over their links, counted as
    /// a walk. `None` when it looks at more posting-list entries than
    /// [`crate::EngineConfig::view_budget`].
    pub(crate) fn build_parts(&mut self, members: &[u32], key: &[u32]) -> Option<Parts> {
        let budget = u64::from(self.config.view_budget);
        let mut weak = std::mem::take(&mut self.marks.weak);
        let mut parts = Parts::default();
        let visible = |s: u32| Views::visible(key, self.sub_group[s as usize]);
        for &s in members.iter().filter(|&&s| visible(s)) {
            parts.insert_bare(self.sub_pos[s as usize]);
        }
        let mut cost = 0u64;
        let mut linked = Vec::new();
        let mut over = false;
        for &s in members.iter().filter(|&&s| visible(s)) {
            linked.clear();
            // Each link is seen from both ends: joining from the later one
            // is enough.
            self.links(
                s,
                |y| y < s && visible(y),
                &mut weak,
                &mut cost,
                |y, _| linked.push(y),
            );
            let at = self.sub_pos[s as usize];
            for &y in &linked {
                parts.union_bare(at, self.sub_pos[y as usize]);
            }
            if cost > budget {
                over = true;
                break;
            }
        }
        self.marks.weak = weak;
        self.walk_cost.walks += 1;
        self.walk_cost.edges += cost;
        if over {
            return None;
        }
        parts.tally_all(members, &self.subs);
        Some(parts)
    }

    /// Puts the new submission `si`, linked to `linked`, into the kept
    /// parts of its campaign (`root`) for every key that may see it.
    pub(crate) fn extend_views(&mut self, root: u32, si: u32, linked: &[u32]) {
        let Some(state) = self.campaigns.get_mut(&root) else {
            return;
        };
        let group = self.sub_group[si as usize];
        let at = self.sub_pos[si as usize];
        let Some(views) = &mut state.views else {
            return; // nothing kept yet
        };
        for (key, parts) in &mut views.parts {
            let Some(parts) = parts else {
                continue; // over the budget: not kept
            };
            if !Views::visible(key, group) {
                continue;
            }
            parts.insert(at, si, &self.subs[si as usize]);
            for &y in linked {
                // (`union` ignores submissions the key may not see)
                parts.union(at, self.sub_pos[y as usize]);
            }
        }
    }
}
