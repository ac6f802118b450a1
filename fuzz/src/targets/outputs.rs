//! The records the service writes, as a client decodes them.

use cisp_engine::{Engine, Ingest, Outcome};
use cisp_fusion::convert;
use cisp_model::*;
use cisp_wire::records::*;
use cisp_wire::{Codec, RecordType};

use super::{check_error, codec, engine_config, registry, MAX_INPUT};
use crate::gen::{self, TOKENS};
use crate::mutate::{mutate, Rng};
use crate::{Harness, Verdict};

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
