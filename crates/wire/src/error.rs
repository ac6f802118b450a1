use thiserror::Error;

/// Why bytes could not become a record (bad input: dead-letter, never
/// retry) or a record could not become bytes (internal: a bug).
#[derive(Debug, Error)]
pub enum WireError {
    #[error("payload of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("unrecognised framing: {0}")]
    BadFraming(&'static str),
    #[error("unknown writer schema {0} (expected {1})")]
    UnknownSchema(String, String),
    #[error("avro decoding failed: {0}")]
    Decode(String),
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    #[error("avro encoding failed: {0}")]
    Encode(String),
    #[error("invalid embedded schema: {0}")]
    Schema(String),
}

impl WireError {
    /// A short code from a fixed set, safe as a metric label.
    pub fn reason_code(&self) -> &'static str {
        match self {
            WireError::TooLarge { .. } => "too_large",
            WireError::BadFraming(_) => "bad_framing",
            WireError::UnknownSchema(..) => "unknown_schema",
            WireError::Decode(_) => "avro_decode",
            WireError::TrailingBytes(_) => "trailing_bytes",
            WireError::Encode(_) => "avro_encode",
            WireError::Schema(_) => "schema",
        }
    }

    /// True when the input, not this service, is at fault.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, WireError::Encode(_) | WireError::Schema(_))
    }
}

/// Avro error messages quote the whole schema and put the cause last; keep
/// one bounded line with the start and the end.
pub(crate) fn short(e: &dyn std::fmt::Display) -> String {
    const HEAD: usize = 120;
    const TAIL: usize = 200;
    let s = e.to_string().replace('\n', " ");
    if s.len() <= HEAD + TAIL {
        return s;
    }
    let mut h = HEAD;
    while !s.is_char_boundary(h) {
        h -= 1;
    }
    let mut t = s.len() - TAIL;
    while !s.is_char_boundary(t) {
        t += 1;
    }
    format!("{} … {}", &s[..h], &s[t..])
}
