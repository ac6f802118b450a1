//! The targets: each builds its corpus from the real encoders and checks
//! properties of what comes out, not only that nothing panics.

use std::sync::Arc;

use cisp_engine::{Engine, EngineConfig, Ingest, Outcome};
use cisp_fusion::convert;
use cisp_model::*;
use cisp_wire::records::*;
use cisp_wire::{Codec, DecodeLimits, RecordType};

use crate::gen::{self, TOKENS};
use crate::mutate::{avro_long, mutate, Rng};
use crate::{Harness, Verdict};

/// An error shown to a member (dead-letter reason) or in a log line must
/// stay short whatever the input, and name its reason.
const MAX_ERROR_LEN: usize = 1024;

fn check_error(code: &'static str, message: &str) -> Verdict {
    if code.is_empty() {
        return Verdict::Broken(format!("error without a reason code: {message:.200}"));
    }
    if message.len() > MAX_ERROR_LEN {
        return Verdict::Broken(format!(
            "{code} error of {} bytes (limit {MAX_ERROR_LEN}): {:.200}",
            message.len(),
            message
        ));
    }
    Verdict::Rejected(code)
}

/// Keeps at most `cap` entries, replacing a random one when full.
fn keep(corpus: &mut Vec<Vec<u8>>, rng: &mut Rng, input: &[u8], cap: usize) {
    if corpus.len() < cap {
        corpus.push(input.to_vec());
    } else {
        let i = rng.below(cap);
        corpus[i] = input.to_vec();
    }
}

fn codec() -> Codec {
    Codec::new(DecodeLimits::default()).expect("the embedded schemas parse")
}

fn registry() -> Arc<Registry> {
    Arc::new(Registry::from_toml_str(gen::REGISTRY).expect("the shipped registry parses"))
}

const MAX_INPUT: usize = 2 * 1024 * 1024; // above the 1 MiB message limit

// ---------------------------------------------------------------------------

/// Bytes on a member topic, all the way to the engine's outputs.
pub(crate) struct SubmissionTarget {
    codec: Codec,
    registry: Arc<Registry>,
    members: Vec<MemberId>,
    limits: Limits,
    engine: Engine,
    in_engine: u64,
    corpus: Vec<Vec<u8>>,
    n: u64,
}

impl SubmissionTarget {
    pub(crate) fn new() -> SubmissionTarget {
        let registry = registry();
        let members: Vec<MemberId> = registry.members().map(|m| m.id.clone()).collect();
        let mut t = SubmissionTarget {
            codec: codec(),
            engine: Engine::new(registry.clone(), engine_config()),
            registry,
            members,
            limits: Limits::default(),
            in_engine: 0,
            corpus: Vec::new(),
            n: 0,
        };
        let mut rng = Rng::new(1);
        for _ in 0..64 {
            let b = t.fresh(&mut rng);
            t.corpus.push(b);
        }
        t.corpus.extend(t.bombs());
        t
    }

    fn fresh(&mut self, rng: &mut Rng) -> Vec<u8> {
        self.n += 1;
        let member = rng.pick(&self.members).to_string();
        let rec = gen::submission(rng, &member, self.n);
        let encoded = if rng.chance(20) {
            self.codec
                .encode_confluent(RecordType::Submission, rng.below(1000) as u32, &rec)
        } else {
            self.codec.encode(RecordType::Submission, &rec)
        };
        encoded.expect("generated records encode")
    }

