//! MISP event JSON (what MISP's "Download as JSON" and its REST API give:
//! `{"Event": {…}}`, or the bare event; its search API's
//! `{"response": [{"Event": …}, …]}` and a JSON array of events give one
//! submission per event, never merged — events are separate incidents).
//!
//! * **Attributes** (the event's and its objects') become observables by
//!   `type` (`ip-dst`, `domain`, `url`, `sha256`, `filename|md5`,
//!   `ip-dst|port`, `email-src`, `AS`, `vulnerability`, …). Only
//!   attributes flagged `to_ids` are indicators; the others are context
//!   in MISP's own terms and are noted as skipped. Deleted attributes are
//!   ignored. A role is given only when the attribute's comment, its tags
//!   or its object say what it is (C2, phishing, scanner, exfiltration):
//!   MISP's "Network activity" category holds phishing sites and DGA lists
//!   as much as C2 servers.
//! * **Tags** `tlp:…` on the event or any attribute set the marking (the
//!   most restrictive wins; an unknown `tlp:` value reads as RED).
//! * **Galaxies**: `threat-actor`/`mitre-intrusion-set` clusters are actor
//!   claims, `malpedia`/`mitre-malware`/`mitre-tool` clusters malware,
//!   `mitre-attack-pattern` clusters technique ids; the same from
//!   `misp-galaxy:` tags.
//! * **Distribution**: 0 (your organisation only) → the Fusion Cell only;
//!   1–3 (this, connected, all communities) → the community, the widest
//!   audience the partnership has; 4 (a sharing group) → that group if the
//!   registry knows it by name, else the Fusion Cell only. The TLP then
//!   narrows it further where it must.

use cisp_model::{ObservableKind, ObservableRole, Scope, SubmissionKind};
use serde_json::Value;

use crate::collect::Collector;
use crate::text::excerpt;
use crate::{sharing, Converted, Envelope, IntakeError};

fn str_of<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

