//! Alerts out as a STIX 2.1 bundle, for members whose tools speak STIX
//! (a TIP, a SIEM, OpenCTI, MISP's STIX import).
//!
//! Per alert: a `report` (`name` = the alert's one-line summary,
//! `published` = when it was raised, labels = kind and severity) whose
//! `object_refs` hold one `indicator` per shared observable (an exact STIX
//! pattern) and, when the alert carries the member's view of a campaign, a
//! `campaign` with `indicates` relationships from the indicators. Every
//! object carries the alert's TLP as a TLP 2.0 marking, whose definition
//! is in the bundle; the producer is the CiSP Fusion Cell `identity`.
//!
//! Only what the alert already told the member goes in: the export is a
//! new encoding of the member's own alerts, never a new disclosure. Ids
//! are deterministic (a digest of the alert id and the object's role), so
//! exporting twice gives the same bundle and consumers update rather than
//! duplicate.

use std::collections::BTreeMap;

use cisp_model::{AlertKind, ObservableKind, Tlp};
use cisp_wire::records::{AlertRecord, CampaignUpdateRecord};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::sharing::{STIX_TLP2, STIX_TLP2_EXTENSION};

/// The fixed creation time of our identity object.
const EPOCH_2026: i64 = 1_767_225_600_000;

#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// The bundle's own id seed (defaults to a digest of the alert ids).
    pub bundle_seed: Option<String>,
    /// Earlier alerts to the same member, by id: a revocation or dispute
    /// notice revokes the indicator objects those carried for its values
    /// with their original `created` (issue 22).
    pub earlier: BTreeMap<String, AlertRecord>,
}

/// A deterministic STIX id: `type--` + a UUID (version 4 layout, random
/// bits taken from a SHA-256 of `seed`).
pub fn stix_id(ty: &str, seed: &str) -> String {
    let d = Sha256::digest(format!("cisp-fusion/{ty}/{seed}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{ty}--{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Milliseconds → `2026-07-01T12:00:00.000Z`.
pub fn timestamp(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = cisp_model::calendar::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// A STIX string literal: `'` and `\` escaped.
fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The pattern for one of our observables, if STIX has an object for it.
pub fn pattern_for(kind: ObservableKind, value: &str) -> Option<String> {
    let path = match kind {
        ObservableKind::Ipv4 => "ipv4-addr:value",
        ObservableKind::Ipv6 => "ipv6-addr:value",
        ObservableKind::Cidr if value.contains(':') => "ipv6-addr:value",
        ObservableKind::Cidr => "ipv4-addr:value",
        ObservableKind::Domain => "domain-name:value",
        ObservableKind::Url => "url:value",
        ObservableKind::Email => "email-addr:value",
        ObservableKind::Md5 => "file:hashes.MD5",
        ObservableKind::Sha1 => "file:hashes.'SHA-1'",
        ObservableKind::Sha256 => "file:hashes.'SHA-256'",
        ObservableKind::Ssdeep => "file:hashes.SSDEEP",
        ObservableKind::Tlsh => "file:hashes.TLSH",
        ObservableKind::Filename => "file:name",
        ObservableKind::Asn => {
            let n: u64 = value
                .trim_start_matches(['A', 'S', 'a', 's'])
                .parse()
                .ok()?;
            return Some(format!("[autonomous-system:number = {n}]"));
        }
        // STIX has no JA3 object and CVEs are vulnerabilities, not patterns.
        ObservableKind::Cve | ObservableKind::Ja3 => return None,
    };
    Some(format!("[{path} = {}]", literal(value)))
}

pub(crate) fn tlp_marking(tlp: Tlp) -> (&'static str, &'static str) {
    let name = match tlp {
        Tlp::Clear => "clear",
        Tlp::Green => "green",
        Tlp::Amber => "amber",
        Tlp::AmberStrict => "amber+strict",
        Tlp::Red => "red",
    };
    let id = STIX_TLP2
        .iter()
        .find(|(_, t)| *t == tlp)
        .map_or(STIX_TLP2[4].0, |(id, _)| id);
    (id, name)
}

/// The TLP 2.0 marking-definition object for `tlp`, as the OASIS
/// extension defines it.
pub(crate) fn marking_definition(tlp: Tlp) -> Value {
    let (id, name) = tlp_marking(tlp);
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": id,
        "created": "2022-10-01T00:00:00.000Z",
        "name": format!("TLP:{}", name.to_ascii_uppercase()),
        "extensions": {
            STIX_TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": name}
        }
    })
}

/// The CiSP Fusion Cell as the `identity` that produced every bundle, and
/// its id.
pub(crate) fn producer() -> (String, Value) {
    let id = stix_id("identity", "fusion-cell");
    let created = timestamp(EPOCH_2026);
    let identity = json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": id,
        "created": created,
        "modified": created,
        "name": "CiSP Fusion Cell",
        "identity_class": "organization"
    });
    (id, identity)
}

