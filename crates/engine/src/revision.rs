//! Members talking back (issue 22): a submitter's **correction** of its
//! own report and any member's **feedback** on an indicator.
//!
//! * A retraction makes the report carry nothing: it leaves every posting
//!   list, so it links nothing and no campaign holds it; the campaign it
//!   was in is recomputed (`recluster`) from the remaining links, as when a
//!   value becomes common infrastructure. Removing observables does the
//!   same for those observables (and the values derived only from them).
//!   Every member an earlier alert built on the report went to — the
//!   caller gives them from the provenance audit — receives a revocation
//!   naming those alerts, built only from what it was allowed to see then.
//! * Feedback counts only from a member that may see the value (reported
//!   it, or may see a report carrying it); anything else is recorded and
//!   changes nothing, so the outcome never tells whether a value exists.
//!   Sightings raise the score and restart its decay; false positives and
//!   expiries lower it; false positives from `dispute_members` distinct
//!   members stop the value linking, retroactively.
//!
//! Both are *actions*: numbered in the order the engine applied them
//! (`ordinal`) and placed after the submissions processed before them
//! (`after_seq`), so a replay interleaves them exactly as they happened.

use std::collections::{BTreeMap, BTreeSet};

use cisp_model::{Change, Correction, Feedback, FeedbackKind, MemberId, Observable};
use serde::{Deserialize, Serialize};

use crate::alerts::{Alert, Draft, What};
use crate::campaign::CampaignView;
use crate::engine::{AttributionChange, Engine, Ingest, Moved};
use crate::evidence::EvidenceKey;
use crate::ids::SubmissionKey;

/// What the engine knows of the feedback on one value.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct FeedbackState {
    /// Sightings reported (sum of counts).
    pub(crate) sightings: u64,
    /// Members that reported sightings, with their confidence.
    pub(crate) sighters: Vec<(MemberId, u8)>,
    /// Members whose latest word is a false positive or an expiry.
    pub(crate) disputers: Vec<(MemberId, FeedbackKind)>,
}

impl FeedbackState {
    fn false_positives(&self) -> usize {
        self.disputers
            .iter()
            .filter(|(_, k)| *k == FeedbackKind::FalsePositive)
            .count()
    }
}

/// An earlier alert, from the provenance audit: its id and recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audited {
    pub alert_id: String,
    pub recipient: MemberId,
}

/// What applying a correction or a feedback record gave.
#[derive(Debug)]
pub enum ActionOutcome {
    /// The same (member, id) was applied before.
    Duplicate,
    /// Refused, with a reason code and a reason for the dead letter.
    Refused {
        code: &'static str,
        reason: String,
    },
    Applied(Revision),
}

/// The effects of an applied action, for the caller to make durable.
#[derive(Debug, Default)]
pub struct Revision {
    /// Its number among the actions (0-based).
    pub ordinal: u64,
    /// How many submissions were processed before it.
    pub after_seq: u64,
    /// Changed campaigns (the parts of those that split).
    pub campaigns: Vec<CampaignView>,
    /// Submissions now in another campaign.
    pub moved: Vec<Moved>,
    pub attribution_changes: Vec<AttributionChange>,
    /// Revocations (for a correction): one per member told.
    pub alerts: Vec<Alert>,
    /// Feedback: whether it counted (the member may see the value).
    pub counted: bool,
    /// Feedback: the value stopped linking with it; these submissions
    /// carry it (whose alerts' recipients are to be told:
    /// [`Engine::dispute_notices`]).
    pub disputed: Option<(Observable, Vec<SubmissionKey>)>,
    /// Correction: the observables taken out (all of them for a
    /// retraction).
    pub removed: Vec<Observable>,
}

impl Engine {
    fn seen_action(&mut self, member: &MemberId, id: &cisp_model::SubmissionId) -> bool {
        !self.actions.insert(SubmissionKey {
            member: member.clone(),
            id: id.clone(),
        })
    }

    pub(crate) fn next_revision(&mut self) -> Revision {
        let ordinal = self.action_count;
        self.action_count += 1;
        self.moved.clear();
        self.attribution_changes.clear();
        Revision {
            ordinal,
            after_seq: self.subs.len() as u64,
            ..Revision::default()
        }
    }

