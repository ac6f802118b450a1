//! The Fusion Cell's decisions (issue 22): forbid or force a link between
//! two submissions, declare a value benign or malicious for the
//! partnership, set, confirm or reject a campaign's attribution, withdraw
//! a submission at its member's request — and undo any of them but a
//! withdrawal.
//!
//! Links are still one rule (`Engine::links`): a forbidden pair is skipped
//! there and a forced pair added, so every campaign, view, split and
//! explanation sees the same links. After a decision the campaigns it
//! touches are recomputed together ([`Engine::recluster`]): they may split
//! (forbid, benign, undoing a force) or merge (force, malicious, undoing a
//! forbid). A decision is an action like a correction: numbered, replayed
//! in place, kept in snapshots.

use std::collections::{BTreeMap, BTreeSet};

use cisp_model::{Change, Correction, Decision, DecisionAction, Observable, SubmissionRef};
use serde::{Deserialize, Serialize};

use crate::campaign::{CampaignState, CampaignView};
use crate::engine::{Engine, Ingest};
use crate::evidence::EvidenceKey;
use crate::ids::{CampaignId, SubmissionKey};
use crate::revision::{ActionOutcome, Audited};

/// The Fusion Cell's word on one campaign's attribution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pin {
    /// Attributed to this actor, whatever the evidence says.
    pub(crate) set: Option<u32>,
    /// Never attributed to these.
    pub(crate) rejected: BTreeSet<u32>,
}

/// How to take a decision back.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Undo {
    Forbid(u32, u32),
    Force(u32, u32),
    Benign(u32),
    Malicious {
        e: u32,
        common: bool,
        warn: Option<u16>,
    },
    Pin {
        campaign: CampaignId,
        before: Option<Pin>,
    },
    /// A withdrawal is not undone (the member publishes again).
    Never,
}

/// A decision the engine applied.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Applied {
    decision: Decision,
    undo: Undo,
    undone_by: Option<String>,
}

/// The decisions' state, kept in snapshots.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Decisions {
    /// Submission pairs (lower, higher) that never link.
    pub(crate) forbidden: BTreeSet<(u32, u32)>,
    /// Submission → submissions it is forced to link to (both ways).
    pub(crate) forced: BTreeMap<u32, Vec<u32>>,
    /// Evidence declared benign (it is marked disputed too).
    pub(crate) benign: BTreeSet<u32>,
    /// Evidence declared malicious: links whatever stopped it.
    pub(crate) malicious: BTreeSet<u32>,
    pub(crate) pins: BTreeMap<CampaignId, Pin>,
    applied: BTreeMap<String, Applied>,
    order: Vec<String>,
}

/// A decision as the API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct DecisionView {
    /// Its action's name (`forbid_link`, …).
    pub action: &'static str,
    pub decision: Decision,
    pub undone_by: Option<String>,
}

fn pair(a: u32, b: u32) -> (u32, u32) {
    (a.min(b), a.max(b))
}

impl Engine {
    fn sub_of(&self, r: &SubmissionRef) -> Result<u32, Refusal> {
        let key = SubmissionKey {
            member: r.member.clone(),
            id: r.id.clone(),
        };
        match self.by_key.get(&key) {
            Some(&s) if !self.withdrawn_sub(s) => Ok(s),
            Some(_) => Err(refused(
                "withdrawn",
                format!("submission {r} was withdrawn"),
            )),
            None => Err(refused(
                "unknown_submission",
                format!("submission {r} was never processed"),
            )),
        }
    }

    fn value_of(&self, o: &Observable) -> Result<u32, Refusal> {
        self.index
            .get(&EvidenceKey::Observable(o.clone()), &self.evidence)
            .ok_or_else(|| refused("never_reported", format!("{o} was never reported")))
    }

    /// Applies a Fusion Cell decision. `audited`: for a withdrawal, the
    /// earlier alerts built on the submission (see
    /// [`Engine::correct`]); a benign value's alerted members are told
    /// through [`Engine::dispute_notices`] like a disputed value's.
    pub fn decide(&mut self, d: &Decision, audited: &[Audited], ingest: Ingest) -> ActionOutcome {
        if self.decisions.applied.contains_key(d.id.as_str()) {
            return ActionOutcome::Duplicate;
        }
        self.apply(d, audited, ingest)
            .unwrap_or_else(|r| ActionOutcome::Refused {
                code: r.code,
                reason: r.reason,
            })
    }

