//! Framing and (de)serialisation of records.

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{short, WireError};
use crate::schemas::{crc64_avro, parsing_canonical_form, RecordType, Schemas};

/// Single-object encoding marker (Avro spec, "Single object encoding").
const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const SINGLE_OBJECT_HEADER: usize = 10;
/// Confluent wire format: magic byte 0, then a big-endian schema id.
const CONFLUENT_HEADER: usize = 5;

/// How an input record was framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    SingleObject,
    Confluent { schema_id: u32 },
}

/// Bounds applied before and during decoding.
#[derive(Clone, Debug)]
pub struct DecodeLimits {
    /// Payloads larger than this are refused without being looked at.
    pub max_message_bytes: usize,
    /// Process-wide cap on what one length prefix may allocate
    /// (apache-avro's `max_allocation_bytes`; set once per process).
    pub max_allocation_bytes: usize,
    /// Confluent schema ids accepted as the Submission schema; empty
    /// means any id (no registry in use: the writer must use our schema).
    pub confluent_schema_ids: Vec<u32>,
}

impl Default for DecodeLimits {
    fn default() -> DecodeLimits {
        DecodeLimits {
            max_message_bytes: 1024 * 1024,
            max_allocation_bytes: 8 * 1024 * 1024,
            confluent_schema_ids: Vec::new(),
        }
    }
}

/// Encodes and decodes every CiSP record type. Cheap to share: build one.
pub struct Codec {
    limits: DecodeLimits,
    fingerprints: Vec<[u8; 8]>,
    readers: Vec<GenericDatumReader<'static>>,
    writers: Vec<GenericDatumWriter<'static>>,
    /// Earlier versions still on the topics: (type, fingerprint, reader
    /// resolving them to the current schema).
    previous: Vec<(RecordType, [u8; 8], GenericDatumReader<'static>)>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Codec {
    pub fn new(limits: DecodeLimits) -> Result<Codec, WireError> {
        // Set once per process; later calls keep the first value.
        apache_avro::util::max_allocation_bytes(limits.max_allocation_bytes);
        let schemas = Schemas::get()?;
        let mut fingerprints = Vec::new();
        let mut readers = Vec::new();
        let mut writers = Vec::new();
        for rt in RecordType::ALL {
            let schema = schemas.schema(rt);
            fingerprints.push(crc64_avro(schemas.canonical_form(rt).as_bytes()));
            readers.push(
                GenericDatumReader::builder(schema)
                    .build()
                    .map_err(|e| WireError::Schema(short(&e)))?,
            );
            writers.push(
                GenericDatumWriter::builder(schema)
                    .build()
                    .map_err(|e| WireError::Schema(short(&e)))?,
            );
        }
        let mut previous = Vec::new();
        for (rt, old) in schemas.history() {
            let fp = crc64_avro(parsing_canonical_form(old).as_bytes());
            let reader = GenericDatumReader::builder(old)
                .reader_schema(schemas.schema(*rt))
                .build()
                .map_err(|e| WireError::Schema(short(&e)))?;
            previous.push((*rt, fp, reader));
        }
        Ok(Codec {
            limits,
            fingerprints,
            readers,
            writers,
            previous,
        })
    }

    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// The CRC-64-AVRO fingerprint of a record type's canonical schema, as
    /// it appears in single-object headers (little-endian).
    pub fn fingerprint(&self, rt: RecordType) -> [u8; 8] {
        self.fingerprints[rt as usize]
    }

    /// Fingerprints of the earlier versions of `rt` this codec still reads
    /// (`schemas/history/`).
    pub fn previous_fingerprints(&self, rt: RecordType) -> Vec<[u8; 8]> {
        self.previous
            .iter()
            .filter(|(t, _, _)| *t == rt)
            .map(|(_, fp, _)| *fp)
            .collect()
    }

    /// The Parsing Canonical Form of a record type's self-contained schema.
    pub fn canonical_form(rt: RecordType) -> Result<String, WireError> {
        Ok(Schemas::get()?.canonical_form(rt))
    }

    /// Which record a member's topic carries in `bytes`: a correction or
    /// feedback when its single-object fingerprint says so, otherwise a
    /// submission (whatever is wrong with it is for `decode` to say).
    /// Confluent-framed records are always submissions.
    pub fn member_record_type(&self, bytes: &[u8]) -> RecordType {
        if let [0xC3, 0x01, rest @ ..] = bytes {
            if let Some(fp) = rest.get(..8) {
                for rt in [RecordType::Correction, RecordType::Feedback] {
                    if fp == self.fingerprints[rt as usize] {
                        return rt;
                    }
                }
            }
        }
        RecordType::Submission
    }

    /// Encodes a record with single-object framing.
    pub fn encode<T: Serialize>(&self, rt: RecordType, record: &T) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
        out.extend_from_slice(&self.fingerprints[rt as usize]);
        self.writers[rt as usize]
            .write_ser(&mut out, record)
            .map_err(|e| WireError::Encode(short(&e)))?;
        Ok(out)
    }