    /// Number of actions applied so far.
    pub fn actions_applied(&self) -> u64 {
        self.action_count
    }

    /// Applies the member's correction of its own report. `audited` are
    /// the earlier alerts whose provenance holds the report (empty on a
    /// replay: nobody is told twice).
    pub fn correct(
        &mut self,
        c: &Correction,
        audited: &[Audited],
        ingest: Ingest,
    ) -> ActionOutcome {
        let key = SubmissionKey {
            member: c.member.clone(),
            id: c.submission.clone(),
        };
        let Some(&si) = self.by_key.get(&key) else {
            // The member's own id space: saying it is unknown reveals
            // nothing about anyone else.
            return ActionOutcome::Refused {
                code: "unknown_submission",
                reason: format!(
                    "correction {}: submission {} of {} was never processed",
                    c.id, c.submission, c.member
                ),
            };
        };
        if self.withdrawn.contains(&si) {
            if self.seen_action(&c.member, &c.id) {
                return ActionOutcome::Duplicate;
            }
            return ActionOutcome::Refused {
                code: "already_withdrawn",
                reason: format!(
                    "correction {}: submission {} was withdrawn before",
                    c.id, c.submission
                ),
            };
        }
        let (remove, whole) = match &c.change {
            Change::Retract => (None, true),
            Change::Narrow {
                remove,
                tlp,
                distribution,
            } => {
                if tlp.is_some() || distribution.is_some() {
                    return ActionOutcome::Refused {
                        code: "narrowing_not_supported",
                        reason: format!(
                            "correction {}: raising the TLP or shrinking the audience of a processed report is not supported yet: retract submission {} and publish it again, narrower, under a new id",
                            c.id, c.submission
                        ),
                    };
                }
                (Some(remove), false)
            }
        };
        if self.seen_action(&c.member, &c.id) {
            return ActionOutcome::Duplicate;
        }
        let reported: Vec<u32> = {
            let meta = &self.subs[si as usize];
            meta.evidence[..meta.reported as usize].to_vec()
        };
        let removed: Vec<u32> = match remove {
            None => reported.clone(),
            Some(list) => list
                .iter()
                .filter_map(|o| {
                    let e = self
                        .index
                        .get(&EvidenceKey::Observable(o.clone()), &self.evidence)?;
                    reported.contains(&e).then_some(e)
                })
                .collect(),
        };
        if !whole && removed.is_empty() {
            return ActionOutcome::Refused {
                code: "nothing_to_remove",
                reason: format!(
                    "correction {}: none of the observables to remove is in submission {}",
                    c.id, c.submission
                ),
            };
        }
        let mut rev = self.next_revision();
        rev.removed = removed
            .iter()
            .filter_map(|&e| match &self.evidence[e as usize].key {
                EvidenceKey::Observable(o) => Some(o.clone()),
                _ => None,
            })
            .collect();
        // Revocations first, from the report as it was.
        rev.alerts = self.revocations(si, c, whole, &rev.removed, audited, ingest);
        let root = self.uf.find(si);
        self.take_out(si, &removed, whole);
        if whole {
            self.withdrawn.insert(si);
            // A withdrawn report links nothing, forced or not.
            self.drop_forced(si);
        }
        rev.campaigns = self.recluster(&BTreeSet::from([root]), rev.after_seq, ingest.now_ms);
        rev.moved = self.take_moved(u32::MAX);
        rev.attribution_changes = std::mem::take(&mut self.attribution_changes);
        ActionOutcome::Applied(rev)
    }

    /// Whether submission `s` was withdrawn.
    pub(crate) fn withdrawn_sub(&self, s: u32) -> bool {
        self.withdrawn.contains(&s)
    }

