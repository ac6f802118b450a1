//! The platform's error: a broker call that failed, or a result that is
//! not what the caller needs (a topic not read to its end).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PlatformError {
    /// The broker refused or failed a call.
    #[error("kafka {what} failed: {source}")]
    Kafka {
        what: &'static str,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    #[error("{0}")]
    Incomplete(String),
}

impl PlatformError {
    pub fn kafka(what: &'static str, source: rdkafka::error::KafkaError) -> PlatformError {
        PlatformError::Kafka {
            what,
            source: Box::new(source),
        }
    }
}
