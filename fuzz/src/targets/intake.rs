//! Intake's converters: errors are short, what converts passes the
//! fusion service's own validation, and its STIX export imports again.

use std::sync::Arc;

use cisp_model::*;
use cisp_wire::records::*;

use super::{check_error, keep, registry, MAX_ERROR_LEN};
use crate::gen::TOKENS;
use crate::mutate::{mutate, Rng};
use crate::{Harness, Verdict};

/// Intake's converters. Input: one byte choosing the format, then the file.
/// Properties: an error is short; what converts passes the fusion
/// service's own validation (intake must never hand over a record that
/// would be dead-lettered); and the STIX export of alerts built from it
/// imports again.
pub(crate) struct IntakeTarget {
    corpus: Vec<Vec<u8>>,
    registry: Arc<Registry>,
    member: MemberId,
}

const INTAKE_SEEDS: [(cisp_intake::Format, &str); 7] = [
    (
        cisp_intake::Format::Stix,
        r#"{"type":"bundle","id":"bundle--1","objects":[{"type":"indicator","id":"indicator--1","pattern_type":"stix","valid_from":"2026-07-01T00:00:00Z","pattern":"[ipv4-addr:value = '198.51.100.1'] OR ([file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'] AND [url:value IN ('http://a.example/x', 'hxxp://b[.]example')]) WITHIN 60 SECONDS","object_marking_refs":["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]},{"type":"domain-name","id":"domain-name--2","value":"evil.example"},{"type":"intrusion-set","id":"intrusion-set--3","name":"APT-X"},{"type":"attack-pattern","id":"attack-pattern--4","external_references":[{"source_name":"mitre-attack","external_id":"T1566.001"}]},{"type":"marking-definition","id":"marking-definition--5","definition_type":"tlp","definition":{"tlp":"red"}}]}"#,
    ),
    (
        cisp_intake::Format::Misp,
        r#"{"Event":{"info":"x","distribution":"4","SharingGroup":{"name":"Fin ISAC"},"Tag":[{"name":"tlp:amber"},{"name":"misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""}],"Attribute":[{"type":"ip-dst|port","value":"203.0.113.5|443","to_ids":true,"category":"Network activity"},{"type":"filename|sha256","value":"a.exe|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","to_ids":"1"}],"Object":[{"Attribute":[{"type":"domain|ip","value":"x.example|198.51.100.9","to_ids":true}]}],"Galaxy":[{"type":"threat-actor","GalaxyCluster":[{"value":"APT-X"}]}]}}"#,
    ),
    (
        cisp_intake::Format::Csv,
        "# c\ntype,value,role,first_seen,comment\nipv4,203.0.113.7,c2,2026-07-01,x\nhash,d41d8cd98f00b204e9800998ecf8427e,,,\"a,b\"\nurl,hxxps://x[.]example/p,payload-delivery,2026-07-01T10:00:00Z,\n",
    ),
    (
        cisp_intake::Format::Eml,
        "Return-Path: <b@bad.example>\r\nReceived: from x ([198.51.100.23]) by mx.example; Tue, 1 Jul 2026 09:00:00 +0000\r\nAuthentication-Results: mx; spf=fail; dkim=none; dmarc=fail\r\nFrom: \"P\" <p@bad.example>\r\nSubject: =?utf-8?B?w6l0w6k=?=\r\nDate: Tue, 1 Jul 2026 08:59:00 +0000\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D\"&#104;ttps://x.example/l\">https://bank.example</a> hxxp://y[.]example\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: q@c.example\r\nSubject: in\r\n\r\nhttp://z.example/\r\n--b\r\nContent-Type: application/octet-stream; name=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBBQAAAAIAA==\r\n--b--\r\n",
    ),
    (
        cisp_intake::Format::Sample,
        "MZ\u{90}\0\u{3}\0\0\0\u{4}\0\0\0PE\0\0L\u{1}\u{3}\0http://c2.example/gate.php\u{0}198.51.100.44\u{0}",
    ),
    (cisp_intake::Format::Sample, "\u{7f}ELF\u{2}\u{1}\u{1}\0\0\0\0\0\0\0\0\0\u{3}\0>\0\u{1}\0\0\0"),
    (cisp_intake::Format::Stix, r#"[{"type":"url","id":"url--1","value":"http://a.example/'"}]"#),
];

impl IntakeTarget {
    pub(crate) fn new() -> IntakeTarget {
        let registry = registry();
        let member = registry
            .members()
            .map(|m| m.id.clone())
            .find(|m| m.as_str() == "northbank")
            .expect("the shipped registry has northbank");
        let mut corpus = Vec::new();
        for (format, seed) in INTAKE_SEEDS {
            let mut b = vec![format_byte(format)];
            b.extend_from_slice(seed.as_bytes());
            corpus.push(b);
        }
        // A real executable: the fuzzer's own first 256 KiB.
        if let Ok(exe) = std::env::current_exe().and_then(std::fs::read) {
            let mut b = vec![format_byte(cisp_intake::Format::Sample)];
            b.extend_from_slice(&exe[..exe.len().min(256 * 1024)]);
            corpus.push(b);
        }
        IntakeTarget {
            corpus,
            registry,
            member,
        }
    }
}

fn format_byte(f: cisp_intake::Format) -> u8 {
    cisp_intake::Format::ALL
        .iter()
        .position(|x| *x == f)
        .unwrap_or(0) as u8
}

impl Harness for IntakeTarget {
    fn next_input(&mut self, rng: &mut Rng) -> Vec<u8> {
        let mut b = rng.pick(&self.corpus).clone();
        let other = rng.pick(&self.corpus).clone();
        let format = b.first().copied().unwrap_or(0);
        mutate(rng, &mut b, &TOKENS, &other, 512 * 1024);
        // Mostly keep the format the seed was written for.
        if !b.is_empty() && rng.chance(90) {
            b[0] = format;
        }
        b
    }

    fn run(&mut self, input: &[u8], rng: &mut Rng) -> Verdict {
        let Some((&selector, file)) = input.split_first() else {
            return Verdict::Rejected("empty");
        };
        let format =
            cisp_intake::Format::ALL[usize::from(selector) % cisp_intake::Format::ALL.len()];
        let envelope = cisp_intake::Envelope::new(self.member.clone(), 1_782_900_000_000);
        let mut converted = match cisp_intake::convert(format, file, &envelope) {
            Ok(c) => c,
            Err(e) => return check_error(e.reason_code(), &e.to_string()),
        };
        // What intake does before validating (`Intake::prepare`): audience
        // names the registry does not know are dropped, and an audience
        // left empty becomes the Fusion Cell only. A MISP sharing group
        // whose name is a well-formed but unknown group id takes this path.
        cisp_intake::sharing::restrict_to_registry(&mut converted, &self.registry);
        if converted.skipped.iter().any(|s| s.len() > MAX_ERROR_LEN) {
            return Verdict::Broken("a skipped-item note is too long".into());
        }
        let draft: SubmissionDraft = converted.record.clone().into();
        if let Err(e) = draft.validate(&self.member, &self.registry, &Limits::default()) {
            return Verdict::Broken(format!(
                "{} converted to a record the fusion service refuses: {e}",
                format.name()
            ));
        }
        if rng.chance(20) {
            keep(&mut self.corpus, rng, input, 2048);
        }
        // Export the observables as an alert and read the bundle back.
        let alert = AlertRecord {
            alert_id: "A-1".into(),
            recipient: self.member.to_string(),
            created_at: 1_782_900_000_000,
            trigger_published_at: 1_782_900_000_000,
            kind: AlertKind::PeerSighting,
            severity: Severity::Low,
            tlp: converted.record.tlp,
            campaign_id: Some("V-1".into()),
            your_submission_ids: vec![],
            related: vec![],
            shared_observables: converted.record.observables.clone(),
            other_member_count: 1,
            summary: converted.record.title.clone(),
            shared_scores: vec![],
            sightings: 1,
            revokes: vec![],
        };
        let bundle = cisp_intake::stix::export(&[alert], &Default::default());
        let text = bundle.to_string();
        match cisp_intake::convert(cisp_intake::Format::Stix, text.as_bytes(), &envelope) {
            Ok(back) if back.record.tlp >= converted.record.tlp => Verdict::Accepted,
            Ok(_) => Verdict::Broken("the exported marking came back less restrictive".into()),
            Err(cisp_intake::IntakeError::Empty { .. }) => Verdict::Accepted, // only CVE/JA3
            Err(e) => Verdict::Broken(format!("our own STIX export does not import: {e}")),
        }
    }

    fn reset(&mut self) {}
}
