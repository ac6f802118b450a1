//! Readers' views of a campaign, kept as submissions arrive instead of
//! walked when an alert needs them.
//!
//! A reader's view of a campaign is the part of it connected to the new
//! submission through submissions the reader may see (docs/SHARING.md).
//! It depends only on which of the campaign's *restricted* groups (one
//! member's submissions with one distribution that is not community-wide)
//! the reader may see: its **key**. A reader whose key holds every group
//! sees the whole campaign, which is connected by definition: its view is
//! the campaign, named by its lowest submission ([`Tally::label`]). For
//! every other key in use the campaign keeps the connected parts of its
//! visible submissions in a union-find ([`Parts`]), extended with the new
//! submission's links as it arrives, so a view costs what the new
//! submission touches, not the campaign's size.
//!
//! A key's parts are built the first time a reader with that key needs a
//! view (one walk over the campaign's visible submissions, counted in
//! [`crate::WalkCost`]). They stay exact because links only ever appear
//! with a new submission — except when a value becomes common
//! infrastructure, which withdraws links: then the campaign is split and
//! its parts start afresh, and the same on a merge (the absorbed campaign
//! brings submissions the parts never saw). A group new to the campaign is
//! invisible to every key already in use, so their parts stay as they
//! are; readers who see the new group have a new key.
//!
//! Each part carries a [`Tally`] — who reported in it, named or not, and
//! from which sectors — from which an escalation is decided for any
//! reader without listing the view; the list is made only when an alert
//! about the view is built.

use std::collections::{BTreeMap, HashMap};

use cisp_model::{Attribution, MemberId, Registry, SectorId};

use crate::graph::{Chunked, SubMeta};
use crate::ids::IndexMap;

/// The restricted-group id of a community-wide submission.
pub(crate) const COMMUNITY: u32 = u32::MAX;

/// Who reported in a view, as counts.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// Lowest submission in the view: names it, stable as it grows.
    pub(crate) label: u32,
    /// Per member: [named submissions, anonymous submissions].
    members: BTreeMap<MemberId, [u32; 2]>,
    /// Per submitter's sector: [named, anonymous].
    sectors: BTreeMap<SectorId, [u32; 2]>,
}

impl Tally {
    pub(crate) fn of(si: u32, meta: &SubMeta) -> Tally {
        let mut t = Tally {
            label: si,
            members: BTreeMap::new(),
            sectors: BTreeMap::new(),
        };
        t.add(si, meta);
        t
    }

    /// The tally of `members` (none if it is empty).
    pub(crate) fn over(members: &[u32], subs: &Chunked<SubMeta>) -> Option<Tally> {
        let (&first, rest) = members.split_first()?;
        let mut t = Tally::of(first, &subs[first as usize]);
        for &s in rest {
            t.add(s, &subs[s as usize]);
        }
        Some(t)
    }

    pub(crate) fn add(&mut self, si: u32, meta: &SubMeta) {
        self.label = self.label.min(si);
        let slot = usize::from(meta.attribution == Attribution::Anonymous);
        self.members.entry(meta.key.member.clone()).or_default()[slot] += 1;
        if let Some(s) = &meta.sector {
            self.sectors.entry(s.clone()).or_default()[slot] += 1;
        }
    }

    /// Adds `other` in (the smaller maps are walked).
    pub(crate) fn merge(&mut self, other: Tally) {
        self.label = self.label.min(other.label);
        add_counts(&mut self.members, other.members);
        add_counts(&mut self.sectors, other.sectors);
    }

    /// The view as `reader` may count it, exactly as the alert builder
    /// counts a listed view (`alerts::Ctx`): whether it holds any of the
    /// reader's own submissions; other members, named ones once each and
    /// each anonymous submission once (the Fusion Cell is told every
    /// name); sectors shown to the reader (an anonymous submitter's only
    /// when its sector has at least `k` organisations).
    pub(crate) fn counts(
        &self,
        reader: &MemberId,
        fusion: bool,
        registry: &Registry,
        k: usize,
    ) -> (bool, u32, usize) {
        let own = self.members.contains_key(reader);
        let mut others = 0u32;
        for (m, [named, anonymous]) in &self.members {
            if m == reader {
                continue;
            }
            if fusion {
                others = others.saturating_add(1);
            } else {
                others = others
                    .saturating_add(u32::from(*named > 0))
                    .saturating_add(*anonymous);
            }
        }
        let sectors = self
            .sectors
            .iter()
            .filter(|(s, [named, _])| fusion || *named > 0 || registry.sector_hides_member(s, k))
            .count();
        (own, others.saturating_add(u32::from(own)), sectors)
    }
}

/// Adds the [named, anonymous] counts of `more` into `into`, walking the
/// smaller of the two.
fn add_counts<K: Ord>(into: &mut BTreeMap<K, [u32; 2]>, mut more: BTreeMap<K, [u32; 2]>) {
    if into.len() < more.len() {
        std::mem::swap(into, &mut more);
    }
    for (k, [named, anonymous]) in more {
        let e = into.entry(k).or_default();
        e[0] += named;
        e[1] += anonymous;
    }
}

