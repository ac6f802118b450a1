//! The Avro wire formats of CiSP Fusion.
//!
//! The schemas in `schemas/*.avsc` are the contract with members' systems;
//! this crate embeds them at compile time, resolves their cross-references
//! (an `Alert` uses `cisp.v1.Tlp` defined in `Submission.avsc`) into one
//! self-contained schema per record, and encodes and decodes records:
//!
//! * Output is Avro single-object encoding: `C3 01`, the 8-byte
//!   little-endian CRC-64-AVRO fingerprint of the schema's Parsing Canonical
//!   Form, then the body. Any Avro library can decode it without a registry.
//! * Input is single-object encoding (fingerprint checked) or Confluent
//!   framing (`00` + 4-byte schema id) for members that use a registry.
//!
//! [`records`] holds serde structs mirroring the schemas field for field;
//! [`Codec`] turns them into bytes and back. Decoding never panics and never
//! allocates more than the configured limits, whatever the input:
//! oversized payloads are refused before any decoding starts, and
//! apache-avro's allocation cap bounds what a length prefix can ask for.

mod codec;
mod error;
pub mod records;
mod schemas;

pub use codec::{Codec, DecodeLimits, Framing};
pub use error::WireError;
pub use schemas::{schema_files, RecordType};
