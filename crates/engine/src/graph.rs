//! The correlation graph's types: what the engine keeps of a submission
//! ([`SubMeta`]), the graph's nodes and edges, a piece of evidence with
//! its posting list, why two submissions
//! link, and the scratch marks graph walks reuse. Data only: the rules
//! that act on it live in `linking` (clustering), `recipients` (who is
//! told what) and `alerts` (what they are told).

use std::hash::BuildHasher;

use cisp_model::{Attribution, Distribution, MemberId, SectorId, SubmissionKind, Tlp};
use petgraph::stable_graph::NodeIndex;
use serde::{Deserialize, Serialize};

use crate::evidence::{EvidenceKey, Strength};
use crate::ids::{IndexMap, SubmissionKey};

/// What the engine keeps of a submission (its evidence lives in the graph).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SubMeta {
    pub(crate) key: SubmissionKey,
    pub(crate) kind: SubmissionKind,
    pub(crate) tlp: Tlp,
    #[serde(with = "crate::snapshot::distribution")]
    pub(crate) distribution: Distribution,
    pub(crate) attribution: Attribution,
    pub(crate) title: String,
    pub(crate) submitted_at_ms: i64,
    pub(crate) sector: Option<SectorId>,
    pub(crate) confidence: u8,
    pub(crate) node: NodeIndex,
    /// Everything it carries (reported and derived), as evidence indexes;
    /// the first `reported` are its observables in the submission's order.
    pub(crate) evidence: Vec<u32>,
    /// (derived evidence, evidence it was derived from), sorted: a value
    /// derived only from values that no longer link (common) links nothing.
    pub(crate) sources: Vec<(u32, u32)>,
    pub(crate) reported: u32,
    /// Actors its member claims (profile indexes).
    pub(crate) claims: Vec<u32>,
    /// A digest of what it says (everything but its submission time): a
    /// re-sent id with other content is told apart from a redelivery.
    pub(crate) content: u64,
}

/// A node of the correlation graph.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum Node {
    Submission(u32),
    /// An observable, derived value, technique, technique set or malware
    /// family (index into the evidence table).
    Evidence(u32),
    Campaign,
    Actor(u32),
}

/// An edge of the correlation graph.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum Edge {
    /// submission → observable it reports
    Contains,
    /// submission or actor → technique, technique set or malware
    Uses,
    /// value → value derived from it (url → host → registrable domain,
    /// ip → /24, e-mail → domain)
    DerivedFrom,
    /// submission → its campaign
    MemberOf,
    /// campaign → actor, with the attribution's confidence
    AttributedTo(f32),
}

/// One piece of evidence: a node of the graph and its posting list.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Evidence {
    pub(crate) key: EvidenceKey,
    pub(crate) node: NodeIndex,
    pub(crate) strength: Strength,
    /// Index of the warn-list it is on.
    pub(crate) warn: Option<u16>,
    /// Common infrastructure: links nothing any more.
    pub(crate) common: bool,
    /// Disputed as a false positive by enough members: links nothing
    /// any more.
    #[serde(default)]
    pub(crate) disputed: bool,
    /// Submissions carrying it, in engine order (sorted).
    pub(crate) subs: Vec<u32>,
    /// Distinct reporting members and the highest confidence each gave.
    pub(crate) reporters: Vec<(MemberId, u8)>,
    pub(crate) last_seen_ms: i64,
}

/// A growing table kept in fixed-size chunks: growing never copies the
/// table (a doubling vector of 17 million evidence entries copies 1.7 GB
/// at its last step, and the allocator keeps what it freed mapped).
/// Serialised as the sequence of its elements, exactly like a vector.
#[derive(Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

/// Elements per chunk (a power of two: indexing is a shift and a mask).
const CHUNK_BITS: u32 = 14;
const CHUNK: usize = 1 << CHUNK_BITS;

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(value),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

impl<T> std::ops::IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

impl<T: Serialize> Serialize for Chunked<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        for x in self.iter() {
            seq.serialize_element(x)?;
        }
        seq.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Chunked<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Seq<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Seq<T> {
            type Value = Chunked<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Chunked::default();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(Seq(std::marker::PhantomData))
    }
}

/// The index from a piece of evidence to its entry in the evidence table.
/// It holds only entry numbers: each key lives once, in the table, and a
/// probe compares against it there (the keyed default hasher, so values
/// members send cannot be crafted to collide).
#[derive(Default)]
pub(crate) struct EvidenceIndex {
    table: hashbrown::HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for EvidenceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EvidenceIndex({} entries)", self.table.len())
    }
}

impl EvidenceIndex {
    /// Indexes every entry of `evidence`.
    pub(crate) fn of(evidence: &Chunked<Evidence>) -> EvidenceIndex {
        let mut index = EvidenceIndex::default();
        index.table.reserve(evidence.len(), |_| 0);
        for e in 0..evidence.len() {
            index.insert(u32::try_from(e).unwrap_or(u32::MAX), evidence);
        }
        index
    }

    pub(crate) fn get(&self, key: &EvidenceKey, evidence: &Chunked<Evidence>) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&e| evidence[e as usize].key == *key)
            .copied()
    }

    /// Indexes entry `e`, whose key is not indexed yet.
    pub(crate) fn insert(&mut self, e: u32, evidence: &Chunked<Evidence>) {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(&evidence[e as usize].key);
        self.table
            .insert_unique(hash, e, |&x| hasher.hash_one(&evidence[x as usize].key));
    }
}

impl Evidence {
    #[inline]
    pub(crate) fn links(&self) -> bool {
        self.strength != Strength::Context && self.warn.is_none() && !self.stopped()
    }

    /// Whether the guard or the partnership stopped it linking.
    #[inline]
    pub(crate) fn stopped(&self) -> bool {
        self.common || self.disputed
    }
}

/// Why two submissions are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    Strong(u32),
    /// Two different weak pieces.
    Weak(u32, u32),
    /// The Fusion Cell forced the link (issue 22).
    Forced,
}

/// Scratch space for graph walks, reused between them.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    /// `epoch` means "visited in this walk".
    pub(crate) epoch: u32,
    pub(crate) sub_mark: Vec<u32>,
    /// First weak piece seen per candidate while listing one submission's links.
    pub(crate) weak: IndexMap<u32, u32>,
}

impl Marks {
    /// Starts a walk over `n` submissions; returns its epoch.
    pub(crate) fn next(&mut self, n: usize) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.sub_mark.fill(0);
            self.epoch = 1;
        }
        self.sub_mark.resize(n, 0);
        self.epoch
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) observables: u64,
    pub(crate) common: u64,
}

impl Counts {
    pub(crate) fn of(evidence: &Chunked<Evidence>) -> Counts {
        Counts {
            observables: evidence
                .iter()
                .filter(|e| matches!(e.key, EvidenceKey::Observable(_)))
                .count() as u64,
            common: evidence.iter().filter(|e| e.common).count() as u64,
        }
    }
}
