//! Submissions: what a member publishes. A [`SubmissionDraft`] holds raw
//! strings from any wire format (Avro today; STIX, MISP, CSV and e-mail
//! intake later); [`SubmissionDraft::validate`] turns it into a
//! [`Submission`] or says exactly what is wrong.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::{excerpt, ModelError};
use crate::ids::{GroupId, MemberId, SectorId, SubmissionId};
use crate::observable::{Observable, ObservableKind};
use crate::registry::Registry;
use crate::sharing::{Attribution, Distribution, Scope, Tlp};

/// What a submission reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SubmissionKind {
    Incident,
    Reconnaissance,
    Phishing,
    Malware,
    Vulnerability,
    Advisory,
    Guidance,
}

impl SubmissionKind {
    pub const ALL: [SubmissionKind; 7] = [
        SubmissionKind::Incident,
        SubmissionKind::Reconnaissance,
        SubmissionKind::Phishing,
        SubmissionKind::Malware,
        SubmissionKind::Vulnerability,
        SubmissionKind::Advisory,
        SubmissionKind::Guidance,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SubmissionKind::Incident => "incident",
            SubmissionKind::Reconnaissance => "reconnaissance",
            SubmissionKind::Phishing => "phishing",
            SubmissionKind::Malware => "malware",
            SubmissionKind::Vulnerability => "vulnerability",
            SubmissionKind::Advisory => "advisory",
            SubmissionKind::Guidance => "guidance",
        }
    }

    /// The name with its article, for summaries: "an incident", "a
    /// phishing".
    pub fn with_article(self) -> String {
        let name = self.name();
        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {name}")
    }

    pub fn parse(value: &str) -> Result<SubmissionKind, ModelError> {
        let lower = value.to_ascii_lowercase();
        SubmissionKind::ALL
            .into_iter()
            .find(|k| k.name() == lower)
            .ok_or_else(|| ModelError::UnknownSymbol {
                what: "submission kind",
                value: excerpt(value),
            })
    }
}

/// What part an observable played.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObservableRole {
    C2,
    Sender,
    PayloadDelivery,
    Scanner,
    Exfiltration,
    Victim,
    Other,
}

impl ObservableRole {
    pub const ALL: [ObservableRole; 7] = [
        ObservableRole::C2,
        ObservableRole::Sender,
        ObservableRole::PayloadDelivery,
        ObservableRole::Scanner,
        ObservableRole::Exfiltration,
        ObservableRole::Victim,
        ObservableRole::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ObservableRole::C2 => "c2",
            ObservableRole::Sender => "sender",
            ObservableRole::PayloadDelivery => "payload_delivery",
            ObservableRole::Scanner => "scanner",
            ObservableRole::Exfiltration => "exfiltration",
            ObservableRole::Victim => "victim",
            ObservableRole::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Result<ObservableRole, ModelError> {
        let lower = value.to_ascii_lowercase().replace('-', "_");
        ObservableRole::ALL
            .into_iter()
            .find(|r| r.name() == lower)
            .ok_or_else(|| ModelError::UnknownSymbol {
                what: "observable role",
                value: excerpt(value),
            })
    }
}

/// Size limits on every field and list of a submission. Defaults suit a
/// human-written report; machine feeds may raise `max_observables`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_title_len: usize,
    pub max_description_len: usize,
    pub max_observables: usize,
    pub max_ttps: usize,
    pub max_malware: usize,
    pub max_actor_claims: usize,
    pub max_targeted_sectors: usize,
    pub max_name_len: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_title_len: 256,
            max_description_len: 16 * 1024,
            max_observables: 1000,
            max_ttps: 100,
            max_malware: 50,
            max_actor_claims: 20,
            max_targeted_sectors: 20,
            max_name_len: 128,
        }
    }
}

/// An observable as written by the member, before normalisation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservableDraft {
    pub kind: String,
    pub value: String,
    pub role: Option<String>,
    pub first_seen_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
    pub confidence: Option<i32>,
}

/// A submission as written by the member, format-neutral, not yet trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionDraft {
    pub submission_id: String,
    /// The member the payload claims to come from; must equal the topic's.
    pub member_id: String,
    pub submitted_at_ms: i64,
    pub kind: String,
    pub tlp: String,
    pub scope: String,
    pub distribution_members: Vec<String>,
    pub distribution_groups: Vec<String>,
    pub anonymous: bool,
    pub title: String,
    pub description: Option<String>,
    pub observables: Vec<ObservableDraft>,
    pub ttps: Vec<String>,
    pub malware: Vec<String>,
    pub actor_claims: Vec<String>,
    pub targeted_sectors: Vec<String>,
    pub confidence: i32,
}

