//! Coalescing follow-up alerts, so a growing campaign does not tell every
//! earlier reporter of each new report one alert at a time.
//!
//! The first peer sighting a member gets about a campaign — as that member
//! sees it, the alert's `campaign_id` — goes at once and opens a window.
//! Sightings of the same campaign for the same member that follow while the
//! window is open are held and merged into one update, sent when the window
//! closes ([`Coalescer::due`]); a window that closes with an update sent
//! opens the next, one that closes with nothing held ends, and the next
//! sighting goes at once again. So a steady stream costs a member one alert
//! per window and campaign, and a quiet campaign's news is never delayed.
//!
//! Why an update tells the recipient nothing its parts did not:
//! * only alerts with the same recipient **and the same view label** merge —
//!   never two views of one Fusion Cell campaign, which would reveal that
//!   they are linked through something the recipient may not see. Alerts
//!   without a label (the view was over the engine's budget) merge into one
//!   digest per member whatever their campaigns, so the grouping says
//!   nothing about links either;
//! * every item of an update (related submissions, shared observables with
//!   their scores, the recipient's own submissions, the provenance) is taken
//!   from a part, each of which was built by the engine from
//!   audience-checked inputs for this recipient; the TLP is the most
//!   restrictive of the parts', the other-member count the larger of the
//!   parts' counts and the count over the merged related list;
//! * the summary is written from the merged lists alone and names nobody.
//!
//! The engine's property test replays random worlds through a coalescer and
//! checks every update against the sharing rules as it checks single
//! alerts. The coalescer reads no clock: the caller passes the time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use cisp_model::{AlertKind, MemberId, Observable, SubmissionId};

use crate::alerts::{plural, Alert};
use crate::engine::Engine;
use crate::ids::{CampaignId, IdKey, SubmissionKey};

/// Tunables of coalescing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoalesceConfig {
    /// How long after an alert further sightings of the same campaign are
    /// held for one update; 0 sends every alert at once.
    pub window_ms: i64,
    /// An update is sent early once it holds this many sightings.
    pub max_sightings: u32,
    /// Most (member, campaign) windows open at once; past it new sightings
    /// go at once (a memory bound; the service shows it as its
    /// `cisp_fusion_coalescing_windows` gauge standing at this cap).
    pub max_open: usize,
}

impl Default for CoalesceConfig {
    fn default() -> CoalesceConfig {
        CoalesceConfig {
            window_ms: 10_000,
            max_sightings: 1000,
            max_open: 100_000,
        }
    }
}

/// What [`Coalescer::offer`] did with an alert.
#[derive(Debug)]
pub enum Offered {
    /// Send it now.
    Send(Box<Alert>),
    /// Held for an update; `first` when it is the first sighting the update
    /// holds (the update will carry the tag of its first sighting first).
    Held { first: bool },
}

/// An update ready to send, with the tags of the sightings it holds (in the
/// order they were offered).
#[derive(Debug)]
pub struct Coalesced<T> {
    pub alert: Alert,
    pub tags: Vec<T>,
}

/// The recipient and its view of the campaign; `None` for sightings whose
/// view was over the engine's budget (they carry no campaign id), which
/// merge into one digest per member that claims no link between them.
type Key = (MemberId, Option<CampaignId>);

struct Window<T> {
    until_ms: i64,
    held: Option<Held<T>>,
}

struct Held<T> {
    /// The merged alert; its provenance and own submissions are kept in
    /// the lists below until the update is sent. A window can hold
    /// thousands of sightings, each repeating most of the last one's
    /// provenance (the recipient's own reports in a large campaign): parts
    /// are appended as they come (moved, not copied) and the lists sorted
    /// and deduplicated whenever they have doubled — amortised O(log n)
    /// per item, in sequential memory, at most twice the distinct items.
    update: Alert,
    provenance: Merged<SubmissionKey>,
    own: Merged<SubmissionId>,
    tags: Vec<T>,
    /// The first part's alert id, from which the update's id is made.
    first_id: String,
}

/// Holds follow-up sightings per (recipient, campaign view) for one window.
/// `T` tags each held sighting for the caller (the pipeline: the batch it
/// came from, which may not commit before the update is delivered).
pub struct Coalescer<T> {
    key: IdKey,
    config: CoalesceConfig,
    max_related: usize,
    max_shared: usize,
    windows: HashMap<Key, Window<T>>,
    /// Window deadlines, earliest first; stale entries are skipped.
    deadlines: BinaryHeap<Reverse<(i64, Key)>>,
    held: usize,
}

