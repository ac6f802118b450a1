//! STIX 2.1 in and out.
//!
//! **In** ([`import`]): a bundle (or a TAXII envelope, a single object or
//! an array of objects) becomes one submission. Indicators give their
//! exact-value comparisons ([`pattern`]); SCOs (top level or inside
//! `observed-data`) give their values; `intrusion-set` and `threat-actor`
//! names become actor claims, `malware` names malware families,
//! `attack-pattern`s with a `mitre-attack` reference technique ids,
//! `vulnerability` CVE names CVE observables; `report` and `campaign` give
//! the title. Every marking on every object counts: the most restrictive
//! TLP wins, and a marking we cannot identify reads as TLP:RED.
//!
//! **Out** ([`export`]): alerts as a bundle a STIX 2.1 consumer can load
//! (see the module for the mapping); checked by the OASIS validator in
//! `make test`.

pub mod export;
pub mod pattern;

use std::collections::BTreeMap;

use cisp_model::{ObservableKind, ObservableRole, SubmissionKind, Tlp};
use serde_json::Value;

use crate::collect::Collector;
use crate::sharing::{self, STIX_TLP2_EXTENSION};
use crate::text::excerpt;
use crate::{Converted, Envelope, IntakeError};

pub use export::{export, export_campaigns, ExportOptions};

/// The objects of an upload, whatever the wrapping.
fn objects(doc: Value) -> Result<Vec<Value>, IntakeError> {
    let bad = |why: &str| IntakeError::malformed("stix", why);
    match doc {
        Value::Array(items) => Ok(items),
        Value::Object(mut o) => match o.get("type").and_then(Value::as_str) {
            Some("bundle") | None => match o.remove("objects") {
                Some(Value::Array(items)) => Ok(items),
                Some(_) => Err(bad("\"objects\" is not an array")),
                None if o.contains_key("type") => Ok(vec![]),
                None => Err(bad("neither a bundle nor a STIX object (no \"type\")")),
            },
            Some(_) => Ok(vec![Value::Object(o)]),
        },
        _ => Err(bad("expected a JSON object or array")),
    }
}

fn str_of<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

/// An SCO's values into the collector.
fn sco(
    c: &mut Collector,
    o: &Value,
    index: &BTreeMap<String, &Value>,
    role: Option<ObservableRole>,
) {
    let ty = str_of(o, "type").unwrap_or("");
    let value = str_of(o, "value");
    match (ty, value) {
        ("ipv4-addr" | "ipv6-addr", Some(v)) => {
            c.ip(v, role, None);
        }
        ("domain-name", Some(v)) => {
            c.observable(ObservableKind::Domain, v, role, None);
        }
        ("url", Some(v)) => {
            c.observable(ObservableKind::Url, v, role, None);
        }
        ("email-addr", Some(v)) => {
            c.observable(ObservableKind::Email, v, role, None);
        }
        ("file", _) => {
            if let Some(Value::Object(hashes)) = o.get("hashes") {
                for (algo, h) in hashes {
                    if let (Some(kind), Some(h)) = (hash_kind(algo), h.as_str()) {
                        c.observable(kind, h, role, None);
                    }
                }
            }
            if let Some(name) = str_of(o, "name") {
                c.observable(ObservableKind::Filename, name, role, None);
            }
        }
        ("autonomous-system", _) => {
            if let Some(n) = o.get("number").and_then(Value::as_u64) {
                c.observable(ObservableKind::Asn, &format!("AS{n}"), role, None);
            }
        }
        ("email-message", _) => {
            for key in ["from_ref", "sender_ref"] {
                if let Some(target) = str_of(o, key).and_then(|id| index.get(id)) {
                    sco(c, target, index, Some(ObservableRole::Sender));
                }
            }
        }
        ("network-traffic", _) => {
            for key in ["dst_ref", "src_ref"] {
                if let Some(target) = str_of(o, key).and_then(|id| index.get(id)) {
                    sco(c, target, index, role);
                }
            }
        }
        _ => {}
    }
}