/// A normalised observable with the member's context for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SightedObservable {
    pub observable: Observable,
    pub role: Option<ObservableRole>,
    pub first_seen_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
    pub confidence: Option<u8>,
}

/// A validated submission. `member` is the identity the transport proved
/// (the topic), never a payload claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub id: SubmissionId,
    pub member: MemberId,
    pub submitted_at_ms: i64,
    pub kind: SubmissionKind,
    pub tlp: Tlp,
    pub distribution: Distribution,
    pub attribution: Attribution,
    pub title: String,
    pub description: Option<String>,
    pub observables: Vec<SightedObservable>,
    pub ttps: Vec<String>,
    pub malware: Vec<String>,
    pub actor_claims: Vec<String>,
    pub targeted_sectors: Vec<SectorId>,
    pub confidence: u8,
}

/// 2000-01-01 to 2100-01-01: anything outside is a unit mix-up (seconds
/// for milliseconds) or garbage.
const MIN_TIME_MS: i64 = 946_684_800_000;
const MAX_TIME_MS: i64 = 4_102_444_800_000;

pub(crate) fn check_time(field: &'static str, ms: i64) -> Result<i64, ModelError> {
    if (MIN_TIME_MS..MAX_TIME_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(ModelError::OutOfRange { field, value: ms })
    }
}

pub(crate) fn check_confidence(field: &'static str, c: i32) -> Result<u8, ModelError> {
    u8::try_from(c)
        .ok()
        .filter(|c| *c <= 100)
        .ok_or(ModelError::OutOfRange {
            field,
            value: i64::from(c),
        })
}

