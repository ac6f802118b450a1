//! Intake: every member, whatever its maturity, ends up publishing the same
//! Avro `Submission` on its own topic.
//!
//! A bank streams Avro to Kafka itself; everyone else comes through here.
//! Each outside format has a converter that turns one upload into a
//! [`Converted`] submission record plus the notes of what it skipped (a
//! MISP search result into one per event; an upload over the observable
//! limit is published in parts, [`Converted::parts`], never cut):
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
pub mod feed;
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
    /// The uploading organisation's own domains (from the registry): an
    /// e-mail address under one is its own staff, never published as a
    /// sender.
    pub own_domains: Vec<String>,
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
            own_domains: Vec::new(),
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

impl Converted {
    /// This upload as submissions within `limits`: itself, or — when it
    /// holds more observables than one submission may — parts of at most
    /// `limits.max_observables` each, in the file's order, every part
    /// carrying the upload's techniques, malware and claims, its id
    /// `<id>-part-K-of-N`, its title `… (part K of N)` and a line naming
    /// the whole, so a reader can put them back together. Never cut.
    pub fn parts(self, limits: &Limits) -> Vec<Converted> {
        let max = limits.max_observables.max(1);
        let n = self.record.observables.len().div_ceil(max);
        if n <= 1 {
            return vec![self];
        }
        let Converted {
            record,
            mut skipped,
        } = self;
        let total = record.observables.len();
        skipped.push(format!(
            "{total} observables are more than one submission may hold ({max}): published as {n} parts"
        ));
        let base_id = record.submission_id.clone();
        record
            .observables
            .chunks(max)
            .enumerate()
            .map(|(k, chunk)| {
                let mut r = record.clone();
                r.observables = chunk.to_vec();
                let suffix = format!("-part-{}-of-{n}", k + 1);
                let mut id = base_id.clone();
                collect::truncate(
                    &mut id,
                    cisp_model::SubmissionId::MAX_LEN.saturating_sub(suffix.len()),
                );
                r.submission_id = format!("{id}{suffix}");
                let label = format!(" (part {} of {n})", k + 1);
                let mut title = r.title.clone();
                collect::truncate(&mut title, limits.max_title_len.saturating_sub(label.len()));
                r.title = format!("{title}{label}");
                let line = format!(
                    "Part {} of {n} of one upload ({base_id}, {total} observables); the parts share its techniques, malware and claims.",
                    k + 1
                );
                let mut description = match r.description.take() {
                    Some(d) => format!("{line}\n{d}"),
                    None => line,
                };
                collect::truncate(&mut description, limits.max_description_len);
                r.description = Some(description);
                Converted {
                    record: r,
                    skipped: if k == 0 { skipped.clone() } else { Vec::new() },
                }
            })
            .collect()
    }
}

/// Refuses an upload over its format's limit, before parsing.
fn check_size(format: Format, bytes: &[u8]) -> Result<(), IntakeError> {
    let max = max_input_bytes(format);
    if bytes.len() > max {
        return Err(IntakeError::TooLarge {
            format: format.name(),
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

/// Converts `bytes` in `format` for `envelope`, without checking it
/// against the registry (see [`Intake::prepare`]).
pub fn convert(
    format: Format,
    bytes: &[u8],
    envelope: &Envelope,
) -> Result<Converted, IntakeError> {
    check_size(format, bytes)?;
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
    /// fusion service, so publishing it cannot end in the dead-letter
    /// topic. One upload may give several submissions: a MISP search
    /// result holds several events, and an upload with more observables
    /// than one submission may hold is published in parts
    /// ([`Converted::parts`]).
    pub fn prepare(
        &self,
        format: Format,
        bytes: &[u8],
        envelope: &Envelope,
    ) -> Result<Vec<Converted>, IntakeError> {
        let Some(member) = self.registry.member(&envelope.member) else {
            return Err(IntakeError::Invalid(cisp_model::ModelError::UnknownMember(
                envelope.member.to_string(),
            )));
        };
        // The member's own domains are never published as senders.
        let mut envelope = envelope.clone();
        envelope.own_domains.extend(member.domains.iter().cloned());
        let mut out = Vec::new();
        for converted in convert_all(format, bytes, &envelope)? {
            for mut part in converted.parts(&self.limits) {
                sharing::restrict_to_registry(&mut part, &self.registry);
                let draft = cisp_model::SubmissionDraft::from(part.record.clone());
                draft
                    .validate(&envelope.member, &self.registry, &self.limits)
                    .map_err(IntakeError::Invalid)?;
                out.push(part);
            }
        }
        Ok(out)
    }
}

/// [`convert`], for uploads that may hold several submissions (a MISP
/// search result: one per event).
pub fn convert_all(
    format: Format,
    bytes: &[u8],
    envelope: &Envelope,
) -> Result<Vec<Converted>, IntakeError> {
    match format {
        Format::Misp => {
            check_size(format, bytes)?;
            misp::import_all(bytes, envelope)
        }
        _ => Ok(vec![convert(format, bytes, envelope)?]),
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

#[cfg(test)]
mod parts_tests {
    use super::*;

    #[test]
    fn an_upload_over_the_limit_is_published_in_parts_never_cut() {
        let rows: String = (0..2500)
            .map(|i| format!("ipv4,203.0.{}.{}\n", i / 250, i % 250 + 1))
            .collect();
        let csv = format!("type,value\n{rows}");
        let c = convert(Format::Csv, csv.as_bytes(), &test_envelope()).expect("converts");
        assert_eq!(c.record.observables.len(), 2500, "all collected");
        let id = c.record.submission_id.clone();
        let parts = c.parts(&Limits::default());
        assert_eq!(
            parts
                .iter()
                .map(|p| p.record.observables.len())
                .collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        assert_eq!(parts[2].record.submission_id, format!("{id}-part-3-of-3"));
        assert!(parts[1].record.title.ends_with("(part 2 of 3)"));
        assert!(parts[0].skipped.iter().any(|s| s.contains("3 parts")));
        assert!(parts[2]
            .record
            .description
            .as_deref()
            .unwrap_or("")
            .contains(&format!(
                "Part 3 of 3 of one upload ({id}, 2500 observables)"
            )));
    }

    #[test]
    fn an_upload_past_what_one_upload_may_hold_is_refused_not_cut() {
        let n = collect::MAX_UPLOAD_OBSERVABLES + 1;
        let rows: String = (0..n)
            .map(|i| format!("ipv4,11.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255))
            .collect();
        let csv = format!("type,value\n{rows}");
        let e = convert(Format::Csv, csv.as_bytes(), &test_envelope()).expect_err("refused");
        assert_eq!(e.reason_code(), "too_many");
        assert!(
            e.to_string().contains(&format!("holds {n} observables")),
            "{e}"
        );
    }
}