    fn apply(
        &mut self,
        d: &Decision,
        audited: &[Audited],
        ingest: Ingest,
    ) -> Result<ActionOutcome, Refusal> {
        let now = ingest.now_ms;
        let undo = match &d.action {
            DecisionAction::Withdraw(r) => {
                self.sub_of(r)?;
                let c = Correction {
                    id: d.id.clone(),
                    member: r.member.clone(),
                    submission: r.id.clone(),
                    corrected_at_ms: d.made_at_ms,
                    change: Change::Retract,
                    reason: d.reason.clone(),
                };
                let outcome = self.correct(&c, audited, ingest);
                if matches!(outcome, ActionOutcome::Applied(_)) {
                    self.record(d, Undo::Never);
                }
                return Ok(outcome);
            }
            DecisionAction::ForbidLink { a, b } => {
                let (i, j) = (self.sub_of(a)?, self.sub_of(b)?);
                let p = pair(i, j);
                if self.forced_pair(p) {
                    return Err(refused(
                        "conflicting_decision",
                        format!("{a} and {b} are forced to link: undo that decision first"),
                    ));
                }
                if !self.decisions.forbidden.insert(p) {
                    return Err(refused(
                        "no_change",
                        format!("{a} and {b} are already kept apart"),
                    ));
                }
                Undo::Forbid(p.0, p.1)
            }
            DecisionAction::ForceLink { a, b } => {
                let (i, j) = (self.sub_of(a)?, self.sub_of(b)?);
                let p = pair(i, j);
                if self.decisions.forbidden.contains(&p) {
                    return Err(refused(
                        "conflicting_decision",
                        format!("{a} and {b} are kept apart: undo that decision first"),
                    ));
                }
                if self.forced_pair(p) {
                    return Err(refused(
                        "no_change",
                        format!("{a} and {b} are already forced to link"),
                    ));
                }
                self.decisions.forced.entry(p.0).or_default().push(p.1);
                self.decisions.forced.entry(p.1).or_default().push(p.0);
                Undo::Force(p.0, p.1)
            }
            DecisionAction::DeclareBenign(o) => {
                let e = self.value_of(o)?;
                if self.declared_malicious(e) {
                    return Err(refused(
                        "conflicting_decision",
                        format!("{o} is declared malicious: undo that decision first"),
                    ));
                }
                if !self.decisions.benign.insert(e) {
                    return Err(refused(
                        "no_change",
                        format!("{o} is already declared benign"),
                    ));
                }
                self.refresh_stop(e);
                Undo::Benign(e)
            }
            DecisionAction::DeclareMalicious(o) => {
                let e = self.value_of(o)?;
                if self.declared_benign(e) {
                    return Err(refused(
                        "conflicting_decision",
                        format!("{o} is declared benign: undo that decision first"),
                    ));
                }
                if !self.decisions.malicious.insert(e) {
                    return Err(refused(
                        "no_change",
                        format!("{o} is already declared malicious"),
                    ));
                }
                let ev = &mut self.evidence[e as usize];
                let undo = Undo::Malicious {
                    e,
                    common: ev.common,
                    warn: ev.warn,
                };
                if ev.common {
                    self.counts.common -= 1;
                }
                ev.common = false;
                ev.warn = None;
                self.refresh_stop(e);
                undo
            }
            DecisionAction::SetAttribution { campaign, actor }
            | DecisionAction::ConfirmAttribution { campaign, actor }
            | DecisionAction::RejectAttribution { campaign, actor } => {
                let id = CampaignId::from_wire(campaign);
                let Some(&root) = self.campaign_roots.get(&id) else {
                    return Err(refused(
                        "unknown_campaign",
                        format!("no campaign {campaign}"),
                    ));
                };
                let Some(a) = self.actors.find(actor) else {
                    return Err(refused("unknown_actor", format!("no actor {actor}")));
                };
                let before = self.decisions.pins.get(&id).cloned();
                let mut pin = before.clone().unwrap_or_default();
                match &d.action {
                    DecisionAction::ConfirmAttribution { .. } => {
                        let current = self.campaigns[&root].attribution.as_ref().map(|x| x.actor);
                        if current != Some(a) {
                            return Err(refused(
                                "not_current",
                                format!("campaign {campaign} is not attributed to {actor} now: set it instead"),
                            ));
                        }
                        pin.set = Some(a);
                    }
                    DecisionAction::SetAttribution { .. } => {
                        pin.set = Some(a);
                        pin.rejected.remove(&a);
                    }
                    _ => {
                        pin.rejected.insert(a);
                        if pin.set == Some(a) {
                            pin.set = None;
                        }
                    }
                }
                self.decisions.pins.insert(id.clone(), pin);
                Undo::Pin {
                    campaign: id,
                    before,
                }
            }
            DecisionAction::Undo { decision } => return self.undo(d, decision.as_str(), now),
        };
        let mut rev = self.next_revision();
        let seq = rev.after_seq;
        match &undo {
            Undo::Forbid(i, j) | Undo::Force(i, j) => {
                let roots = BTreeSet::from([self.uf.find(*i), self.uf.find(*j)]);
                rev.campaigns = self.recluster(&roots, seq, now);
            }
            Undo::Benign(e) | Undo::Malicious { e, .. } => {
                let subs = self.evidence[*e as usize].subs.clone();
                let roots: BTreeSet<u32> = subs.iter().map(|&s| self.uf.find(s)).collect();
                rev.campaigns = self.recluster(&roots, seq, now);
                if let (Undo::Benign(_), DecisionAction::DeclareBenign(o)) = (&undo, &d.action) {
                    let keys = subs
                        .iter()
                        .map(|&s| self.subs[s as usize].key.clone())
                        .collect();
                    rev.disputed = Some((o.clone(), keys));
                }
            }
            Undo::Pin { campaign, .. } => {
                if let Some(v) = self.reattribute(campaign, seq, now) {
                    rev.campaigns.push(v);
                }
            }
            Undo::Never => {}
        }
        rev.moved = self.take_moved(u32::MAX);
        rev.attribution_changes = std::mem::take(&mut self.attribution_changes);
        self.record(d, undo);
        Ok(ActionOutcome::Applied(rev))
    }

