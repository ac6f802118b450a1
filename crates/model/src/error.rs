use thiserror::Error;

/// Why a value could not become a domain type. Every variant is the
/// submitter's fault (bad input): the caller dead-letters it, never retries.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    #[error("invalid {what} {value:?}: {why}")]
    InvalidId {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("invalid {kind} observable {value:?}: {why}")]
    InvalidObservable {
        kind: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("unknown observable type {0:?}")]
    UnknownObservableKind(String),
    #[error("unknown {what} {value:?}")]
    UnknownSymbol { what: &'static str, value: String },
    #[error("field {field} is too long: {len} > {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("field {field} has too many items: {len} > {max}")]
    TooMany {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("field {field} is required")]
    Missing { field: &'static str },
    #[error("field {field} is out of range: {value}")]
    OutOfRange { field: &'static str, value: i64 },
    #[error("payload claims member {claimed:?} but arrived on the topic of {topic:?}")]
    MemberMismatch { claimed: String, topic: String },
    #[error("member {0:?} is not in the registry")]
    UnknownMember(String),
    #[error("tlp {tlp} does not allow distribution {scope}")]
    TlpDistribution {
        tlp: &'static str,
        scope: &'static str,
    },
    #[error("distribution {scope} needs at least one {what}")]
    EmptyDistribution {
        scope: &'static str,
        what: &'static str,
    },
    #[error("distribution names unknown {what} {value:?}")]
    UnknownAudience { what: &'static str, value: String },
    #[error("invalid registry: {0}")]
    Registry(String),
}

impl ModelError {
    /// A short code from a fixed set, safe as a metric label.
    pub fn reason_code(&self) -> &'static str {
        match self {
            ModelError::InvalidId { .. } => "invalid_id",
            ModelError::InvalidObservable { .. } => "invalid_observable",
            ModelError::UnknownObservableKind(_) => "unknown_observable_type",
            ModelError::UnknownSymbol { .. } => "unknown_symbol",
            ModelError::TooLong { .. } => "too_long",
            ModelError::TooMany { .. } => "too_many",
            ModelError::Missing { .. } => "missing_field",
            ModelError::OutOfRange { .. } => "out_of_range",
            ModelError::MemberMismatch { .. } => "member_spoofing",
            ModelError::UnknownMember(_) => "unknown_member",
            ModelError::TlpDistribution { .. } => "tlp_distribution",
            ModelError::EmptyDistribution { .. } => "empty_distribution",
            ModelError::UnknownAudience { .. } => "unknown_audience",
            ModelError::Registry(_) => "registry",
        }
    }
}

/// Shortens a hostile value before it is put into an error message, so a
/// 1 MiB field does not become a 1 MiB log line.
/// At most 80 bytes of `value` for an error message, cut on a character
/// boundary, with an ellipsis when cut.
pub fn excerpt(value: &str) -> String {
    const MAX: usize = 80;
    if value.len() <= MAX {
        return value.to_owned();
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}
