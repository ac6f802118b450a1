//! [`Secret`]: a string that must never be printed — passwords, tokens, the
//! id salt. Its `Debug`, `Display` and `Serialize` all give `<redacted>`
//! (or nothing, when empty), so a secret inside a configuration struct is
//! safe in logs and in `cisp-fusion config` without a hand-written `Debug`.
//! The value is read only through [`Secret::expose`], which makes every
//! use greppable.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A secret string. Deserialises from a plain string.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself: only to hand to the library that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn shown(&self) -> &'static str {
        if self.0.is_empty() {
            ""
        } else {
            "<redacted>"
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

impl From<&str> for Secret {
    fn from(v: &str) -> Secret {
        Secret(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_only_that_it_is_set() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"<redacted>\"");
        assert_eq!(s.to_string(), "<redacted>");
        assert_eq!(
            serde_json::to_string(&s).expect("serialises"),
            "\"<redacted>\""
        );
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(Secret::default().to_string(), "");
    }
}
