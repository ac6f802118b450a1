//! Serde mirrors of `schemas/*.avsc`, field for field. Timestamps are
//! milliseconds since the Unix epoch (Avro `timestamp-millis`).

use cisp_model::{
    AlertKind, Attribution, CorrectionDraft, DecisionDraft, FeedbackDraft, ObservableDraft,
    ObservableKind, ObservableRole, Scope, Severity, SubmissionDraft, SubmissionKind, Tlp,
};
use serde::{Deserialize, Serialize};

/// `cisp.v1.Observable`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Observable")]
pub struct ObservableRecord {
    #[serde(rename = "type")]
    pub kind: ObservableKind,
    pub value: String,
    #[serde(default)]
    pub role: Option<ObservableRole>,
    #[serde(default)]
    pub first_seen: Option<i64>,
    #[serde(default)]
    pub last_seen: Option<i64>,
    #[serde(default)]
    pub confidence: Option<i32>,
}

impl ObservableRecord {
    pub fn new(kind: ObservableKind, value: impl Into<String>) -> ObservableRecord {
        ObservableRecord {
            kind,
            value: value.into(),
            role: None,
            first_seen: None,
            last_seen: None,
            confidence: None,
        }
    }
}

/// `cisp.v1.Distribution`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Distribution")]
pub struct DistributionRecord {
    pub scope: Scope,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `cisp.v1.Submission`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Submission")]
pub struct SubmissionRecord {
    pub submission_id: String,
    pub member_id: String,
    pub submitted_at: i64,
    pub kind: SubmissionKind,
    pub tlp: Tlp,
    pub distribution: DistributionRecord,
    pub attribution: Attribution,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub observables: Vec<ObservableRecord>,
    #[serde(default)]
    pub ttps: Vec<String>,
    #[serde(default)]
    pub malware: Vec<String>,
    #[serde(default)]
    pub actor_claims: Vec<String>,
    #[serde(default)]
    pub targeted_sectors: Vec<String>,
    #[serde(default = "default_confidence")]
    pub confidence: i32,
}

fn default_confidence() -> i32 {
    50
}

impl From<SubmissionRecord> for SubmissionDraft {
    fn from(r: SubmissionRecord) -> SubmissionDraft {
        SubmissionDraft {
            submission_id: r.submission_id,
            member_id: r.member_id,
            submitted_at_ms: r.submitted_at,
            kind: r.kind.name().to_owned(),
            tlp: r.tlp.symbol().to_owned(),
            scope: r.distribution.scope.name().to_owned(),
            distribution_members: r.distribution.members,
            distribution_groups: r.distribution.groups,
            anonymous: r.attribution == Attribution::Anonymous,
            title: r.title,
            description: r.description,
            observables: r
                .observables
                .into_iter()
                .map(|o| ObservableDraft {
                    kind: o.kind.name().to_owned(),
                    value: o.value,
                    role: o.role.map(|r| r.name().to_owned()),
                    first_seen_ms: o.first_seen,
                    last_seen_ms: o.last_seen,
                    confidence: o.confidence,
                })
                .collect(),
            ttps: r.ttps,
            malware: r.malware,
            actor_claims: r.actor_claims,
            targeted_sectors: r.targeted_sectors,
            confidence: r.confidence,
        }
    }
}

/// `cisp.v1.RelatedSubmission`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "RelatedSubmission")]
pub struct RelatedSubmissionRecord {
    pub submission_id: String,
    pub member_id: Option<String>,
    pub member_name: Option<String>,
    pub sector: Option<String>,
    pub kind: SubmissionKind,
    pub tlp: Tlp,
    pub title: String,
    pub submitted_at: i64,
}

/// `cisp.v1.Alert`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename = "Alert")]
pub struct AlertRecord {
    pub alert_id: String,
    pub recipient: String,
    pub created_at: i64,
    pub trigger_published_at: i64,
    pub kind: AlertKind,
    pub severity: Severity,
    pub tlp: Tlp,
    pub campaign_id: Option<String>,
    pub your_submission_ids: Vec<String>,
    pub related: Vec<RelatedSubmissionRecord>,
    pub shared_observables: Vec<ObservableRecord>,
    pub other_member_count: i32,
    pub summary: String,
    #[serde(default)]
    pub shared_scores: Vec<f32>,
    #[serde(default = "one")]
    pub sightings: i32,
    #[serde(default)]
    pub revokes: Vec<String>,
}

fn one() -> i32 {
    1
}

/// `cisp.v1.CampaignUpdate`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename = "CampaignUpdate")]
pub struct CampaignUpdateRecord {
    pub campaign_id: String,
    pub version: i64,
    pub merged_into: Option<String>,
    pub submission_count: i32,
    pub member_count: i32,
    pub observable_count: i32,
    pub member_ids: Vec<String>,
    pub sectors: Vec<String>,
    pub tlp: Tlp,
    pub first_seen: i64,
    pub last_seen: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub actor_id: Option<String>,
    #[serde(default)]
    pub actor_name: Option<String>,
    #[serde(default)]
    pub attribution_confidence: f32,
    #[serde(default)]
    pub attribution_evidence: Vec<String>,
}

/// Bytes that serialise as Avro `bytes`, not as an array of ints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Bytes, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Bytes(out))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// `cisp.v1.DeadLetter`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "DeadLetter")]
pub struct DeadLetterRecord {
    pub received_at: i64,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub member_id: Option<String>,
    pub reason_code: String,
    pub reason: String,
    pub payload: Bytes,
    pub payload_size: i64,
    pub payload_truncated: bool,
}

/// `cisp.v1.Correction`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Correction")]
pub struct CorrectionRecord {
    pub correction_id: String,
    pub member_id: String,
    pub submission_id: String,
    pub corrected_at: i64,
    #[serde(default)]
    pub retract: bool,
    #[serde(default)]
    pub remove_observables: Vec<ObservableRecord>,
    #[serde(default)]
    pub tlp: Option<Tlp>,
    #[serde(default)]
    pub distribution: Option<DistributionRecord>,
    #[serde(default)]
    pub reason: String,
}

impl From<CorrectionRecord> for CorrectionDraft {
    fn from(r: CorrectionRecord) -> CorrectionDraft {
        let (scope, members, groups) = match r.distribution {
            Some(d) => (Some(d.scope.name().to_owned()), d.members, d.groups),
            None => (None, Vec::new(), Vec::new()),
        };
        CorrectionDraft {
            correction_id: r.correction_id,
            member_id: r.member_id,
            submission_id: r.submission_id,
            corrected_at_ms: r.corrected_at,
            retract: r.retract,
            remove_observables: r
                .remove_observables
                .into_iter()
                .map(|o| (o.kind.name().to_owned(), o.value))
                .collect(),
            tlp: r.tlp.map(|t| t.symbol().to_owned()),
            scope,
            distribution_members: members,
            distribution_groups: groups,
            reason: r.reason,
        }
    }
}

/// `cisp.v1.FeedbackKind`: `OTHER` is what an older reader makes of a
/// newer symbol; the service refuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "FeedbackKind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeedbackKindRecord {
    Sighting,
    FalsePositive,
    Expired,
    Other,
}

