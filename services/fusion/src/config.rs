//! Configuration: a TOML file (`config/fusion.toml`) with unknown keys
//! refused, overridden by `CISP_*` environment variables, validated into
//! [`Config`]. Secrets (ClickHouse password, id salt, Kafka SASL
//! password) come from the environment or `<VAR>_FILE` files, are
//! redacted from `Debug` output and never logged.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use cisp_model::Limits;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    registry_path: PathBuf,
    metrics_addr: String,
    #[serde(default = "default_log")]
    log: String,
    kafka: RawKafka,
    clickhouse: RawClickHouse,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    engine: RawEngine,
    #[serde(default)]
    state: RawState,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawState {
    snapshot_path: PathBuf,
    snapshot_every_records: u64,
    snapshot_interval_s: u64,
}

impl Default for RawState {
    fn default() -> RawState {
        RawState {
            snapshot_path: PathBuf::from("../.stack/state/engine.snapshot"),
            snapshot_every_records: 50_000,
            snapshot_interval_s: 60,
        }
    }
}

fn default_log() -> String {
    "info".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafka {
    brokers: String,
    #[serde(default = "default_prefix")]
    topic_prefix: String,
    #[serde(default = "default_group")]
    group_id: String,
    /// The service creates missing topics itself only where its broker
    /// user may (an open development broker); with ACLs the administrator
    /// provisions them (`cisp-fusion acls`).
    #[serde(default)]
    create_topics: bool,
    #[serde(default = "default_partitions")]
    partitions: i32,
    #[serde(default = "default_batch_max")]
    batch_max_records: usize,
    #[serde(default = "default_batch_ms")]
    batch_max_wait_ms: u64,
    #[serde(default = "default_batch_age_ms")]
    batch_max_age_ms: u64,
    #[serde(default = "default_max_poll")]
    max_poll_interval_ms: u64,
    #[serde(default = "default_message_bytes")]
    max_message_bytes: usize,
    #[serde(default = "default_stall_after_secs")]
    stall_after_secs: u64,
    #[serde(default)]
    confluent_schema_ids: Vec<u32>,
    /// Extra librdkafka properties (e.g. security.protocol, sasl.*).
    #[serde(default)]
    client: BTreeMap<String, String>,
}

fn default_prefix() -> String {
    "cisp".into()
}
fn default_group() -> String {
    "cisp-fusion".into()
}
fn default_stall_after_secs() -> u64 {
    60
}
fn default_partitions() -> i32 {
    3
}
fn default_batch_max() -> usize {
    5000
}
fn default_batch_ms() -> u64 {
    50
}
fn default_batch_age_ms() -> u64 {
    1000
}
fn default_max_poll() -> u64 {
    300_000
}
fn default_message_bytes() -> usize {
    1024 * 1024
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClickHouse {
    url: String,
    database: String,
    #[serde(default = "default_user")]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default = "default_retries")]
    max_retries: u32,
    #[serde(default = "default_backoff")]
    retry_backoff_ms: u64,
}

fn default_user() -> String {
    "default".into()
}
fn default_retries() -> u32 {
    8
}
fn default_backoff() -> u64 {
    250
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEngine {
    hot_observable_limit: u32,
    common_after_campaigns: u32,
    link_window_days: u32,
    warnlists_disabled: Vec<String>,
    attribution_threshold: f64,
    max_related_per_alert: usize,
    max_shared_per_alert: usize,
    id_salt: String,
    k_anonymity: u32,
    escalation_members: u32,
    escalation_sectors: u32,
    view_budget: u32,
}

impl Default for RawEngine {
    fn default() -> RawEngine {
        let d = cisp_engine::EngineConfig::default();
        RawEngine {
            hot_observable_limit: d.hot_observable_limit,
            common_after_campaigns: d.common_after_campaigns,
            link_window_days: u32::try_from(d.link_window_ms / 86_400_000).unwrap_or(30),
            warnlists_disabled: d.warnlists_disabled,
            attribution_threshold: d.attribution_threshold,
            max_related_per_alert: d.max_related_per_alert,
            max_shared_per_alert: d.max_shared_per_alert,
            id_salt: d.id_salt,
            k_anonymity: d.k_anonymity,
            escalation_members: d.escalation_members,
            escalation_sectors: d.escalation_sectors,
            view_budget: d.view_budget,
        }
    }
}

/// Kafka settings, validated. Secret client properties are redacted from
/// `Debug`.
#[derive(Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topic_prefix: String,
    pub group_id: String,
    pub create_topics: bool,
    pub partitions: i32,
    pub batch_max_records: usize,
    pub batch_max_wait: Duration,
    /// A batch is closed this long after its first record at the latest
    /// (the publish→alert latency a busy stream adds, traded against
    /// fewer, larger flushes).
    pub batch_max_age: Duration,
    pub max_poll_interval: Duration,
    pub max_message_bytes: usize,
    /// A partition whose committed offset stays put this long while
    /// records wait behind it is reported stalled (`/health`, metric).
    pub stall_after: Duration,
    pub confluent_schema_ids: Vec<u32>,
    pub client: BTreeMap<String, String>,
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let client: BTreeMap<&str, &str> = self
            .client
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_property(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic_prefix", &self.topic_prefix)
            .field("group_id", &self.group_id)
            .field("create_topics", &self.create_topics)
            .field("partitions", &self.partitions)
            .field("batch_max_records", &self.batch_max_records)
            .field("batch_max_wait", &self.batch_max_wait)
            .field("batch_max_age", &self.batch_max_age)
            .field("max_poll_interval", &self.max_poll_interval)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("stall_after", &self.stall_after)
            .field("confluent_schema_ids", &self.confluent_schema_ids)
            .field("client", &client)
            .finish()
    }
}

/// ClickHouse settings, validated. `password` is redacted from `Debug`.
#[derive(Clone)]
pub struct ClickHouseConfig {
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    pub max_retries: u32,
    pub retry_backoff: Duration,
}

impl fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// The validated configuration the service runs with.
#[derive(Clone)]
pub struct Config {
    pub registry_path: PathBuf,
    /// Where `/metrics` and `/health` are served; port 0 picks a free port.
    pub metrics_addr: SocketAddr,
    pub log: String,
    pub kafka: KafkaConfig,
    pub clickhouse: ClickHouseConfig,
    pub limits: Limits,
    pub engine: cisp_engine::EngineConfig,
    pub state: StateConfig,
    /// Bearer token of the Fusion Cell query API (`/api/...`); the API is
    /// off without one. A secret: never in the file, never printed.
    pub api_token: Option<String>,
}

/// Where and how often the engine is snapshotted.
#[derive(Clone, Debug)]
pub struct StateConfig {
    pub snapshot_path: PathBuf,
    pub snapshot_every_records: u64,
    pub snapshot_interval: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("registry_path", &self.registry_path)
            .field("metrics_addr", &self.metrics_addr)
            .field("kafka", &self.kafka)
            .field("clickhouse", &self.clickhouse)
            .field("limits", &self.limits)
            .field(
                "engine.hot_observable_limit",
                &self.engine.hot_observable_limit,
            )
            .field(
                "engine.common_after_campaigns",
                &self.engine.common_after_campaigns,
            )
            .field("engine.link_window_ms", &self.engine.link_window_ms)
            .field("engine.warnlists_disabled", &self.engine.warnlists_disabled)
            .field("state", &self.state)
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// The environment variables that override the file, and what they set.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("CISP_KAFKA_BROKERS", "kafka.brokers"),
    ("CISP_TOPIC_PREFIX", "kafka.topic_prefix"),
    ("CISP_GROUP_ID", "kafka.group_id"),
    ("CISP_CLICKHOUSE_URL", "clickhouse.url"),
    ("CISP_CLICKHOUSE_DATABASE", "clickhouse.database"),
    ("CISP_CLICKHOUSE_USER", "clickhouse.user"),
    ("CISP_CLICKHOUSE_PASSWORD", "clickhouse.password"),
    ("CISP_REGISTRY", "registry_path"),
    ("CISP_METRICS_ADDR", "metrics_addr"),
    ("CISP_ID_SALT", "engine.id_salt"),
    ("CISP_LOG", "log"),
    (
        "CISP_KAFKA_SECURITY_PROTOCOL",
        "kafka.client.security.protocol",
    ),
    ("CISP_KAFKA_SASL_MECHANISM", "kafka.client.sasl.mechanism"),
    ("CISP_KAFKA_SASL_USERNAME", "kafka.client.sasl.username"),
    ("CISP_KAFKA_SASL_PASSWORD", "kafka.client.sasl.password"),
    ("CISP_KAFKA_SSL_CA_LOCATION", "kafka.client.ssl.ca.location"),
    ("CISP_KAFKA_CREATE_TOPICS", "kafka.create_topics"),
    ("CISP_SNAPSHOT_PATH", "state.snapshot_path"),
    ("CISP_API_TOKEN", "the query API's bearer token"),
];

/// Secrets: each may also be given as `<VAR>_FILE`, a path whose content
/// (without a trailing newline) is the value, as container secrets are.
pub const SECRET_VARS: &[&str] = &[
    "CISP_KAFKA_SASL_PASSWORD",
    "CISP_CLICKHOUSE_PASSWORD",
    "CISP_ID_SALT",
    "CISP_API_TOKEN",
];

/// librdkafka properties that hold secrets: never in the config file,
/// never in `Debug` output.
fn is_secret_property(key: &str) -> bool {
    key.contains("password")
        || key.contains("secret")
        || key.ends_with(".pem")
        || key == "sasl.jaas.config"
        || key == "sasl.oauthbearer.config"
}

/// `env` with every `<SECRET>_FILE` resolved into `<SECRET>`.
fn resolve_secret_files(
    env: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut env = env.clone();
    for var in SECRET_VARS {
        let file_var = format!("{var}_FILE");
        let Some(path) = env.get(&file_var).cloned() else {
            continue;
        };
        if env.contains_key(*var) {
            bail!("both {var} and {file_var} are set; set one");
        }
        let value = std::fs::read_to_string(&path)
            .with_context(|| format!("{file_var}: cannot read {path}"))?;
        let value = value.trim_end_matches(['\n', '\r']).to_owned();
        if value.is_empty() {
            bail!("{file_var}: {path} is empty");
        }
        env.insert((*var).to_owned(), value);
    }
    Ok(env)
}

impl Config {
    /// Reads `path`, applies `CISP_*` environment overrides, validates.
    /// Relative paths in the file are relative to the file's folder.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        Config::read(path, true)
    }

    /// For tools that do not connect to Kafka as the service (the report
    /// job reads only ClickHouse; intake connects as a member or as its own
    /// user, with credentials it brings): the same file and environment
    /// overrides, but the service's Kafka password is not required, so the
    /// result must not be used to connect as the service.
    pub fn load_for_storage(path: &Path) -> anyhow::Result<Config> {
        Config::read(path, false)
    }

    fn read(path: &Path, kafka_credentials: bool) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("CISP_"))
            .collect();
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, &env, base, kafka_credentials)
            .with_context(|| format!("invalid config {}", path.display()))
    }

    pub fn from_parts(
        text: &str,
        env: &BTreeMap<String, String>,
        base: &Path,
    ) -> anyhow::Result<Config> {
        Config::parse(text, env, base, true)
    }

    fn parse(
        text: &str,
        env: &BTreeMap<String, String>,
        base: &Path,
        kafka_credentials: bool,
    ) -> anyhow::Result<Config> {
        let mut raw: RawConfig =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        if let Some(key) = raw.kafka.client.keys().find(|k| is_secret_property(k)) {
            bail!(
                "kafka.client.{key} is a secret and does not belong in the config file; \
                 for sasl.password set CISP_KAFKA_SASL_PASSWORD or CISP_KAFKA_SASL_PASSWORD_FILE"
            );
        }
        let env = resolve_secret_files(env)?;
        for (var, _) in ENV_OVERRIDES {
            let Some(v) = env.get(*var) else { continue };
            let v = v.clone();
            match *var {
                "CISP_KAFKA_BROKERS" => raw.kafka.brokers = v,
                "CISP_TOPIC_PREFIX" => raw.kafka.topic_prefix = v,
                "CISP_GROUP_ID" => raw.kafka.group_id = v,
                "CISP_CLICKHOUSE_URL" => raw.clickhouse.url = v,
                "CISP_CLICKHOUSE_DATABASE" => raw.clickhouse.database = v,
                "CISP_CLICKHOUSE_USER" => raw.clickhouse.user = v,
                "CISP_CLICKHOUSE_PASSWORD" => raw.clickhouse.password = v,
                "CISP_REGISTRY" => raw.registry_path = PathBuf::from(v),
                "CISP_METRICS_ADDR" => raw.metrics_addr = v,
                "CISP_ID_SALT" => raw.engine.id_salt = v,
                "CISP_LOG" => raw.log = v,
                "CISP_KAFKA_SECURITY_PROTOCOL" => {
                    raw.kafka.client.insert("security.protocol".into(), v);
                }
                "CISP_KAFKA_SASL_MECHANISM" => {
                    raw.kafka.client.insert("sasl.mechanism".into(), v);
                }
                "CISP_KAFKA_SASL_USERNAME" => {
                    raw.kafka.client.insert("sasl.username".into(), v);
                }
                "CISP_KAFKA_SASL_PASSWORD" => {
                    raw.kafka.client.insert("sasl.password".into(), v);
                }
                "CISP_KAFKA_CREATE_TOPICS" => {
                    raw.kafka.create_topics = match v.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => bail!("CISP_KAFKA_CREATE_TOPICS must be true or false, not {v:?}"),
                    };
                }
                "CISP_KAFKA_SSL_CA_LOCATION" => {
                    raw.kafka.client.insert("ssl.ca.location".into(), v);
                }
                "CISP_SNAPSHOT_PATH" => raw.state.snapshot_path = PathBuf::from(v),
                _ => {}
            }
        }
        let registry_path = if raw.registry_path.is_absolute() {
            raw.registry_path
        } else {
            base.join(raw.registry_path)
        };
        let metrics_addr: SocketAddr = raw
            .metrics_addr
            .parse()
            .with_context(|| format!("metrics_addr {:?} is not host:port", raw.metrics_addr))?;
        let k = raw.kafka;
        if k.brokers.trim().is_empty() {
            bail!("kafka.brokers is empty");
        }
        check_topic_prefix(&k.topic_prefix)?;
        if !(1..=1000).contains(&k.partitions) {
            bail!("kafka.partitions must be 1 to 1000, not {}", k.partitions);
        }
        if !(1..=1_000_000).contains(&k.batch_max_records) {
            bail!("kafka.batch_max_records must be 1 to 1000000");
        }
        if !(1..=60_000).contains(&k.batch_max_age_ms) || k.batch_max_wait_ms > k.batch_max_age_ms {
            bail!("kafka.batch_max_age_ms must be 1 to 60000 and at least batch_max_wait_ms");
        }
        if !(1024..=64 * 1024 * 1024).contains(&k.max_message_bytes) {
            bail!("kafka.max_message_bytes must be 1 KiB to 64 MiB");
        }
        if !(5..=86_400).contains(&k.stall_after_secs) {
            bail!("kafka.stall_after_secs must be 5 to 86400");
        }
        let protocol = k
            .client
            .get("security.protocol")
            .map(|p| p.to_ascii_uppercase())
            .unwrap_or_default();
        if protocol.starts_with("SASL") {
            let mechanism = k
                .client
                .get("sasl.mechanism")
                .map(|m| m.to_ascii_uppercase())
                .unwrap_or_else(|| "GSSAPI".into());
            let needs_password = mechanism == "PLAIN" || mechanism.starts_with("SCRAM");
            if needs_password && !k.client.contains_key("sasl.username") {
                bail!("kafka.client.security.protocol is {protocol} with {mechanism}: set kafka.client.\"sasl.username\" (or CISP_KAFKA_SASL_USERNAME)");
            }
            if kafka_credentials && needs_password && !k.client.contains_key("sasl.password") {
                bail!("kafka.client.security.protocol is {protocol} with {mechanism}: set CISP_KAFKA_SASL_PASSWORD or CISP_KAFKA_SASL_PASSWORD_FILE");
            }
        }
        for key in k.client.keys() {
            if matches!(
                key.as_str(),
                "enable.auto.commit"
                    | "enable.auto.offset.store"
                    | "group.id"
                    | "bootstrap.servers"
            ) {
                bail!("kafka.client.{key} is set by the service itself");
            }
        }
        let c = raw.clickhouse;
        if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
            bail!("clickhouse.url must start with http:// or https://");
        }
        check_identifier("clickhouse.database", &c.database)?;
        // Retries must finish well inside max.poll.interval.ms, or the broker
        // would rebalance the partitions away while we wait (see pipeline.rs).
        let worst_retry_ms: u64 = (0..c.max_retries)
            .map(|i| c.retry_backoff_ms.saturating_mul(1 << i.min(6)))
            .sum();
        if worst_retry_ms >= k.max_poll_interval_ms / 2 {
            bail!(
                "clickhouse retries can take {worst_retry_ms} ms, more than half of kafka.max_poll_interval_ms ({})",
                k.max_poll_interval_ms
            );
        }
        let e = raw.engine;
        if e.hot_observable_limit == 0 {
            bail!("engine.hot_observable_limit must be at least 1");
        }
        if e.k_anonymity < 2 {
            bail!("engine.k_anonymity must be at least 2 (1 would name a sector's only member)");
        }
        if e.escalation_members < 2 || e.escalation_sectors < 2 {
            bail!("engine.escalation_members and engine.escalation_sectors must be at least 2");
        }
        if e.view_budget < 1000 {
            bail!("engine.view_budget must be at least 1000");
        }
        if e.common_after_campaigns == 0 {
            bail!("engine.common_after_campaigns must be at least 1");
        }
        if !(1..=3650).contains(&e.link_window_days) {
            bail!("engine.link_window_days must be 1 to 3650");
        }
        if !(0.0..=1.0).contains(&e.attribution_threshold) {
            bail!("engine.attribution_threshold must be between 0 and 1");
        }
        cisp_engine::warnlist::WarnLists::shipped(&e.warnlists_disabled)
            .map_err(|m| anyhow::anyhow!("engine.warnlists_disabled: {m}"))?;
        let st = raw.state;
        let snapshot_path = if st.snapshot_path.is_absolute() {
            st.snapshot_path
        } else {
            base.join(st.snapshot_path)
        };
        if st.snapshot_every_records == 0 || st.snapshot_interval_s == 0 {
            bail!("state.snapshot_every_records and state.snapshot_interval_s must be at least 1");
        }
        let api_token = env.get("CISP_API_TOKEN").cloned().filter(|t| !t.is_empty());
        if api_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("CISP_API_TOKEN must be at least 16 characters");
        }
        Ok(Config {
            registry_path,
            metrics_addr,
            log: raw.log,
            kafka: KafkaConfig {
                brokers: k.brokers,
                topic_prefix: k.topic_prefix,
                group_id: k.group_id,
                create_topics: k.create_topics,
                partitions: k.partitions,
                batch_max_records: k.batch_max_records,
                batch_max_wait: Duration::from_millis(k.batch_max_wait_ms),
                batch_max_age: Duration::from_millis(k.batch_max_age_ms),
                max_poll_interval: Duration::from_millis(k.max_poll_interval_ms),
                max_message_bytes: k.max_message_bytes,
                stall_after: Duration::from_secs(k.stall_after_secs),
                confluent_schema_ids: k.confluent_schema_ids,
                client: k.client,
            },
            clickhouse: ClickHouseConfig {
                url: c.url,
                database: c.database,
                user: c.user,
                password: c.password,
                max_retries: c.max_retries,
                retry_backoff: Duration::from_millis(c.retry_backoff_ms),
            },
            limits: raw.limits,
            state: StateConfig {
                snapshot_path,
                snapshot_every_records: st.snapshot_every_records,
                snapshot_interval: Duration::from_secs(st.snapshot_interval_s),
            },
            api_token,
            engine: cisp_engine::EngineConfig {
                hot_observable_limit: e.hot_observable_limit,
                common_after_campaigns: e.common_after_campaigns,
                link_window_ms: i64::from(e.link_window_days) * 86_400_000,
                warnlists_disabled: e.warnlists_disabled,
                attribution_threshold: e.attribution_threshold,
                max_related_per_alert: e.max_related_per_alert,
                max_shared_per_alert: e.max_shared_per_alert,
                id_salt: e.id_salt,
                k_anonymity: e.k_anonymity,
                escalation_members: e.escalation_members,
                escalation_sectors: e.escalation_sectors,
                view_budget: e.view_budget,
            },
        })
    }
}

