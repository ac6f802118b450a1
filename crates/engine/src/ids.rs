//! Identifiers: a submission's global key (member, submission id), the
//! campaign id, and the keyed hash ([`IdKey`], SipHash-2-4 under a key
//! derived from the secret id salt) every id handed to a member is made
//! with, so an id reveals nothing and cannot be tested against a guess.

use std::fmt;
use std::hash::Hasher;

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
    /// For tests and tools that read ids back from the wire.
    pub fn from_wire(s: &str) -> CampaignId {
        CampaignId(s.to_owned())
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

/// A keyed pseudo-random function (SipHash-2-4) for every identifier the
/// engine hands out to members: campaign ids, alert ids and the stand-in ids
/// of anonymous submissions. Without the key nobody can compute, invert or
/// test a guess against an id — an unkeyed hash of (member, submission id)
/// would let a recipient confirm which member sent an anonymous report.
/// (FNV with a secret prefix is no substitute: its state after the prefix
/// can be recovered from one output and a guessed input.)
#[derive(Clone)]
pub(crate) struct IdKey {
    k0: u64,
    k1: u64,
}

impl fmt::Debug for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdKey(..)") // never print key material
    }
}

impl IdKey {
    /// Derives the 128-bit key from the configured secret salt.
    pub(crate) fn new(salt: &str) -> IdKey {
        let derive = |label: &str| {
            let mut h = siphasher::sip::SipHasher24::new_with_keys(0x6369_7370, 0x6675_7369);
            h.write(label.as_bytes());
            h.write_u8(0);
            h.write(salt.as_bytes());
            h.finish()
        };
        IdKey {
            k0: derive("cisp-id-k0"),
            k1: derive("cisp-id-k1"),
        }
    }

    /// Keyed hash of parts; each part is length-prefixed so part boundaries
    /// cannot be shifted.
    pub(crate) fn hash(&self, parts: &[&str]) -> u64 {
        let mut h = siphasher::sip::SipHasher24::new_with_keys(self.k0, self.k1);
        for p in parts {
            h.write_u64(p.len() as u64);
            h.write(p.as_bytes());
        }
        h.finish()
    }

    /// A keyed digest of `bytes`.
    pub(crate) fn digest(&self, bytes: &[u8]) -> u64 {
        let mut h = siphasher::sip::SipHasher24::new_with_keys(self.k0, self.k1);
        h.write(b"content");
        h.write(bytes);
        h.finish()
    }

    /// The id of the campaign whose oldest submission has sequence `seq`.
    pub(crate) fn campaign(&self, seq: u32) -> CampaignId {
        CampaignId::from_hash(self.hash(&["campaign", &seq.to_string()]))
    }

    /// The campaign of a withdrawn submission, alone: never the id of the
    /// campaign it was in, even when it founded it.
    pub(crate) fn withdrawn_campaign(&self, seq: u32) -> CampaignId {
        CampaignId::from_hash(self.hash(&["withdrawn", &seq.to_string()]))
    }
}

/// A hasher for the engine's own integer indexes (submission, evidence,
/// campaign-root and position numbers): one multiplication by an odd
/// constant, so dense keys spread over the table. Only for keys the engine
/// assigns itself — values members send keep the default keyed hasher, so
/// a crafted set of values cannot be made to collide.
#[derive(Default, Clone, Copy)]
pub(crate) struct IndexHasher(u64);

const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(SPREAD);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(SPREAD);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(SPREAD);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// A map keyed by engine indexes.
pub(crate) type IndexMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IndexHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_ids_depend_on_the_key_and_on_part_boundaries() {
        let a = IdKey::new("salt-a");
        let b = IdKey::new("salt-b");
        assert_ne!(a.hash(&["x", "y"]), b.hash(&["x", "y"]));
        assert_ne!(a.hash(&["ab", "c"]), a.hash(&["a", "bc"]));
        assert_eq!(a.campaign(7), IdKey::new("salt-a").campaign(7));
        assert_ne!(a.campaign(7), a.campaign(8));
        assert_eq!(format!("{a:?}"), "IdKey(..)");
    }
}
