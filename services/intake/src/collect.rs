//! The builder every converter fills: observables checked one by one with
//! the fusion service's own normaliser (a bad value is skipped with a note,
//! not allowed to sink the whole upload), duplicates dropped, every list
//! bounded by the submission limits, and the uploader's envelope applied.

use std::collections::BTreeSet;

use cisp_model::{
    Attribution, Limits, Observable, ObservableKind, ObservableRole, Scope, SubmissionKind, Tlp,
};
use cisp_wire::records::{DistributionRecord, ObservableRecord, SubmissionRecord};

use crate::sharing;
use crate::text::excerpt;
use crate::{Converted, Envelope, IntakeError};

/// Skipped-item notes kept per upload; the rest are counted.
const MAX_NOTES: usize = 50;
/// Observables one upload may hold in all. Past the per-submission limit
/// an upload is published as several parts ([`Converted::parts`]); past
/// this it is refused, never cut.
pub const MAX_UPLOAD_OBSERVABLES: usize = 100_000;

#[derive(Clone, Copy)]
enum Names {
    Malware,
    Actors,
}

#[derive(Debug)]
pub struct Collector {
    format: &'static str,
    limits: Limits,
    seen: BTreeSet<(ObservableKind, String)>,
    pub observables: Vec<ObservableRecord>,
    pub ttps: BTreeSet<String>,
    pub malware: BTreeSet<String>,
    pub actors: BTreeSet<String>,
    /// The most restrictive marking found in the file, if any.
    pub file_tlp: Option<Tlp>,
    /// The audience the file asks for, if it says (MISP distribution).
    pub file_scope: Option<(Scope, Vec<String>)>,
    pub title: Option<String>,
    pub description: Vec<String>,
    pub kind: Option<SubmissionKind>,
    pub confidence: Option<i32>,
    skipped: Vec<String>,
    skipped_more: usize,
    /// Observables left out because the upload held more than
    /// [`MAX_UPLOAD_OBSERVABLES`].
    over_upload_limit: usize,
}

impl Collector {
    pub fn new(format: &'static str) -> Collector {
        Collector {
            format,
            limits: Limits::default(),
            seen: BTreeSet::new(),
            observables: Vec::new(),
            ttps: BTreeSet::new(),
            malware: BTreeSet::new(),
            actors: BTreeSet::new(),
            file_tlp: None,
            file_scope: None,
            title: None,
            description: Vec::new(),
            kind: None,
            confidence: None,
            skipped: Vec::new(),
            skipped_more: 0,
            over_upload_limit: 0,
        }
    }

    /// Records that something was left out, and why.
    pub fn skip(&mut self, note: impl Into<String>) {
        if self.skipped.len() < MAX_NOTES {
            self.skipped.push(note.into());
        } else {
            self.skipped_more += 1;
        }
    }

    /// Adds a value if it normalises as `kind`; otherwise notes why not.
    /// Returns whether it was added (false for duplicates too).
    pub fn observable(
        &mut self,
        kind: ObservableKind,
        raw: &str,
        role: Option<ObservableRole>,
        first_seen: Option<i64>,
    ) -> bool {
        let obs = match Observable::parse(kind, raw) {
            Ok(o) => o,
            Err(e) => {
                self.skip(format!("{} {:?}: {e}", kind.name(), excerpt(raw)));
                return false;
            }
        };
        if !self.seen.insert((kind, obs.value().to_owned())) {
            return false;
        }
        if self.observables.len() >= MAX_UPLOAD_OBSERVABLES {
            self.over_upload_limit += 1;
            return false;
        }
        let mut rec = ObservableRecord::new(kind, obs.value());
        rec.role = role;
        rec.first_seen = first_seen.filter(|t| sharing::plausible_time(*t));
        self.observables.push(rec);
        true
    }

    /// An IP address of either family (or a CIDR block).
    pub fn ip(&mut self, raw: &str, role: Option<ObservableRole>, first_seen: Option<i64>) -> bool {
        let raw = raw.trim();
        let kind = if raw.contains('/') {
            ObservableKind::Cidr
        } else if raw.contains(':') {
            ObservableKind::Ipv6
        } else {
            ObservableKind::Ipv4
        };
        self.observable(kind, raw, role, first_seen)
    }

    /// An ATT&CK technique id (`T1566`, `T1566.001`); anything else noted.
    pub fn ttp(&mut self, raw: &str) {
        match cisp_model::technique_id(raw) {
            Ok(id) if self.ttps.contains(&id) => {}
            Ok(id) if self.ttps.len() < self.limits.max_ttps => {
                self.ttps.insert(id);
            }
            Ok(id) => self.skip(format!(
                "technique {id}: over the limit of {} techniques per submission",
                self.limits.max_ttps
            )),
            Err(_) => self.skip(format!("technique {:?}: not an ATT&CK id", excerpt(raw))),
        }
    }

