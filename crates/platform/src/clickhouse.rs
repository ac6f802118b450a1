//! ClickHouse: the `[clickhouse]` section and the one client builder
//! (validation off: Debian's ClickHouse 18.16 lacks the metadata the
//! crate's validation reads).

use std::time::Duration;

use anyhow::bail;
use cisp_model::Secret;
use clickhouse::Client;
use serde::{Deserialize, Serialize};

/// `[clickhouse]` as written (defaults filled in, environment applied).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSection {
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: Secret,
    pub max_retries: u32,
    pub retry_backoff_ms: u64,
}

impl Default for ClickHouseSection {
    fn default() -> ClickHouseSection {
        ClickHouseSection {
            url: String::new(),
            database: String::new(),
            user: "default".into(),
            password: Secret::default(),
            max_retries: 8,
            retry_backoff_ms: 250,
        }
    }
}

/// ClickHouse settings, validated.
#[derive(Clone, Debug)]
pub struct ClickHouseConfig {
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: Secret,
    pub max_retries: u32,
    pub retry_backoff: Duration,
}

impl ClickHouseSection {
    pub fn validate(self) -> anyhow::Result<ClickHouseConfig> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            bail!("clickhouse.url must start with http:// or https://");
        }
        check_identifier("clickhouse.database", &self.database)?;
        Ok(ClickHouseConfig {
            url: self.url,
            database: self.database,
            user: self.user,
            password: self.password,
            max_retries: self.max_retries,
            retry_backoff: Duration::from_millis(self.retry_backoff_ms),
        })
    }
}

impl ClickHouseConfig {
    /// A client of the configured database.
    pub fn client(&self) -> Client {
        self.server_client().with_database(&self.database)
    }

    /// A client of the server, no database chosen (to create or drop one).
    pub fn server_client(&self) -> Client {
        let c = Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_validation(false);
        if self.password.is_empty() {
            c
        } else {
            c.with_password(self.password.expose())
        }
    }
}

fn check_identifier(what: &str, v: &str) -> anyhow::Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !v.as_bytes()[0].is_ascii_digit();
    if !ok {
        bail!("{what} {v:?} must be an identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64)");
    }
    Ok(())
}