    /// Encodes a record with Confluent framing, as a registry user would.
    pub fn encode_confluent<T: Serialize>(
        &self,
        rt: RecordType,
        schema_id: u32,
        record: &T,
    ) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(256);
        out.push(0);
        out.extend_from_slice(&schema_id.to_be_bytes());
        self.writers[rt as usize]
            .write_ser(&mut out, record)
            .map_err(|e| WireError::Encode(short(&e)))?;
        Ok(out)
    }

    /// Decodes a framed record of type `rt`. Never panics; refuses
    /// oversized input before decoding, unknown fingerprints, and bytes left
    /// over after the record.
    pub fn decode<T: DeserializeOwned>(
        &self,
        rt: RecordType,
        bytes: &[u8],
    ) -> Result<(T, Framing), WireError> {
        if bytes.len() > self.limits.max_message_bytes {
            return Err(WireError::TooLarge {
                size: bytes.len(),
                max: self.limits.max_message_bytes,
            });
        }
        let (framing, body) = match bytes {
            [0xC3, 0x01, rest @ ..] => {
                if bytes.len() < SINGLE_OBJECT_HEADER {
                    return Err(WireError::BadFraming(
                        "single-object header shorter than 10 bytes",
                    ));
                }
                let fp = &rest[..8];
                if let Some((_, _, old)) = self
                    .previous
                    .iter()
                    .find(|(t, f, _)| *t == rt && f.as_slice() == fp)
                {
                    // Resolution works on values (apache-avro 0.22's
                    // schema-aware deserialiser does not resolve).
                    let mut cursor = &rest[8..];
                    let value = old
                        .read_value(&mut cursor)
                        .map_err(|e| WireError::Decode(short(&e)))?;
                    let record = apache_avro::from_value::<T>(&value)
                        .map_err(|e| WireError::Decode(short(&e)))?;
                    if !cursor.is_empty() {
                        return Err(WireError::TrailingBytes(cursor.len()));
                    }
                    return Ok((record, Framing::SingleObject));
                }
                if fp != self.fingerprints[rt as usize] {
                    return Err(WireError::UnknownSchema(
                        format!("fingerprint {}", hex(fp)),
                        format!(
                            "{} {}",
                            rt.full_name(),
                            hex(&self.fingerprints[rt as usize])
                        ),
                    ));
                }
                (Framing::SingleObject, &rest[8..])
            }
            [0x00, ..] => {
                if bytes.len() < CONFLUENT_HEADER {
                    return Err(WireError::BadFraming(
                        "confluent header shorter than 5 bytes",
                    ));
                }
                let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                if !self.limits.confluent_schema_ids.is_empty()
                    && !self.limits.confluent_schema_ids.contains(&id)
                {
                    return Err(WireError::UnknownSchema(
                        format!("confluent schema id {id}"),
                        format!("one of {:?}", self.limits.confluent_schema_ids),
                    ));
                }
                (
                    Framing::Confluent { schema_id: id },
                    &bytes[CONFLUENT_HEADER..],
                )
            }
            [] => return Err(WireError::BadFraming("empty payload")),
            _ => {
                return Err(WireError::BadFraming(
                    "neither single-object (C3 01) nor confluent (00) framing",
                ))
            }
        };
        let mut cursor = body;
        let record = self.readers[rt as usize]
            .read_deser::<T>(&mut cursor)
            .map_err(|e| WireError::Decode(short(&e)))?;
        if !cursor.is_empty() {
            return Err(WireError::TrailingBytes(cursor.len()));
        }
        Ok((record, framing))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::records::*;
    use cisp_model::*;
    use proptest::prelude::*;

    fn codec() -> Codec {
        Codec::new(DecodeLimits::default()).expect("embedded schemas parse")
    }

    pub(crate) fn sample() -> SubmissionRecord {
        SubmissionRecord {
            submission_id: "s-1".into(),
            member_id: "bank-a".into(),
            submitted_at: 1_760_000_000_000,
            kind: SubmissionKind::Phishing,
            tlp: Tlp::AmberStrict,
            distribution: DistributionRecord {
                scope: Scope::SharingGroups,
                members: vec![],
                groups: vec!["fin-isac".into()],
            },
            attribution: Attribution::Anonymous,
            title: "Invoice lure — ünïcode".into(),
            description: Some("details".into()),
            observables: vec![
                ObservableRecord::new(ObservableKind::Url, "hxxp://evil[.]example/x"),
                ObservableRecord {
                    role: Some(ObservableRole::PayloadDelivery),
                    first_seen: Some(1_759_000_000_000),
                    confidence: Some(90),
                    ..ObservableRecord::new(ObservableKind::Sha256, "a".repeat(64))
                },
            ],
            ttps: vec!["T1566".into()],
            malware: vec![],
            actor_claims: vec!["FIN7".into()],
            targeted_sectors: vec!["finance".into()],
            confidence: 70,
        }
    }

    #[test]
    fn submissions_round_trip_in_both_framings() {
        let c = codec();
        let rec = sample();
        let bytes = c.encode(RecordType::Submission, &rec).unwrap();
        assert_eq!(&bytes[..2], &[0xC3, 0x01]);
        assert_eq!(&bytes[2..10], &c.fingerprint(RecordType::Submission));
        let (back, framing): (SubmissionRecord, _) =
            c.decode(RecordType::Submission, &bytes).unwrap();
        assert_eq!(back, rec);
        assert_eq!(framing, Framing::SingleObject);

        let conf = c.encode_confluent(RecordType::Submission, 7, &rec).unwrap();
        let (back, framing): (SubmissionRecord, _) =
            c.decode(RecordType::Submission, &conf).unwrap();
        assert_eq!(back, rec);
        assert_eq!(framing, Framing::Confluent { schema_id: 7 });
    }

    fn sample_alert() -> AlertRecord {
        AlertRecord {
            alert_id: "a1".into(),
            recipient: "bank-b".into(),
            created_at: 1,
            trigger_published_at: 2,
            kind: AlertKind::PeerSighting,
            severity: Severity::High,
            tlp: Tlp::Green,
            campaign_id: Some("c1".into()),
            your_submission_ids: vec!["x".into()],
            related: vec![RelatedSubmissionRecord {
                submission_id: "s".into(),
                member_id: None,
                member_name: None,
                sector: Some("finance".into()),
                kind: SubmissionKind::Incident,
                tlp: Tlp::Clear,
                title: "t".into(),
                submitted_at: 3,
            }],
            shared_observables: vec![ObservableRecord::new(
                ObservableKind::Domain,
                "evil.example",
            )],
            other_member_count: 1,
            summary: "s".into(),
            shared_scores: vec![0.75],
            sightings: 3,
            revokes: vec![],
        }
    }

    #[test]
    fn alerts_written_with_earlier_schemas_still_decode() {
        let c = codec();
        let schemas = Schemas::get().unwrap();
        let old: Vec<&apache_avro::Schema> = schemas
            .history()
            .iter()
            .filter(|(rt, _)| *rt == RecordType::Alert)
            .map(|(_, s)| s)
            .collect();
        assert_eq!(old.len(), 4);
        // v1: the fingerprint the issue-4 service wrote (seen on a real
        // topic), without shared_scores and sightings; v2 without sightings;
        // v3 without the VICTIM_NOTIFICATION kind (issue 23).
        let versions = [
            (
                old[0],
                "0378f461f6696afb",
                &["shared_scores", "sightings", "revokes"][..],
            ),
            (old[1], "", &["sightings", "revokes"][..]),
            (old[2], "", &["revokes"][..]),
            // v4: without REVOCATION, DISPUTE and `revokes` (issue 22).
            (old[3], "", &["revokes"][..]),
        ];
        for (schema, pinned, missing) in versions {
            let fp = crc64_avro(parsing_canonical_form(schema).as_bytes());
            if !pinned.is_empty() {
                assert_eq!(hex(&fp), pinned);
            }
            assert_ne!(fp, c.fingerprint(RecordType::Alert));
            let alert = AlertRecord {
                campaign_id: None,
                related: vec![],
                shared_scores: if missing.contains(&"shared_scores") {
                    vec![]
                } else {
                    vec![0.5]
                },
                sightings: 1,
                ..sample_alert()
            };
            // The same alert as the old schema wrote it.
            let apache_avro::types::Value::Record(mut fields) =
                apache_avro::to_value(&alert).unwrap()
            else {
                panic!("a record");
            };
            fields.retain(|(name, _)| !missing.contains(&name.as_str()));
            let body = GenericDatumWriter::builder(schema)
                .build()
                .unwrap()
                .write_value_to_vec(apache_avro::types::Value::Record(fields))
                .unwrap();
            let mut bytes = vec![0xC3, 0x01];
            bytes.extend_from_slice(&fp);
            bytes.extend_from_slice(&body);
            let (back, framing) = c.decode::<AlertRecord>(RecordType::Alert, &bytes).unwrap();
            assert_eq!(
                back, alert,
                "resolved to today's schema, new fields defaulted"
            );
            assert_eq!(framing, Framing::SingleObject);
            // A fingerprint that is neither today's nor a known earlier one is refused.
            bytes[2] ^= 0xFF;
            assert_eq!(
                c.decode::<AlertRecord>(RecordType::Alert, &bytes)
                    .unwrap_err()
                    .reason_code(),
                "unknown_schema"
            );
        }
    }

    #[test]
    fn a_reader_of_the_previous_schema_reads_a_new_alert_kind_as_other() {
        // Members' consumers built on Alert.v4 meet REVOCATION (as those
        // on v3 met VICTIM_NOTIFICATION): the enum's default makes it
        // OTHER for them, not an error.
        let c = codec();
        let schemas = Schemas::get().unwrap();
        let previous = schemas
            .history()
            .iter()
            .filter(|(rt, _)| *rt == RecordType::Alert)
            .map(|(_, s)| s)
            .next_back()
            .unwrap();
        let alert = AlertRecord {
            kind: AlertKind::Revocation,
            revokes: vec!["A-1".into()],
            ..sample_alert()
        };
        let bytes = c.encode(RecordType::Alert, &alert).unwrap();
        let body = &bytes[10..];
        let now = schemas.schema(RecordType::Alert);
        let reader = GenericDatumReader::builder(now)
            .reader_schema(previous)
            .build()
            .unwrap();
        let read = reader.read_value(&mut &body[..]).unwrap();
        let apache_avro::types::Value::Record(fields) = read else {
            panic!("a record");
        };
        let kind = fields.iter().find(|(n, _)| n == "kind").unwrap();
        assert_eq!(
            kind.1,
            apache_avro::types::Value::Enum(6, "OTHER".into()),
            "{kind:?}"
        );
    }

    #[test]
    fn corrections_and_feedback_round_trip_and_are_told_from_submissions() {
        use crate::records::{CorrectionRecord, FeedbackKindRecord, FeedbackRecord};
        let c = codec();
        let correction = CorrectionRecord {
            correction_id: "fix-1".into(),
            member_id: "bank-a".into(),
            submission_id: "r-1".into(),
            corrected_at: 5,
            retract: false,
            remove_observables: vec![ObservableRecord::new(ObservableKind::Ipv4, "198.51.100.7")],
            tlp: Some(Tlp::Red),
            distribution: None,
            reason: "our relay".into(),
        };
        let b = c.encode(RecordType::Correction, &correction).unwrap();
        assert_eq!(c.member_record_type(&b), RecordType::Correction);
        assert_eq!(
            c.decode::<CorrectionRecord>(RecordType::Correction, &b)
                .unwrap()
                .0,
            correction
        );
        // A correction is not a submission: decoding it as one is refused.
        assert_eq!(
            c.decode::<SubmissionRecord>(RecordType::Submission, &b)
                .unwrap_err()
                .reason_code(),
            "unknown_schema"
        );
        let feedback = FeedbackRecord {
            feedback_id: "fb-1".into(),
            member_id: "bank-a".into(),
            kind: FeedbackKindRecord::Sighting,
            observable: ObservableRecord::new(ObservableKind::Domain, "evil.example"),
            count: 12,
            seen_at: Some(4),
            confidence: None,
            comment: String::new(),
            submitted_at: 6,
        };
        let b = c.encode(RecordType::Feedback, &feedback).unwrap();
        assert_eq!(c.member_record_type(&b), RecordType::Feedback);
        assert_eq!(
            c.decode::<FeedbackRecord>(RecordType::Feedback, &b)
                .unwrap()
                .0,
            feedback
        );
        // Submissions, in either framing, and garbage are submissions to
        // the dispatcher (decode says what is wrong with them).
        let sub = c.encode(RecordType::Submission, &sample()).unwrap();
        assert_eq!(c.member_record_type(&sub), RecordType::Submission);
        let conf = c
            .encode_confluent(RecordType::Submission, 1, &sample())
            .unwrap();
        assert_eq!(c.member_record_type(&conf), RecordType::Submission);
        assert_eq!(
            c.member_record_type(&[0xC3, 0x01, 1]),
            RecordType::Submission
        );
        assert_eq!(c.member_record_type(&[]), RecordType::Submission);
    }

    #[test]
    fn every_output_record_round_trips() {
        let c = codec();
        let alert = sample_alert();
        let b = c.encode(RecordType::Alert, &alert).unwrap();
        assert_eq!(
            c.decode::<AlertRecord>(RecordType::Alert, &b).unwrap().0,
            alert
        );

        let dl = DeadLetterRecord {
            received_at: 1,
            source_topic: "t".into(),
            source_partition: 0,
            source_offset: 9,
            member_id: None,
            reason_code: "bad_framing".into(),
            reason: "r".into(),
            payload: Bytes(vec![0, 1, 2, 255]),
            payload_size: 4,
            payload_truncated: false,
        };
        let b = c.encode(RecordType::DeadLetter, &dl).unwrap();
        assert_eq!(
            c.decode::<DeadLetterRecord>(RecordType::DeadLetter, &b)
                .unwrap()
                .0,
            dl
        );

        let cu = CampaignUpdateRecord {
            campaign_id: "c".into(),
            version: 3,
            merged_into: Some("d".into()),
            submission_count: 2,
            member_count: 2,
            observable_count: 5,
            member_ids: vec!["a".into()],
            sectors: vec!["finance".into()],
            tlp: Tlp::Red,
            first_seen: 1,
            last_seen: 2,
            updated_at: 3,
            actor_id: Some("G0007".into()),
            actor_name: Some("APT28".into()),
            attribution_confidence: 0.5,
            attribution_evidence: vec!["malware chopstick".into()],
        };
        let b = c.encode(RecordType::CampaignUpdate, &cu).unwrap();
        assert_eq!(
            c.decode::<CampaignUpdateRecord>(RecordType::CampaignUpdate, &b)
                .unwrap()
                .0,
            cu
        );
    }

    #[test]
    fn framing_errors_are_classified() {
        let c = codec();
        let good = c.encode(RecordType::Submission, &sample()).unwrap();
        let code = |b: &[u8]| {
            c.decode::<SubmissionRecord>(RecordType::Submission, b)
                .unwrap_err()
                .reason_code()
        };
        assert_eq!(code(b""), "bad_framing");
        assert_eq!(code(b"{\"json\": true}"), "bad_framing");
        assert_eq!(code(&[0xC3, 0x01, 1, 2]), "bad_framing");
        let mut wrong_fp = good.clone();
        wrong_fp[5] ^= 0xFF;
        assert_eq!(code(&wrong_fp), "unknown_schema");
        assert_eq!(code(&good[..good.len() - 3]), "avro_decode");
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(code(&trailing), "trailing_bytes");
        let huge = vec![0u8; 2 * 1024 * 1024];
        assert_eq!(code(&huge), "too_large");
    }

    #[test]
    fn a_length_prefix_bomb_is_refused_without_allocating() {
        let c = codec();
        // Header, then a string length of ~2^62 for submission_id.
        let mut b = vec![0xC3, 0x01];
        b.extend_from_slice(&c.fingerprint(RecordType::Submission));
        b.extend_from_slice(&[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(
            c.decode::<SubmissionRecord>(RecordType::Submission, &b)
                .unwrap_err()
                .reason_code(),
            "avro_decode"
        );
        // An array of observables claiming 2^40 elements.
        let mut b = c.encode(RecordType::Submission, &sample()).unwrap();
        b.truncate(10);
        b.extend_from_slice(&[0x02, b'x', 0x02, b'y', 0x80, 0x80, 0x80, 0x80, 0x08]);
        assert!(c
            .decode::<SubmissionRecord>(RecordType::Submission, &b)
            .is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        // Arbitrary bytes after a valid header never panic the decoder.
        #[test]
        fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let c = codec();
            let mut b = vec![0xC3, 0x01];
            b.extend_from_slice(&c.fingerprint(RecordType::Submission));
            b.extend_from_slice(&body);
            let _ = c.decode::<SubmissionRecord>(RecordType::Submission, &b);
        }

        // Flipping any byte of a valid record never panics the decoder.
        #[test]
        fn mutated_records_never_panic(pos in 0usize..400, val: u8) {
            let c = codec();
            let mut b = c.encode(RecordType::Submission, &sample()).unwrap();
            let i = pos % b.len();
            b[i] = val;
            let _ = c.decode::<SubmissionRecord>(RecordType::Submission, &b);
        }
    }
}