    /// Adds a name to `which` (malware or actors), noting why one is left
    /// out: too long, control characters, or over the limit.
    fn name(&mut self, which: Names, raw: &str) {
        let (what, max) = match which {
            Names::Malware => ("malware", self.limits.max_malware),
            Names::Actors => ("actor", self.limits.max_actor_claims),
        };
        let max_len = self.limits.max_name_len;
        let v = raw.trim();
        let set = match which {
            Names::Malware => &self.malware,
            Names::Actors => &self.actors,
        };
        if v.is_empty() || set.contains(v) {
            return;
        }
        let why = if v.len() > max_len {
            format!("longer than {max_len} bytes")
        } else if v.chars().any(char::is_control) {
            "contains control characters".to_owned()
        } else if set.len() >= max {
            format!("over the limit of {max} per submission")
        } else {
            match which {
                Names::Malware => self.malware.insert(v.to_owned()),
                Names::Actors => self.actors.insert(v.to_owned()),
            };
            return;
        };
        self.skip(format!("{what} {:?}: {why}", excerpt(v)));
    }

    /// A malware family or tool name.
    pub fn malware(&mut self, raw: &str) {
        self.name(Names::Malware, raw);
    }

    pub fn actor(&mut self, raw: &str) {
        self.name(Names::Actors, raw);
    }

    /// Makes the file's marking at least `tlp`.
    pub fn marking(&mut self, tlp: Tlp) {
        self.file_tlp = Some(self.file_tlp.map_or(tlp, |t| t.max(tlp)));
    }

    /// Builds the record: the envelope's choices, restricted by what the
    /// file says; fails when nothing usable is left.
    pub fn finish(
        self,
        envelope: &Envelope,
        default_kind: SubmissionKind,
        id_seed: &[u8],
    ) -> Result<Converted, IntakeError> {
        let Collector {
            format,
            limits,
            observables,
            ttps,
            malware,
            actors,
            file_tlp,
            file_scope,
            title,
            description,
            kind,
            confidence,
            mut skipped,
            skipped_more,
            over_upload_limit,
            ..
        } = self;
        if over_upload_limit > 0 {
            return Err(IntakeError::TooMany {
                format,
                count: observables.len() + over_upload_limit,
                max: MAX_UPLOAD_OBSERVABLES,
            });
        }
        if observables.is_empty() && ttps.is_empty() && malware.is_empty() && actors.is_empty() {
            let why = if skipped.is_empty() {
                "no indicators, techniques, malware or actors found".to_owned()
            } else {
                format!("every item was skipped; first: {}", skipped[0])
            };
            return Err(IntakeError::Empty { format, why });
        }
        if skipped_more > 0 {
            skipped.push(format!("…and {skipped_more} more skipped items"));
        }
        let tlp = sharing::resolve_tlp(envelope.tlp, file_tlp);
        if let (None, Some(f)) = (envelope.tlp, file_tlp) {
            if f < sharing::DEFAULT_TLP {
                skipped.push(format!(
                    "the file is marked {}: without a TLP chosen at upload the default {} applies (a file's marking can only make it stricter); choose --tlp {} to share it that widely",
                    f.label(),
                    sharing::DEFAULT_TLP.label(),
                    f.label().trim_start_matches("TLP:").to_ascii_lowercase()
                ));
            }
        }
        let (scope, members, groups) = sharing::resolve_scope(tlp, envelope, file_scope);
        let title = envelope
            .title
            .clone()
            .or(title)
            .unwrap_or_else(|| format!("{format} upload"));
        // Lines quote the file (names, declared types, addresses): no
        // control character of theirs may reach the record.
        let mut description = description
            .iter()
            .map(|l| {
                l.chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n");
        truncate(&mut description, limits.max_description_len);
        let submission_id = envelope
            .submission_id
            .clone()
            .unwrap_or_else(|| sharing::content_id(format, id_seed));
        Ok(Converted {
            record: SubmissionRecord {
                submission_id,
                member_id: envelope.member.to_string(),
                submitted_at: envelope.now_ms,
                kind: envelope.kind.or(kind).unwrap_or(default_kind),
                tlp,
                distribution: DistributionRecord {
                    scope,
                    members,
                    groups,
                },
                attribution: if envelope.anonymous {
                    Attribution::Anonymous
                } else {
                    Attribution::Attributed
                },
                title: one_line(&title, limits.max_title_len),
                description: (!description.is_empty()).then_some(description),
                observables,
                ttps: ttps.into_iter().collect(),
                malware: malware.into_iter().collect(),
                actor_claims: actors.into_iter().collect(),
                targeted_sectors: vec![],
                confidence: confidence.unwrap_or(50).clamp(0, 100),
            },
            skipped,
        })
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// A title: control characters become spaces, trimmed, bounded.
pub fn one_line(s: &str, max: usize) -> String {
    let mut t: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    truncate(&mut t, max);
    if t.is_empty() {
        "untitled".to_owned()
    } else {
        t
    }
}