    /// Hand-made hostile shapes: length and count bombs after a valid
    /// header, a negative block count with a huge byte size, junk framing.
    fn bombs(&self) -> Vec<Vec<u8>> {
        let mut header = vec![0xC3, 0x01];
        header.extend_from_slice(&self.codec.fingerprint(RecordType::Submission));
        let with = |tail: &[&[u8]]| {
            let mut b = header.clone();
            for t in tail {
                b.extend_from_slice(t);
            }
            b
        };
        let id = [&avro_long(3)[..], b"F-1"].concat();
        let member = [&avro_long(9)[..], b"northbank"].concat();
        vec![
            with(&[&avro_long(i64::MAX)]),
            with(&[&avro_long(1 << 40), b"x"]),
            with(&[
                &id,
                &member,
                &avro_long(1_763_546_400_000),
                &avro_long(1 << 40),
            ]),
            with(&[&id, &member, &avro_long(-1), &avro_long(i64::MIN)]),
            with(&[&id, &avro_long(-(1 << 40)), &avro_long(i64::MAX)]),
            with(&[&vec![b'A'; 1024 * 1024]]), // over the message limit
            vec![0x00, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![0xC3],
            vec![],
        ]
    }
}

fn engine_config() -> EngineConfig {
    EngineConfig {
        id_salt: cisp_model::Secret::new("fuzz"),
        ..EngineConfig::default()
    }
}

impl Harness for SubmissionTarget {
    fn next_input(&mut self, rng: &mut Rng) -> Vec<u8> {
        match rng.below(100) {
            0..=14 => self.fresh(rng),
            _ => {
                let mut b = rng.pick(&self.corpus).clone();
                let other = rng.pick(&self.corpus).clone();
                mutate(rng, &mut b, &TOKENS, &other, MAX_INPUT);
                b
            }
        }
    }

    fn run(&mut self, input: &[u8], rng: &mut Rng) -> Verdict {
        let record: SubmissionRecord = match self.codec.decode(RecordType::Submission, input) {
            Ok((r, _)) => r,
            Err(e) => return check_error(e.reason_code(), &e.to_string()),
        };
        // What decodes must re-encode to the same record.
        let again = self
            .codec
            .encode(RecordType::Submission, &record)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                self.codec
                    .decode::<SubmissionRecord>(RecordType::Submission, &b)
                    .map_err(|e| e.to_string())
            });
        match again {
            Ok((r, _)) if r == record => {}
            Ok(_) => return Verdict::Broken("decode ∘ encode changed a record".into()),
            Err(e) => return Verdict::Broken(format!("a decoded record does not re-encode: {e}")),
        }

        // Usually on its own member's topic; sometimes on another's.
        let claimed = MemberId::parse(&record.member_id).ok();
        let topic = match claimed {
            Some(m) if rng.chance(90) && self.registry.member(&m).is_some() => m,
            _ => rng.pick(&self.members).clone(),
        };
        let draft: SubmissionDraft = record.into();
        let sub = match draft.validate(&topic, &self.registry, &self.limits) {
            Ok(s) => s,
            Err(e) => {
                if rng.chance(5) {
                    keep(&mut self.corpus, rng, input, 4096);
                }
                return check_error(e.reason_code(), &e.to_string());
            }
        };
        keep(&mut self.corpus, rng, input, 4096);

        // The engine, and every output the service would derive.
        if self.in_engine >= 20_000 {
            self.reset(); // bound the fuzzer's own memory, not the engine's
        }
        self.in_engine += 1;
        let now = 1_763_546_400_000 + self.in_engine as i64;
        let outcome = self.engine.process(
            &sub,
            Ingest {
                published_at_ms: now,
                now_ms: now,
            },
        );
        let Outcome::Accepted(fx) = outcome else {
            return Verdict::Accepted;
        };
        let src = convert::Source {
            topic: format!("cisp.submissions.{topic}"),
            partition: 0,
            offset: 0,
        };
        let n = sub.observables.len();
        if fx.warnlisted.len() != n || fx.scores.len() != n {
            return Verdict::Broken("per-observable facts do not match the observables".into());
        }
        if fx.scores.iter().any(|s| !(0.0..=1.0).contains(s)) {
            return Verdict::Broken(format!("indicator score out of [0, 1]: {:?}", fx.scores));
        }
        if let Err(e) = convert::submission_facts(
            &sub,
            fx.seq,
            fx.campaign_id.as_str(),
            &self.registry,
            &src,
            now,
            &convert::ObservableFacts {
                warnlisted: &fx.warnlisted,
                scores: &fx.scores,
            },
        ) {
            return Verdict::Broken(format!("submission facts do not serialise: {e}"));
        }
        for a in &fx.alerts {
            if let Err(e) = self
                .codec
                .encode(RecordType::Alert, &convert::alert_record(a))
            {
                return Verdict::Broken(format!("an alert does not encode: {e}"));
            }
            let _ = convert::alert_row(a, &sub, now);
            if a.tlp < sub.tlp && a.recipient != sub.member {
                // Alerts about this submission to others carry its TLP at least.
                let names_it = a
                    .provenance
                    .iter()
                    .any(|k| k.member == sub.member && k.id == sub.id);
                if names_it {
                    return Verdict::Broken(format!(
                        "alert {} below the TLP of an input ({} < {})",
                        a.id, a.tlp, sub.tlp
                    ));
                }
            }
        }
        for v in &fx.campaigns {
            if let Err(e) = self
                .codec
                .encode(RecordType::CampaignUpdate, &convert::campaign_record(v))
            {
                return Verdict::Broken(format!("a campaign update does not encode: {e}"));
            }
            let _ = convert::campaign_row(v);
        }
        Verdict::Accepted
    }

    fn reset(&mut self) {
        self.engine = Engine::new(self.registry.clone(), engine_config());
        self.in_engine = 0;
    }
}