/// The connected parts of the submissions one key may see, by position
/// in the campaign's submission list (`CampaignState::subs`; the engine's
/// `sub_pos` says where each submission is).
#[derive(Debug, Default)]
pub(crate) struct Parts {
    /// Per position: its parent, or `ABSENT` when the key may not see it.
    parent: Vec<u32>,
    /// Per part (by its root position): its tally.
    tally: IndexMap<u32, Tally>,
}

const ABSENT: u32 = u32::MAX;

impl Parts {
    pub(crate) fn contains(&self, pos: u32) -> bool {
        self.parent.get(pos as usize).is_some_and(|&p| p != ABSENT)
    }

    /// The root of `pos`'s part (path halving). `pos` must be in.
    pub(crate) fn find(&mut self, mut pos: u32) -> u32 {
        loop {
            let p = self.parent[pos as usize];
            if p == pos || p == ABSENT {
                return pos;
            }
            let g = self.parent[p as usize];
            self.parent[pos as usize] = g;
            pos = g;
        }
    }

    /// Adds submission `si`, at position `pos`, as a part of its own.
    pub(crate) fn insert(&mut self, pos: u32, si: u32, meta: &SubMeta) {
        if self.contains(pos) {
            return;
        }
        self.insert_bare(pos);
        self.tally.insert(pos, Tally::of(si, meta));
    }

    /// Adds position `pos` without a tally (while building: see
    /// [`Parts::tally_all`]).
    pub(crate) fn insert_bare(&mut self, pos: u32) {
        if self.parent.len() <= pos as usize {
            self.parent.resize(pos as usize + 1, ABSENT);
        }
        self.parent[pos as usize] = pos;
    }

    /// Joins the parts of two positions that are in, before any tally.
    pub(crate) fn union_bare(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[rb as usize] = ra;
        }
    }

    /// Makes every part's tally in one pass over `members` (the campaign's
    /// submissions by position): one count per member and sector per part,
    /// not a tally per submission merged up.
    pub(crate) fn tally_all(&mut self, members: &[u32], subs: &Chunked<SubMeta>) {
        for (pos, &s) in (0u32..).zip(members) {
            if !self.contains(pos) {
                continue;
            }
            let root = self.find(pos);
            match self.tally.get_mut(&root) {
                Some(t) => t.add(s, &subs[s as usize]),
                None => {
                    self.tally.insert(root, Tally::of(s, &subs[s as usize]));
                }
            }
        }
    }

    /// Joins the parts of two positions that are in.
    pub(crate) fn union(&mut self, a: u32, b: u32) {
        if !self.contains(a) || !self.contains(b) {
            return;
        }
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (Some(ta), Some(tb)) = (self.tally.remove(&ra), self.tally.remove(&rb)) else {
            return;
        };
        // The part with more members keeps its tally and absorbs the other.
        let (keep, gone, mut big, small) = if ta.members.len() >= tb.members.len() {
            (ra, rb, ta, tb)
        } else {
            (rb, ra, tb, ta)
        };
        big.merge(small);
        self.parent[gone as usize] = keep;
        self.tally.insert(keep, big);
    }

    /// The tally of the part holding position `pos`, if it is in.
    pub(crate) fn tally_of(&mut self, pos: u32) -> Option<&Tally> {
        if !self.contains(pos) {
            return None;
        }
        let r = self.find(pos);
        self.tally.get(&r)
    }
}

/// A reader's key in one campaign: the restricted groups (engine-wide ids,
/// sorted) it may see among the campaign's first `checked` groups.
#[derive(Debug, Default, Clone)]
pub(crate) struct Key {
    pub(crate) checked: usize,
    pub(crate) visible: Vec<u32>,
}

/// A campaign's kept views. Not in snapshots: rebuilt as needed.
#[derive(Debug, Default)]
pub(crate) struct Views {
    /// The whole campaign's tally (`None` until first needed).
    pub(crate) whole: Option<Tally>,
    /// Readers' keys, extended as the campaign gains groups.
    pub(crate) keys: HashMap<MemberId, Key>,
    /// Parts per key in use (never the whole-campaign key); `None` when
    /// building them went over the view budget: such a reader's alerts go
    /// without a campaign id, at no further cost, until the campaign is
    /// split or merged.
    pub(crate) parts: HashMap<Vec<u32>, Option<Parts>>,
}

impl Views {
    /// Whether `group` (of a submission) is visible under `key`.
    pub(crate) fn visible(key: &[u32], group: u32) -> bool {
        group == COMMUNITY || key.binary_search(&group).is_ok()
    }

    /// After a merge: the parts saw only the survivor's submissions.
    pub(crate) fn forget_parts(&mut self) {
        self.parts.clear();
    }
}
