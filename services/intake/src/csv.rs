//! CSV for the least mature members: a spreadsheet exported as text.
//!
//! The first non-comment line is the header. Columns, in any order:
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `type` | yes | `ipv4`, `ipv6`, `cidr`, `domain`, `url`, `email`, `md5`, `sha1`, `sha256`, `ssdeep`, `tlsh`, `filename`, `asn`, `cve`, `ja3`; also `ip` (either family) and `hash` (md5/sha1/sha256 by length) |
//! | `value` | yes | the indicator, defanged forms accepted |
//! | `role` | no | `c2`, `sender`, `payload-delivery`, `scanner`, `exfiltration`, `victim`, `other` |
//! | `first_seen` | no | `2026-07-01` or `2026-07-01T12:00:00Z` |
//! | `comment` | no | ignored (never forwarded) |
//!
//! Lines starting with `#` are comments. An unknown column is an error (a
//! misspelt `valeu` must not silently drop every value); a bad row is
//! skipped with a note naming its line.

use cisp_model::{ObservableKind, ObservableRole, SubmissionKind};

use crate::collect::Collector;
use crate::text::excerpt;
use crate::{Converted, Envelope, IntakeError};

const COLUMNS: [&str; 5] = ["type", "value", "role", "first_seen", "comment"];

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
    let names: Vec<String> = header.iter().map(|h| h.to_ascii_lowercase()).collect();
    if let Some(unknown) = names.iter().find(|n| !COLUMNS.contains(&n.as_str())) {
        return Err(bad(format!(
            "unknown column {:?} (columns: {})",
            excerpt(unknown),
            COLUMNS.join(", ")
        )));
    }
    let col = |name: &str| names.iter().position(|n| n == name);
    let (Some(type_col), Some(value_col)) = (col("type"), col("value")) else {
        return Err(bad("the header must name the columns type and value".into()));
    };
    let (role_col, seen_col) = (col("role"), col("first_seen"));
    let mut c = Collector::new("csv");
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| bad(format!("line {line}: {e}")))?;
        let ty = row.get(type_col).unwrap_or("").to_ascii_lowercase();
        let value = row.get(value_col).unwrap_or("");
        let role = match role_col.and_then(|r| row.get(r)).filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => match ObservableRole::parse(&r.replace('-', "_")) {
                Ok(role) => Some(role),
                Err(e) => {
                    c.skip(format!("line {line}: {e}"));
                    continue;
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
        let kind = match ty.as_str() {
            "ip" => {
                c.ip(value, role, first_seen);
                continue;
            }
            "hash" => match value.trim().len() {
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
            other => match ObservableKind::parse(other) {
                Ok(k) => k,
                Err(_) => {
                    c.skip(format!("line {line}: unknown type {:?}", excerpt(other)));
                    continue;
                }
            },
        };
        c.observable(kind, value, role, first_seen);
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
    fn a_misspelt_or_missing_column_is_an_error() {
        let e = import(b"type,valeu\nipv4,203.0.113.7\n", &env()).expect_err("refused");
        assert!(e.to_string().contains("unknown column \"valeu\""), "{e}");
        let e = import(b"value\n203.0.113.7\n", &env()).expect_err("refused");
        assert!(e.to_string().contains("type and value"), "{e}");
        let e = import(b"type,value\nipv4\n", &env()).expect_err("ragged row refused");
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = import(b"type,value\nipv4,not-an-ip\n", &env()).expect_err("nothing usable");
        assert!(matches!(e, IntakeError::Empty { .. }), "{e}");
        assert!(import(b"", &env()).is_err());
    }
}