// ---------------------------------------------------------------------------

/// The records the service writes, as a client decodes them.
pub(crate) struct OutputsTarget {
    codec: Codec,
    corpus: Vec<Vec<u8>>,
}

impl OutputsTarget {
    pub(crate) fn new() -> OutputsTarget {
        // Real outputs: run the engine over generated submissions.
        let codec = codec();
        let registry = registry();
        let members: Vec<MemberId> = registry.members().map(|m| m.id.clone()).collect();
        let mut engine = Engine::new(registry.clone(), engine_config());
        let mut rng = Rng::new(2);
        let mut corpus = Vec::new();
        for n in 0..3000u64 {
            if corpus.len() >= 200 {
                break;
            }
            let member = rng.pick(&members).clone();
            let draft: SubmissionDraft = gen::submission(&mut rng, member.as_str(), n).into();
            let Ok(sub) = draft.validate(&member, &registry, &Limits::default()) else {
                continue;
            };
            let at = Ingest {
                published_at_ms: 1,
                now_ms: 2,
            };
            if let Outcome::Accepted(fx) = engine.process(&sub, at) {
                for a in fx.alerts.iter().take(2) {
                    if let Ok(b) = codec.encode(RecordType::Alert, &convert::alert_record(a)) {
                        corpus.push(b);
                    }
                }
                for v in fx.campaigns.iter().take(1) {
                    let r = convert::campaign_record(v);
                    if let Ok(b) = codec.encode(RecordType::CampaignUpdate, &r) {
                        corpus.push(b);
                    }
                }
            }
        }
        let dl = DeadLetterRecord {
            received_at: 1,
            source_topic: "cisp.submissions.northbank".into(),
            source_partition: 0,
            source_offset: 9,
            member_id: Some("northbank".into()),
            reason_code: "avro_decode".into(),
            reason: "truncated".into(),
            payload: Bytes(vec![0xC3, 0x01, 0xFF]),
            payload_size: 3,
            payload_truncated: false,
        };
        corpus.push(
            codec
                .encode(RecordType::DeadLetter, &dl)
                .expect("a dead letter encodes"),
        );
        OutputsTarget { codec, corpus }
    }

    fn try_one<T>(&self, rt: RecordType, input: &[u8]) -> Result<(), Verdict>
    where
        T: serde::de::DeserializeOwned + serde::Serialize + PartialEq,
    {
        match self.codec.decode::<T>(rt, input) {
            Ok((r, _)) => {
                let b = self.codec.encode(rt, &r).map_err(|e| {
                    Verdict::Broken(format!("decoded {rt:?} does not re-encode: {e}"))
                })?;
                // Compared as encodings, not values: a float field may
                // decode to NaN, which is not equal to itself.
                let again = self
                    .codec
                    .decode::<T>(rt, &b)
                    .ok()
                    .and_then(|(back, _)| self.codec.encode(rt, &back).ok());
                match again {
                    Some(b2) if b2 == b => Err(Verdict::Accepted),
                    _ => Err(Verdict::Broken(format!("{rt:?} does not round-trip"))),
                }
            }
            Err(e) if e.reason_code() == "unknown_schema" => Ok(()),
            Err(e) => Err(check_error(e.reason_code(), &e.to_string())),
        }
    }
}