fn flag(o: &Value, key: &str) -> bool {
    match o.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn int_of(o: &Value, key: &str) -> Option<i64> {
    match o.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn tags(o: &Value) -> impl Iterator<Item = &str> {
    o.get("Tag")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| str_of(t, "name"))
}

/// `Name - T1566.001` or `APT28 - G0007` → the part before ` - ` (names)
/// or after it (technique ids).
fn split_cluster(value: &str) -> (&str, Option<&str>) {
    match value.rsplit_once(" - ") {
        Some((name, id)) if !id.contains(' ') => (name.trim(), Some(id.trim())),
        _ => (value.trim(), None),
    }
}

fn galaxy_cluster(c: &mut Collector, galaxy_type: &str, value: &str, external_ids: &[&str]) {
    let (name, id) = split_cluster(value);
    match galaxy_type {
        "threat-actor" | "mitre-intrusion-set" | "mitre-enterprise-attack-intrusion-set" => {
            c.actor(name)
        }
        "malpedia" | "mitre-malware" | "mitre-tool" | "tool" | "ransomware" | "banker" | "rat"
        | "stealer" | "botnet" | "backdoor" => c.malware(name),
        "mitre-attack-pattern" | "mitre-enterprise-attack-attack-pattern" => {
            let from_meta = external_ids.iter().find(|e| e.starts_with('T'));
            match from_meta.copied().or(id) {
                Some(t) => c.ttp(t),
                None => c.skip(format!(
                    "attack pattern {:?} has no technique id",
                    excerpt(value)
                )),
            }
        }
        _ => {}
    }
}

/// What an attribute says it is (its comment, tags and object): C2 only
/// when something says so — MISP's "Network activity" category holds
/// phishing sites, DGA lists and scanners as much as C2 servers.
fn stated_role(a: &Value, context: &str) -> Option<ObservableRole> {
    let mut text = format!("{} {}", str_of(a, "comment").unwrap_or(""), context);
    for t in tags(a) {
        text.push(' ');
        text.push_str(t);
    }
    let t = text.to_ascii_lowercase();
    let word = |w: &str| {
        t.split(|c: char| !c.is_ascii_alphanumeric() && c != '&')
            .any(|x| x == w)
    };
    if word("c2")
        || word("c&c")
        || word("cnc")
        || t.contains("command and control")
        || t.contains("command-and-control")
        || t.contains("command & control")
    {
        Some(ObservableRole::C2)
    } else if t.contains("phish") || t.contains("payload delivery") || t.contains("dropper") {
        Some(ObservableRole::PayloadDelivery)
    } else if t.contains("exfil") {
        Some(ObservableRole::Exfiltration)
    } else if t.contains("scanner") || t.contains("scanning") || t.contains("brute") {
        Some(ObservableRole::Scanner)
    } else {
        None
    }
}

/// One MISP attribute into the collector; `context` is its object's name
/// and comment, if any.
fn attribute(c: &mut Collector, a: &Value, context: &str) {
    if flag(a, "deleted") {
        return;
    }
    let ty = str_of(a, "type").unwrap_or("");
    let Some(value) = str_of(a, "value") else {
        c.skip(format!("attribute of type {ty:?} without a value"));
        return;
    };
    for t in tags(a) {
        if let Some(tlp) = sharing::misp_tag(t) {
            c.marking(tlp);
        }
    }
    if !flag(a, "to_ids") {
        c.skip(format!(
            "{ty} {:?}: not flagged to_ids (context, not an indicator)",
            excerpt(value)
        ));
        return;
    }
    let first_seen = str_of(a, "first_seen").and_then(crate::text::timestamp_ms);
    let category = str_of(a, "category").unwrap_or("");
    let role = match (ty, category) {
        ("email-src" | "email-reply-to" | "email", _) if category == "Payload delivery" => {
            Some(ObservableRole::Sender)
        }
        (_, "Payload delivery") => Some(ObservableRole::PayloadDelivery),
        _ => stated_role(a, context),
    };
    let (left, right) = value.split_once('|').unwrap_or((value, ""));
    let mut ips: Vec<&str> = Vec::new();
    let mut values: Vec<(ObservableKind, &str)> = Vec::new();
    match ty {
        "ip-src" | "ip-dst" => ips.push(value),
        "ip-src|port" | "ip-dst|port" => ips.push(left),
        "domain" | "hostname" => values.push((ObservableKind::Domain, value)),
        "domain|ip" => {
            values.push((ObservableKind::Domain, left));
            ips.push(right);
        }
        "hostname|port" => values.push((ObservableKind::Domain, left)),
        "url" | "uri" => values.push((ObservableKind::Url, value)),
        "email" | "email-src" | "email-dst" | "email-reply-to" => {
            values.push((ObservableKind::Email, value))
        }
        "md5" => values.push((ObservableKind::Md5, value)),
        "sha1" => values.push((ObservableKind::Sha1, value)),
        "sha256" => values.push((ObservableKind::Sha256, value)),
        "ssdeep" => values.push((ObservableKind::Ssdeep, value)),
        "tlsh" => values.push((ObservableKind::Tlsh, value)),
        "filename" | "email-attachment" => values.push((ObservableKind::Filename, value)),
        "filename|md5" | "malware-sample" => {
            values.push((ObservableKind::Filename, left));
            values.push((ObservableKind::Md5, right));
        }
        "filename|sha1" => {
            values.push((ObservableKind::Filename, left));
            values.push((ObservableKind::Sha1, right));
        }
        "filename|sha256" => {
            values.push((ObservableKind::Filename, left));
            values.push((ObservableKind::Sha256, right));
        }
        "AS" => values.push((ObservableKind::Asn, value)),
        "vulnerability" => values.push((ObservableKind::Cve, value)),
        "ja3-fingerprint-md5" => values.push((ObservableKind::Ja3, value)),
        other => c.skip(format!(
            "attribute type {:?} has no observable type here",
            excerpt(other)
        )),
    }
    for ip in ips {
        c.ip(ip, role, first_seen);
    }
    for (kind, v) in values {
        c.observable(kind, v, role, first_seen);
    }
}

/// Events in one upload at most (a search result).
pub const MAX_EVENTS: usize = 1000;

/// The events of an upload: `{"Event": …}` or a bare event (one), MISP's
/// search API output `{"response": [{"Event": …}, …]}` or a JSON array of
/// events (several), or an attribute search `{"response": {"Attribute":
/// […]}}` (read as one event of those attributes).
fn events(doc: &Value) -> Result<Vec<&Value>, IntakeError> {
    fn one(e: &Value) -> Option<&Value> {
        match e.get("Event") {
            Some(inner) if inner.is_object() => Some(inner),
            None if e.get("info").is_some() || e.get("Attribute").is_some() => Some(e),
            _ => None,
        }
    }
    let list = match doc.get("response").unwrap_or(doc) {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        other => vec![other],
    };
    if list.len() > MAX_EVENTS {
        return Err(IntakeError::malformed(
            "misp",
            format!(
                "{} events in one upload, over {MAX_EVENTS}: upload them in several files",
                list.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.into_iter().enumerate() {
        if e.get("Event").is_some_and(|inner| !inner.is_object()) {
            return Err(IntakeError::malformed("misp", "\"Event\" is not an object"));
        }
        match one(e) {
            Some(ev) => out.push(ev),
            None => {
                return Err(IntakeError::malformed(
                    "misp",
                    if i == 0 && doc.get("response").is_none() {
                        "not a MISP event (no \"Event\" object and no \"info\")".to_owned()
                    } else {
                        format!("item {} of the search result is not a MISP event", i + 1)
                    },
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(IntakeError::Empty {
            format: "misp",
            why: "the search result holds no event".into(),
        });
    }
    Ok(out)
}

/// One MISP event (see the module docs).
pub fn import(bytes: &[u8], envelope: &Envelope) -> Result<Converted, IntakeError> {
    let mut all = import_all(bytes, envelope)?;
    if all.len() != 1 {
        return Err(IntakeError::malformed(
            "misp",
            format!("{} events where one was expected", all.len()),
        ));
    }
    Ok(all.remove(0))
}

/// Every event of an upload, one submission each (a search result holds
/// several; events are different incidents and are never merged).
pub fn import_all(bytes: &[u8], envelope: &Envelope) -> Result<Vec<Converted>, IntakeError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| IntakeError::malformed("misp", format!("not JSON: {e}")))?;
    let events = events(&doc)?;
    let several = events.len() > 1;
    events
        .into_iter()
        .map(|event| {
            // One event: the upload's bytes name it (as ever). Several:
            // each its own (the uuid MISP gives it, or its content).
            let seed = if several {
                match str_of(event, "uuid") {
                    Some(u) => u.as_bytes().to_vec(),
                    None => serde_json::to_vec(event).unwrap_or_default(),
                }
            } else {
                bytes.to_vec()
            };
            import_event(event, &seed, envelope)
        })
        .collect()
}

fn import_event(event: &Value, seed: &[u8], envelope: &Envelope) -> Result<Converted, IntakeError> {
    if !event.is_object() {
        return Err(IntakeError::malformed("misp", "\"Event\" is not an object"));
    }
    let mut c = Collector::new("misp");
    c.title = str_of(event, "info").map(str::to_owned);
    for t in tags(event) {
        if let Some(tlp) = sharing::misp_tag(t) {
            c.marking(tlp);
        } else if let Some(rest) = t.strip_prefix("misp-galaxy:") {
            // misp-galaxy:mitre-attack-pattern="Phishing - T1566"
            if let Some((galaxy, value)) = rest.split_once('=') {
                galaxy_cluster(&mut c, galaxy, value.trim_matches('"'), &[]);
            }
        }
    }
    let list = |o: &Value, key: &str| -> Result<Vec<Value>, IntakeError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(IntakeError::malformed(
                "misp",
                format!("\"{key}\" is not a list"),
            )),
        }
    };
    for a in list(event, "Attribute")? {
        attribute(&mut c, &a, "");
    }
    for o in list(event, "Object")? {
        if flag(&o, "deleted") {
            continue;
        }
        let context = format!(
            "{} {}",
            str_of(&o, "name").unwrap_or(""),
            str_of(&o, "comment").unwrap_or("")
        );
        for a in list(&o, "Attribute")? {
            attribute(&mut c, &a, &context);
        }
    }
    for g in list(event, "Galaxy")? {
        let gtype = str_of(&g, "type").unwrap_or("");
        for cl in list(&g, "GalaxyCluster")? {
            let ctype = str_of(&cl, "type").unwrap_or(gtype);
            let ids: Vec<&str> = cl
                .pointer("/meta/external_id")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if let Some(v) = str_of(&cl, "value") {
                galaxy_cluster(&mut c, ctype, v, &ids);
            }
        }
    }
    c.file_scope = match int_of(event, "distribution") {
        Some(0) => Some((Scope::FusionCellOnly, vec![])),
        Some(1..=3) => Some((Scope::Community, vec![])),
        Some(4) => {
            let name = event
                .pointer("/SharingGroup/name")
                .and_then(Value::as_str)
                .map(|n| n.trim().to_ascii_lowercase().replace(' ', "-"));
            // A name that cannot be one of our group ids cannot name a
            // group the registry knows: the Fusion Cell only.
            match name {
                Some(n) if cisp_model::GroupId::parse(&n).is_ok() => {
                    Some((Scope::SharingGroups, vec![n]))
                }
                _ => Some((Scope::FusionCellOnly, vec![])),
            }
        }
        Some(_) => Some((Scope::FusionCellOnly, vec![])),
        None => None,
    };
    if let Some(level) = int_of(event, "threat_level_id") {
        c.description.push(format!(
            "MISP threat level: {}",
            match level {
                1 => "high",
                2 => "medium",
                3 => "low",
                _ => "undefined",
            }
        ));
    }
    let kind = if c.observables.iter().all(|o| {
        matches!(
            o.kind,
            ObservableKind::Md5
                | ObservableKind::Sha1
                | ObservableKind::Sha256
                | ObservableKind::Filename
        )
    }) && !c.malware.is_empty()
    {
        SubmissionKind::Malware
    } else {
        SubmissionKind::Incident
    };
    if c.title.is_none() {
        c.title = Some("MISP attributes".to_owned());
    }
    c.finish(envelope, kind, seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cisp_model::Tlp;
    use serde_json::json;

    fn env() -> Envelope {
        crate::test_envelope()
    }

    fn event(e: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({ "Event": e })).expect("json")
    }

    #[test]
    fn attributes_tags_galaxies_and_distribution() {
        let e = event(json!({
            "info": "Phishing wave against payroll", "distribution": "1", "threat_level_id": "1",
            "Tag": [{"name": "tlp:amber"}, {"name": "misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""}],
            "Attribute": [
                {"type": "ip-dst|port", "category": "Network activity", "value": "203.0.113.5|443", "to_ids": true,
                 "comment": "Cobalt Strike C2"},
                {"type": "url", "category": "Payload delivery", "value": "hxxp://pay[.]example/x", "to_ids": "1"},
                {"type": "comment", "category": "Other", "value": "seen by SOC", "to_ids": false},
                {"type": "domain", "category": "Network activity", "value": "old.example", "to_ids": true, "deleted": true},
                {"type": "sha256", "category": "Payload delivery", "value": "zz", "to_ids": true,
                 "Tag": [{"name": "tlp:red"}]}
            ],
            "Object": [{"name": "file", "Attribute": [
                {"type": "filename|md5", "category": "Payload delivery", "value": "inv.doc|D41D8CD98F00B204E9800998ECF8427E", "to_ids": true}
            ]}],
            "Galaxy": [
                {"type": "threat-actor", "GalaxyCluster": [{"type": "threat-actor", "value": "APT28"}]},
                {"type": "malpedia", "GalaxyCluster": [{"type": "malpedia", "value": "Emotet"}]},
                {"type": "mitre-attack-pattern", "GalaxyCluster": [{"type": "mitre-attack-pattern",
                  "value": "Spearphishing Link - T1566.002", "meta": {"external_id": ["T1566.002"]}}]}
            ]
        }));
        let c = import(&e, &env()).expect("converts");
        let r = &c.record;
        let values = crate::test_values(&c);
        assert_eq!(
            values,
            vec![
                "203.0.113.5",
                "http://pay.example/x",
                "inv.doc",
                "d41d8cd98f00b204e9800998ecf8427e"
            ]
        );
        assert_eq!(r.observables[0].role, Some(ObservableRole::C2));
        // The bad sha256 was skipped, but its tlp:red tag still counts.
        assert_eq!(r.tlp, Tlp::Red);
        assert_eq!(r.distribution.scope, Scope::FusionCellOnly);
        assert_eq!(r.actor_claims, vec!["APT28"]);
        assert_eq!(r.malware, vec!["Emotet"]);
        assert_eq!(r.ttps, vec!["T1566", "T1566.002"]);
        assert_eq!(r.title, "Phishing wave against payroll");
        assert!(
            c.skipped.iter().any(|s| s.contains("to_ids")),
            "{:?}",
            c.skipped
        );
    }

    #[test]
    fn distribution_maps_or_narrows() {
        let e = |d: Value| {
            event(
                json!({"info": "x", "distribution": d, "SharingGroup": {"name": "Fin ISAC"},
                "Tag": [{"name": "tlp:green"}],
                "Attribute": [{"type": "ip-dst", "value": "203.0.113.5", "to_ids": true}]}),
            )
        };
        // The uploader chose GREEN: the event's distribution decides.
        let mut green = env();
        green.tlp = Some(Tlp::Green);
        let scope = |d: Value| import(&e(d), &green).expect("converts").record.distribution;
        assert_eq!(scope(json!(3)).scope, Scope::Community);
        assert_eq!(scope(json!("0")).scope, Scope::FusionCellOnly);
        let sg = scope(json!(4));
        assert_eq!(
            (sg.scope, sg.groups),
            (Scope::SharingGroups, vec!["fin-isac".to_owned()])
        );
        assert_eq!(scope(json!(9)).scope, Scope::FusionCellOnly);
        // Found by the fuzzer: a group name that is no valid group id.
        let odd = event(
            json!({"info": "x", "distribution": 4, "SharingGroup": {"name": "fin-i[ac"},
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [{"type": "ip-dst", "value": "203.0.113.5", "to_ids": true}]}),
        );
        let d = import(&odd, &green).expect("converts").record.distribution;
        assert_eq!((d.scope, d.groups.len()), (Scope::FusionCellOnly, 0));
        // A well-formed group id the registry does not know (fuzz
        // regression `misp-unknown-group.bin`): intake narrows it to the
        // Fusion Cell before validating, with a note to the uploader.
        let unknown = event(
            json!({"info": "x", "distribution": 4, "SharingGroup": {"name": "Nin ISAC"},
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [{"type": "ip-dst", "value": "203.0.113.5", "to_ids": true}]}),
        );
        let mut c = import(&unknown, &green).expect("converts");
        assert_eq!(c.record.distribution.groups, vec!["nin-isac".to_owned()]);
        let registry = cisp_model::Registry::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/members.toml"),
        )
        .expect("registry");
        crate::sharing::restrict_to_registry(&mut c, &registry);
        let d = &c.record.distribution;
        assert_eq!((d.scope, d.groups.len()), (Scope::FusionCellOnly, 0));
        assert!(
            c.skipped.iter().any(|s| s.contains("Fusion Cell only")),
            "{:?}",
            c.skipped
        );
    }

    #[test]
    fn a_search_result_gives_one_submission_per_event_and_roles_follow_what_is_said() {
        let ev = |info: &str, ip: &str, comment: &str| {
            json!({"Event": {"info": info, "uuid": format!("uuid-{info}"),
                "Attribute": [{"type": "ip-dst", "category": "Network activity", "value": ip,
                               "to_ids": true, "comment": comment}]}})
        };
        let search = serde_json::to_vec(&json!({"response": [
            ev("one", "203.0.113.1", "phishing kit host"),
            ev("two", "203.0.113.2", "DGA domain resolution"),
            ev("three", "203.0.113.3", "C&C"),
        ]}))
        .expect("json");
        let all = import_all(&search, &env()).expect("converts");
        assert_eq!(all.len(), 3, "events are never merged");
        let ids: std::collections::BTreeSet<&str> = all
            .iter()
            .map(|c| c.record.submission_id.as_str())
            .collect();
        assert_eq!(ids.len(), 3, "each event its own id");
        let roles: Vec<_> = all.iter().map(|c| c.record.observables[0].role).collect();
        assert_eq!(
            roles,
            vec![
                Some(ObservableRole::PayloadDelivery),
                None,
                Some(ObservableRole::C2)
            ]
        );
        assert!(
            import(&search, &env()).is_err(),
            "one expected, three found"
        );
    }

    #[test]
    fn malformed_events_are_refused() {
        for (input, want) in [
            (b"{}".to_vec(), "not a MISP event"),
            (b"[]".to_vec(), "holds no event"),
            (
                b"{\"response\": [{\"Event\": {\"info\": \"x\"}}, 3]}".to_vec(),
                "item 2 of the search result",
            ),
            (b"{\"Event\": 3}".to_vec(), "not an object"),
            (event(json!({"info": "x", "Attribute": {}})), "not a list"),
            (
                event(
                    json!({"info": "x", "Attribute": [{"type": "text", "value": "hello", "to_ids": true}]}),
                ),
                "every item was skipped",
            ),
            (b"{\"Event\": {\"info\": \"x\"".to_vec(), "not JSON"),
        ] {
            let e = import(&input, &env()).expect_err("refused");
            assert!(e.to_string().contains(want), "{e} should say {want}");
        }
    }
}
