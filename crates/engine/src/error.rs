//! The engine's one error type. Processing a submission cannot fail (the
//! model has validated it); what can is loading reference data and
//! writing or restoring a snapshot.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EngineError {
    /// A warn-list or actor table line that is not an entry.
    #[error("{file}:{line}: {message}")]
    Reference {
        file: String,
        line: usize,
        message: String,
    },
    /// A warn-list named in `warnlists_disabled` that does not exist.
    #[error("unknown warn-list {0:?}")]
    UnknownWarnList(String),
    /// A snapshot that cannot be written or is not one this engine can
    /// continue from (another format, id salt or linking settings).
    #[error("snapshot: {0}")]
    Snapshot(String),
}
