//! The Fusion Cell's decisions (issue 22): what its analysts decide about
//! the picture the engine draws — forbid or force a link between two
//! submissions, declare a value benign or malicious for the partnership,
//! set, confirm or reject a campaign's attribution, withdraw a submission
//! on its member's request — and undo any of them. They travel on a topic
//! only the Fusion Cell and the service may write (`cisp.decisions`),
//! through the query API or a Fusion Cell tool.

use serde::{Deserialize, Serialize};

use crate::error::{excerpt, ModelError};
use crate::feedback::MAX_NOTE_LEN;
use crate::ids::{MemberId, SubmissionId};
use crate::observable::{Observable, ObservableKind};

/// A submission named by its member and its id (`member/id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SubmissionRef {
    pub member: MemberId,
    pub id: SubmissionId,
}

impl SubmissionRef {
    /// `member/id`.
    pub fn parse(s: &str) -> Result<SubmissionRef, ModelError> {
        let (m, id) = s.split_once('/').ok_or_else(|| ModelError::InvalidId {
            what: "submission reference",
            value: excerpt(s),
            why: "not member/submission-id",
        })?;
        Ok(SubmissionRef {
            member: MemberId::parse(m)?,
            id: SubmissionId::parse(id)?,
        })
    }
}

impl std::fmt::Display for SubmissionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.member, self.id)
    }
}

/// What a decision does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecisionAction {
    /// The two submissions never link, whatever they share.
    ForbidLink { a: SubmissionRef, b: SubmissionRef },
    /// The two submissions link, whatever they share (merges campaigns).
    ForceLink { a: SubmissionRef, b: SubmissionRef },
    /// The value links nothing, for everyone (like a warn-list entry).
    DeclareBenign(Observable),
    /// The value links even if a warn-list, the guard or members' disputes
    /// stopped it.
    DeclareMalicious(Observable),
    /// The campaign is attributed to this actor (name, alias or ATT&CK id).
    SetAttribution { campaign: String, actor: String },
    /// The campaign's current attribution to this actor is right: kept
    /// whatever later evidence says.
    ConfirmAttribution { campaign: String, actor: String },
    /// The campaign is never attributed to this actor.
    RejectAttribution { campaign: String, actor: String },
    /// The submission is withdrawn, at its member's request.
    Withdraw(SubmissionRef),
    /// An earlier decision is undone.
    Undo { decision: SubmissionId },
}

impl DecisionAction {
    pub fn name(&self) -> &'static str {
        match self {
            DecisionAction::ForbidLink { .. } => "forbid_link",
            DecisionAction::ForceLink { .. } => "force_link",
            DecisionAction::DeclareBenign(_) => "declare_benign",
            DecisionAction::DeclareMalicious(_) => "declare_malicious",
            DecisionAction::SetAttribution { .. } => "set_attribution",
            DecisionAction::ConfirmAttribution { .. } => "confirm_attribution",
            DecisionAction::RejectAttribution { .. } => "reject_attribution",
            DecisionAction::Withdraw(_) => "withdraw",
            DecisionAction::Undo { .. } => "undo",
        }
    }
}

/// A decision as any wire format gives it: raw strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionDraft {
    #[serde(default)]
    pub decision_id: String,
    /// Who decided (an analyst's name or handle; the Fusion Cell's own).
    pub analyst: String,
    #[serde(default)]
    pub made_at_ms: i64,
    /// One of [`DecisionAction::name`].
    pub action: String,
    /// Submissions `member/id` (links, withdraw), a campaign id
    /// (attribution) or the undone decision's id.
    #[serde(default)]
    pub a: String,
    #[serde(default)]
    pub b: String,
    /// For benign/malicious: the value.
    #[serde(default)]
    pub observable_type: String,
    #[serde(default)]
    pub observable_value: String,
    /// For attribution decisions.
    #[serde(default)]
    pub actor: String,
    pub reason: String,
}

/// A validated decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub id: SubmissionId,
    pub analyst: String,
    pub made_at_ms: i64,
    pub action: DecisionAction,
    pub reason: String,
}

