//! The embedded schema files, parsed once per process.

use std::sync::OnceLock;

use std::collections::{HashMap, HashSet};

use apache_avro::Schema;
use serde_json::Value as Json;

use crate::error::{short, WireError};

/// The record types carried on CiSP topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordType {
    Observable,
    Submission,
    Alert,
    CampaignUpdate,
    DeadLetter,
    Correction,
    Feedback,
    Decision,
}

impl RecordType {
    pub const ALL: [RecordType; 8] = [
        RecordType::Observable,
        RecordType::Submission,
        RecordType::Alert,
        RecordType::CampaignUpdate,
        RecordType::DeadLetter,
        RecordType::Correction,
        RecordType::Feedback,
        RecordType::Decision,
    ];

    pub fn full_name(self) -> &'static str {
        match self {
            RecordType::Observable => "cisp.v1.Observable",
            RecordType::Submission => "cisp.v1.Submission",
            RecordType::Alert => "cisp.v1.Alert",
            RecordType::CampaignUpdate => "cisp.v1.CampaignUpdate",
            RecordType::DeadLetter => "cisp.v1.DeadLetter",
            RecordType::Correction => "cisp.v1.Correction",
            RecordType::Feedback => "cisp.v1.Feedback",
            RecordType::Decision => "cisp.v1.Decision",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The `.avsc` files, in `RecordType::ALL` order, as (file name, JSON).
pub fn schema_files() -> [(&'static str, &'static str); 8] {
    [
        (
            "Observable.avsc",
            include_str!("../../../schemas/Observable.avsc"),
        ),
        (
            "Submission.avsc",
            include_str!("../../../schemas/Submission.avsc"),
        ),
        ("Alert.avsc", include_str!("../../../schemas/Alert.avsc")),
        (
            "CampaignUpdate.avsc",
            include_str!("../../../schemas/CampaignUpdate.avsc"),
        ),
        (
            "DeadLetter.avsc",
            include_str!("../../../schemas/DeadLetter.avsc"),
        ),
        (
            "Correction.avsc",
            include_str!("../../../schemas/Correction.avsc"),
        ),
        (
            "Feedback.avsc",
            include_str!("../../../schemas/Feedback.avsc"),
        ),
        (
            "Decision.avsc",
            include_str!("../../../schemas/Decision.avsc"),
        ),
    ]
}

/// Earlier versions of record types whose records may still be on the
/// topics (`schemas/history/`): decoded by resolving them against the
/// current schema (new fields take their defaults). Rule 5 of
/// `schemas/README.md`.
pub fn history_files() -> [(RecordType, &'static str, &'static str); 5] {
    [
        (
            RecordType::Alert,
            "history/Alert.v1.avsc",
            include_str!("../../../schemas/history/Alert.v1.avsc"),
        ),
        (
            RecordType::Alert,
            "history/Alert.v2.avsc",
            include_str!("../../../schemas/history/Alert.v2.avsc"),
        ),
        (
            RecordType::Alert,
            "history/Alert.v3.avsc",
            include_str!("../../../schemas/history/Alert.v3.avsc"),
        ),
        (
            RecordType::Alert,
            "history/Alert.v4.avsc",
            include_str!("../../../schemas/history/Alert.v4.avsc"),
        ),
        (
            RecordType::CampaignUpdate,
            "history/CampaignUpdate.v1.avsc",
            include_str!("../../../schemas/history/CampaignUpdate.v1.avsc"),
        ),
    ]
}

/// One self-contained (denormalised) schema per record type, and the
/// earlier versions still readable.
pub(crate) struct Schemas {
    standalone: Vec<Schema>,
    history: Vec<(RecordType, Schema)>,
}

impl Schemas {
    pub(crate) fn get() -> Result<&'static Schemas, WireError> {
        static SCHEMAS: OnceLock<Result<Schemas, String>> = OnceLock::new();
        SCHEMAS
            .get_or_init(|| Schemas::parse().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| WireError::Schema(e.clone()))
    }

    fn parse() -> Result<Schemas, WireError> {
        let files = schema_files();
        let mut roots = Vec::with_capacity(files.len());
        let mut library = HashMap::new();
        for (file, text) in files {
            let json: Json = serde_json::from_str(text)
                .map_err(|e| WireError::Schema(format!("{file}: {e}")))?;
            collect_named(&json, "", &mut library);
            roots.push(json);
        }
        let mut standalone = Vec::with_capacity(roots.len());
        for (i, rt) in RecordType::ALL.into_iter().enumerate() {
            let composed = inline_refs(&roots[i], "", &library, &mut HashSet::new())?;
            let schema = Schema::parse(&composed)
                .map_err(|e| WireError::Schema(format!("{}: {}", files[i].0, short(&e))))?;
            if schema.name().map(|n| n.fullname(None)) != Some(rt.full_name().to_owned()) {
                return Err(WireError::Schema(format!(
                    "{} is not {}",
                    files[i].0,
                    rt.full_name()
                )));
            }
            standalone.push(schema);
        }
        let mut history = Vec::new();
        for (rt, file, text) in history_files() {
            let json: Json = serde_json::from_str(text)
                .map_err(|e| WireError::Schema(format!("{file}: {e}")))?;
            // Named types the old version defines itself win over today's.
            let mut lib = library.clone();
            collect_named(&json, "", &mut lib);
            let composed = inline_refs(&json, "", &lib, &mut HashSet::new())?;
            let schema = Schema::parse(&composed)
                .map_err(|e| WireError::Schema(format!("{file}: {}", short(&e))))?;
            history.push((rt, schema));
        }
        Ok(Schemas {
            standalone,
            history,
        })
    }

    /// Earlier versions: (record type, schema).
    pub(crate) fn history(&self) -> &[(RecordType, Schema)] {
        &self.history
    }

    pub(crate) fn schema(&self, rt: RecordType) -> &Schema {
        &self.standalone[rt.index()]
    }

    /// The schema's Parsing Canonical Form, per the Avro specification.
    pub(crate) fn canonical_form(&self, rt: RecordType) -> String {
        parsing_canonical_form(self.schema(rt))
    }
}

/// apache-avro 0.22 prints a primitive that carried a logical type as
/// `{"type":"long"}`; the specification's [PRIMITIVES] rule makes it
/// `"long"`, and other implementations (fastavro, Java) fingerprint that
/// form. In canonical form an object holding only "type" with a primitive
/// value can be nothing but such a schema, so the rewrite is exact.
pub(crate) fn parsing_canonical_form(schema: &Schema) -> String {
    let mut pcf = schema.canonical_form();
    for p in PRIMITIVES {
        pcf = pcf.replace(&format!("{{\"type\":\"{p}\"}}"), &format!("\"{p}\""));
    }
    pcf
}

/// CRC-64-AVRO (the Rabin fingerprint of the Avro specification), as the
/// little-endian bytes that single-object encoding puts in its header.
pub(crate) fn crc64_avro(data: &[u8]) -> [u8; 8] {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    static TABLE: OnceLock<[u64; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & 0u64.wrapping_sub(fp & 1));
            }
            *slot = fp;
        }
        t
    });
    let mut fp = EMPTY;
    for &b in data {
        fp = (fp >> 8) ^ table[((fp ^ u64::from(b)) & 0xff) as usize];
    }
    fp.to_le_bytes()
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn full_name(name: &str, ns: &str) -> String {
    if name.contains('.') || ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}.{name}")
    }
}

