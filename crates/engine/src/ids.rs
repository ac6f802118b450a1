use std::fmt;

use cisp_model::{MemberId, SubmissionId};
use serde::{Deserialize, Serialize};

/// A submission's global identity: submission ids are unique per member.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubmissionKey {
    pub member: MemberId,
    pub id: SubmissionId,
}

impl fmt::Display for SubmissionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.member, self.id)
    }
}

/// A campaign id: a salted hash of the engine sequence number of the
/// submission that founded it. A replay produces the same ids; the id says
/// nothing about who founded the campaign.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CampaignId(String);

impl CampaignId {
    pub(crate) fn from_hash(h: u64) -> CampaignId {
        CampaignId(format!("C-{h:016x}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// FNV-1a 64 over parts separated by NUL: stable across Rust versions and
/// processes (std's hasher is not), which ids must be.
pub(crate) fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            // Separator (a NUL byte) so ("ab","c") and ("a","bc") differ.
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}
