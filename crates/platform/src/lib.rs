//! What the CiSP services share, so that none of them depends on another.
//!
//! * [`settings`]: the one configuration file and its `CISP_*` environment
//!   overrides, bound in one table; secrets as [`cisp_model::Secret`].
//! * [`config`]: the sections every service reads ([`SharedConfig`]).
//! * [`kafka`]: `[kafka]`, the one client builder
//!   ([`KafkaConfig::client`]), topic creation, [`kafka::read_topic`].
//! * [`clickhouse`]: `[clickhouse]` and its client builder.
//! * [`topics`]: topic names, all under one prefix; [`acl`]: which
//!   principal may do what to them, and consumer-group names.
//! * [`credentials`]: the local stack's password files.
//! * [`metrics`]: metrics registered where they are made, enum labels;
//!   [`probe`]: asking a running service's `/metrics` and `/health`.
//!
//! The correlation core (`cisp-model`, `cisp-wire`, `cisp-engine`) knows
//! nothing of this crate; the services under `services/` build on it.

pub mod acl;
pub mod clickhouse;
pub mod config;
pub mod credentials;
pub mod error;
pub mod kafka;
pub mod metrics;
pub mod probe;
pub mod settings;
pub mod topics;

pub use clickhouse::ClickHouseConfig;
pub use config::SharedConfig;
pub use error::PlatformError;
pub use kafka::{Credentials, KafkaConfig};
pub use topics::{TopicSpec, Topics};