/// `SHA-256`, `SHA256`, `sha_256` → SHA256, …
fn hash_kind(algo: &str) -> Option<ObservableKind> {
    let a: String = algo
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    match a.as_str() {
        "MD5" => Some(ObservableKind::Md5),
        "SHA1" => Some(ObservableKind::Sha1),
        "SHA256" => Some(ObservableKind::Sha256),
        "SSDEEP" => Some(ObservableKind::Ssdeep),
        "TLSH" => Some(ObservableKind::Tlsh),
        _ => None,
    }
}

/// One exact comparison of a pattern into the collector.
fn comparison(c: &mut Collector, cmp: &pattern::Comparison, first_seen: Option<i64>) {
    let exact = (cmp.op == "=" || cmp.op == "IN") && !cmp.negated;
    if !exact {
        c.skip(format!(
            "pattern comparison {}:{} {}{}: not an exact value",
            cmp.object,
            cmp.path,
            if cmp.negated { "NOT " } else { "" },
            cmp.op
        ));
        return;
    }
    let path = pattern::without_indexes(&cmp.path);
    for v in &cmp.values {
        let (role, kind) = match (cmp.object.as_str(), path.as_str()) {
            ("ipv4-addr" | "ipv6-addr", "value") => {
                c.ip(v, None, first_seen);
                continue;
            }
            ("network-traffic", "dst_ref.value" | "src_ref.value")
            | ("domain-name", "resolves_to_refs.value") => {
                c.ip(v, None, first_seen);
                continue;
            }
            // The type of a referenced object says what the comparison
            // next to it holds; it is no value itself.
            (_, p) if p.ends_with("_ref.type") || p.ends_with("_refs.type") => continue,
            ("domain-name", "value") => (None, ObservableKind::Domain),
            ("url", "value") => (None, ObservableKind::Url),
            ("email-addr", "value") => (None, ObservableKind::Email),
            ("email-message", "from_ref.value" | "sender_ref.value") => {
                (Some(ObservableRole::Sender), ObservableKind::Email)
            }
            ("email-message", "to_refs.value" | "cc_refs.value" | "bcc_refs.value") => {
                c.skip(format!(
                    "pattern path email-message:{path}: a recipient, never shared"
                ));
                continue;
            }
            ("file", "name") => (None, ObservableKind::Filename),
            ("autonomous-system", "number") => {
                c.observable(ObservableKind::Asn, &format!("AS{v}"), None, first_seen);
                continue;
            }
            ("file", path) => match path.strip_prefix("hashes.").and_then(hash_kind) {
                Some(k) => (None, k),
                None => {
                    c.skip(format!(
                        "pattern path file:{path}: not an indicator we keep"
                    ));
                    continue;
                }
            },
            (object, path) => {
                c.skip(format!(
                    "pattern path {object}:{path}: not an indicator we keep"
                ));
                continue;
            }
        };
        c.observable(kind, v, role, first_seen);
    }
}

/// The TLP of a marking-definition object carried in the bundle: its TLP
/// 1.0 `definition`, or its TLP 2.0 extension. `Ok(None)` for a
/// non-TLP marking (a statement); `Err` for a TLP marking we cannot read.
fn marking_object_tlp(o: &Value) -> Result<Option<Tlp>, ()> {
    if let Some(t) = o.pointer("/definition/tlp").and_then(Value::as_str) {
        return sharing::tlp_name(t).map(Some).ok_or(());
    }
    if let Some(ext) = o.get("extensions").and_then(|e| e.get(STIX_TLP2_EXTENSION)) {
        return ext
            .get("tlp_2_0")
            .and_then(Value::as_str)
            .and_then(sharing::tlp_name)
            .map(Some)
            .ok_or(());
    }
    match str_of(o, "definition_type") {
        Some("statement") => Ok(None),
        Some("tlp") => Err(()),
        _ => match str_of(o, "name").and_then(|n| n.strip_prefix("TLP:")) {
            Some(n) => sharing::tlp_name(n).map(Some).ok_or(()),
            None => Ok(None),
        },
    }
}