    fn undo(&mut self, d: &Decision, target: &str, now: i64) -> Result<ActionOutcome, Refusal> {
        let Some(applied) = self.decisions.applied.get(target) else {
            return Err(refused("unknown_decision", format!("no decision {target}")));
        };
        if let Some(by) = &applied.undone_by {
            return Err(refused(
                "no_change",
                format!("decision {target} was undone by {by}"),
            ));
        }
        let undo = applied.undo.clone();
        let mut rev = self.next_revision();
        let seq = rev.after_seq;
        let roots: BTreeSet<u32> = match &undo {
            Undo::Never => {
                return Err(refused(
                    "cannot_undo",
                    format!(
                        "decision {target} withdrew a submission: its member publishes it again"
                    ),
                ))
            }
            Undo::Forbid(i, j) => {
                self.decisions.forbidden.remove(&(*i, *j));
                [*i, *j].iter().map(|&s| self.uf.find(s)).collect()
            }
            Undo::Force(i, j) => {
                for (x, y) in [(*i, *j), (*j, *i)] {
                    if let Some(v) = self.decisions.forced.get_mut(&x) {
                        v.retain(|&z| z != y);
                        if v.is_empty() {
                            self.decisions.forced.remove(&x);
                        }
                    }
                }
                [*i, *j].iter().map(|&s| self.uf.find(s)).collect()
            }
            Undo::Benign(e) => {
                self.decisions.benign.remove(e);
                self.refresh_stop(*e);
                let subs = self.evidence[*e as usize].subs.clone();
                subs.iter().map(|&s| self.uf.find(s)).collect()
            }
            Undo::Malicious { e, common, warn } => {
                self.decisions.malicious.remove(e);
                let ev = &mut self.evidence[*e as usize];
                ev.common = *common;
                ev.warn = *warn;
                if *common {
                    self.counts.common += 1;
                }
                self.refresh_stop(*e);
                let subs = self.evidence[*e as usize].subs.clone();
                subs.iter().map(|&s| self.uf.find(s)).collect()
            }
            Undo::Pin { campaign, before } => {
                match before {
                    Some(p) => self.decisions.pins.insert(campaign.clone(), p.clone()),
                    None => self.decisions.pins.remove(campaign),
                };
                if let Some(v) = self.reattribute(campaign, seq, now) {
                    rev.campaigns.push(v);
                }
                BTreeSet::new()
            }
        };
        if !roots.is_empty() {
            rev.campaigns = self.recluster(&roots, seq, now);
        }
        rev.moved = self.take_moved(u32::MAX);
        rev.attribution_changes = std::mem::take(&mut self.attribution_changes);
        if let Some(a) = self.decisions.applied.get_mut(target) {
            a.undone_by = Some(d.id.to_string());
        }
        self.record(d, Undo::Never);
        Ok(ActionOutcome::Applied(rev))
    }