/// The bundle for `alerts` (all addressed to one member).
pub fn export(alerts: &[AlertRecord], options: &ExportOptions) -> Value {
    let (identity_id, identity) = producer();
    let mut objects = vec![identity];
    let mut markings: BTreeMap<Tlp, Value> = BTreeMap::new();
    let mut campaigns: BTreeMap<String, Value> = BTreeMap::new();
    for a in alerts {
        let marking = tlp_marking(a.tlp).0;
        markings
            .entry(a.tlp)
            .or_insert_with(|| marking_definition(a.tlp));
        let t = timestamp(a.created_at);
        let common = |ty: &str, role: &str| {
            json!({
                "type": ty,
                "spec_version": "2.1",
                "id": stix_id(ty, &format!("{}/{role}", a.alert_id)),
                "created": t,
                "modified": t,
                "created_by_ref": identity_id,
                "object_marking_refs": [marking],
            })
        };
        let mut refs = Vec::new();
        let campaign_id = a.campaign_id.as_ref().map(|c| {
            let id = stix_id("campaign", c);
            campaigns.entry(c.clone()).or_insert_with(|| {
                json!({
                    "type": "campaign",
                    "spec_version": "2.1",
                    "id": id,
                    "created": t,
                    "modified": t,
                    "created_by_ref": identity_id,
                    "object_marking_refs": [marking],
                    "name": format!("CiSP campaign {c}"),
                    "description": "A set of reports linked by shared evidence, as visible to you.",
                    "external_references": [{"source_name": "cisp-fusion", "external_id": c}]
                })
            });
            id
        });
        if let Some(id) = &campaign_id {
            refs.push(Value::from(id.clone()));
        }
        for o in &a.shared_observables {
            let Some(pattern) = pattern_for(o.kind, &o.value) else {
                continue;
            };
            let mut ind = common("indicator", &format!("{}={}", o.kind.name(), o.value));
            ind["name"] = Value::from(format!("{}: {}", o.kind.name(), o.value));
            ind["description"] = Value::from(format!(
                "Shared in CiSP alert {}: also reported by other members.",
                a.alert_id
            ));
            ind["pattern"] = Value::from(pattern);
            ind["pattern_type"] = Value::from("stix");
            ind["valid_from"] = Value::from(t.clone());
            ind["indicator_types"] = json!(["malicious-activity"]);
            let ind_id = ind["id"].clone();
            refs.push(ind_id.clone());
            objects.push(ind);
            if let Some(cid) = &campaign_id {
                let mut rel = common(
                    "relationship",
                    &format!("{}={}/indicates", o.kind.name(), o.value),
                );
                rel["relationship_type"] = Value::from("indicates");
                rel["source_ref"] = ind_id;
                rel["target_ref"] = Value::from(cid.clone());
                refs.push(rel["id"].clone());
                objects.push(rel);
            }
        }
        let mut report = common("report", "report");
        report["name"] = Value::from(a.summary.clone());
        report["published"] = Value::from(t.clone());
        report["report_types"] = json!(["threat-report"]);
        report["labels"] = json!([
            format!("cisp-alert-kind:{}", a.kind.name()),
            format!("cisp-severity:{}", a.severity.name())
        ]);
        report["description"] = Value::from(format!(
            "{} other member(s) involved; {} related report(s) visible to you.",
            a.other_member_count,
            a.related.len()
        ));
        report["external_references"] =
            json!([{"source_name": "cisp-fusion", "external_id": a.alert_id}]);
        if refs.is_empty() {
            // object_refs must not be empty: point at the producer.
            refs.push(Value::from(identity_id.clone()));
        }
        report["object_refs"] = Value::Array(refs);
        objects.push(report);
        // A revocation or a dispute notice: the indicators the revoked
        // alerts carried for these values are revoked (same id, a new
        // version), so a consumer that stored them drops them.
        if matches!(a.kind, AlertKind::Revocation | AlertKind::Dispute) {
            for revoked in &a.revokes {
                let earlier = options.earlier.get(revoked);
                let created = earlier.map_or_else(|| t.clone(), |e| timestamp(e.created_at));
                for o in &a.shared_observables {
                    let carried = earlier.is_none_or(|e| {
                        e.shared_observables
                            .iter()
                            .any(|x| x.kind == o.kind && x.value == o.value)
                    });
                    let Some(pattern) = pattern_for(o.kind, &o.value) else {
                        continue;
                    };
                    if !carried {
                        continue;
                    }
                    objects.push(json!({
                        "type": "indicator",
                        "spec_version": "2.1",
                        "id": stix_id("indicator", &format!("{revoked}/{}={}", o.kind.name(), o.value)),
                        "created": created,
                        "modified": t,
                        "created_by_ref": identity_id,
                        "object_marking_refs": [marking],
                        "name": format!("{}: {}", o.kind.name(), o.value),
                        "pattern": pattern,
                        "pattern_type": "stix",
                        "valid_from": created,
                        "indicator_types": ["malicious-activity"],
                        "revoked": true,
                    }));
                }
            }
        }
    }
    objects.extend(campaigns.into_values());
    objects.extend(markings.into_values());
    let seed = options.bundle_seed.clone().unwrap_or_else(|| {
        alerts
            .iter()
            .map(|a| a.alert_id.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    json!({"type": "bundle", "id": stix_id("bundle", &seed), "objects": objects})
}

/// The Fusion Cell's campaigns (the latest version of each, as
/// `cisp.campaigns` holds them) as a bundle: a `campaign` per campaign
/// (first and last seen, sizes and sectors in the description; revoked
/// with a pointer when it was merged into another), and for an attributed
/// one an `intrusion-set` with an `attributed-to` relationship carrying
/// the attribution confidence and its evidence. Member ids are not
/// exported; this is for the Fusion Cell's own tools.
pub fn export_campaigns(updates: &[CampaignUpdateRecord]) -> Value {
    let mut latest: BTreeMap<&str, &CampaignUpdateRecord> = BTreeMap::new();
    for u in updates {
        let slot = latest.entry(u.campaign_id.as_str()).or_insert(u);
        if u.version > slot.version {
            *slot = u;
        }
    }
    let (identity_id, identity) = producer();
    let created = timestamp(EPOCH_2026);
    let mut objects = vec![identity];
    let mut markings: BTreeMap<Tlp, Value> = BTreeMap::new();
    let mut actors: BTreeMap<String, Value> = BTreeMap::new();
    for c in latest.values() {
        let marking = tlp_marking(c.tlp).0;
        markings
            .entry(c.tlp)
            .or_insert_with(|| marking_definition(c.tlp));
        let first = timestamp(c.first_seen);
        let modified = timestamp(c.updated_at.max(c.first_seen));
        let id = stix_id("campaign", &c.campaign_id);
        let mut description = format!(
            "{} submissions from {} members ({} observables); sectors: {}.",
            c.submission_count,
            c.member_count,
            c.observable_count,
            if c.sectors.is_empty() {
                "none named".to_owned()
            } else {
                c.sectors.join(", ")
            }
        );
        if let Some(into) = &c.merged_into {
            description.push_str(&format!(" Merged into CiSP campaign {into}."));
        }
        let mut campaign = json!({
            "type": "campaign", "spec_version": "2.1", "id": id,
            "created": first, "modified": modified,
            "created_by_ref": identity_id, "object_marking_refs": [marking],
            "name": format!("CiSP campaign {}", c.campaign_id),
            "description": description,
            "first_seen": first,
            "last_seen": timestamp(c.last_seen.max(c.first_seen)),
            "external_references": [{"source_name": "cisp-fusion", "external_id": c.campaign_id}]
        });
        if c.merged_into.is_some() {
            campaign["revoked"] = Value::Bool(true);
        }
        objects.push(campaign);
        if let (Some(name), None) = (&c.actor_name, &c.merged_into) {
            let key = c.actor_id.clone().unwrap_or_else(|| name.clone());
            let actor_id = stix_id("intrusion-set", &key);
            actors.entry(key.clone()).or_insert_with(|| {
                let mut refs = vec![];
                if key.len() == 5
                    && key.starts_with('G')
                    && key[1..].bytes().all(|b| b.is_ascii_digit())
                {
                    refs.push(json!({"source_name": "mitre-attack", "external_id": key}));
                }
                let mut o = json!({
                    "type": "intrusion-set", "spec_version": "2.1", "id": actor_id,
                    "created": created, "modified": created,
                    "created_by_ref": identity_id, "name": name
                });
                if !refs.is_empty() {
                    o["external_references"] = Value::Array(refs);
                }
                o
            });
            let confidence = (f64::from(c.attribution_confidence) * 100.0)
                .round()
                .clamp(0.0, 100.0) as u64;
            objects.push(json!({
                "type": "relationship", "spec_version": "2.1",
                "id": stix_id("relationship", &format!("{}/attributed-to/{key}", c.campaign_id)),
                "created": first, "modified": modified,
                "created_by_ref": identity_id, "object_marking_refs": [marking],
                "relationship_type": "attributed-to",
                "source_ref": id, "target_ref": actor_id,
                "confidence": confidence,
                "description": format!("Evidence: {}.", c.attribution_evidence.join("; "))
            }));
        }
    }
    objects.extend(actors.into_values());
    objects.extend(markings.into_values());
    let seed: Vec<&str> = latest.keys().copied().collect();
    json!({"type": "bundle", "id": stix_id("bundle", &format!("campaigns/{}", seed.join(","))), "objects": objects})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_ids() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_782_909_000_123), "2026-07-01T12:30:00.123Z");
        let id = stix_id("indicator", "x");
        assert_eq!(id, stix_id("indicator", "x"));
        assert_ne!(id, stix_id("indicator", "y"));
        assert_eq!(&id[11..], &id[11..]);
        let uuid = id.trim_start_matches("indicator--");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }

    #[test]
    fn patterns_escape_their_literals_and_round_trip() {
        let p = pattern_for(ObservableKind::Url, "http://a.example/it's\\x").expect("pattern");
        assert_eq!(p, "[url:value = 'http://a.example/it\\'s\\\\x']");
        let back = super::super::pattern::parse(&p).expect("parses");
        assert_eq!(back[0].values, vec!["http://a.example/it's\\x"]);
        assert_eq!(
            pattern_for(ObservableKind::Asn, "AS64500").as_deref(),
            Some("[autonomous-system:number = 64500]")
        );
        assert!(pattern_for(ObservableKind::Cve, "CVE-2024-1").is_none());
    }
}
