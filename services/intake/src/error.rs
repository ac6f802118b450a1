//! The one error type of intake. Every variant is the uploader's fault
//! (bad or unsupported input) except [`IntakeError::Publish`], which is
//! ours or the broker's and worth retrying; the gateway maps them to 4xx
//! and 5xx accordingly.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum IntakeError {
    #[error("unknown format {0:?} (stix, misp, csv, eml, sample)")]
    UnknownFormat(String),
    #[error("{format} upload of {len} bytes is over the limit of {max} bytes")]
    TooLarge {
        format: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{format} upload holds {count} observables, over the {max} one upload may hold: split the file")]
    TooMany {
        format: &'static str,
        count: usize,
        max: usize,
    },
    #[error("malformed {format} input: {why}")]
    Malformed { format: &'static str, why: String },
    #[error("nothing to submit in this {format} input: {why}")]
    Empty { format: &'static str, why: String },
    #[error("the converted submission is invalid: {0}")]
    Invalid(cisp_model::ModelError),
    #[error("publishing failed: {0}")]
    Publish(String),
}

impl IntakeError {
    pub(crate) fn malformed(format: &'static str, why: impl Into<String>) -> IntakeError {
        IntakeError::Malformed {
            format,
            why: why.into(),
        }
    }

    /// A short, fixed code for metrics and logs.
    pub fn reason_code(&self) -> &'static str {
        match self {
            IntakeError::UnknownFormat(_) => "unknown_format",
            IntakeError::TooLarge { .. } => "too_large",
            IntakeError::TooMany { .. } => "too_many",
            IntakeError::Malformed { .. } => "malformed",
            IntakeError::Empty { .. } => "empty",
            IntakeError::Invalid(e) => e.reason_code(),
            IntakeError::Publish(_) => "publish",
        }
    }

    /// Whether the uploader can fix it (4xx) rather than retry (5xx).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, IntakeError::Publish(_))
    }
}
