//! CSV for the least mature members: a spreadsheet exported as text, or a
//! vendor's indicator export.
//!
//! The first non-comment line is the header. Columns, in any order, under
//! any of the names vendors use (case, spaces, `-` and `_` do not matter):
//!
//! | column | also read as | required | meaning |
//! |---|---|---|---|
//! | `type` | `indicator_type`, `ioc_type`, `observable_type`, `kind` | yes | see the types below |
//! | `value` | `indicator`, `ioc`, `observable`, `indicator_value`, `data` | yes | the indicator, defanged forms accepted |
//! | `role` | `classification`, `category`, `threat_type` | no | `c2`, `sender`, `payload-delivery`, `scanner`, `exfiltration`, `victim`, `other`, or a vendor's word for one (`cnc`, `botnet_cc`, `phishing`, `malware_download`, `scanning`, `spam`…); a word with no role keeps the row, without a role, counted in the description |
//! | `first_seen` | `detected_date`, `detected`, `date`, `first_seen_date`, `timestamp`, `seen` | no | `2026-07-01` or `2026-07-01T12:00:00Z` |
//! | `comment` | `description`, `notes`, `tags` | no | ignored (never forwarded) |
//!
//! Types: `ipv4`, `ipv6`, `cidr`, `domain`, `url`, `email`, `md5`, `sha1`,
//! `sha256`, `ssdeep`, `tlsh`, `filename`, `asn`, `cve`, `ja3`; also `ip`
//! (either family), `hash` (md5/sha1/sha256 by length) and the STIX, MISP
//! and vendor names for them (`ipv4-addr`, `ip-dst`, `hostname`, `fqdn`,
//! `domain-name`, `uri`, `email-src`, `FileHash-SHA256`, `sha-256`…).
//!
//! Lines starting with `#` are comments. A column we do not read is
//! reported and ignored (its values never leave); a header with no value
//! or no type column is an error naming what it holds (a misspelt `valeu`
//! must not silently drop every value); a bad row is skipped with a note
//! naming its line.

use std::collections::BTreeMap;

use cisp_model::{ObservableKind, ObservableRole, SubmissionKind};

use crate::collect::Collector;
use crate::text::excerpt;
use crate::{Converted, Envelope, IntakeError};

/// The columns we read, with every name they go by.
const COLUMNS: [(&str, &[&str]); 5] = [
    (
        "type",
        &["type", "indicatortype", "ioctype", "observabletype", "kind"],
    ),
    (
        "value",
        &[
            "value",
            "indicator",
            "ioc",
            "observable",
            "indicatorvalue",
            "data",
        ],
    ),
    (
        "role",
        &["role", "classification", "category", "threattype"],
    ),
    (
        "first_seen",
        &[
            "firstseen",
            "detecteddate",
            "detected",
            "date",
            "firstseendate",
            "timestamp",
            "seen",
        ],
    ),
    ("comment", &["comment", "description", "notes", "tags"]),
];

/// Lower case, letters and digits only: `Indicator Type` → `indicatortype`.
fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// What a type column's word means: an observable kind, `ip` (either
/// family) or `hash` (by length).
enum Type {
    Kind(ObservableKind),
    Ip,
    Hash,
}

fn type_of(word: &str) -> Option<Type> {
    let w = squash(word);
    let kind = match w.as_str() {
        "ip" | "ipaddress" | "ipdst" | "ipsrc" | "address" => return Some(Type::Ip),
        "hash" | "filehash" => return Some(Type::Hash),
        "ipv4" | "ipv4addr" | "ipv4address" => ObservableKind::Ipv4,
        "ipv6" | "ipv6addr" | "ipv6address" => ObservableKind::Ipv6,
        "cidr" | "netblock" | "ipv4cidr" | "ipv6cidr" | "subnet" => ObservableKind::Cidr,
        "domain" | "domainname" | "hostname" | "host" | "fqdn" => ObservableKind::Domain,
        "url" | "uri" | "link" => ObservableKind::Url,
        "email" | "emailaddr" | "emailaddress" | "emailsrc" | "sender" => ObservableKind::Email,
        "md5" | "filehashmd5" => ObservableKind::Md5,
        "sha1" | "filehashsha1" => ObservableKind::Sha1,
        "sha256" | "filehashsha256" => ObservableKind::Sha256,
        "ssdeep" => ObservableKind::Ssdeep,
        "tlsh" => ObservableKind::Tlsh,
        "filename" | "file" => ObservableKind::Filename,
        "asn" | "as" => ObservableKind::Asn,
        "cve" | "vulnerability" => ObservableKind::Cve,
        "ja3" | "ja3fingerprint" | "ja3fingerprintmd5" => ObservableKind::Ja3,
        _ => return ObservableKind::parse(word).ok().map(Type::Kind),
    };
    Some(Type::Kind(kind))
}