impl DecisionDraft {
    pub fn validate(self) -> Result<Decision, ModelError> {
        let id = SubmissionId::parse(&self.decision_id)?;
        let analyst = line("analyst", &self.analyst, 128)?;
        let reason = line("reason", &self.reason, MAX_NOTE_LEN)?;
        let made_at_ms = crate::submission::check_time("made_at", self.made_at_ms)?;
        let pair = || -> Result<(SubmissionRef, SubmissionRef), ModelError> {
            let (a, b) = (
                SubmissionRef::parse(&self.a)?,
                SubmissionRef::parse(&self.b)?,
            );
            if a == b {
                return Err(ModelError::InvalidId {
                    what: "decision",
                    value: excerpt(&self.a),
                    why: "a link needs two different submissions",
                });
            }
            Ok((a, b))
        };
        let value = || {
            Observable::parse(
                ObservableKind::parse(&self.observable_type)?,
                &self.observable_value,
            )
        };
        let campaign = || -> Result<(String, String), ModelError> {
            let c = self.a.trim();
            if c.is_empty()
                || c.len() > 64
                || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(ModelError::InvalidId {
                    what: "campaign id",
                    value: excerpt(c),
                    why: "not a campaign id",
                });
            }
            Ok((c.to_owned(), line("actor", &self.actor, 128)?))
        };
        let action = match self.action.to_ascii_lowercase().as_str() {
            "forbid_link" => {
                let (a, b) = pair()?;
                DecisionAction::ForbidLink { a, b }
            }
            "force_link" => {
                let (a, b) = pair()?;
                DecisionAction::ForceLink { a, b }
            }
            "declare_benign" => DecisionAction::DeclareBenign(value()?),
            "declare_malicious" => DecisionAction::DeclareMalicious(value()?),
            "set_attribution" => {
                let (campaign, actor) = campaign()?;
                DecisionAction::SetAttribution { campaign, actor }
            }
            "confirm_attribution" => {
                let (campaign, actor) = campaign()?;
                DecisionAction::ConfirmAttribution { campaign, actor }
            }
            "reject_attribution" => {
                let (campaign, actor) = campaign()?;
                DecisionAction::RejectAttribution { campaign, actor }
            }
            "withdraw" => DecisionAction::Withdraw(SubmissionRef::parse(&self.a)?),
            "undo" => DecisionAction::Undo {
                decision: SubmissionId::parse(&self.a)?,
            },
            other => {
                return Err(ModelError::UnknownSymbol {
                    what: "decision action",
                    value: excerpt(other),
                })
            }
        };
        Ok(Decision {
            id,
            analyst,
            made_at_ms,
            action,
            reason,
        })
    }
}

fn line(field: &'static str, value: &str, max: usize) -> Result<String, ModelError> {
    crate::submission::check_line(field, value, max)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn draft(action: &str) -> DecisionDraft {
        DecisionDraft {
            decision_id: "D-1".into(),
            analyst: "analyst.jones".into(),
            made_at_ms: 1_764_000_000_000,
            action: action.into(),
            a: "northbank/NB-1".into(),
            b: "gridco/GC-2".into(),
            reason: "different actors, same bulletproof host".into(),
            ..DecisionDraft::default()
        }
    }

    #[test]
    fn decisions_are_checked_before_they_travel() {
        let d = draft("forbid_link").validate().unwrap();
        assert_eq!(d.action.name(), "forbid_link");
        let mut same = draft("force_link");
        same.b = same.a.clone();
        assert!(same.validate().is_err());
        let mut benign = draft("declare_benign");
        benign.observable_type = "domain".into();
        benign.observable_value = "Fonts.Example".into();
        let DecisionAction::DeclareBenign(o) = benign.validate().unwrap().action else {
            panic!()
        };
        assert_eq!(o.value(), "fonts.example");
        let mut attr = draft("reject_attribution");
        attr.a = "C-1f005b5c5b470995".into();
        attr.actor = "APT28".into();
        assert!(attr.validate().is_ok());
        let mut bad = draft("reject_attribution");
        bad.a = "C-1; DROP".into();
        bad.actor = "APT28".into();
        assert!(bad.validate().is_err());
        assert_eq!(
            draft("maybe").validate().unwrap_err().reason_code(),
            "unknown_symbol"
        );
        let mut no_reason = draft("withdraw");
        no_reason.reason = " ".into();
        assert_eq!(
            no_reason.validate().unwrap_err().reason_code(),
            "missing_field"
        );
    }
}