impl Engine {
    /// A coalescer for this engine's alerts: update ids are keyed like every
    /// other id, and updates keep the engine's per-alert list limits.
    pub fn coalescer<T>(&self, config: CoalesceConfig) -> Coalescer<T> {
        Coalescer {
            key: self.key.clone(),
            config,
            max_related: self.limits.max_related,
            max_shared: self.limits.max_shared,
            windows: HashMap::new(),
            deadlines: BinaryHeap::new(),
            held: 0,
        }
    }
}

impl<T: Copy + Ord> Coalescer<T> {
    /// Windows open now.
    pub fn open(&self) -> usize {
        self.windows.len()
    }

    /// Updates waiting to be sent.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Offers an alert the engine built at `alert.created_at_ms`: sent at
    /// once, or held for its campaign's update. Only peer sightings
    /// coalesce; every other kind goes at once.
    pub fn offer(&mut self, alert: Alert, tag: T) -> Offered {
        if self.config.window_ms <= 0 || alert.kind != AlertKind::PeerSighting {
            return Offered::Send(Box::new(alert));
        }
        let now = alert.created_at_ms;
        let key = (alert.recipient.clone(), alert.campaign_id.clone());
        match self.windows.get_mut(&key) {
            // An open window, or one that ran out while holding an update
            // that the next `due` sends: held for that update.
            Some(w) if now < w.until_ms || w.held.is_some() => {
                let first = w.held.is_none();
                match &mut w.held {
                    Some(h) => {
                        h.tags.push(tag);
                        h.absorb(alert, self.max_related, self.max_shared);
                        if h.update.sightings >= self.config.max_sightings && w.until_ms > now {
                            // Due at the next look.
                            w.until_ms = i64::MIN;
                            self.deadlines.push(Reverse((i64::MIN, key)));
                        }
                    }
                    None => {
                        self.held += 1;
                        w.held = Some(Held::new(alert, tag));
                    }
                }
                Offered::Held { first }
            }
            Some(w) => {
                // A quiet window ran out but was not closed yet: this
                // sighting goes at once and opens the next window.
                w.until_ms = now.saturating_add(self.config.window_ms);
                self.deadlines.push(Reverse((w.until_ms, key)));
                Offered::Send(Box::new(alert))
            }
            None => {
                if self.windows.len() < self.config.max_open {
                    let until_ms = now.saturating_add(self.config.window_ms);
                    self.deadlines.push(Reverse((until_ms, key.clone())));
                    self.windows.insert(
                        key,
                        Window {
                            until_ms,
                            held: None,
                        },
                    );
                }
                Offered::Send(Box::new(alert))
            }
        }
    }

    /// The updates of every window that closed by `now_ms`; each such
    /// window opens again (a steady stream gets one update per window),
    /// and windows that closed with nothing held end.
    pub fn due(&mut self, now_ms: i64) -> Vec<Coalesced<T>> {
        let mut out = Vec::new();
        while let Some(Reverse((until, _))) = self.deadlines.peek() {
            if *until > now_ms {
                break;
            }
            let Some(Reverse((until, key))) = self.deadlines.pop() else {
                break;
            };
            let Some(w) = self.windows.get_mut(&key) else {
                continue;
            };
            if w.until_ms != until {
                continue; // superseded
            }
            match w.held.take() {
                Some(h) => {
                    self.held -= 1;
                    w.until_ms = now_ms.saturating_add(self.config.window_ms);
                    self.deadlines.push(Reverse((w.until_ms, key)));
                    out.push(finish(&self.key, h, now_ms));
                }
                None => {
                    self.windows.remove(&key);
                }
            }
        }
        out
    }

    /// Sends early every update holding a sighting tagged `<= tag` (the
    /// caller must make those tags durable now); their windows stay open.
    pub fn flush_through(&mut self, tag: T, now_ms: i64) -> Vec<Coalesced<T>> {
        self.flush_where(now_ms, |first| first <= tag)
    }

    /// Sends every held update now (before a snapshot or a stop).
    pub fn flush_all(&mut self, now_ms: i64) -> Vec<Coalesced<T>> {
        self.flush_where(now_ms, |_| true)
    }