fn check_topic_prefix(p: &str) -> anyhow::Result<()> {
    if p.is_empty()
        || p.len() > 100
        || !p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        bail!("kafka.topic_prefix {p:?} must be 1 to 100 characters of [A-Za-z0-9._-]");
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FILE: &str = r#"
registry_path = "members.toml"
metrics_addr = "127.0.0.1:0"
[kafka]
brokers = "127.0.0.1:9092"
[clickhouse]
url = "http://127.0.0.1:8123"
database = "cisp"
password = "hunter2"
"#;

    #[test]
    fn env_overrides_the_file_and_paths_are_relative_to_it() {
        let env = BTreeMap::from([("CISP_TOPIC_PREFIX".to_owned(), "t42".to_owned())]);
        let c = Config::from_parts(FILE, &env, Path::new("/etc/cisp")).unwrap();
        assert_eq!(c.kafka.topic_prefix, "t42");
        assert_eq!(c.registry_path, Path::new("/etc/cisp/members.toml"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let typo = FILE.replace("brokers", "brokres");
        assert!(Config::from_parts(&typo, &BTreeMap::new(), Path::new(".")).is_err());
        let env = BTreeMap::from([(
            "CISP_CLICKHOUSE_DATABASE".to_owned(),
            "x; DROP TABLE y".to_owned(),
        )]);
        assert!(Config::from_parts(FILE, &env, Path::new(".")).is_err());
        // A batch's age cap must be at least its linger, and bounded.
        let c = Config::from_parts(FILE, &BTreeMap::new(), Path::new(".")).unwrap();
        assert_eq!(c.kafka.batch_max_age, Duration::from_millis(1000));
        let with = |extra: &str| FILE.replace("[kafka]\n", &format!("[kafka]\n{extra}\n"));
        let short = Config::from_parts(
            &with("batch_max_age_ms = 100"),
            &BTreeMap::new(),
            Path::new("."),
        );
        assert_eq!(
            short.unwrap().kafka.batch_max_age,
            Duration::from_millis(100)
        );
        for bad in [
            "batch_max_age_ms = 0",
            "batch_max_age_ms = 600000",
            "batch_max_age_ms = 10\nbatch_max_wait_ms = 20",
        ] {
            assert!(
                Config::from_parts(&with(bad), &BTreeMap::new(), Path::new(".")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let c = Config::from_parts(FILE, &BTreeMap::new(), Path::new(".")).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    const SASL: &str = r#"
[kafka.client]
"security.protocol" = "SASL_PLAINTEXT"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "cisp-fusion"
"#;

    #[test]
    fn the_sasl_password_comes_from_the_environment_or_a_file_and_is_redacted() {
        let file = format!("{FILE}{SASL}");
        let none = Config::from_parts(&file, &BTreeMap::new(), Path::new(".")).unwrap_err();
        assert!(
            format!("{none:#}").contains("CISP_KAFKA_SASL_PASSWORD"),
            "{none:#}"
        );

        let env = BTreeMap::from([(
            "CISP_KAFKA_SASL_PASSWORD".to_owned(),
            "pw-from-env".to_owned(),
        )]);
        let c = Config::from_parts(&file, &env, Path::new(".")).unwrap();
        assert_eq!(c.kafka.client["sasl.password"], "pw-from-env");
        assert!(!format!("{c:?}").contains("pw-from-env"));

        let dir = std::env::temp_dir().join(crate::testing::unique("cfg"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pw");
        std::fs::write(&path, "pw-from-file\n").unwrap();
        let env = BTreeMap::from([(
            "CISP_KAFKA_SASL_PASSWORD_FILE".to_owned(),
            path.display().to_string(),
        )]);
        let c = Config::from_parts(&file, &env, Path::new(".")).unwrap();
        assert_eq!(c.kafka.client["sasl.password"], "pw-from-file");
        assert!(!format!("{c:?}").contains("pw-from-file"));

        let both = BTreeMap::from([
            (
                "CISP_KAFKA_SASL_PASSWORD_FILE".to_owned(),
                path.display().to_string(),
            ),
            ("CISP_KAFKA_SASL_PASSWORD".to_owned(), "x".to_owned()),
        ]);
        assert!(Config::from_parts(&file, &both, Path::new(".")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_secret_in_the_config_file_is_refused() {
        let file = format!("{FILE}{SASL}\"sasl.password\" = \"in-the-file\"\n");
        let e = Config::from_parts(&file, &BTreeMap::new(), Path::new(".")).unwrap_err();
        assert!(format!("{e:#}").contains("does not belong in the config file"));
        assert!(!format!("{e:#}").contains("in-the-file"));
    }
}
