//! Topic names. Everything hangs off one prefix (`cisp` in production), so
//! tests can run side by side on one broker with a random prefix.

use cisp_model::{MemberId, Registry};

#[derive(Clone, Debug)]
pub struct Topics {
    prefix: String,
}

/// A topic the service needs, with how to create it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub compacted: bool,
}

/// Room a record needs on the broker beyond its payload: key, headers,
/// record and batch framing. A topic's `max.message.bytes` (which bounds a
/// whole record batch) is the service's payload limit plus this, so the
/// broker refuses what the service could never accept, and a record in
/// between is fetched and dead-lettered rather than refused.
pub const RECORD_OVERHEAD_BYTES: usize = 64 * 1024;

impl TopicSpec {
    /// The topic-level configs the service relies on: compaction where the
    /// latest value per key is the truth, and a record-size limit that
    /// agrees with the service's `kafka.max_message_bytes`.
    pub fn configs(&self, max_message_bytes: usize) -> Vec<(&'static str, String)> {
        let mut out = vec![(
            "max.message.bytes",
            (max_message_bytes + RECORD_OVERHEAD_BYTES).to_string(),
        )];
        if self.compacted {
            out.push(("cleanup.policy", "compact".to_owned()));
        }
        out
    }
}

impl Topics {
    pub fn new(prefix: &str) -> Topics {
        Topics {
            prefix: prefix.to_owned(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn submissions(&self, member: &MemberId) -> String {
        format!("{}.submissions.{member}", self.prefix)
    }

    pub fn alerts(&self, member: &MemberId) -> String {
        format!("{}.alerts.{member}", self.prefix)
    }

    pub fn dead_letter(&self) -> String {
        format!("{}.dead-letter", self.prefix)
    }

    pub fn campaigns(&self) -> String {
        format!("{}.campaigns", self.prefix)
    }

    /// The Fusion Cell's decisions (issue 22): written by the Fusion Cell
    /// and the service's query API, read by the service.
    pub fn decisions(&self) -> String {
        format!("{}.decisions", self.prefix)
    }

    /// The member whose submission topic this is, if it is one.
    pub fn member_of(&self, topic: &str) -> Option<MemberId> {
        let rest = topic
            .strip_prefix(&self.prefix)?
            .strip_prefix(".submissions.")?;
        MemberId::parse(rest).ok()
    }

    /// Every topic the service reads or writes for this registry.
    pub fn all(&self, registry: &Registry) -> Vec<TopicSpec> {
        let mut out = vec![
            TopicSpec {
                name: self.dead_letter(),
                compacted: false,
            },
            TopicSpec {
                name: self.campaigns(),
                compacted: true,
            },
            TopicSpec {
                name: self.decisions(),
                compacted: false,
            },
        ];
        for m in registry.members() {
            out.push(TopicSpec {
                name: self.submissions(&m.id),
                compacted: false,
            });
            out.push(TopicSpec {
                name: self.alerts(&m.id),
                compacted: false,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn identity_comes_from_the_topic_suffix() {
        let t = Topics::new("cisp");
        assert_eq!(
            t.member_of("cisp.submissions.acme-bank").unwrap().as_str(),
            "acme-bank"
        );
        assert!(t.member_of("cisp.alerts.acme-bank").is_none());
        assert!(t.member_of("other.submissions.acme-bank").is_none());
        assert!(t.member_of("cisp.submissions.Not_A_Member").is_none());
    }
}
