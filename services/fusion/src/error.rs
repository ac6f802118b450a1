//! The service's error type. Input problems never appear here: a bad record
//! is dead-lettered, not an error. What is here stops the pipeline without
//! committing offsets, so a restart picks the work up again.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FusionError {
    /// ClickHouse failed for good (after retries) or for a reason retrying
    /// cannot fix.
    #[error("clickhouse {what} failed: {source}")]
    ClickHouse {
        what: &'static str,
        #[source]
        source: Box<clickhouse::error::Error>,
    },
    /// The broker did not acknowledge a produced record, or refused a call.
    #[error("kafka {what} failed: {source}")]
    Kafka {
        what: &'static str,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    #[error(transparent)]
    Platform(#[from] cisp_platform::PlatformError),
    #[error("{0}")]
    Internal(String),
}

impl FusionError {
    pub fn clickhouse(what: &'static str, source: clickhouse::error::Error) -> FusionError {
        FusionError::ClickHouse {
            what,
            source: Box::new(source),
        }
    }
    pub fn kafka(what: &'static str, source: rdkafka::error::KafkaError) -> FusionError {
        FusionError::Kafka {
            what,
            source: Box::new(source),
        }
    }
}
