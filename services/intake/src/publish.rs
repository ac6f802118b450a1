//! Putting a converted submission on the member's own topic.
//!
//! The topic is computed from the member the uploader *proved* to be (its
//! broker user for the CLI, its API key for the gateway), never from
//! anything in the upload: a file claiming to be from another member
//! still lands on the uploader's topic, where the fusion service would
//! reject the mismatch; and [`Publisher::publish`] refuses it first.
//!
//! Records are Avro single-object encoded, keyed by submission id, sent by
//! an idempotent producer with `acks=all`; `publish` returns only once the
//! broker has acknowledged, so "published" means durable.

use anyhow::Context as _;
use cisp_model::MemberId;
use cisp_platform::Topics;
use cisp_wire::records::SubmissionRecord;
use cisp_wire::{Codec, DecodeLimits, RecordType};
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;

use crate::IntakeError;

/// Where a record went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Sends of one record before its failure is reported.
const DELIVERY_ATTEMPTS: u32 = 5;

pub struct Publisher {
    producer: FutureProducer,
    codec: Codec,
    topics: Topics,
}

impl Publisher {
    /// `client` holds the broker address and credentials (the member's own
    /// user for the CLI, the gateway's user for the gateway).
    pub fn new(mut client: ClientConfig, topic_prefix: &str) -> anyhow::Result<Publisher> {
        let producer = client
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            .create()
            .context("creating the intake producer")?;
        Ok(Publisher {
            producer,
            codec: Codec::new(DecodeLimits::default())?,
            topics: Topics::new(topic_prefix),
        })
    }

    pub fn topic_for(&self, member: &MemberId) -> String {
        self.topics.submissions(member)
    }

    /// Publishes `record` on `member`'s submission topic and waits for the
    /// broker's acknowledgement.
    pub async fn publish(
        &self,
        member: &MemberId,
        record: &SubmissionRecord,
    ) -> Result<Receipt, IntakeError> {
        if record.member_id != member.as_str() {
            return Err(IntakeError::Invalid(
                cisp_model::ModelError::MemberMismatch {
                    claimed: crate::text::excerpt(&record.member_id),
                    topic: member.to_string(),
                },
            ));
        }
        let payload = self
            .codec
            .encode(RecordType::Submission, record)
            .map_err(|e| IntakeError::Publish(format!("encoding: {e}")))?;
        let topic = self.topic_for(member);
        // A broker restarting or a leader moving is sent again; a refusal
        // (rights, size) is reported at once.
        let delivery = cisp_platform::kafka::deliver(
            &self.producer,
            &topic,
            &record.submission_id,
            &payload,
            DELIVERY_ATTEMPTS,
        )
        .await
        .map_err(|e| IntakeError::Publish(format!("{topic}: {e}")))?;
        Ok(Receipt {
            topic,
            partition: delivery.partition,
            offset: delivery.offset,
        })
    }
}