    /// One revocation per member an audited alert went to, if that member
    /// was in the report's audience (the Fusion Cell is; the submitter is
    /// not told of its own correction).
    fn revocations(
        &self,
        si: u32,
        c: &Correction,
        whole: bool,
        removed: &[Observable],
        audited: &[Audited],
        ingest: Ingest,
    ) -> Vec<Alert> {
        let meta = &self.subs[si as usize];
        let mut per: BTreeMap<&MemberId, Vec<&str>> = BTreeMap::new();
        for a in audited {
            if a.recipient == meta.key.member
                || !self
                    .registry
                    .may_see(&a.recipient, &meta.key.member, &meta.distribution)
            {
                continue;
            }
            per.entry(&a.recipient).or_default().push(&a.alert_id);
        }
        let root = self.uf.root(si);
        let fusion_campaign = self.campaigns[&root].id.clone();
        let ctx = self.ctx(ingest);
        per.into_iter()
            .map(|(recipient, mut ids)| {
                ids.sort_unstable();
                ids.dedup();
                let mut alert = Draft {
                    what: What::Revocation {
                        whole,
                        action: c.id.as_str(),
                    },
                    recipient,
                    trigger: meta,
                    own: Vec::new(),
                    others: Vec::new(),
                    shared: removed.iter().cloned().collect::<BTreeSet<_>>(),
                    campaign: None,
                    fusion_campaign: &fusion_campaign,
                }
                .build(&ctx);
                alert.revokes = ids.into_iter().map(str::to_owned).collect();
                alert
            })
            .collect()
    }

    /// Takes evidence `removed` (reported observables of `si`) out of
    /// `si`, with the values derived only from them; `whole` takes
    /// everything, claims included.
    fn take_out(&mut self, si: u32, removed: &[u32], whole: bool) {
        let meta = &self.subs[si as usize];
        let mut gone: BTreeSet<u32> = removed.iter().copied().collect();
        if whole {
            gone.extend(meta.evidence.iter().copied());
        } else {
            // A derived value goes when every value it came from went and
            // it was not reported itself (chains: url → host → domain).
            let reported: BTreeSet<u32> = meta.evidence[..meta.reported as usize]
                .iter()
                .copied()
                .collect();
            loop {
                let mut more = Vec::new();
                for &e in &meta.evidence {
                    if gone.contains(&e) || reported.contains(&e) {
                        continue;
                    }
                    let mut from = meta
                        .sources
                        .iter()
                        .filter(|(d, _)| *d == e)
                        .map(|(_, f)| *f)
                        .peekable();
                    if from.peek().is_some() && from.all(|f| gone.contains(&f)) {
                        more.push(e);
                    }
                }
                if more.is_empty() {
                    break;
                }
                gone.extend(more);
            }
        }
        let member = meta.key.member.clone();
        let node = meta.node;
        let reported_gone = meta.evidence[..meta.reported as usize]
            .iter()
            .filter(|e| gone.contains(e))
            .count();
        for &e in &gone {
            let en = self.evidence[e as usize].node;
            while let Some(edge) = self.graph.find_edge(node, en) {
                self.graph.remove_edge(edge);
            }
            let ev = &mut self.evidence[e as usize];
            if let Ok(at) = ev.subs.binary_search(&si) {
                ev.subs.remove(at);
            }
        }
        // Reporters and last sightings from what is left.
        for &e in &gone {
            let subs = self.evidence[e as usize].subs.clone();
            let still = subs
                .iter()
                .filter(|&&s| self.subs[s as usize].key.member == member)
                .map(|&s| self.subs[s as usize].confidence)
                .max();
            let last = subs
                .iter()
                .map(|&s| self.sub_time[s as usize])
                .max()
                .unwrap_or(i64::MIN);
            let ev = &mut self.evidence[e as usize];
            match still {
                Some(c) => {
                    if let Some(r) = ev.reporters.iter_mut().find(|(m, _)| *m == member) {
                        r.1 = c;
                    }
                }
                None => ev.reporters.retain(|(m, _)| *m != member),
            }
            ev.last_seen_ms = last;
        }
        let meta = &mut self.subs[si as usize];
        meta.evidence.retain(|e| !gone.contains(e));
        meta.sources
            .retain(|(d, f)| !gone.contains(d) && !gone.contains(f));
        meta.reported -= u32::try_from(reported_gone).unwrap_or(meta.reported);
        if whole {
            meta.claims.clear();
        }
    }