impl Harness for OutputsTarget {
    fn next_input(&mut self, rng: &mut Rng) -> Vec<u8> {
        let mut b = rng.pick(&self.corpus).clone();
        let other = rng.pick(&self.corpus).clone();
        mutate(rng, &mut b, &TOKENS, &other, MAX_INPUT);
        // Now and then claim an earlier schema version, so the path that
        // resolves old records to today's schema sees hostile bodies too.
        if b.len() >= 10 && b[..2] == [0xC3, 0x01] && rng.below(8) == 0 {
            let rt = if rng.below(2) == 0 {
                RecordType::Alert
            } else {
                RecordType::CampaignUpdate
            };
            let previous = self.codec.previous_fingerprints(rt);
            if !previous.is_empty() {
                let fp: [u8; 8] = *rng.pick(previous.as_slice());
                b[2..10].copy_from_slice(&fp);
            }
        }
        b
    }

    fn run(&mut self, input: &[u8], _rng: &mut Rng) -> Verdict {
        let tries = [
            self.try_one::<AlertRecord>(RecordType::Alert, input),
            self.try_one::<CampaignUpdateRecord>(RecordType::CampaignUpdate, input),
            self.try_one::<DeadLetterRecord>(RecordType::DeadLetter, input),
        ];
        for t in tries {
            if let Err(v) = t {
                return v;
            }
        }
        Verdict::Rejected("unknown_schema")
    }

    fn reset(&mut self) {}
}

// ---------------------------------------------------------------------------

/// Every observable normaliser. Input: one byte choosing the kind, then
/// the raw value.
pub(crate) struct ObservablesTarget {
    corpus: Vec<Vec<u8>>,
}

impl ObservablesTarget {
    pub(crate) fn new() -> ObservablesTarget {
        let mut corpus = Vec::new();
        for (i, kind) in ObservableKind::ALL.iter().enumerate() {
            for seed in gen::observable_seeds(*kind) {
                let mut b = vec![i as u8];
                b.extend_from_slice(seed.as_bytes());
                corpus.push(b);
            }
        }
        ObservablesTarget { corpus }
    }
}

impl Harness for ObservablesTarget {
    fn next_input(&mut self, rng: &mut Rng) -> Vec<u8> {
        if rng.chance(30) {
            let i = rng.below(ObservableKind::ALL.len());
            let mut b = vec![i as u8];
            b.extend_from_slice(gen::observable_value(rng, ObservableKind::ALL[i]).as_bytes());
            return b;
        }
        let mut b = rng.pick(&self.corpus).clone();
        let other = rng.pick(&self.corpus).clone();
        let kind = b.first().copied().unwrap_or(0);
        mutate(rng, &mut b, &TOKENS, &other, 16 * 1024);
        if rng.chance(90) && !b.is_empty() {
            b[0] = kind;
        }
        b
    }

    fn run(&mut self, input: &[u8], rng: &mut Rng) -> Verdict {
        let Some((&k, raw)) = input.split_first() else {
            return Verdict::Rejected("empty");
        };
        let kind = ObservableKind::ALL[k as usize % ObservableKind::ALL.len()];
        let raw = String::from_utf8_lossy(raw);
        match Observable::parse(kind, &raw) {
            Err(e) => check_error(e.reason_code(), &e.to_string()),
            Ok(o) => {
                if o.kind() != kind {
                    return Verdict::Broken(format!("{kind} parsed as {}", o.kind()));
                }
                if o.value().len() > 4 * Observable::MAX_RAW_LEN {
                    return Verdict::Broken(format!(
                        "{kind} normal form of {} bytes",
                        o.value().len()
                    ));
                }
                match Observable::parse(kind, o.value()) {
                    Ok(again) if again == o => {}
                    Ok(again) => {
                        return Verdict::Broken(format!(
                            "{kind}: normal form {:?} re-normalises to {:?}",
                            o.value(),
                            again.value()
                        ))
                    }
                    Err(e) => {
                        return Verdict::Broken(format!(
                            "{kind}: normal form {:?} is refused: {e}",
                            o.value()
                        ))
                    }
                }
                let _ = o.host();
                keep(&mut self.corpus, rng, input, 4096);
                Verdict::Accepted
            }
        }
    }

