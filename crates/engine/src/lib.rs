//! The CiSP correlation engine: a pure, synchronous library.
//!
//! The fusion service feeds it validated [`cisp_model::Submission`]s one at a time with
//! the time as an argument ([`Ingest`]); it returns what follows
//! ([`Outcome`]): the campaign the submission now belongs to, the alerts to
//! send, and the campaign views that changed. It does no I/O and reads no
//! clock, so a run is a function of its inputs: replaying the same
//! submissions in the same order rebuilds the same state, and a
//! [`Engine::snapshot`] restored with [`Engine::restore`] continues exactly
//! as the original would.
//!
//! Modules, in the order a submission meets them (all private; the types
//! callers need are re-exported below):
//! * `engine`: [`Engine`], [`EngineConfig`], [`Engine::process`];
//! * `graph`: the data — a `petgraph::StableGraph` of submissions,
//!   evidence (observables and what they derive: hosts, registrable
//!   domains, /24s; techniques, technique sets, malware), campaigns and
//!   actors, with `contains`, `uses`, `derived-from`, `member-of` and
//!   `attributed-to` edges, and an index from evidence to its node and
//!   posting list (one hash probe); `evidence` says what each observable
//!   yields and how strongly it links;
//! * `linking`: the one linking rule (one strong or two weak pieces within
//!   a time window, never through warn-listed values ([`WarnLists`]) or
//!   common infrastructure); campaigns are its connected components, kept
//!   by an incremental union-find (`union_find`) that joins, merges
//!   (oldest survives) and splits; `campaign` keeps each one's state;
//! * `recipients`: who is told what — every item passes
//!   [`cisp_model::Registry::may_see`], so a member is only ever told about
//!   submissions whose audience contains it, and anonymous submitters are
//!   never named; `views` keeps each kind of recipient's view of a
//!   campaign as it grows (no walk per alert); `alerts` builds the
//!   [`Alert`]s from those inputs;
//! * `coalesce`: the caller's [`Coalescer`] merges a member's follow-up
//!   sightings of one campaign (as it sees it) into one update per window;
//! * `scoring`: indicator scores; `actors`: attribution to [`Actors`];
//! * `query`: read-only questions of the Fusion Cell, `explain` included;
//! * `snapshot`: the state as bytes and back; `ids`: keyed identifiers;
//!   `psl`, `warnlist`: shipped reference data; `error`: [`EngineError`].

mod actors;
mod alerts;
mod campaign;
mod coalesce;
mod decisions;
mod engine;
mod error;
mod evidence;
mod graph;
mod ids;
mod linking;
mod psl;
mod query;
mod recipients;
mod revision;
mod scoring;
mod snapshot;
mod union_find;
mod views;
mod warnlist;

pub use actors::{Actors, Features, Ranked, Scoring};
pub use alerts::{Alert, RelatedSubmission};
pub use campaign::{ActorAttribution, CampaignView};
pub use coalesce::{CoalesceConfig, Coalesced, Coalescer, Offered};
pub use decisions::DecisionView;
pub use engine::{
    AttributionChange, CommonJudgement, CommonReason, Effects, Engine, EngineConfig, EngineStats,
    Ingest, Moved, Outcome, Reference, WalkCost,
};
pub use error::EngineError;
pub use ids::{CampaignId, SubmissionKey};
pub use linking::Hop;
pub use psl::PublicSuffixList;
pub use query::{
    CampaignDetail, Candidate, ObservableDetail, ObservableSummary, Sighting, SubmissionSummary,
    VictimRelease, MAX_DETAIL_SUBMISSIONS,
};
pub use revision::{ActionOutcome, Audited, FeedbackCounts, Revision};
pub use scoring::{half_life_days, indicator_score};
pub use warnlist::{WarnList, WarnLists};