    /// Applies a member's feedback on an indicator.
    pub fn feedback(&mut self, f: &Feedback, ingest: Ingest) -> ActionOutcome {
        if self.seen_action(&f.member, &f.id) {
            return ActionOutcome::Duplicate;
        }
        let mut rev = self.next_revision();
        let Some(e) = self.index.get(
            &EvidenceKey::Observable(f.observable.clone()),
            &self.evidence,
        ) else {
            return ActionOutcome::Applied(rev);
        };
        if !self.may_see_value(&f.member, e) {
            return ActionOutcome::Applied(rev);
        }
        rev.counted = true;
        let confidence = f.confidence.unwrap_or(50);
        let state = self.feedback.entry(e).or_default();
        state.disputers.retain(|(m, _)| *m != f.member);
        match f.kind {
            FeedbackKind::Sighting => {
                state.sightings = state.sightings.saturating_add(u64::from(f.count));
                match state.sighters.iter_mut().find(|(m, _)| *m == f.member) {
                    Some(s) => s.1 = s.1.max(confidence),
                    None => state.sighters.push((f.member.clone(), confidence)),
                }
                // A sighting restarts the decay (never beyond the record's
                // own time: a replay gives the same).
                let seen = f
                    .seen_at_ms
                    .unwrap_or(f.submitted_at_ms)
                    .min(f.submitted_at_ms);
                let ev = &mut self.evidence[e as usize];
                ev.last_seen_ms = ev.last_seen_ms.max(seen);
            }
            kind => {
                state.sighters.retain(|(m, _)| *m != f.member);
                state.disputers.push((f.member.clone(), kind));
            }
        }
        // Members' disputes stop the value (unless the Fusion Cell declared
        // it malicious); a member taking its word back may let it link again.
        if self.refresh_stop(e) {
            let subs = self.evidence[e as usize].subs.clone();
            let roots: BTreeSet<u32> = subs.iter().map(|&s| self.uf.find(s)).collect();
            let stopped = self.evidence[e as usize].disputed;
            rev.campaigns = self.recluster(&roots, rev.after_seq, ingest.now_ms);
            rev.moved = self.take_moved(u32::MAX);
            rev.attribution_changes = std::mem::take(&mut self.attribution_changes);
            if stopped {
                let keys = subs
                    .iter()
                    .map(|&s| self.subs[s as usize].key.clone())
                    .collect();
                rev.disputed = Some((f.observable.clone(), keys));
            }
        }
        ActionOutcome::Applied(rev)
    }

    /// Whether applying `f` would make its value stop linking (the
    /// caller then makes everything before it durable first, so the audit
    /// holds every alert about the value).
    pub fn feedback_tips(&self, f: &Feedback) -> bool {
        if f.kind != FeedbackKind::FalsePositive
            || self.actions.contains(&SubmissionKey {
                member: f.member.clone(),
                id: f.id.clone(),
            })
        {
            return false;
        }
        let Some(e) = self.index.get(
            &EvidenceKey::Observable(f.observable.clone()),
            &self.evidence,
        ) else {
            return false;
        };
        if self.evidence[e as usize].disputed
            || self.declared_malicious(e)
            || !self.may_see_value(&f.member, e)
        {
            return false;
        }
        let others = self.feedback.get(&e).map_or(0, |s| {
            s.disputers
                .iter()
                .filter(|(m, k)| *k == FeedbackKind::FalsePositive && *m != f.member)
                .count()
        });
        others + 1 >= self.config.dispute_members.max(1) as usize
    }

    /// Whether enough members stand on *false positive* for `e` to stop
    /// it linking.
    pub(crate) fn disputed_by_members(&self, e: u32) -> bool {
        self.feedback
            .get(&e)
            .is_some_and(|s| s.false_positives() >= self.config.dispute_members.max(1) as usize)
    }

    /// Whether `member` reported evidence `e` or may see a report carrying
    /// it.
    fn may_see_value(&self, member: &MemberId, e: u32) -> bool {
        self.evidence[e as usize].subs.iter().any(|&s| {
            let m = &self.subs[s as usize];
            self.registry
                .may_see(member, &m.key.member, &m.distribution)
        })
    }