    fn reset(&mut self) {}
}

// ---------------------------------------------------------------------------

/// Ids and enumerations. Input: one byte choosing the parser, then text.
pub(crate) struct IdsTarget {
    corpus: Vec<Vec<u8>>,
}

const ID_SEEDS: [&str; 16] = [
    "northbank",
    "fin-isac",
    "finance",
    "F-1",
    "AMBER+STRICT",
    "tlp:white",
    "TLP:CLEAR",
    "COMMUNITY",
    "sharing-groups",
    "phishing",
    "payload-delivery",
    "IPV4",
    "a",
    "-x-",
    "ab--cd",
    "",
];

const PARSERS: u8 = 9;

impl IdsTarget {
    pub(crate) fn new() -> IdsTarget {
        let mut corpus = Vec::new();
        for p in 0..PARSERS {
            for s in ID_SEEDS {
                let mut b = vec![p];
                b.extend_from_slice(s.as_bytes());
                corpus.push(b);
            }
        }
        IdsTarget { corpus }
    }
}

/// Parses `s` with parser `p`; on success, checks that the canonical form
/// parses back to the same value.
fn parse_id(p: u8, s: &str) -> Result<bool, ModelError> {
    Ok(match p % PARSERS {
        0 => {
            let v = MemberId::parse(s)?;
            MemberId::parse(v.as_str()).as_ref() == Ok(&v)
        }
        1 => {
            let v = GroupId::parse(s)?;
            GroupId::parse(v.as_str()).as_ref() == Ok(&v)
        }
        2 => {
            let v = SectorId::parse(s)?;
            SectorId::parse(v.as_str()).as_ref() == Ok(&v)
        }
        3 => {
            let v = SubmissionId::parse(s)?;
            SubmissionId::parse(v.as_str()).as_ref() == Ok(&v)
        }
        4 => {
            let v = Tlp::parse(s)?;
            Tlp::parse(v.symbol()) == Ok(v) && Tlp::parse(v.label()) == Ok(v)
        }
        5 => {
            let v = Scope::parse(s)?;
            Scope::parse(v.name()) == Ok(v)
        }
        6 => {
            let v = SubmissionKind::parse(s)?;
            SubmissionKind::parse(v.name()) == Ok(v)
        }
        7 => {
            let v = ObservableRole::parse(s)?;
            ObservableRole::parse(v.name()) == Ok(v)
        }
        _ => {
            let v = ObservableKind::parse(s)?;
            ObservableKind::parse(v.name()) == Ok(v)
        }
    })
}

impl Harness for IdsTarget {
    fn next_input(&mut self, rng: &mut Rng) -> Vec<u8> {
        let mut b = rng.pick(&self.corpus).clone();
        let other = rng.pick(&self.corpus).clone();
        let p = b.first().copied().unwrap_or(0);
        mutate(rng, &mut b, &TOKENS, &other, 4096);
        if rng.chance(90) && !b.is_empty() {
            b[0] = p;
        }
        b
    }

    fn run(&mut self, input: &[u8], rng: &mut Rng) -> Verdict {
        let Some((&p, raw)) = input.split_first() else {
            return Verdict::Rejected("empty");
        };
        let raw = String::from_utf8_lossy(raw);
        match parse_id(p, &raw) {
            Err(e) => check_error(e.reason_code(), &e.to_string()),
            Ok(true) => {
                keep(&mut self.corpus, rng, input, 2048);
                Verdict::Accepted
            }
            Ok(false) => Verdict::Broken(format!(
                "parser {}: the canonical form of {raw:?} does not parse back to it",
                p % PARSERS
            )),
        }
    }

    fn reset(&mut self) {}
}

// ---------------------------------------------------------------------------

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