/// `cisp.v1.Feedback`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Feedback")]
pub struct FeedbackRecord {
    pub feedback_id: String,
    pub member_id: String,
    pub kind: FeedbackKindRecord,
    pub observable: ObservableRecord,
    #[serde(default = "one")]
    pub count: i32,
    #[serde(default)]
    pub seen_at: Option<i64>,
    #[serde(default)]
    pub confidence: Option<i32>,
    #[serde(default)]
    pub comment: String,
    pub submitted_at: i64,
}

impl From<FeedbackRecord> for FeedbackDraft {
    fn from(r: FeedbackRecord) -> FeedbackDraft {
        FeedbackDraft {
            feedback_id: r.feedback_id,
            member_id: r.member_id,
            kind: match r.kind {
                FeedbackKindRecord::Sighting => "sighting",
                FeedbackKindRecord::FalsePositive => "false_positive",
                FeedbackKindRecord::Expired => "expired",
                FeedbackKindRecord::Other => "other",
            }
            .to_owned(),
            observable_type: r.observable.kind.name().to_owned(),
            observable_value: r.observable.value,
            count: r.count,
            seen_at_ms: r.seen_at,
            confidence: r.confidence,
            comment: r.comment,
            submitted_at_ms: r.submitted_at,
        }
    }
}

/// `cisp.v1.Decision`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Decision")]
pub struct DecisionRecord {
    pub decision_id: String,
    pub analyst: String,
    pub made_at: i64,
    pub action: String,
    #[serde(default)]
    pub a: String,
    #[serde(default)]
    pub b: String,
    #[serde(default)]
    pub observable: Option<ObservableRecord>,
    #[serde(default)]
    pub actor: String,
    pub reason: String,
}

impl From<DecisionRecord> for DecisionDraft {
    fn from(r: DecisionRecord) -> DecisionDraft {
        let (observable_type, observable_value) = r
            .observable
            .map(|o| (o.kind.name().to_owned(), o.value))
            .unwrap_or_default();
        DecisionDraft {
            decision_id: r.decision_id,
            analyst: r.analyst,
            made_at_ms: r.made_at,
            action: r.action,
            a: r.a,
            b: r.b,
            observable_type,
            observable_value,
            actor: r.actor,
            reason: r.reason,
        }
    }
}

impl DecisionRecord {
    /// The record of a draft (the query API publishes what it was given).
    pub fn of(d: &DecisionDraft) -> Option<DecisionRecord> {
        let observable = if d.observable_type.is_empty() {
            None
        } else {
            Some(ObservableRecord::new(
                ObservableKind::parse(&d.observable_type).ok()?,
                d.observable_value.clone(),
            ))
        };
        Some(DecisionRecord {
            decision_id: d.decision_id.clone(),
            analyst: d.analyst.clone(),
            made_at: d.made_at_ms,
            action: d.action.clone(),
            a: d.a.clone(),
            b: d.b.clone(),
            observable,
            actor: d.actor.clone(),
            reason: d.reason.clone(),
        })
    }
}
