//! What members say about what was shared after the fact: a submitter's
//! **correction** of its own report (withdraw it, or narrow it: remove
//! observables, raise the TLP, shrink the audience) and any member's
//! **feedback** on an indicator it may see (a sighting, a false positive,
//! an expiry). Both arrive on the member's own submission topic, so the
//! identity is the topic's, as for submissions: nobody corrects another's
//! report.
//!
//! Validation here is what can be checked without the report itself;
//! whether a correction only narrows is the engine's check (it holds the
//! report).

use serde::{Deserialize, Serialize};

use crate::error::{excerpt, ModelError};
use crate::ids::{MemberId, SubmissionId};
use crate::observable::{Observable, ObservableKind};
use crate::registry::Registry;
use crate::sharing::{Distribution, Scope, Tlp};
use crate::submission::{
    check_confidence, check_count, check_identity, check_len, check_time, distribution, Limits,
};

/// Longest reason or comment a member may attach (bytes).
pub const MAX_NOTE_LEN: usize = 1024;

/// A correction as any wire format gives it: raw strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorrectionDraft {
    pub correction_id: String,
    pub member_id: String,
    pub submission_id: String,
    pub corrected_at_ms: i64,
    /// Withdraw the whole report.
    pub retract: bool,
    /// (type, value) of observables to take out of the report.
    pub remove_observables: Vec<(String, String)>,
    /// A more restrictive TLP.
    pub tlp: Option<String>,
    /// A smaller audience: scope and its lists.
    pub scope: Option<String>,
    pub distribution_members: Vec<String>,
    pub distribution_groups: Vec<String>,
    pub reason: String,
}

/// A validated correction of the member's own report `submission`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    /// The member's id for this correction (a redelivery has the same).
    pub id: SubmissionId,
    pub member: MemberId,
    pub submission: SubmissionId,
    pub corrected_at_ms: i64,
    pub change: Change,
    pub reason: String,
}

/// What a correction changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// The whole report is withdrawn.
    Retract,
    /// The report stays, narrowed: any of the three, at least one.
    Narrow {
        remove: Vec<Observable>,
        tlp: Option<Tlp>,
        distribution: Option<Distribution>,
    },
}

impl Correction {
    pub fn is_retraction(&self) -> bool {
        matches!(self.change, Change::Retract)
    }
}

impl CorrectionDraft {
    pub fn validate(
        self,
        topic_member: &MemberId,
        registry: &Registry,
        limits: &Limits,
    ) -> Result<Correction, ModelError> {
        check_identity(&self.member_id, topic_member, registry)?;
        let id = SubmissionId::parse(&self.correction_id)?;
        let submission = SubmissionId::parse(&self.submission_id)?;
        let corrected_at_ms = check_time("corrected_at", self.corrected_at_ms)?;
        let reason = note("reason", &self.reason)?;
        let narrows =
            !self.remove_observables.is_empty() || self.tlp.is_some() || self.scope.is_some();
        let change = match (self.retract, narrows) {
            (true, true) => {
                return Err(ModelError::InvalidId {
                    what: "correction",
                    value: self.correction_id.clone(),
                    why: "withdraws the report and narrows it at once: send one or the other",
                })
            }
            (false, false) => {
                return Err(ModelError::InvalidId {
                    what: "correction",
                    value: self.correction_id.clone(),
                    why: "changes nothing: set retract, or remove observables, raise the TLP or shrink the audience",
                })
            }
            (true, false) => Change::Retract,
            (false, true) => {
                check_count(
                    "remove_observables",
                    &self.remove_observables,
                    limits.max_observables,
                )?;
                let mut remove = Vec::with_capacity(self.remove_observables.len());
                for (kind, value) in &self.remove_observables {
                    let o = Observable::parse(ObservableKind::parse(kind)?, value)?;
                    if !remove.contains(&o) {
                        remove.push(o);
                    }
                }
                let tlp = self.tlp.as_deref().map(Tlp::parse).transpose()?;
                let distribution = match self.scope.as_deref() {
                    None => None,
                    Some(s) => {
                        let scope = Scope::parse(s)?;
                        Some(distribution(
                            scope,
                            &self.distribution_members,
                            &self.distribution_groups,
                            registry,
                        )?)
                    }
                };
                Change::Narrow {
                    remove,
                    tlp,
                    distribution,
                }
            }
        };
        Ok(Correction {
            id,
            member: topic_member.clone(),
            submission,
            corrected_at_ms,
            change,
            reason,
        })
    }
}

/// What a member says about an indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FeedbackKind {
    /// We saw it too (when, how often).
    Sighting,
    /// It is not malicious (why).
    FalsePositive,
    /// It was malicious once; it is not any more.
    Expired,
}

impl FeedbackKind {
    pub fn name(self) -> &'static str {
        match self {
            FeedbackKind::Sighting => "sighting",
            FeedbackKind::FalsePositive => "false_positive",
            FeedbackKind::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Result<FeedbackKind, ModelError> {
        match s.to_ascii_lowercase().as_str() {
            "sighting" => Ok(FeedbackKind::Sighting),
            "false_positive" => Ok(FeedbackKind::FalsePositive),
            "expired" => Ok(FeedbackKind::Expired),
            _ => Err(ModelError::UnknownSymbol {
                what: "feedback kind",
                value: excerpt(s),
            }),
        }
    }

    /// Whether it speaks against the indicator.
    pub fn disputes(self) -> bool {
        !matches!(self, FeedbackKind::Sighting)
    }
}

/// Feedback as any wire format gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedbackDraft {
    pub feedback_id: String,
    pub member_id: String,
    pub kind: String,
    pub observable_type: String,
    pub observable_value: String,
    pub count: i32,
    pub seen_at_ms: Option<i64>,
    pub confidence: Option<i32>,
    pub comment: String,
    pub submitted_at_ms: i64,
}