    /// Sends now the held updates whose first sighting's tag passes
    /// `wanted`, oldest first; their windows stay open.
    fn flush_where(&mut self, now_ms: i64, wanted: impl Fn(T) -> bool) -> Vec<Coalesced<T>> {
        let mut out = Vec::new();
        for w in self.windows.values_mut() {
            if w.held.as_ref().is_some_and(|h| wanted(h.tags[0])) {
                if let Some(h) = w.held.take() {
                    self.held -= 1;
                    out.push(finish(&self.key, h, now_ms));
                }
            }
        }
        out.sort_by(|a, b| a.tags[0].cmp(&b.tags[0]));
        out
    }
}

/// A sorted set built by appending: see [`Held`].
struct Merged<K> {
    items: Vec<K>,
    /// Length after the last sort.
    sorted: usize,
}

impl<K: Ord> Merged<K> {
    fn new(items: Vec<K>) -> Merged<K> {
        let mut m = Merged { items, sorted: 0 };
        m.compact();
        m
    }

    fn extend(&mut self, more: Vec<K>) {
        self.items.extend(more);
        if self.items.len() > 2 * self.sorted + 64 {
            self.compact();
        }
    }

    fn compact(&mut self) {
        self.items.sort_unstable();
        self.items.dedup();
        self.sorted = self.items.len();
    }

    /// Sorted, each once.
    fn into_sorted(mut self) -> Vec<K> {
        self.compact();
        self.items
    }
}

impl<T> Held<T> {
    fn new(mut first: Alert, tag: T) -> Held<T> {
        let provenance = Merged::new(std::mem::take(&mut first.provenance));
        let own = Merged::new(std::mem::take(&mut first.your_submissions));
        Held {
            first_id: first.id.clone(),
            update: first,
            provenance,
            own,
            tags: vec![tag],
        }
    }

    /// Merges `part` in: same recipient and view (the caller's key).
    fn absorb(&mut self, part: Alert, max_related: usize, max_shared: usize) {
        let update = &mut self.update;
        debug_assert_eq!(update.recipient, part.recipient);
        debug_assert_eq!(update.campaign_id, part.campaign_id);
        update.sightings = update.sightings.saturating_add(part.sightings);
        update.tlp = update.tlp.max(part.tlp);
        update.severity = update.severity.max(part.severity);
        update.trigger_published_at_ms = update
            .trigger_published_at_ms
            .min(part.trigger_published_at_ms);
        // Newest first: the part's related submissions, then those held so far.
        let mut related = part.related;
        related.truncate(max_related);
        for r in std::mem::take(&mut update.related) {
            if related.len() >= max_related {
                break;
            }
            if !related.iter().any(|x| x.id == r.id && x.member == r.member) {
                related.push(r);
            }
        }
        update.related = related;
        let mut shared: BTreeMap<Observable, f32> = std::mem::take(&mut update.shared)
            .into_iter()
            .zip(std::mem::take(&mut update.shared_scores))
            .collect();
        // The part's scores are the newer ones.
        shared.extend(part.shared.into_iter().zip(part.shared_scores));
        let (obs, scores): (Vec<Observable>, Vec<f32>) =
            shared.into_iter().take(max_shared).unzip();
        update.shared = obs;
        update.shared_scores = scores;
        self.own.extend(part.your_submissions);
        self.provenance.extend(part.provenance);
        update.other_member_count = update
            .other_member_count
            .max(part.other_member_count)
            .max(related_member_count(update));
    }
}

/// Distinct named members among the related list, plus one per anonymous
/// submission (as the engine counts).
fn related_member_count(a: &Alert) -> u32 {
    let named: BTreeSet<&MemberId> = a.related.iter().filter_map(|r| r.member.as_ref()).collect();
    let anonymous = a.related.iter().filter(|r| r.member.is_none()).count();
    u32::try_from(named.len() + anonymous).unwrap_or(u32::MAX)
}