/// A role column's word: ours, or a vendor's word for one. `Err` when it
/// names no role (the row is kept without one).
fn role_of(word: &str) -> Result<ObservableRole, ()> {
    if let Ok(r) = ObservableRole::parse(&word.trim().replace('-', "_")) {
        return Ok(r);
    }
    let w = squash(word);
    Ok(match w.as_str() {
        "cnc" | "cc" | "botnetcc" | "commandandcontrol" | "c2server" => ObservableRole::C2,
        "phishing" | "phish" | "malwaredownload" | "payload" | "dropper" | "delivery"
        | "payloaddelivery" | "exploitkit" => ObservableRole::PayloadDelivery,
        "scanner" | "scanning" | "bruteforce" | "brute" => ObservableRole::Scanner,
        "exfil" | "exfiltration" | "dataexfiltration" => ObservableRole::Exfiltration,
        "spam" | "spammer" | "mailer" => ObservableRole::Sender,
        _ => return Err(()),
    })
}

pub fn import(bytes: &[u8], envelope: &Envelope) -> Result<Converted, IntakeError> {
    let bad = |why: String| IntakeError::malformed("csv", why);
    let mut reader = ::csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .flexible(false)
        .trim(::csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| bad(format!("cannot read the header: {e}")))?
        .clone();
    let mut c = Collector::new("csv");
    let mut cols: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, name) in header.iter().enumerate() {
        let sq = squash(name);
        match COLUMNS
            .iter()
            .find(|(_, names)| names.contains(&sq.as_str()))
        {
            Some((ours, _)) if !cols.contains_key(ours) => {
                cols.insert(ours, i);
            }
            Some((ours, _)) => c.skip(format!(
                "column {:?}: a second {ours} column, ignored",
                excerpt(name)
            )),
            None => c.skip(format!(
                "column {:?} is not one we read: ignored (its values are not shared)",
                excerpt(name)
            )),
        }
    }
    let (Some(&type_col), Some(&value_col)) = (cols.get("type"), cols.get("value")) else {
        return Err(bad(format!(
            "the header must name a type and a value column (read as: {}; the header holds: {})",
            COLUMNS
                .iter()
                .take(2)
                .map(|(n, names)| format!("{n} = {}", names.join("/")))
                .collect::<Vec<_>>()
                .join("; "),
            header.iter().map(excerpt).collect::<Vec<_>>().join(", ")
        )));
    };
    let (role_col, seen_col) = (cols.get("role").copied(), cols.get("first_seen").copied());
    // Classifications that name no role: counted into the description so
    // the member's classification is not lost.
    let mut unroled: BTreeMap<String, usize> = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| bad(format!("line {line}: {e}")))?;
        let ty = row.get(type_col).unwrap_or("");
        let value = row.get(value_col).unwrap_or("");
        let role = match role_col.and_then(|r| row.get(r)).filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => match role_of(r) {
                Ok(role) => Some(role),
                Err(()) => {
                    let word: String = excerpt(r).chars().take(40).collect();
                    *unroled.entry(word.to_lowercase()).or_default() += 1;
                    None
                }
            },
        };
        let first_seen = match seen_col.and_then(|s| row.get(s)).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match crate::text::timestamp_ms(s) {
                Some(t) => Some(t),
                None => {
                    c.skip(format!(
                        "line {line}: first_seen {:?} is not a date",
                        excerpt(s)
                    ));
                    continue;
                }
            },
        };
        let kind = match type_of(ty) {
            Some(Type::Ip) => {
                c.ip(value, role, first_seen);
                continue;
            }
            Some(Type::Hash) => match value.trim().len() {
                32 => ObservableKind::Md5,
                40 => ObservableKind::Sha1,
                64 => ObservableKind::Sha256,
                _ => {
                    c.skip(format!(
                        "line {line}: hash {:?} is not md5, sha1 or sha256",
                        excerpt(value)
                    ));
                    continue;
                }
            },
            Some(Type::Kind(k)) => k,
            None => {
                c.skip(format!("line {line}: unknown type {:?}", excerpt(ty)));
                continue;
            }
        };
        c.observable(kind, value, role, first_seen);
    }
    if !unroled.is_empty() {
        c.description.push(format!(
            "Classifications without a role: {}.",
            unroled
                .iter()
                .map(|(w, n)| format!("{w} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    c.finish(envelope, SubmissionKind::Incident, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        crate::test_envelope()
    }

    #[test]
    fn reads_a_documented_table_and_notes_bad_rows() {
        let csv = "# exported from our SIEM\ntype,value,role,first_seen,comment\n\
                   ipv4,203.0.113.7,c2,2026-07-01,seen twice\n\
                   domain,evil[.]example,,,\n\
                   hash,D41D8CD98F00B204E9800998ECF8427E,,,\n\
                   ipv4,300.1.1.1,,,\n\
                   sha256,nothex,,,\n\
                   fax,12345,,,\n";
        let c = import(csv.as_bytes(), &env()).expect("converts");
        let values = crate::test_values(&c);
        assert_eq!(
            values,
            vec![
                "203.0.113.7",
                "evil.example",
                "d41d8cd98f00b204e9800998ecf8427e"
            ]
        );
        assert_eq!(c.record.observables[0].role, Some(ObservableRole::C2));
        assert_eq!(c.record.observables[0].first_seen, Some(1_782_864_000_000));
        assert_eq!(c.skipped.len(), 3, "{:?}", c.skipped);
        assert!(c.skipped[2].contains("line 7"), "{:?}", c.skipped);
    }

    #[test]
    fn vendor_headers_and_words_are_read() {
        let csv = "Indicator Type,Indicator,Classification,Detected Date,vendor_score\n\
                   FileHash-SHA256,E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B856,malware_download,2026-07-01,90\n\
                   hostname,update-check.example,botnet_cc,2026-07-01T10:00:00Z,80\n\
                   ipv4-addr,203.0.113.9,ransomware,2026-07-02,70\n";
        let c = import(csv.as_bytes(), &env()).expect("converts");
        let roles: Vec<_> = c.record.observables.iter().map(|o| o.role).collect();
        assert_eq!(
            roles,
            vec![
                Some(ObservableRole::PayloadDelivery),
                Some(ObservableRole::C2),
                None
            ]
        );
        assert!(
            c.skipped.iter().any(|s| s.contains("vendor_score")),
            "{:?}",
            c.skipped
        );
        let d = c.record.description.unwrap_or_default();
        assert!(d.contains("ransomware (1)"), "{d}");
        assert!(
            !d.contains("70"),
            "an unread column's values never leave: {d}"
        );
    }

    #[test]
    fn a_misspelt_or_missing_column_is_an_error() {
        let e = import(b"type,valeu\nipv4,203.0.113.7\n", &env()).expect_err("refused");
        assert!(
            e.to_string().contains("the header holds: type, valeu"),
            "{e}"
        );
        let e = import(b"value\n203.0.113.7\n", &env()).expect_err("refused");
        assert!(e.to_string().contains("a type and a value column"), "{e}");
        let e = import(b"type,value\nipv4\n", &env()).expect_err("ragged row refused");
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = import(b"type,value\nipv4,not-an-ip\n", &env()).expect_err("nothing usable");
        assert!(matches!(e, IntakeError::Empty { .. }), "{e}");
        assert!(import(b"", &env()).is_err());
    }
}
