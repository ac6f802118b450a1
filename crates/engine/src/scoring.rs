//! Indicator scores: how much an observable is worth believing now, from
//! its distinct reporters' confidences and the age of its last sighting
//! (each kind of indicator has its own half-life). The Fusion Cell's score
//! counts every reporter; an alert's counts only the reports its recipient
//! may see.

use std::collections::BTreeMap;

use cisp_model::ObservableKind;

use crate::alerts::Alert;
use crate::engine::Engine;
use crate::evidence::EvidenceKey;

impl Engine {
    /// Indicator score of evidence `e` as everyone's reports make it.
    pub(crate) fn score_of(&self, e: u32, now_ms: i64) -> f32 {
        let ev = &self.evidence[e as usize];
        let EvidenceKey::Observable(o) = &ev.key else {
            return 0.0;
        };
        let (sighters, disputes) = self.feedback_reporters(e);
        let score = indicator_score(
            o.kind(),
            ev.reporters.iter().map(|(_, c)| *c).chain(sighters),
            ev.last_seen_ms,
            now_ms,
        );
        // Each member disputing it (false positive, expired) halves it.
        score * 0.5f32.powi(disputes.min(30))
    }

    /// Scores of an alert's shared observables from the alert's own inputs
    /// only (submissions its recipient may see), so a score never counts
    /// a reporter the recipient could not see.
    pub(crate) fn alert_scores(&self, alert: &Alert, now_ms: i64) -> Vec<f32> {
        let inputs: Vec<u32> = alert
            .provenance
            .iter()
            .filter_map(|k| self.by_key.get(k).copied())
            .collect();
        alert
            .shared
            .iter()
            .map(|o| {
                let Some(e) = self
                    .index
                    .get(&EvidenceKey::Observable(o.clone()), &self.evidence)
                else {
                    return 0.0;
                };
                let ev = &self.evidence[e as usize];
                let mut best: BTreeMap<&cisp_model::MemberId, u8> = BTreeMap::new();
                let mut last = i64::MIN;
                for &s in &inputs {
                    if ev.subs.binary_search(&s).is_ok() {
                        let m = &self.subs[s as usize];
                        let c = best.entry(&m.key.member).or_default();
                        *c = (*c).max(m.confidence);
                        last = last.max(m.submitted_at_ms);
                    }
                }
                indicator_score(o.kind(), best.into_values(), last, now_ms)
            })
            .collect()
    }
}

/// How long an indicator of each type stays telling: its score halves
/// every this many days without a new sighting.
pub fn half_life_days(kind: ObservableKind) -> f64 {
    match kind {
        ObservableKind::Ipv4 | ObservableKind::Ipv6 => 14.0,
        ObservableKind::Url | ObservableKind::Filename => 30.0,
        ObservableKind::Domain => 60.0,
        ObservableKind::Email
        | ObservableKind::Cidr
        | ObservableKind::Asn
        | ObservableKind::Ja3 => 90.0,
        ObservableKind::Md5
        | ObservableKind::Sha1
        | ObservableKind::Sha256
        | ObservableKind::Ssdeep
        | ObservableKind::Tlsh => 365.0,
        ObservableKind::Cve => 730.0,
    }
}

/// An indicator's score in [0, 1]: `1 − Π(1 − 0.9·cᵢ)` over its distinct
/// reporters' confidences `cᵢ` (0–1; no single report is certainty), times
/// `½^(age / half-life)` where age runs from its last sighting.
pub fn indicator_score(
    kind: ObservableKind,
    confidences: impl IntoIterator<Item = u8>,
    last_seen_ms: i64,
    now_ms: i64,
) -> f32 {
    let miss: f64 = confidences
        .into_iter()
        .map(|c| 1.0 - 0.9 * f64::from(c.min(100)) / 100.0)
        .product();
    let age_days = (now_ms.saturating_sub(last_seen_ms)).max(0) as f64 / 86_400_000.0;
    let decay = 0.5f64.powf(age_days / half_life_days(kind));
    #[allow(clippy::cast_possible_truncation)]
    let s = ((1.0 - miss) * decay) as f32;
    s.clamp(0.0, 1.0)
}
