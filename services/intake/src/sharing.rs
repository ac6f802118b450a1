//! How an upload's marking and audience are decided. The rule: the
//! uploader chooses, the file can only make it stricter, and anything we
//! do not recognise is read as the more restrictive choice (docs/SHARING.md).
//!
//! TLP arrives as STIX 2.1 TLP 1.0 marking-definition ids, as the OASIS
//! TLP 2.0 extension's ids, as marking-definition objects carried in the
//! bundle, and as MISP `tlp:` tags; all are mapped here.

use std::collections::BTreeSet;

use cisp_model::{Registry, Scope, Tlp};
use sha2::{Digest, Sha256};

use crate::{Converted, Envelope};

/// The STIX 2.1 specification's TLP 1.0 markings (section 7.2.1.4).
pub const STIX_TLP1: [(&str, Tlp); 4] = [
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
];

/// The OASIS TLP 2.0 marking extension's markings.
pub const STIX_TLP2: [(&str, Tlp); 5] = [
    (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Clear,
    ),
    (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Green,
    ),
    (
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::Amber,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::AmberStrict,
    ),
    (
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        Tlp::Red,
    ),
];

/// The extension definition that TLP 2.0 marking objects reference.
pub const STIX_TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// A well-known STIX TLP marking id, either version.
pub fn stix_marking(id: &str) -> Option<Tlp> {
    STIX_TLP1
        .iter()
        .chain(STIX_TLP2.iter())
        .find(|(known, _)| *known == id)
        .map(|(_, t)| *t)
}

/// A TLP name as written in a marking's content or a tag: `white`,
/// `clear`, `green`, `amber`, `amber+strict`, `red`. `None` if it is not
/// one of them (callers then choose the restrictive reading).
pub fn tlp_name(name: &str) -> Option<Tlp> {
    match name.trim().to_ascii_lowercase().as_str() {
        "white" | "clear" => Some(Tlp::Clear),
        "green" => Some(Tlp::Green),
        "amber" => Some(Tlp::Amber),
        "amber+strict" | "amber-strict" | "amber_strict" => Some(Tlp::AmberStrict),
        "red" => Some(Tlp::Red),
        _ => None,
    }
}

/// A MISP tag: `tlp:amber` → AMBER; an unknown `tlp:` value (`tlp:ex:chr`,
/// a typo) → RED; any other tag → `None`.
pub fn misp_tag(tag: &str) -> Option<Tlp> {
    let t = tag.trim();
    let lower = t.to_ascii_lowercase();
    let name = lower.strip_prefix("tlp:")?;
    Some(tlp_name(name).unwrap_or(Tlp::Red))
}

/// What the uploader gets when it does not choose (README: "the default
/// is AMBER to the sector").
pub const DEFAULT_TLP: Tlp = Tlp::Amber;

/// The marking of the submission: the uploader's choice, or [`DEFAULT_TLP`]
/// when it made none, made stricter by the file's own marking — never
/// looser: a file tagged `tlp:clear` uploaded without a choice goes out
/// AMBER, because the member never decided to share it with everyone.
pub fn resolve_tlp(envelope: Option<Tlp>, file: Option<Tlp>) -> Tlp {
    let chosen = envelope.unwrap_or(DEFAULT_TLP);
    file.map_or(chosen, |f| chosen.max(f))
}

/// The widest audience `tlp` allows without a list of names.
pub fn widest_scope(tlp: Tlp) -> Scope {
    match tlp {
        Tlp::Clear | Tlp::Green => Scope::Community,
        Tlp::Amber => Scope::Sector,
        Tlp::AmberStrict | Tlp::Red => Scope::FusionCellOnly,
    }
}

/// Audience order, narrowest first, for "the more restrictive of".
fn rank(scope: Scope) -> u8 {
    match scope {
        Scope::FusionCellOnly => 0,
        Scope::NamedMembers => 1,
        Scope::SharingGroups => 2,
        Scope::Sector => 3,
        Scope::Community => 4,
    }
}

