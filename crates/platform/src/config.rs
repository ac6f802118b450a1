//! The sections every service reads from the one configuration file:
//! where the registry is, where metrics are served, the record limits,
//! `[kafka]` and `[clickhouse]`. Sections only the fusion service reads
//! ([`SERVICE_SECTIONS`]) are left to it; a key nobody knows is refused.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cisp_model::Limits;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::clickhouse::{ClickHouseConfig, ClickHouseSection};
use crate::kafka::{Credentials, KafkaConfig, KafkaSection};
use crate::settings;

/// Top-level keys of the file that belong to the fusion service alone.
pub const SERVICE_SECTIONS: &[&str] = &["log", "engine", "alerts", "state", "api_token"];

/// The shared part of the file as written (defaults filled in,
/// environment applied, relative paths resolved).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSection {
    pub registry_path: PathBuf,
    pub metrics_addr: String,
    #[serde(default)]
    pub limits: Limits,
    pub kafka: KafkaSection,
    pub clickhouse: ClickHouseSection,
}

/// The shared settings, validated.
#[derive(Clone, Debug)]
pub struct SharedConfig {
    pub registry_path: PathBuf,
    /// Where the fusion service serves `/metrics` and `/health`; port 0
    /// picks a free port.
    pub metrics_addr: SocketAddr,
    pub limits: Limits,
    pub kafka: KafkaConfig,
    pub clickhouse: ClickHouseConfig,
    /// Every setting of the file after the environment, secrets redacted,
    /// for tools that need one of the service's (the report's
    /// k-anonymity).
    pub settings: Table,
}

impl SharedConfig {
    /// Reads `path` with this process's `CISP_*` environment. Relative
    /// paths in the file are relative to the file's folder.
    pub fn load(path: &Path, credentials: Credentials) -> anyhow::Result<SharedConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        settings::merged(&text, &settings::process_env())
            .and_then(|table| SharedConfig::from_table(table, base, credentials))
            .with_context(|| format!("invalid config {}", path.display()))
    }

    /// The shared sections of a merged table (see [`settings::merged`]);
    /// the service's sections are skipped.
    pub fn from_table(
        table: Table,
        base: &Path,
        credentials: Credentials,
    ) -> anyhow::Result<SharedConfig> {
        let mut shared = table.clone();
        for key in SERVICE_SECTIONS {
            shared.remove(*key);
        }
        let section: SharedSection = settings::section(shared)?;
        let (config, _) = section.validate(base, credentials, settings::redacted(table))?;
        Ok(config)
    }

    /// A setting by dotted key (`engine.k_anonymity`), if the file or the
    /// environment gave one.
    pub fn setting(&self, key: &str) -> Option<&Value> {
        settings::lookup(&self.settings, key)
    }
}

impl SharedSection {
    /// Validates every shared section; also returns the section itself
    /// with paths resolved, for the effective-settings table.
    pub fn validate(
        mut self,
        base: &Path,
        credentials: Credentials,
        settings: Table,
    ) -> anyhow::Result<(SharedConfig, SharedSection)> {
        if self.registry_path.is_relative() {
            self.registry_path = base.join(&self.registry_path);
        }
        let metrics_addr: SocketAddr = self
            .metrics_addr
            .parse()
            .with_context(|| format!("metrics_addr {:?} is not host:port", self.metrics_addr))?;
        let mut written = self.clone();
        written.kafka.redact();
        Ok((
            SharedConfig {
                registry_path: self.registry_path,
                metrics_addr,
                limits: self.limits,
                kafka: self.kafka.validate(credentials)?,
                clickhouse: self.clickhouse.validate()?,
                settings,
            },
            written,
        ))
    }
}
