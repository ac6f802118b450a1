//! Kafka clients with the settings the pipeline's guarantees rely on.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use tracing::{info, warn};

use crate::config::KafkaConfig;
use crate::error::FusionError;
use crate::topics::TopicSpec;

fn base(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers).set("client.id", "cisp-fusion");
    for (k, v) in &cfg.client {
        c.set(k, v);
    }
    c
}

/// A consumer that never commits on its own: offsets are committed by the
/// pipeline after the batch is durable.
pub fn consumer(cfg: &KafkaConfig) -> Result<BaseConsumer, FusionError> {
    base(cfg)
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("max.poll.interval.ms", cfg.max_poll_interval.as_millis().to_string())
        .set("session.timeout.ms", "30000")
        .create()
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
    let admin: AdminClient<DefaultClientContext> =
        base(cfg).create().map_err(|e| FusionError::kafka("create admin client", e))?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let new: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|s| {
            let t = NewTopic::new(&s.name, cfg.partitions, TopicReplication::Fixed(1));
            if s.compacted { t.set("cleanup.policy", "compact") } else { t }
        })
        .collect();
    let results = admin.create_topics(&new, &opts).await.map_err(|e| FusionError::kafka("create topics", e))?;
    let mut created = 0;
    for r in results {
        match r {
            Ok(_) => created += 1,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                warn!(topic = %name, error = %code, "topic creation failed");
                return Err(FusionError::Internal(format!("cannot create topic {name}: {code}")));
            }
        }
    }
    info!(created, total = specs.len(), "topics ensured");
    Ok(())
}
