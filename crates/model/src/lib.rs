//! Domain types of CiSP Fusion.
//!
//! Everything that crosses from the outside world into the fusion core is
//! parsed into one of these types first, and none of them can exist in an
//! invalid state ("parse, don't validate"):
//!
//! * [`MemberId`], [`SectorId`], [`GroupId`]: identifiers of the partnership;
//!   the [`Registry`] says which members exist, their sector, groups and role.
//! * [`Tlp`] and [`Distribution`]: how widely a member lets a submission be
//!   shared. [`Registry::may_see`] is the one place that decides whether a
//!   reader is in a submission's audience (docs/SHARING.md).
//! * [`Observable`]: a typed indicator value, normalised on construction
//!   (refanged, case-folded, IDNA, canonical IPs and URLs, checked hashes).
//! * [`Submission`]: a validated member submission, built from a
//!   [`SubmissionDraft`] (raw strings from any wire format) by
//!   [`SubmissionDraft::validate`], which enforces every size limit and the
//!   TLP/distribution consistency rules.
//!
//! * [`Secret`]: a string (password, token, salt) that prints as
//!   `<redacted>` wherever it goes.
//!
//! Errors are one enum, [`ModelError`]; every variant names the offending
//! value and maps to a short, bounded [`ModelError::reason_code`] used as a
//! metric label and dead-letter reason.

mod alert;
pub mod calendar;
mod decision;
mod error;
mod feedback;
mod ids;
mod observable;
mod registry;
mod secret;
mod sharing;
mod submission;

pub use alert::{AlertKind, Severity};
pub use decision::{Decision, DecisionAction, DecisionDraft, SubmissionRef};
pub use error::{excerpt, ModelError};
pub use feedback::{
    Change, Correction, CorrectionDraft, Feedback, FeedbackDraft, FeedbackKind, MAX_NOTE_LEN,
    MAX_SIGHTING_COUNT,
};
pub use ids::{GroupId, MemberId, SectorId, SubmissionId};
pub use observable::{Observable, ObservableKind};
pub use registry::{Member, Registry, Role};
pub use secret::Secret;
pub use sharing::{Attribution, Distribution, Scope, Tlp, DEFAULT_K_ANONYMITY};
pub use submission::{
    technique_id, Limits, ObservableDraft, ObservableRole, SightedObservable, Submission,
    SubmissionDraft, SubmissionKind,
};
