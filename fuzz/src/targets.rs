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
        id_salt: "fuzz".into(),
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