/// The namespace a named definition sets for what it contains.
fn namespace_of(obj: &serde_json::Map<String, Json>, enclosing: &str) -> String {
    let name = obj.get("name").and_then(Json::as_str).unwrap_or("");
    if let Some((ns, _)) = name.rsplit_once('.') {
        return ns.to_owned();
    }
    obj.get("namespace")
        .and_then(Json::as_str)
        .unwrap_or(enclosing)
        .to_owned()
}

/// Finds every named type (record, enum, fixed) defined anywhere in a file.
fn collect_named(json: &Json, ns: &str, out: &mut HashMap<String, (Json, String)>) {
    match json {
        Json::Object(obj) => {
            let mut inner_ns = ns.to_owned();
            if let (Some(Json::String(t)), Some(Json::String(name))) =
                (obj.get("type"), obj.get("name"))
            {
                if matches!(t.as_str(), "record" | "enum" | "fixed") {
                    inner_ns = namespace_of(obj, ns);
                    out.insert(full_name(name, &inner_ns), (json.clone(), ns.to_owned()));
                }
            }
            for (k, v) in obj {
                if matches!(k.as_str(), "type" | "fields" | "items" | "values") {
                    collect_named(v, &inner_ns, out);
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|v| collect_named(v, ns, out)),
        _ => {}
    }
}

/// Rewrites a schema so that every reference to a named type from another
/// file is replaced by its definition at first use (Avro allows later uses
/// to be by name), giving one self-contained schema per record.
fn inline_refs(
    json: &Json,
    ns: &str,
    library: &HashMap<String, (Json, String)>,
    defined: &mut HashSet<String>,
) -> Result<Json, WireError> {
    Ok(match json {
        Json::String(name) if !PRIMITIVES.contains(&name.as_str()) => {
            let full = if name.contains('.') {
                name.clone()
            } else {
                full_name(name, ns)
            };
            if defined.contains(&full) {
                Json::String(full)
            } else {
                let (def, def_ns) = library
                    .get(&full)
                    .ok_or_else(|| WireError::Schema(format!("unknown type {full}")))?;
                inline_refs(def, def_ns, library, defined)?
            }
        }
        Json::Object(obj) => {
            let mut inner_ns = ns.to_owned();
            let mut out = obj.clone();
            if let (Some(Json::String(t)), Some(Json::String(name))) =
                (obj.get("type"), obj.get("name"))
            {
                if matches!(t.as_str(), "record" | "enum" | "fixed") {
                    inner_ns = namespace_of(obj, ns);
                    defined.insert(full_name(name, &inner_ns));
                    // Make the namespace explicit: the definition may now sit
                    // inside another namespace than the file it came from.
                    out.insert("namespace".into(), Json::String(inner_ns.clone()));
                }
            }
            for key in ["type", "items", "values"] {
                if let Some(v) = obj.get(key) {
                    if !(key == "type"
                        && v.as_str().is_some_and(|t| {
                            matches!(t, "record" | "enum" | "fixed" | "array" | "map")
                        }))
                    {
                        out.insert(key.into(), inline_refs(v, &inner_ns, library, defined)?);
                    }
                }
            }
            if let Some(Json::Array(fields)) = obj.get("fields") {
                let mut new_fields = Vec::with_capacity(fields.len());
                for f in fields {
                    new_fields.push(inline_refs(f, &inner_ns, library, defined)?);
                }
                out.insert("fields".into(), Json::Array(new_fields));
            }
            Json::Object(out)
        }
        Json::Array(items) => Json::Array(
            items
                .iter()
                .map(|v| inline_refs(v, ns, library, defined))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_schema_is_self_contained_and_named() {
        let s = Schemas::get().unwrap();
        for rt in RecordType::ALL {
            let pcf = s.canonical_form(rt);
            assert!(!pcf.contains("{\"type\":\"long\"}"), "{pcf}");
            assert!(pcf.contains(rt.full_name()), "{pcf}");
        }
        let alert = s.canonical_form(RecordType::Alert);
        assert!(
            alert.contains("AMBER_STRICT"),
            "Tlp is inlined into Alert: {alert}"
        );
        assert!(
            alert.contains("\"name\":\"cisp.v1.Observable\""),
            "Observable is inlined: {alert}"
        );
    }

    #[test]
    fn our_crc64_agrees_with_apache_avro_where_its_form_is_right() {
        use apache_avro::rabin::Rabin;
        for text in [
            r#""int""#,
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"string"}]}"#,
        ] {
            let schema = Schema::parse_str(text).unwrap();
            let theirs = schema.fingerprint::<Rabin>().bytes;
            assert_eq!(
                crc64_avro(schema.canonical_form().as_bytes()).to_vec(),
                theirs
            );
        }
    }

    /// Fingerprint of Submission.avsc as fastavro 1.13 computes it
    /// (`fingerprint(to_parsing_canonical_form(expand_schema(...)))`); the
    /// interop test checks this live, this pins it for schema changes.
    #[test]
    fn submission_fingerprint_matches_fastavro() {
        let s = Schemas::get().unwrap();
        let fp = crc64_avro(s.canonical_form(RecordType::Submission).as_bytes());
        let hex: String = fp.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "7c733749095cea89");
    }

    /// The record kinds of issue 22 (fastavro computes the same): pinned so a change to
    /// them is deliberate (members' producers write these fingerprints).
    #[test]
    fn correction_and_feedback_fingerprints_are_pinned() {
        let s = Schemas::get().unwrap();
        let hex = |rt| -> String {
            crc64_avro(s.canonical_form(rt).as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        assert_eq!(hex(RecordType::Correction), "df2744e03fc8855f");
        assert_eq!(hex(RecordType::Feedback), "b19da4324c076a74");
        assert_eq!(hex(RecordType::Decision), "1c7501906ec0f735");
    }
}