/// The audience: the uploader's choice if given, else the file's, else
/// the widest the TLP allows; then narrowed until the TLP allows it.
/// When the uploader and the file both name one, the narrower wins.
pub fn resolve_scope(
    tlp: Tlp,
    envelope: &Envelope,
    file: Option<(Scope, Vec<String>)>,
) -> (Scope, Vec<String>, Vec<String>) {
    let from_envelope = envelope.scope.map(|s| {
        let list = match s {
            Scope::NamedMembers => envelope.members.clone(),
            Scope::SharingGroups => envelope.groups.clone(),
            _ => vec![],
        };
        (s, list)
    });
    let chosen = match (from_envelope, file) {
        (Some(a), Some(b)) => {
            if rank(b.0) < rank(a.0) {
                b
            } else {
                a
            }
        }
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => (widest_scope(tlp), vec![]),
    };
    let (mut scope, mut list) = chosen;
    if !tlp.allows(scope) {
        scope = widest_scope(tlp);
        list = vec![];
    }
    match scope {
        Scope::NamedMembers => (scope, list, vec![]),
        Scope::SharingGroups => (scope, vec![], list),
        _ => (scope, vec![], vec![]),
    }
}

/// Drops audience names the registry does not know; an audience left
/// empty becomes the Fusion Cell only (never wider).
pub fn restrict_to_registry(converted: &mut Converted, registry: &Registry) {
    let d = &mut converted.record.distribution;
    let before = d.members.len() + d.groups.len();
    d.members.retain(|m| {
        cisp_model::MemberId::parse(m)
            .ok()
            .is_some_and(|id| registry.member(&id).is_some())
    });
    let groups: BTreeSet<String> = registry
        .members()
        .flat_map(|m| m.groups.iter().map(|g| g.as_str().to_owned()))
        .collect();
    d.groups.retain(|g| groups.contains(g));
    let after = d.members.len() + d.groups.len();
    if after < before {
        converted.skipped.push(format!(
            "{} audience names unknown to the registry were dropped",
            before - after
        ));
    }
    let empty = match d.scope {
        Scope::NamedMembers => d.members.is_empty(),
        Scope::SharingGroups => d.groups.is_empty(),
        _ => false,
    };
    if empty {
        d.scope = Scope::FusionCellOnly;
        converted.skipped.push(
            "the audience named no known member or group: shared with the Fusion Cell only".into(),
        );
    }
}

/// 2000-01-01 to 2100-01-01, the range the fusion service accepts.
pub fn plausible_time(ms: i64) -> bool {
    (946_684_800_000..4_102_444_800_000).contains(&ms)
}

/// The default submission id: the format and a digest of the upload, so
/// uploading the same file again is recognised as a duplicate.
pub fn content_id(format: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{format}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        crate::test_envelope()
    }

    #[test]
    fn the_file_can_only_make_the_marking_stricter() {
        assert_eq!(resolve_tlp(Some(Tlp::Green), Some(Tlp::Red)), Tlp::Red);
        assert_eq!(resolve_tlp(Some(Tlp::Red), Some(Tlp::Green)), Tlp::Red);
        assert_eq!(resolve_tlp(None, None), Tlp::Amber);
        // Without the uploader's choice the default holds against a
        // looser file marking; a stricter one still wins.
        assert_eq!(resolve_tlp(None, Some(Tlp::Clear)), Tlp::Amber);
        assert_eq!(resolve_tlp(None, Some(Tlp::Green)), Tlp::Amber);
        assert_eq!(resolve_tlp(None, Some(Tlp::Red)), Tlp::Red);
        assert_eq!(resolve_tlp(Some(Tlp::Clear), Some(Tlp::Green)), Tlp::Green);
        assert_eq!(misp_tag("TLP:AMBER+STRICT"), Some(Tlp::AmberStrict));
        assert_eq!(misp_tag("tlp:ex:chr"), Some(Tlp::Red));
        assert_eq!(misp_tag("type:OSINT"), None);
        assert_eq!(stix_marking(STIX_TLP1[1].0), Some(Tlp::Green));
    }

    #[test]
    fn the_audience_is_narrowed_to_what_the_tlp_allows() {
        let mut e = env();
        assert_eq!(resolve_scope(Tlp::Green, &e, None).0, Scope::Community);
        assert_eq!(resolve_scope(Tlp::Amber, &e, None).0, Scope::Sector);
        assert_eq!(resolve_scope(Tlp::Red, &e, None).0, Scope::FusionCellOnly);
        e.scope = Some(Scope::Community);
        assert_eq!(resolve_scope(Tlp::Amber, &e, None).0, Scope::Sector);
        // The file asks for less than the uploader: the file wins.
        let got = resolve_scope(
            Tlp::Green,
            &e,
            Some((Scope::SharingGroups, vec!["fin-isac".into()])),
        );
        assert_eq!(got, (Scope::SharingGroups, vec![], vec!["fin-isac".into()]));
    }
}
