//! Bytes on a member topic, all the way to the engine's outputs.

use std::sync::Arc;

use cisp_engine::{Engine, Ingest, Outcome};
use cisp_fusion::convert;
use cisp_model::*;
use cisp_wire::records::*;
use cisp_wire::{Codec, RecordType};

use super::{check_error, codec, engine_config, keep, registry, MAX_INPUT};
use crate::gen::{self, TOKENS};
use crate::mutate::{avro_long, mutate, Rng};
use crate::{Harness, Verdict};

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
            let _ = convert::alert_row(a, now);
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
