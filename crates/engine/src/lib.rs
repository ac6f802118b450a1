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
//! Structure:
//! * a `petgraph::StableGraph` of submissions, evidence (observables and
//!   what they derive: hosts, registrable domains, /24s; techniques,
//!   technique sets, malware), campaigns and actors, with `contains`,
//!   `uses`, `derived-from`, `member-of` and `attributed-to` edges
//!   ([`evidence`]);
//! * an index from evidence to its node and posting list (one hash probe);
//! * one linking rule (`linking.rs`): one strong or two weak pieces within a
//!   time window, never through warn-listed values ([`warnlist`]) or common
//!   infrastructure; campaigns are its connected components, kept by an
//!   incremental union-find that joins, merges (oldest survives) and — when
//!   a value turns out to be common infrastructure — splits;
//! * attribution of campaigns to actors ([`actors`]) and indicator scores;
//! * an audience check ([`cisp_model::Registry::may_see`]) on every item that
//!   goes into an alert, so a member is only ever told about submissions
//!   whose audience contains it, and anonymous submitters are never named;
//! * read-only queries for the Fusion Cell ([`query`]).

pub mod actors;
mod alerts;
mod campaign;
mod engine;
pub mod evidence;
mod ids;
mod linking;
pub mod psl;
pub mod query;
mod snapshot;
mod union_find;
pub mod warnlist;

pub use alerts::{Alert, RelatedSubmission};
pub use campaign::{ActorAttribution, CampaignView};
pub use engine::{
    Effects, Engine, EngineConfig, EngineStats, Ingest, Outcome, Reference, WalkCost,
};
pub use ids::{CampaignId, SubmissionKey};
pub use linking::{half_life_days, indicator_score, Hop};
