//! Identifier newtypes. Member, sector and group ids appear in topic names,
//! metrics-free log fields and ClickHouse keys, so they are restricted to a
//! small, safe alphabet. They hold an `Arc<str>`: ids are cloned into every
//! index entry, view and alert, and a clone is then a reference count, not
//! an allocation and a copy (Box<str> clones were ~9 % of engine time).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{excerpt, ModelError};

/// `[a-z0-9][a-z0-9-]{0,63}`: safe in a Kafka topic name and a file name.
fn check_slug(what: &'static str, value: &str) -> Result<(), ModelError> {
    let err = |why| ModelError::InvalidId {
        what,
        value: excerpt(value),
        why,
    };
    if value.is_empty() {
        return Err(err("empty"));
    }
    if value.len() > 64 {
        return Err(err("longer than 64 characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(err("only a-z, 0-9 and '-' are allowed"));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(err("must not start or end with '-'"));
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, ModelError> {
                check_slug($what, value)?;
                Ok(Self(value.into()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = ModelError;
            fn try_from(value: String) -> Result<Self, ModelError> {
                Self::parse(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                String::from(&*value.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", &*self.0)
            }
        }
    };
}

slug_id!(
    /// A member organisation's id; also the suffix of its Kafka topics.
    MemberId, "member id"
);
slug_id!(
    /// A sector (finance, energy, government…).
    SectorId, "sector id"
);
slug_id!(
    /// A sharing group (e.g. a sector ISAC) named in the registry.
    GroupId, "sharing group id"
);

/// The member's own idempotency key for a submission: 1–128 printable ASCII
/// characters from `[A-Za-z0-9._:-]`. Unique per member, not globally.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubmissionId(Arc<str>);

impl SubmissionId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(value: &str) -> Result<Self, ModelError> {
        let err = |why| ModelError::InvalidId {
            what: "submission id",
            value: excerpt(value),
            why,
        };
        if value.is_empty() {
            return Err(err("empty"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(err("longer than 128 characters"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        {
            return Err(err("only A-Z, a-z, 0-9 and . _ : - are allowed"));
        }
        Ok(Self(value.into()))
    }

    /// The stand-in shown for an anonymous submission: `anon-` and 16 hex
    /// digits of a keyed hash (always a valid id, so no fallback is needed
    /// that could reveal the real one).
    pub fn anonymous(keyed_hash: u64) -> SubmissionId {
        SubmissionId(format!("anon-{keyed_hash:016x}").into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for SubmissionId {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, ModelError> {
        Self::parse(&value)
    }
}
impl From<SubmissionId> for String {
    fn from(value: SubmissionId) -> String {
        String::from(&*value.0)
    }
}
impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn member_ids_are_slugs() {
        assert!(MemberId::parse("acme-bank").is_ok());
        assert!(MemberId::parse("acme2").is_ok());
        for bad in [
            "",
            "Acme",
            "acme bank",
            "-acme",
            "acme-",
            "acme.bank",
            "a/b",
            &"a".repeat(65),
        ] {
            assert!(MemberId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn submission_ids_allow_common_key_shapes() {
        for ok in ["sub-1", "2026-11-23T10:00:00Z.1", "INC_42", "a.b:c-d"] {
            assert!(SubmissionId::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "a b", "x\u{0}", "é", &"x".repeat(129)] {
            assert!(SubmissionId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn long_values_are_excerpted_in_errors() {
        let long = "A".repeat(10_000);
        let msg = MemberId::parse(&long).unwrap_err().to_string();
        assert!(msg.len() < 200, "{msg}");
    }
}