pub(crate) fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), ModelError> {
    if value.len() > max {
        return Err(ModelError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

pub(crate) fn check_count<T>(
    field: &'static str,
    list: &[T],
    max: usize,
) -> Result<(), ModelError> {
    if list.len() > max {
        return Err(ModelError::TooMany {
            field,
            len: list.len(),
            max,
        });
    }
    Ok(())
}

/// A record's `member_id` must be the member whose topic it came on (the
/// identity the transport proved), and that member must be registered.
pub(crate) fn check_identity(
    claimed: &str,
    topic_member: &MemberId,
    registry: &Registry,
) -> Result<(), ModelError> {
    if claimed != topic_member.as_str() {
        return Err(ModelError::MemberMismatch {
            claimed: excerpt(claimed),
            topic: topic_member.to_string(),
        });
    }
    if registry.member(topic_member).is_none() {
        return Err(ModelError::UnknownMember(topic_member.to_string()));
    }
    Ok(())
}

/// The distribution a scope and its lists describe, checked against the
/// registry (every named member and group exists).
pub(crate) fn distribution(
    scope: Scope,
    members: &[String],
    groups: &[String],
    registry: &Registry,
) -> Result<Distribution, ModelError> {
    check_count("distribution.members", members, 1000)?;
    check_count("distribution.groups", groups, 100)?;
    let distribution = match scope {
        Scope::FusionCellOnly => Distribution::FusionCellOnly,
        Scope::NamedMembers => Distribution::NamedMembers {
            members: members
                .iter()
                .map(|m| MemberId::parse(m))
                .collect::<Result<_, _>>()?,
        },
        Scope::SharingGroups => Distribution::SharingGroups {
            groups: groups
                .iter()
                .map(|g| GroupId::parse(g))
                .collect::<Result<_, _>>()?,
        },
        Scope::Sector => Distribution::Sector,
        Scope::Community => Distribution::Community,
    };
    registry.check_distribution(&distribution)?;
    Ok(distribution)
}

/// A one-line human string: trimmed, no control characters, bounded.
pub(crate) fn check_line(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, ModelError> {
    check_len(field, value, max)?;
    let v = value.trim();
    if v.is_empty() {
        return Err(ModelError::Missing { field });
    }
    if v.chars().any(char::is_control) {
        return Err(ModelError::InvalidId {
            what: field,
            value: excerpt(v),
            why: "contains control characters",
        });
    }
    Ok(v.to_owned())
}

/// An ATT&CK technique id, `T1566` or `T1566.001`, upper-cased.
pub fn technique_id(value: &str) -> Result<String, ModelError> {
    let v = value.trim().to_ascii_uppercase();
    let b = v.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let ok = b.first() == Some(&b'T')
        && digits(1..5)
        && (b.len() == 5 || (b.len() == 9 && b[5] == b'.' && digits(6..9)));
    if ok {
        Ok(v)
    } else {
        Err(ModelError::InvalidId {
            what: "ATT&CK technique id",
            value: excerpt(value),
            why: "not Tnnnn or Tnnnn.nnn",
        })
    }
}

impl SubmissionDraft {
    /// Validates and normalises a draft that arrived on `topic_member`'s
    /// topic. Checks, in order: identity (spoofing first, so it is always
    /// classified as such), ids and times, TLP/distribution consistency,
    /// every size limit, and every observable.
    pub fn validate(
        self,
        topic_member: &MemberId,
        registry: &Registry,
        limits: &Limits,
    ) -> Result<Submission, ModelError> {
        check_identity(&self.member_id, topic_member, registry)?;
        let id = SubmissionId::parse(&self.submission_id)?;
        let submitted_at_ms = check_time("submitted_at", self.submitted_at_ms)?;
        let kind = SubmissionKind::parse(&self.kind)?;
        let tlp = Tlp::parse(&self.tlp)?;
        let scope = Scope::parse(&self.scope)?;
        let distribution = distribution(
            scope,
            &self.distribution_members,
            &self.distribution_groups,
            registry,
        )?;
        if !tlp.allows(scope) {
            return Err(ModelError::TlpDistribution {
                tlp: tlp.label(),
                scope: scope.name(),
            });
        }

        let title = check_line("title", &self.title, limits.max_title_len)?;
        let description = match self.description {
            Some(d) => {
                check_len("description", &d, limits.max_description_len)?;
                if d.chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
                {
                    return Err(ModelError::InvalidId {
                        what: "description",
                        value: excerpt(&d),
                        why: "contains control characters",
                    });
                }
                Some(d).filter(|d| !d.trim().is_empty())
            }
            None => None,
        };

        check_count("observables", &self.observables, limits.max_observables)?;
        let mut seen = HashSet::with_capacity(self.observables.len());
        let mut observables = Vec::with_capacity(self.observables.len());
        for o in self.observables {
            let kind = ObservableKind::parse(&o.kind)?;
            let observable = Observable::parse(kind, &o.value)?;
            let role = o.role.as_deref().map(ObservableRole::parse).transpose()?;
            let first_seen_ms = o
                .first_seen_ms
                .map(|t| check_time("observable.first_seen", t))
                .transpose()?;
            let last_seen_ms = o
                .last_seen_ms
                .map(|t| check_time("observable.last_seen", t))
                .transpose()?;
            let confidence = o
                .confidence
                .map(|c| check_confidence("observable.confidence", c))
                .transpose()?;
            // The same indicator twice in one report is one sighting.
            if seen.insert(observable.clone()) {
                observables.push(SightedObservable {
                    observable,
                    role,
                    first_seen_ms,
                    last_seen_ms,
                    confidence,
                });
            }
        }

        check_count("ttps", &self.ttps, limits.max_ttps)?;
        let mut ttps = self
            .ttps
            .iter()
            .map(|t| technique_id(t))
            .collect::<Result<Vec<_>, _>>()?;
        ttps.sort();
        ttps.dedup();
        check_count("malware", &self.malware, limits.max_malware)?;
        let malware = self
            .malware
            .iter()
            .map(|m| check_line("malware", m, limits.max_name_len))
            .collect::<Result<_, _>>()?;
        check_count("actor_claims", &self.actor_claims, limits.max_actor_claims)?;
        let actor_claims = self
            .actor_claims
            .iter()
            .map(|a| check_line("actor_claims", a, limits.max_name_len))
            .collect::<Result<_, _>>()?;
        check_count(
            "targeted_sectors",
            &self.targeted_sectors,
            limits.max_targeted_sectors,
        )?;
        let targeted_sectors = self
            .targeted_sectors
            .iter()
            .map(|s| SectorId::parse(s))
            .collect::<Result<_, _>>()?;
        let confidence = check_confidence("confidence", self.confidence)?;

        Ok(Submission {
            id,
            member: topic_member.clone(),
            submitted_at_ms,
            kind,
            tlp,
            distribution,
            attribution: if self.anonymous {
                Attribution::Anonymous
            } else {
                Attribution::Attributed
            },
            title,
            description,
            observables,
            ttps,
            malware,
            actor_claims,
            targeted_sectors,
            confidence,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn registry() -> Registry {
        Registry::from_toml_str(
            r#"
[[member]]
id = "fc"
name = "Fusion Cell"
sector = "government"
role = "fusion-cell"
[[member]]
id = "bank-a"
name = "Bank A"
sector = "finance"
groups = ["fin-isac"]
role = "member"
"#,
        )
        .unwrap()
    }

    fn draft() -> SubmissionDraft {
        SubmissionDraft {
            submission_id: "s-1".into(),
            member_id: "bank-a".into(),
            submitted_at_ms: 1_760_000_000_000,
            kind: "PHISHING".into(),
            tlp: "GREEN".into(),
            scope: "COMMUNITY".into(),
            title: "Invoice lure".into(),
            observables: vec![
                ObservableDraft {
                    kind: "URL".into(),
                    value: "hxxp://evil[.]example/x".into(),
                    ..Default::default()
                },
                ObservableDraft {
                    kind: "url".into(),
                    value: "http://EVIL.example/x".into(),
                    ..Default::default()
                },
            ],
            ttps: vec!["t1566.001".into(), "T1566.001".into()],
            confidence: 80,
            ..Default::default()
        }
    }

    fn bank_a() -> MemberId {
        MemberId::parse("bank-a").unwrap()
    }

    #[test]
    fn a_good_draft_validates_and_dedups() {
        let s = draft()
            .validate(&bank_a(), &registry(), &Limits::default())
            .unwrap();
        assert_eq!(
            s.observables.len(),
            1,
            "two spellings of one URL are one observable"
        );
        assert_eq!(s.observables[0].observable.value(), "http://evil.example/x");
        assert_eq!(s.ttps, vec!["T1566.001"]);
        assert_eq!(s.attribution, Attribution::Attributed);
    }

    #[test]
    fn spoofed_member_is_classified_as_spoofing() {
        let mut d = draft();
        d.member_id = "grid".into();
        assert_eq!(
            d.validate(&bank_a(), &registry(), &Limits::default())
                .unwrap_err()
                .reason_code(),
            "member_spoofing"
        );
    }

    #[test]
    fn red_to_community_is_rejected() {
        let mut d = draft();
        d.tlp = "RED".into();
        let err = d
            .validate(&bank_a(), &registry(), &Limits::default())
            .unwrap_err();
        assert_eq!(err.reason_code(), "tlp_distribution");
        assert!(err.to_string().contains("TLP:RED"), "{err}");
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_observables: 1,
            ..Limits::default()
        };
        let mut d = draft();
        d.observables.push(ObservableDraft {
            kind: "domain".into(),
            value: "x.example".into(),
            ..Default::default()
        });
        assert_eq!(
            d.validate(&bank_a(), &registry(), &limits)
                .unwrap_err()
                .reason_code(),
            "too_many"
        );
        let mut d = draft();
        d.title = "x".repeat(10_000);
        assert_eq!(
            d.validate(&bank_a(), &registry(), &Limits::default())
                .unwrap_err()
                .reason_code(),
            "too_long"
        );
        let mut d = draft();
        d.confidence = 101;
        assert_eq!(
            d.validate(&bank_a(), &registry(), &Limits::default())
                .unwrap_err()
                .reason_code(),
            "out_of_range"
        );
        let mut d = draft();
        d.submitted_at_ms = 1_760_000_000; // seconds, not milliseconds
        assert_eq!(
            d.validate(&bank_a(), &registry(), &Limits::default())
                .unwrap_err()
                .reason_code(),
            "out_of_range"
        );
    }

    #[test]
    fn bad_observables_and_ttps_are_named() {
        let mut d = draft();
        d.observables[0].value = "999.1.1.1".into();
        d.observables[0].kind = "ipv4".into();
        let err = d
            .validate(&bank_a(), &registry(), &Limits::default())
            .unwrap_err();
        assert!(err.to_string().contains("999.1.1.1"), "{err}");
        let mut d = draft();
        d.ttps = vec!["T15".into()];
        assert!(d
            .validate(&bank_a(), &registry(), &Limits::default())
            .is_err());
    }

    #[test]
    fn distributions_must_fit_the_registry() {
        let mut d = draft();
        d.scope = "SHARING_GROUPS".into();
        d.distribution_groups = vec!["nobody-isac".into()];
        assert_eq!(
            d.validate(&bank_a(), &registry(), &Limits::default())
                .unwrap_err()
                .reason_code(),
            "unknown_audience"
        );
        let mut d = draft();
        d.scope = "NAMED_MEMBERS".into();
        assert_eq!(
            d.validate(&bank_a(), &registry(), &Limits::default())
                .unwrap_err()
                .reason_code(),
            "empty_distribution"
        );
    }

    #[test]
    fn submission_json_round_trips() {
        let s = draft()
            .validate(&bank_a(), &registry(), &Limits::default())
            .unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let back: Submission = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