/// Validated feedback of `member` on `observable`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    pub id: SubmissionId,
    pub member: MemberId,
    pub kind: FeedbackKind,
    pub observable: Observable,
    /// Sightings it stands for (1 for a dispute).
    pub count: u32,
    pub seen_at_ms: Option<i64>,
    pub confidence: Option<u8>,
    pub comment: String,
    pub submitted_at_ms: i64,
}

/// Most sightings one feedback record may count.
pub const MAX_SIGHTING_COUNT: i32 = 1_000_000;

impl FeedbackDraft {
    pub fn validate(
        self,
        topic_member: &MemberId,
        registry: &Registry,
    ) -> Result<Feedback, ModelError> {
        check_identity(&self.member_id, topic_member, registry)?;
        let id = SubmissionId::parse(&self.feedback_id)?;
        let kind = FeedbackKind::parse(&self.kind)?;
        let observable = Observable::parse(
            ObservableKind::parse(&self.observable_type)?,
            &self.observable_value,
        )?;
        if !(1..=MAX_SIGHTING_COUNT).contains(&self.count) {
            return Err(ModelError::OutOfRange {
                field: "count",
                value: i64::from(self.count),
            });
        }
        let count = if kind.disputes() {
            1
        } else {
            self.count.unsigned_abs()
        };
        let seen_at_ms = self
            .seen_at_ms
            .map(|t| check_time("seen_at", t))
            .transpose()?;
        let confidence = self
            .confidence
            .map(|c| check_confidence("confidence", c))
            .transpose()?;
        let comment = if self.comment.trim().is_empty() {
            String::new()
        } else {
            note("comment", &self.comment)?
        };
        Ok(Feedback {
            id,
            member: topic_member.clone(),
            kind,
            observable,
            count,
            seen_at_ms,
            confidence,
            comment,
            submitted_at_ms: check_time("submitted_at", self.submitted_at_ms)?,
        })
    }
}

/// A member's free text: bounded, control characters but newline refused.
fn note(field: &'static str, value: &str) -> Result<String, ModelError> {
    check_len(field, value, MAX_NOTE_LEN)?;
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ModelError::InvalidId {
            what: field,
            value: excerpt(value),
            why: "contains control characters",
        });
    }
    Ok(value.trim().to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const TOML: &str = r#"
[[member]]
id = "fusion-cell"
name = "Fusion Cell"
sector = "government"
role = "fusion-cell"

[[member]]
id = "bank-a"
name = "Bank A"
sector = "finance"
role = "member"
"#;

    fn draft() -> CorrectionDraft {
        CorrectionDraft {
            correction_id: "fix-1".into(),
            member_id: "bank-a".into(),
            submission_id: "r-1".into(),
            corrected_at_ms: 1_760_000_000_000,
            retract: true,
            reason: "our own mail relay".into(),
            ..CorrectionDraft::default()
        }
    }

    #[test]
    fn a_correction_is_one_thing_and_comes_from_the_topic_member() {
        let reg = Registry::from_toml_str(TOML).unwrap();
        let me = MemberId::parse("bank-a").unwrap();
        let c = draft().validate(&me, &reg, &Limits::default()).unwrap();
        assert!(c.is_retraction());

        let mut both = draft();
        both.tlp = Some("RED".into());
        let e = both.validate(&me, &reg, &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("one or the other"), "{e}");

        let mut nothing = draft();
        nothing.retract = false;
        assert!(nothing.validate(&me, &reg, &Limits::default()).is_err());

        let mut other = draft();
        other.member_id = "fusion-cell".into();
        assert_eq!(
            other
                .validate(&me, &reg, &Limits::default())
                .unwrap_err()
                .reason_code(),
            "member_spoofing"
        );

        let mut narrow = draft();
        narrow.retract = false;
        narrow.remove_observables = vec![("ipv4".into(), "198.51.100[.]7".into())];
        let c = narrow.validate(&me, &reg, &Limits::default()).unwrap();
        let Change::Narrow { remove, .. } = c.change else {
            panic!("narrowing expected")
        };
        assert_eq!(remove[0].value(), "198.51.100.7");
    }

    #[test]
    fn feedback_is_bounded() {
        let reg = Registry::from_toml_str(TOML).unwrap();
        let me = MemberId::parse("bank-a").unwrap();
        let fb = FeedbackDraft {
            feedback_id: "fb-1".into(),
            member_id: "bank-a".into(),
            kind: "FALSE_POSITIVE".into(),
            observable_type: "domain".into(),
            observable_value: "Evil.Example".into(),
            count: 5,
            submitted_at_ms: 1_760_000_000_000,
            ..FeedbackDraft::default()
        };
        let ok = fb.clone().validate(&me, &reg).unwrap();
        assert_eq!((ok.kind, ok.count), (FeedbackKind::FalsePositive, 1));
        let mut zero = fb.clone();
        zero.count = 0;
        assert_eq!(
            zero.validate(&me, &reg).unwrap_err().reason_code(),
            "out_of_range"
        );
        let mut long = fb.clone();
        long.comment = "x".repeat(MAX_NOTE_LEN + 1);
        assert_eq!(
            long.validate(&me, &reg).unwrap_err().reason_code(),
            "too_long"
        );
        let mut odd = fb;
        odd.kind = "maybe".into();
        assert_eq!(
            odd.validate(&me, &reg).unwrap_err().reason_code(),
            "unknown_symbol"
        );
    }
}