    fn record(&mut self, d: &Decision, undo: Undo) {
        self.decisions.order.push(d.id.to_string());
        self.decisions.applied.insert(
            d.id.to_string(),
            Applied {
                decision: d.clone(),
                undo,
                undone_by: None,
            },
        );
    }

    fn forced_pair(&self, (a, b): (u32, u32)) -> bool {
        self.decisions
            .forced
            .get(&a)
            .is_some_and(|v| v.contains(&b))
    }

    /// Drops every forced link of `s` (it was withdrawn).
    pub(crate) fn drop_forced(&mut self, s: u32) {
        if let Some(others) = self.decisions.forced.remove(&s) {
            for o in others {
                if let Some(v) = self.decisions.forced.get_mut(&o) {
                    v.retain(|&z| z != s);
                    if v.is_empty() {
                        self.decisions.forced.remove(&o);
                    }
                }
            }
        }
    }

    /// Whether the pair may link (no decision keeps it apart).
    #[inline]
    pub(crate) fn link_allowed(&self, x: u32, y: u32) -> bool {
        self.decisions.forbidden.is_empty() || !self.decisions.forbidden.contains(&pair(x, y))
    }

    /// Submissions `x` is forced to link to.
    #[inline]
    pub(crate) fn forced_links(&self, x: u32) -> &[u32] {
        if self.decisions.forced.is_empty() {
            return &[];
        }
        self.decisions.forced.get(&x).map_or(&[], Vec::as_slice)
    }

    /// Whether the guard may not judge `e` common (the Fusion Cell
    /// declared it malicious).
    pub(crate) fn declared_malicious(&self, e: u32) -> bool {
        !self.decisions.malicious.is_empty() && self.decisions.malicious.contains(&e)
    }

    /// Sets whether `e` is stopped by the partnership: declared benign,
    /// or disputed by enough members and not declared malicious. `true`
    /// when that changed.
    pub(crate) fn refresh_stop(&mut self, e: u32) -> bool {
        let stop =
            self.declared_benign(e) || (self.disputed_by_members(e) && !self.declared_malicious(e));
        let ev = &mut self.evidence[e as usize];
        let changed = ev.disputed != stop;
        ev.disputed = stop;
        changed
    }

    /// Whether `e` was declared benign by the Fusion Cell.
    pub(crate) fn declared_benign(&self, e: u32) -> bool {
        self.decisions.benign.contains(&e)
    }

    /// The campaign's attribution as the evidence and the Fusion Cell's
    /// decisions make it.
    pub(crate) fn attribution_for(
        &self,
        state: &CampaignState,
    ) -> Option<crate::actors::Attribution> {
        let threshold = self.config.attribution_threshold;
        match self.decisions.pins.get(&state.id) {
            None => self.actors.score(&state.features, threshold),
            Some(pin) => match pin.set {
                Some(a) => self.actors.attribution_of(&state.features, a).map(|mut x| {
                    x.evidence.insert(0, "set by the Fusion Cell".to_owned());
                    x
                }),
                None => self
                    .actors
                    .score_except(&state.features, threshold, &pin.rejected),
            },
        }
    }

    /// Re-scores one campaign after a change of its pin.
    fn reattribute(&mut self, id: &CampaignId, seq: u64, now: i64) -> Option<CampaignView> {
        let root = *self.campaign_roots.get(id)?;
        let mut state = self.campaigns.remove(&root)?;
        let was = state.attribution.clone();
        self.attribute(&mut state);
        self.note_attribution(&state, was.as_ref());
        let view = state.view(seq, None, now, &self.actors);
        self.campaigns.insert(root, state);
        Some(view)
    }

    /// Every decision, in the order applied.
    pub fn decisions(&self) -> Vec<DecisionView> {
        self.decisions
            .order
            .iter()
            .filter_map(|id| self.decisions.applied.get(id))
            .map(|a| DecisionView {
                action: a.decision.action.name(),
                decision: a.decision.clone(),
                undone_by: a.undone_by.clone(),
            })
            .collect()
    }
}

/// Why a decision was refused (for the dead letter).
struct Refusal {
    code: &'static str,
    reason: String,
}

fn refused(code: &'static str, reason: String) -> Refusal {
    Refusal { code, reason }
}