    /// Tells the recipients of `audited` alerts (about reports carrying
    /// the now disputed `value`) that it no longer links: one alert per
    /// member, built on a report carrying it that the member may see —
    /// none for a member that may see none.
    pub fn dispute_notices(
        &self,
        value: &Observable,
        action: &str,
        audited: &[Audited],
        ingest: Ingest,
    ) -> Vec<Alert> {
        let Some(e) = self
            .index
            .get(&EvidenceKey::Observable(value.clone()), &self.evidence)
        else {
            return Vec::new();
        };
        let disputers = self
            .feedback
            .get(&e)
            .map_or(0, FeedbackState::false_positives);
        let mut per: BTreeMap<&MemberId, Vec<&str>> = BTreeMap::new();
        for a in audited {
            per.entry(&a.recipient).or_default().push(&a.alert_id);
        }
        let ctx = self.ctx(ingest);
        let mut out = Vec::new();
        for (recipient, mut ids) in per {
            // Its own report carrying the value if it has one, else the
            // first it may see.
            let subs = &self.evidence[e as usize].subs;
            let seen = subs
                .iter()
                .copied()
                .find(|&s| self.subs[s as usize].key.member == *recipient)
                .or_else(|| {
                    subs.iter().copied().find(|&s| {
                        let m = &self.subs[s as usize];
                        self.registry
                            .may_see(recipient, &m.key.member, &m.distribution)
                    })
                });
            let Some(s) = seen else { continue };
            ids.sort_unstable();
            ids.dedup();
            let root = self.uf.root(s);
            let meta = &self.subs[s as usize];
            let mut alert = Draft {
                what: What::Dispute {
                    disputers: u32::try_from(disputers).unwrap_or(u32::MAX),
                    k: self.config.k_anonymity,
                    action,
                    by_fusion_cell: self.declared_benign(e),
                },
                recipient,
                trigger: meta,
                own: if meta.key.member == *recipient {
                    vec![meta]
                } else {
                    Vec::new()
                },
                others: Vec::new(),
                shared: std::iter::once(value.clone()).collect(),
                campaign: None,
                fusion_campaign: &self.campaigns[&root].id,
            }
            .build(&ctx);
            alert.revokes = ids.into_iter().map(str::to_owned).collect();
            out.push(alert);
        }
        out
    }

    /// The feedback counts on a value as `reader` may learn them: the
    /// Fusion Cell sees who; a member sees anonymous counts, and only
    /// from the k-anonymity threshold of distinct members on (`None`
    /// below, and for a value it may not see).
    pub fn feedback_counts(&self, value: &Observable, reader: &MemberId) -> Option<FeedbackCounts> {
        let e = self
            .index
            .get(&EvidenceKey::Observable(value.clone()), &self.evidence)?;
        let fc = self.registry.is_fusion_cell(reader);
        if !fc && !self.may_see_value(reader, e) {
            return None;
        }
        Some(self.counts_of(e, fc))
    }

    pub(crate) fn counts_of(&self, e: u32, fc: bool) -> FeedbackCounts {
        let state = self.feedback.get(&e).cloned().unwrap_or_default();
        let k = self.config.k_anonymity as usize;
        let shown = |n: usize| (fc || n >= k).then_some(n as u64);
        let fp = state.false_positives();
        let expired = state.disputers.len() - fp;
        FeedbackCounts {
            sightings: shown(state.sighters.len()).map(|_| state.sightings),
            sighting_members: shown(state.sighters.len()),
            false_positive_members: shown(fp),
            expired_members: shown(expired),
            disputed: self.evidence[e as usize].disputed,
            who: if fc {
                state
                    .sighters
                    .iter()
                    .map(|(m, _)| (m.clone(), FeedbackKind::Sighting))
                    .chain(state.disputers.iter().cloned())
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Score adjustment from feedback on evidence `e`: sighters count as
    /// reporters; each disputing member halves what is left.
    pub(crate) fn feedback_reporters(&self, e: u32) -> (Vec<u8>, i32) {
        match self.feedback.get(&e) {
            None => (Vec::new(), 0),
            Some(s) => (
                s.sighters.iter().map(|(_, c)| *c).collect(),
                i32::try_from(s.disputers.len()).unwrap_or(i32::MAX),
            ),
        }
    }
}

/// Feedback counts on one value as one reader may learn them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FeedbackCounts {
    pub sightings: Option<u64>,
    pub sighting_members: Option<u64>,
    pub false_positive_members: Option<u64>,
    pub expired_members: Option<u64>,
    /// It no longer links (disputed by enough members).
    pub disputed: bool,
    /// Who said what: for the Fusion Cell only.
    pub who: Vec<(MemberId, FeedbackKind)>,
}