fn finish<T>(key: &IdKey, h: Held<T>, now_ms: i64) -> Coalesced<T> {
    let mut a = h.update;
    a.provenance = h.provenance.into_sorted();
    a.your_submissions = h.own.into_sorted();
    let view = a.campaign_id.as_ref().map_or("", CampaignId::as_str);
    a.id = format!(
        "A-{:016x}",
        key.hash(&["update", a.recipient.as_str(), view, &h.first_id])
    );
    let since = if view.is_empty() {
        "since the last alert".to_owned()
    } else {
        format!("since the last alert on campaign {view}")
    };
    a.created_at_ms = now_ms;
    a.coalesced = true;
    let examples: Vec<String> = a.shared.iter().take(3).map(ToString::to_string).collect();
    let more = a.shared.len().saturating_sub(examples.len());
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    a.summary = format!(
        "{} {since}: {} reported {} you reported ({}{more})",
        plural(a.sightings, "new sighting", "new sightings"),
        plural(a.other_member_count, "other member", "other members"),
        plural(a.shared.len() as u64, "observable", "observables"),
        examples.join(", "),
    );
    Coalesced {
        alert: a,
        tags: h.tags,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use cisp_model::{Registry, Severity, SubmissionId, SubmissionKind, Tlp};

    use super::*;
    use crate::alerts::RelatedSubmission;
    use crate::ids::SubmissionKey;
    use crate::EngineConfig;

    fn coalescer(window_ms: i64, max_sightings: u32) -> Coalescer<u32> {
        let reg = Registry::from_toml_str(
            "[[member]]\nid = \"a\"\nname = \"A\"\nsector = \"s\"\nrole = \"fusion-cell\"\n",
        )
        .unwrap();
        Engine::new(Arc::new(reg), EngineConfig::default()).coalescer(CoalesceConfig {
            window_ms,
            max_sightings,
            max_open: 10,
        })
    }

    /// A peer sighting for `to` about view `view` at `t`, from `from`'s
    /// submission `sub`.
    fn sighting(to: &str, view: &str, t: i64, from: &str, sub: &str) -> Alert {
        let key = SubmissionKey {
            member: MemberId::parse(from).unwrap(),
            id: SubmissionId::parse(sub).unwrap(),
        };
        Alert {
            id: format!("A-{to}-{sub}"),
            recipient: MemberId::parse(to).unwrap(),
            created_at_ms: t,
            trigger_published_at_ms: t - 1,
            kind: AlertKind::PeerSighting,
            severity: Severity::Low,
            tlp: Tlp::Green,
            campaign_id: Some(CampaignId::from_wire(view)),
            fusion_campaign_id: CampaignId::from_wire("C-whole"),
            your_submissions: vec![SubmissionId::parse("mine").unwrap()],
            related: vec![RelatedSubmission {
                id: key.id.clone(),
                member: Some(key.member.clone()),
                member_name: None,
                sector: None,
                kind: SubmissionKind::Incident,
                tlp: Tlp::Green,
                title: String::new(),
                submitted_at_ms: t,
            }],
            shared: vec![Observable::parse(
                cisp_model::ObservableKind::parse("domain").unwrap(),
                &format!("{sub}.example"),
            )
            .unwrap()],
            shared_scores: vec![0.5],
            other_member_count: 1,
            summary: String::new(),
            provenance: vec![key.clone()],
            trigger: key,
            sightings: 1,
            coalesced: false,
            revokes: Vec::new(),
        }
    }

    fn sent(o: Offered) -> bool {
        matches!(o, Offered::Send(_))
    }

    #[test]
    fn the_first_goes_at_once_and_what_follows_in_the_window_is_one_update() {
        let mut c = coalescer(1000, 100);
        assert!(sent(c.offer(sighting("a", "C-1", 0, "b", "s1"), 1)));
        assert!(matches!(
            c.offer(sighting("a", "C-1", 10, "c", "s2"), 1),
            Offered::Held { first: true }
        ));
        assert!(matches!(
            c.offer(sighting("a", "C-1", 20, "d", "s3"), 2),
            Offered::Held { first: false }
        ));
        // Another member, another view: their own windows.
        assert!(sent(c.offer(sighting("b", "C-1", 20, "d", "s3"), 2)));
        assert!(sent(c.offer(sighting("a", "C-2", 20, "d", "s3"), 2)));
        assert!(c.due(999).is_empty());
        let due = c.due(1000);
        assert_eq!(due.len(), 1);
        let u = &due[0];
        assert_eq!(u.tags, vec![1, 2]);
        assert_eq!(u.alert.sightings, 2);
        assert_eq!(u.alert.other_member_count, 2);
        assert_eq!(u.alert.related.len(), 2);
        assert_eq!(u.alert.related[0].id.as_str(), "s3", "newest first");
        assert_eq!(u.alert.shared.len(), 2);
        assert_eq!(u.alert.provenance.len(), 2);
        assert_eq!(u.alert.trigger.id.as_str(), "s2");
        assert_eq!(u.alert.trigger_published_at_ms, 9);
        assert_eq!(u.alert.created_at_ms, 1000);
        assert!(u.alert.coalesced);
        assert!(
            u.alert.summary.starts_with("2 new sightings"),
            "{}",
            u.alert.summary
        );
        assert_ne!(u.alert.id, "A-a-s2");
        // The window opened again: the next sighting is held…
        assert!(!sent(c.offer(sighting("a", "C-1", 1500, "e", "s4"), 3)));
        // Past the window's end but before anyone looked: still held for
        // the update that is about to go, not sent on its own.
        assert!(!sent(c.offer(sighting("a", "C-1", 2100, "g", "s6"), 3)));
        let due = c.due(2200);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].alert.sightings, 2);
        // …and one that closes with nothing held ends: the next goes at once.
        assert!(c.due(3200).is_empty());
        assert_eq!(c.open(), 0);
        assert!(sent(c.offer(sighting("a", "C-1", 3201, "f", "s5"), 4)));
        assert_eq!(c.held(), 0);
    }

    #[test]
    fn updates_go_early_when_full_or_asked_and_ids_are_stable() {
        let mut c = coalescer(1000, 2);
        assert!(sent(c.offer(sighting("a", "C-1", 0, "b", "s1"), 1)));
        c.offer(sighting("a", "C-1", 1, "c", "s2"), 1);
        c.offer(sighting("a", "C-1", 2, "d", "s3"), 2);
        // Full at two sightings: due at the next look, whatever the time.
        let full = c.due(3);
        assert_eq!(full.len(), 1);
        assert_eq!(full[0].alert.sightings, 2);

        let mut c2 = coalescer(1000, 100);
        c2.offer(sighting("a", "C-1", 0, "b", "s1"), 1);
        c2.offer(sighting("a", "C-1", 1, "c", "s2"), 1);
        c2.offer(sighting("x", "C-9", 0, "b", "s1"), 1);
        c2.offer(sighting("x", "C-9", 5, "c", "s7"), 3);
        let early = c2.flush_through(2, 7);
        assert_eq!(early.len(), 1, "only updates holding a tag up to 2");
        assert_eq!(
            early[0].alert.id, full[0].alert.id,
            "same first sighting, same id"
        );
        assert_eq!(c2.held(), 1);
        assert_eq!(c2.flush_all(8).len(), 1);
        assert_eq!(c2.held(), 0);
    }

    #[test]
    fn other_kinds_go_at_once_and_sightings_without_a_view_make_one_digest() {
        let mut c = coalescer(1000, 100);
        let mut esc = sighting("a", "C-1", 0, "b", "s1");
        esc.kind = AlertKind::CampaignEscalation;
        assert!(sent(c.offer(esc.clone(), 1)));
        assert!(sent(c.offer(esc, 1)));
        assert_eq!(c.open(), 0);
        let none = |t, sub: &str, whole: &str| {
            let mut a = sighting("a", "C-1", t, "b", sub);
            a.campaign_id = None;
            a.fusion_campaign_id = CampaignId::from_wire(whole);
            a
        };
        assert!(sent(c.offer(none(0, "s1", "C-x"), 1)));
        // Two campaigns, as the Fusion Cell sees them, one digest.
        assert!(!sent(c.offer(none(1, "s2", "C-x"), 1)));
        assert!(!sent(c.offer(none(2, "s3", "C-y"), 1)));
        let digest = c.due(1000);
        assert_eq!(digest.len(), 1);
        assert_eq!(digest[0].alert.campaign_id, None);
        assert_eq!(digest[0].alert.sightings, 2);
        assert!(digest[0]
            .alert
            .summary
            .starts_with("2 new sightings since the last alert:"));
        let mut off = coalescer(0, 100);
        assert!(sent(off.offer(sighting("a", "C-1", 0, "b", "s1"), 1)));
        assert!(sent(off.offer(sighting("a", "C-1", 1, "c", "s2"), 1)));
    }
}
