//! Kafka clients with the settings the pipeline's guarantees rely on.

use std::time::Duration;

use prometheus::IntGauge;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};

use crate::config::KafkaConfig;
use crate::error::FusionError;
use crate::topics::TopicSpec;

fn base(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("client.id", "cisp-fusion");
    for (k, v) in &cfg.client {
        c.set(k, v);
    }
    c
}

/// The consumer's client context: librdkafka's statistics (every
/// `STATS_INTERVAL_MS`) give each assigned partition's lag, summed into the
/// `cisp_fusion_consumer_lag` gauge.
pub struct LagContext {
    lag: IntGauge,
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        self.lag.set(total_lag(&statistics));
    }
}

impl ConsumerContext for LagContext {}

/// Records behind the high watermark, over every partition this consumer
/// holds (librdkafka reports -1 while a partition's lag is unknown).
fn total_lag(statistics: &Statistics) -> i64 {
    statistics
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .filter(|p| p.partition >= 0 && p.consumer_lag > 0)
        .map(|p| p.consumer_lag)
        .sum()
}

const STATS_INTERVAL_MS: &str = "5000";

pub type FusionConsumer = BaseConsumer<LagContext>;

/// A consumer that never commits on its own: offsets are committed by the
/// pipeline after the batch is durable.
pub fn consumer(cfg: &KafkaConfig, lag: IntGauge) -> Result<FusionConsumer, FusionError> {
    base(cfg)
        .set("statistics.interval.ms", STATS_INTERVAL_MS)
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "max.poll.interval.ms",
            cfg.max_poll_interval.as_millis().to_string(),
        )
        .set("session.timeout.ms", "30000")
        .create_with_context(LagContext { lag })
        .map_err(|e| FusionError::kafka("create consumer", e))
}

/// An idempotent producer whose deliveries fail (rather than hang) well
/// inside `max.poll.interval.ms`.
pub fn producer(cfg: &KafkaConfig) -> Result<FutureProducer, FusionError> {
    let timeout_ms = (cfg.max_poll_interval.as_millis() / 4).clamp(5_000, 60_000);
    base(cfg)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", timeout_ms.to_string())
        .create()
        .map_err(|e| FusionError::kafka("create producer", e))
}

/// Creates missing topics; existing ones are left as they are.
pub async fn ensure_topics(cfg: &KafkaConfig, specs: &[TopicSpec]) -> Result<(), FusionError> {
    let admin: AdminClient<DefaultClientContext> = base(cfg)
        .create()
        .map_err(|e| FusionError::kafka("create admin client", e))?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let new: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|s| {
            let t = NewTopic::new(&s.name, cfg.partitions, TopicReplication::Fixed(1));
            if s.compacted {
                t.set("cleanup.policy", "compact")
            } else {
                t
            }
        })
        .collect();
    let results = admin
        .create_topics(&new, &opts)
        .await
        .map_err(|e| FusionError::kafka("create topics", e))?;
    let mut created = 0;
    for r in results {
        match r {
            Ok(_) => created += 1,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                warn!(topic = %name, error = %code, "topic creation failed");
                return Err(FusionError::Internal(format!(
                    "cannot create topic {name}: {code}"
                )));
            }
        }
    }
    info!(created, total = specs.len(), "topics ensured");
    Ok(())
}

/// Reads `topic` from the beginning of every partition to its end as of
/// the call (the high watermarks then), without joining a group. For tools
/// and tests that inspect a topic (e.g. what a member has received).
pub fn read_to_end(
    cfg: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, FusionError> {
    let records = read_topic(base(cfg), "cisp-topic-reader", topic, timeout)?;
    Ok(records.into_iter().map(|(_, payload)| payload).collect())
}

/// Like [`read_to_end`], as whichever user `client` authenticates as, with
/// each record's broker timestamp (milliseconds; 0 if it has none).
/// `group` is only named (offsets are assigned, never committed). A
/// partition is done when the record just before its high watermark has
/// been read, so offsets skipped by compaction cannot stall it; an end not
/// reached within `timeout` is an error, never a silent partial list.
pub fn read_topic(
    mut client: ClientConfig,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<(i64, Vec<u8>)>, FusionError> {
    let consumer: BaseConsumer = client
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| FusionError::kafka("create reader", e))?;
    let md = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| FusionError::kafka("metadata", e))?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = std::collections::BTreeMap::new();
    for p in md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
    {
        let (lo, hi) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|e| FusionError::kafka("watermarks", e))?;
        if hi > lo {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| FusionError::kafka("assign", e))?;
            ends.insert(p, hi);
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return Ok(out);
    }
    consumer
        .assign(&tpl)
        .map_err(|e| FusionError::kafka("assign", e))?;
    let deadline = std::time::Instant::now() + timeout;
    while !ends.is_empty() {
        if std::time::Instant::now() > deadline {
            return Err(FusionError::Internal(format!(
                "read {} records of {topic}; {} partition(s) not read to their end",
                out.len(),
                ends.len()
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let Some(&end) = ends.get(&m.partition()) else {
                    continue;
                };
                if m.offset() >= end {
                    continue;
                }
                if m.offset() + 1 >= end {
                    ends.remove(&m.partition());
                }
                let ts = m.timestamp().to_millis().unwrap_or(0);
                out.push((ts, m.payload().unwrap_or_default().to_vec()));
            }
            Some(Err(e)) => return Err(FusionError::kafka("read", e)),
            None => {}
        }
    }
    Ok(out)
}