/// Every marking reference on an object: object-level and granular.
fn marking_refs(o: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = o
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(granular) = o.get("granular_markings").and_then(Value::as_array) {
        out.extend(granular.iter().filter_map(|g| str_of(g, "marking_ref")));
    }
    out
}

pub fn import(bytes: &[u8], envelope: &Envelope) -> Result<Converted, IntakeError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| IntakeError::malformed("stix", format!("not JSON: {e}")))?;
    let objects = objects(doc)?;
    if objects.is_empty() {
        return Err(IntakeError::Empty {
            format: "stix",
            why: "the bundle has no objects".into(),
        });
    }
    let mut index: BTreeMap<String, &Value> = BTreeMap::new();
    for o in &objects {
        if !o.is_object() {
            return Err(IntakeError::malformed(
                "stix",
                "an object of the bundle is not a JSON object",
            ));
        }
        let (Some(ty), Some(id)) = (str_of(o, "type"), str_of(o, "id")) else {
            return Err(IntakeError::malformed(
                "stix",
                "an object has no \"type\" or \"id\"",
            ));
        };
        if !id.starts_with(&format!("{ty}--")) {
            return Err(IntakeError::malformed(
                "stix",
                format!("id {:?} does not match type {ty:?}", excerpt(id)),
            ));
        }
        index.insert(id.to_owned(), o);
    }
    let mut c = Collector::new("stix");
    let mut titles: Vec<(u8, String)> = Vec::new();
    let (mut indicators, mut confidence) = (0usize, None::<i32>);
    // Markings first: they apply to the whole submission.
    for o in &objects {
        for r in marking_refs(o) {
            let tlp = match sharing::stix_marking(r) {
                Some(t) => Some(t),
                None => match index.get(r).map(|m| marking_object_tlp(m)) {
                    Some(Ok(t)) => t,
                    Some(Err(())) | None => {
                        c.skip(format!(
                            "marking {:?} is not one we recognise: read as TLP:RED",
                            excerpt(r)
                        ));
                        Some(Tlp::Red)
                    }
                },
            };
            if let Some(t) = tlp {
                c.marking(t);
            }
        }
    }
    // ATT&CK replaces a revoked object by the target of its `revoked-by`
    // relationship.
    let revoked_by: BTreeMap<&str, &str> = objects
        .iter()
        .filter(|o| {
            str_of(o, "type") == Some("relationship")
                && str_of(o, "relationship_type") == Some("revoked-by")
        })
        .filter_map(|o| Some((str_of(o, "source_ref")?, str_of(o, "target_ref")?)))
        .collect();
    for o in &objects {
        let ty = str_of(o, "type").unwrap_or("");
        let name = str_of(o, "name");
        if matches!(
            ty,
            "attack-pattern" | "malware" | "tool" | "intrusion-set" | "threat-actor"
        ) {
            let label = format!("{ty} {:?}", excerpt(name.unwrap_or("")));
            if o.get("revoked").and_then(Value::as_bool) == Some(true) {
                let id = str_of(o, "id").unwrap_or("");
                match revoked_by.get(id).and_then(|t| index.get(*t)) {
                    Some(replacement) => c.skip(format!(
                        "{label} is revoked: its replacement {:?} is used",
                        excerpt(str_of(replacement, "name").unwrap_or(""))
                    )),
                    None => c.skip(format!(
                        "{label} is revoked and the bundle names no replacement: left out"
                    )),
                }
                continue;
            }
            if o.get("x_mitre_deprecated").and_then(Value::as_bool) == Some(true) {
                c.skip(format!(
                    "{label} is deprecated in ATT&CK: left out (no longer a current technique, group or software)"
                ));
                continue;
            }
        }
        if let Some(conf) = o.get("confidence").and_then(Value::as_i64) {
            let conf = conf.clamp(0, 100) as i32;
            confidence = Some(confidence.map_or(conf, |c| c.max(conf)));
        }
        match ty {
            "indicator" => {
                indicators += 1;
                let pattern_type = str_of(o, "pattern_type").unwrap_or("stix");
                let Some(p) = str_of(o, "pattern") else {
                    return Err(IntakeError::malformed(
                        "stix",
                        "an indicator has no pattern",
                    ));
                };
                if pattern_type != "stix" {
                    c.skip(format!(
                        "indicator with a {pattern_type:?} pattern: only STIX patterns are read"
                    ));
                    continue;
                }
                // One pattern we cannot read costs that indicator, not the
                // bundle: it is reported with the reason.
                let comparisons = match pattern::parse(p) {
                    Ok(c) => c,
                    Err(why) => {
                        c.skip(format!(
                            "indicator {:?}: pattern {:?} not read: {why}",
                            excerpt(str_of(o, "id").unwrap_or("")),
                            excerpt(p)
                        ));
                        continue;
                    }
                };
                let first_seen = str_of(o, "valid_from").and_then(crate::text::timestamp_ms);
                for cmp in &comparisons {
                    comparison(&mut c, cmp, first_seen);
                }
                if let Some(n) = name {
                    titles.push((3, n.to_owned()));
                }
            }
            "observed-data" => {
                if let Some(Value::Object(inner)) = o.get("objects") {
                    let local: BTreeMap<String, &Value> =
                        inner.iter().map(|(k, v)| (k.clone(), v)).collect();
                    for v in inner.values() {
                        sco(&mut c, v, &local, None);
                    }
                }
            }
            "ipv4-addr" | "ipv6-addr" | "domain-name" | "url" | "email-addr" | "file"
            | "autonomous-system" | "email-message" => sco(&mut c, o, &index, None),
            "intrusion-set" | "threat-actor" => {
                if let Some(n) = name {
                    c.actor(n);
                }
            }
            // Tools (Mimikatz, PsExec…) are software a campaign uses, as
            // malware is; attribution weighs shared tooling as it should.
            "malware" | "tool" => {
                if let Some(n) = name {
                    c.malware(n);
                }
            }
            "attack-pattern" => {
                let ids: Vec<String> = o
                    .get("external_references")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| {
                        matches!(
                            str_of(r, "source_name"),
                            Some("mitre-attack" | "mitre-mobile-attack" | "mitre-ics-attack")
                        )
                    })
                    .filter_map(|r| str_of(r, "external_id").map(str::to_owned))
                    .collect();
                if ids.is_empty() {
                    c.skip(format!(
                        "attack-pattern {:?} has no mitre-attack id",
                        excerpt(name.unwrap_or(""))
                    ));
                }
                for id in ids {
                    c.ttp(&id);
                }
            }
            "vulnerability" => {
                let cve = o
                    .get("external_references")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|r| str_of(r, "source_name") == Some("cve"))
                    .and_then(|r| str_of(r, "external_id"))
                    .or(name);
                if let Some(cve) = cve {
                    c.observable(ObservableKind::Cve, cve, None, None);
                }
            }
            "report" => {
                if let Some(n) = name {
                    titles.push((1, n.to_owned()));
                }
                if let Some(d) = str_of(o, "description") {
                    c.description.push(d.to_owned());
                }
            }
            "campaign" => {
                if let Some(n) = name {
                    titles.push((2, n.to_owned()));
                }
            }
            _ => {}
        }
    }
    titles.sort();
    c.title = titles
        .into_iter()
        .next()
        .map(|(_, t)| t)
        .or_else(|| Some(format!("STIX bundle: {indicators} indicators")));
    c.confidence = confidence;
    if !c.malware.is_empty() && indicators == 0 {
        c.kind = Some(SubmissionKind::Malware);
    }
    c.finish(envelope, SubmissionKind::Incident, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env() -> Envelope {
        crate::test_envelope()
    }

    fn bundle(objects: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"type": "bundle", "id": "bundle--1f0a3c7e-9f00-4b4e-8c1e-000000000001", "objects": objects})).expect("json")
    }

    #[test]
    fn indicators_scos_and_context_become_one_submission() {
        let b = bundle(json!([
            {"type": "indicator", "spec_version": "2.1", "id": "indicator--0a7d9a4e-1c8e-4d42-a9a1-0c3f7c1d0001",
             "name": "C2 of the wave", "pattern_type": "stix", "valid_from": "2026-07-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '203.0.113.9'] OR [file:hashes.'SHA-256' = 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855']",
             "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]},
            {"type": "domain-name", "spec_version": "2.1", "id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5", "value": "Login-Bank.example"},
            {"type": "intrusion-set", "spec_version": "2.1", "id": "intrusion-set--4e78f46f-a023-4e5f-bc24-71b3ca22ec29", "name": "APT28"},
            {"type": "malware", "spec_version": "2.1", "id": "malware--fdd60b30-b67c-41e3-b0b9-f01faf20d111", "name": "X-Agent", "is_family": true},
            {"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--a62a8db3-f23a-4d8f-afd6-9dbc77e7813b", "name": "Phishing",
             "external_references": [{"source_name": "mitre-attack", "external_id": "T1566.001"}]},
            {"type": "campaign", "spec_version": "2.1", "id": "campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "name": "Summer wave"}
        ]));
        let c = import(&b, &env()).expect("converts");
        let r = &c.record;
        let values = crate::test_values(&c);
        assert_eq!(
            values,
            vec![
                "203.0.113.9",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "login-bank.example"
            ]
        );
        assert_eq!(r.observables[0].first_seen, Some(1_782_864_000_000));
        assert_eq!(r.actor_claims, vec!["APT28"]);
        assert_eq!(r.malware, vec!["X-Agent"]);
        assert_eq!(r.ttps, vec!["T1566.001"]);
        assert_eq!(r.tlp, Tlp::Amber);
        assert_eq!(r.distribution.scope, cisp_model::Scope::Sector);
        assert_eq!(r.title, "Summer wave");
    }

    #[test]
    fn markings_only_ever_tighten() {
        let strict = sharing::STIX_TLP2[3].0;
        let b = bundle(json!([
            {"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--00000000-0000-4000-8000-00000000abcd",
             "created": "2026-01-01T00:00:00Z", "definition_type": "statement", "definition": {"statement": "Copyright Northbank"}},
            {"type": "url", "spec_version": "2.1", "id": "url--0c0c0c0c-0c0c-5c0c-8c0c-0c0c0c0c0c0c", "value": "http://a.example/x",
             "object_marking_refs": [strict, "marking-definition--00000000-0000-4000-8000-00000000abcd"]}
        ]));
        let mut e = env();
        e.tlp = Some(Tlp::Green);
        let c = import(&b, &e).expect("converts");
        assert_eq!(c.record.tlp, Tlp::AmberStrict);
        assert_eq!(
            c.record.distribution.scope,
            cisp_model::Scope::FusionCellOnly
        );
        // A marking nobody defined reads as RED.
        let b = bundle(json!([
            {"type": "url", "spec_version": "2.1", "id": "url--0c0c0c0c-0c0c-5c0c-8c0c-0c0c0c0c0c0c", "value": "http://a.example/x",
             "object_marking_refs": ["marking-definition--11111111-1111-4111-8111-111111111111"]}
        ]));
        let c = import(&b, &e).expect("converts");
        assert_eq!(c.record.tlp, Tlp::Red);
        assert!(c.skipped.iter().any(|s| s.contains("read as TLP:RED")));
    }

    #[test]
    fn malformed_bundles_are_refused_with_a_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "not JSON"),
            (b"42".to_vec(), "expected a JSON object"),
            (bundle(json!([])), "no objects"),
            (
                bundle(json!([{"type": "indicator"}])),
                "no \"type\" or \"id\"",
            ),
            (
                bundle(json!([{"type": "indicator", "id": "malware--1"}])),
                "does not match",
            ),
            (
                bundle(
                    json!([{"type": "indicator", "id": "indicator--1", "pattern": "[ipv4-addr:value = "}]),
                ),
                "not read: expected a literal",
            ),
            (
                bundle(
                    json!([{"type": "indicator", "id": "indicator--1", "pattern": "[x509-certificate:serial_number = '1']"}]),
                ),
                "every item was skipped",
            ),
        ];
        for (input, want) in cases {
            let e = import(&input, &env()).expect_err("refused");
            assert!(e.to_string().contains(want), "{e} should say {want}");
        }
    }
}
