//! Intake: every member, whatever its maturity, ends up publishing the same
//! Avro `Submission` on its own topic.
//!
//! A bank streams Avro to Kafka itself; everyone else comes through here.
//! Each outside format has a converter that turns one upload into one
//! [`Converted`] submission record plus the notes of what it skipped:
//!
//! * [`stix`]: STIX 2.1 bundles in (indicator patterns, SCOs, observed-data,
//!   actors, malware, ATT&CK, TLP markings) and out (alerts as bundles);
//! * [`misp`]: MISP event JSON (attributes, `tlp:` tags, galaxies,
//!   distribution);
//! * [`csv`](mod@csv): a documented `type,value,…` table for the least mature;
//! * [`eml`]: a phishing e-mail analysed into sender, relays, verdicts,
//!   links and attachment hashes (the e-mail itself is never forwarded);
//! * [`triage`]: a malware sample hashed and inspected (the sample itself
//!   is never stored or forwarded).
//!
//! What the uploader decides (member, TLP, audience, anonymity) arrives as
//! an [`Envelope`]; what the file says about its own marking can only make
//! the result *more* restrictive ([`sharing`]). Every result is checked by
//! the same [`cisp_model::SubmissionDraft::validate`] the fusion service
//! runs, before anything is published ([`Intake::prepare`]): a file that
//! would be dead-lettered is refused at the door with the same reason.
//!
//! [`publish`] puts the record on `cisp.submissions.<member>`, the member's
//! own topic and never another's; [`gateway`] is the HTTP front (uploads and
//! a TAXII 2.1 subset) with per-member API keys stored hashed ([`keys`]).

pub mod collect;
pub mod csv;
pub mod eml;
mod error;
pub mod gateway;
pub mod keys;
pub mod metrics;
pub mod misp;
pub mod publish;
pub mod sharing;
pub mod stix;
pub mod text;
pub mod triage;

use std::sync::Arc;

use cisp_model::{Limits, MemberId, Registry, Scope, SubmissionKind, Tlp};
use cisp_wire::records::SubmissionRecord;

pub use error::IntakeError;

/// The largest upload any converter accepts, by format (checked before
/// parsing; the gateway also caps the request body at the largest).
pub fn max_input_bytes(format: Format) -> usize {
    match format {
        Format::Csv => 8 << 20,
        Format::Stix | Format::Misp => 16 << 20,
        Format::Eml => 25 << 20,
        Format::Sample => 64 << 20,
    }
}

/// The outside formats intake understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Stix,
    Misp,
    Csv,
    Eml,
    Sample,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Stix,
        Format::Misp,
        Format::Csv,
        Format::Eml,
        Format::Sample,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Stix => "stix",
            Format::Misp => "misp",
            Format::Csv => "csv",
            Format::Eml => "eml",
            Format::Sample => "sample",
        }
    }

    pub fn parse(value: &str) -> Result<Format, IntakeError> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == value)
            .ok_or_else(|| IntakeError::UnknownFormat(text::excerpt(value)))
    }
}

/// What the uploader decides, as opposed to what the file says.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The member the upload is from (proved by its API key or broker user).
    pub member: MemberId,
    /// The idempotency key; by default derived from the upload's bytes, so
    /// uploading the same file twice changes nothing.
    pub submission_id: Option<String>,
    /// The uploader's marking. The file's own marking, if any, wins when it
    /// is more restrictive.
    pub tlp: Option<Tlp>,
    /// The audience; by default the widest the TLP allows (RED and
    /// AMBER+STRICT: the Fusion Cell only, AMBER: the sector, GREEN and
    /// CLEAR: the community), never wider than it allows.
    pub scope: Option<Scope>,
    pub members: Vec<String>,
    pub groups: Vec<String>,
    pub anonymous: bool,
    pub kind: Option<SubmissionKind>,
    pub title: Option<String>,
    /// The original file name (for samples: becomes a filename observable).
    pub file_name: Option<String>,
    /// The time of the upload, milliseconds since the epoch.
    pub now_ms: i64,
}

impl Envelope {
    pub fn new(member: MemberId, now_ms: i64) -> Envelope {
        Envelope {
            member,
            submission_id: None,
            tlp: None,
            scope: None,
            members: vec![],
            groups: vec![],
            anonymous: false,
            kind: None,
            title: None,
            file_name: None,
            now_ms,
        }
    }
}

/// One converted upload: the record to publish and what was left out.
#[derive(Clone, Debug)]
pub struct Converted {
    pub record: SubmissionRecord,
    /// Human-readable notes on what the converter skipped and why.
    pub skipped: Vec<String>,
}

/// Converts `bytes` in `format` for `envelope`, without checking it
/// against the registry (see [`Intake::prepare`]).
pub fn convert(
    format: Format,
    bytes: &[u8],
    envelope: &Envelope,
) -> Result<Converted, IntakeError> {
    let max = max_input_bytes(format);
    if bytes.len() > max {
        return Err(IntakeError::TooLarge {
            format: format.name(),
            len: bytes.len(),
            max,
        });
    }
    match format {
        Format::Stix => stix::import(bytes, envelope),
        Format::Misp => misp::import(bytes, envelope),
        Format::Csv => csv::import(bytes, envelope),
        Format::Eml => eml::import(bytes, envelope),
        Format::Sample => triage::import(bytes, envelope),
    }
}

/// Conversion plus the fusion service's own validation.
#[derive(Clone)]
pub struct Intake {
    pub registry: Arc<Registry>,
    pub limits: Limits,
}

impl Intake {
    /// Converts and validates: what comes back would be accepted by the
    /// fusion service, so publishing it cannot end in the dead-letter topic.
    pub fn prepare(
        &self,
        format: Format,
        bytes: &[u8],
        envelope: &Envelope,
    ) -> Result<Converted, IntakeError> {
        if self.registry.member(&envelope.member).is_none() {
            return Err(IntakeError::Invalid(cisp_model::ModelError::UnknownMember(
                envelope.member.to_string(),
            )));
        }
        let mut converted = convert(format, bytes, envelope)?;
        sharing::restrict_to_registry(&mut converted, &self.registry);
        let draft = cisp_model::SubmissionDraft::from(converted.record.clone());
        draft
            .validate(&envelope.member, &self.registry, &self.limits)
            .map_err(IntakeError::Invalid)?;
        Ok(converted)
    }
}

/// The envelope unit tests use: northbank, at 2025-11-19.
#[cfg(test)]
pub(crate) fn test_envelope() -> Envelope {
    #[allow(clippy::unwrap_used)]
    Envelope::new(MemberId::parse("northbank").unwrap(), 1_763_546_400_000)
}

/// The observable values of a converted upload, in order (for tests).
#[cfg(test)]
pub(crate) fn test_values(c: &Converted) -> Vec<&str> {
    c.record
        .observables
        .iter()
        .map(|o| o.value.as_str())
        .collect()
}
