//! The CiSP correlation engine: a pure, synchronous library.
//!
//! The fusion service feeds it validated [`Submission`]s one at a time with
//! the time as an argument ([`Ingest`]); it returns what follows
//! ([`Outcome`]): the campaign the submission now belongs to, the alerts to
//! send, and the campaign views that changed. It does no I/O and reads no
//! clock, so a run is a function of its inputs: replaying the same
//! submissions in the same order rebuilds the same state, which is how the
//! service recovers after a restart.
//!
//! Structure:
//! * a `petgraph::StableGraph` whose nodes are submissions and normalised
//!   observables, joined by `contains` edges;
//! * an index from normalised observable to its node (one hash probe);
//! * an incremental union-find over submissions: a submission that shares an
//!   observable with earlier ones joins (or merges) their campaigns, the
//!   oldest campaign surviving a merge;
//! * an audience check ([`cisp_model::Registry::may_see`]) on every item that
//!   goes into an alert, so a member is only ever told about submissions
//!   whose audience contains it, and anonymous submitters are never named.
//!
//! An observable that already links more than
//! [`EngineConfig::hot_observable_limit`] submissions (shared hosting, CDNs,
//! public resolvers) stops linking: it is counted but joins nothing. The
//! fuller warn-list and evidence weighting of DESIGN §4 build on this.

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
pub use cisp_model::Registry;
pub use engine::{
    Effects, Engine, EngineConfig, EngineStats, Ingest, Outcome, Reference, WalkCost,
};
pub use ids::{CampaignId, SubmissionKey};
pub use linking::{half_life_days, indicator_score, Hop};
