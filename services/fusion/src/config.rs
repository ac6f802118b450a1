//! Configuration: one TOML file (`config/fusion.toml`) with unknown keys
//! refused, overridden by `CISP_*` environment variables bound in
//! [`cisp_platform::settings::ENV`], validated into [`Config`]. The shared
//! sections (registry, metrics address, limits, `[kafka]`, `[clickhouse]`)
//! are the platform's ([`SharedConfig`]); `log`, `[engine]`, `[alerts]`, `[state]` and
//! the query API's token are this service's. Secrets are
//! [`Secret`]s: redacted wherever they are printed, never logged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use cisp_model::{Limits, Secret};
use cisp_platform::config::{SharedSection, SERVICE_SECTIONS};
use cisp_platform::settings;
use serde::{Deserialize, Serialize};
use toml::Table;

pub use cisp_platform::{ClickHouseConfig, Credentials, KafkaConfig, SharedConfig};

/// This service's own keys of the file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ServiceSections {
    #[serde(default = "default_log")]
    log: String,
    #[serde(default)]
    engine: EngineSection,
    #[serde(default)]
    alerts: AlertsSection,
    #[serde(default)]
    state: StateSection,
    /// Only from `CISP_API_TOKEN(_FILE)`; refused in the file.
    #[serde(default)]
    api_token: Option<Secret>,
}

fn default_log() -> String {
    "info".into()
}

/// `[state]`: where and how often the engine is snapshotted.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct StateSection {
    snapshot_path: PathBuf,
    snapshot_every_records: u64,
    snapshot_interval_s: u64,
}

impl Default for StateSection {
    fn default() -> StateSection {
        StateSection {
            snapshot_path: PathBuf::from("../.stack/state/engine.snapshot"),
            snapshot_every_records: 50_000,
            snapshot_interval_s: 60,
        }
    }
}

impl StateSection {
    fn validate(&mut self, base: &Path) -> anyhow::Result<StateConfig> {
        if self.snapshot_path.is_relative() {
            self.snapshot_path = base.join(&self.snapshot_path);
        }
        if self.snapshot_every_records == 0 || self.snapshot_interval_s == 0 {
            bail!("state.snapshot_every_records and state.snapshot_interval_s must be at least 1");
        }
        Ok(StateConfig {
            snapshot_path: self.snapshot_path.clone(),
            snapshot_every_records: self.snapshot_every_records,
            snapshot_interval: Duration::from_secs(self.snapshot_interval_s),
        })
    }
}

/// `[alerts]`: how follow-up alerts are coalesced (`cisp_engine::Coalescer`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct AlertsSection {
    coalesce_window_ms: u64,
    coalesce_max_sightings: u32,
    coalesce_max_open: usize,
}

impl Default for AlertsSection {
    fn default() -> AlertsSection {
        let d = cisp_engine::CoalesceConfig::default();
        AlertsSection {
            coalesce_window_ms: u64::try_from(d.window_ms).unwrap_or(10_000),
            coalesce_max_sightings: d.max_sightings,
            coalesce_max_open: d.max_open,
        }
    }
}

impl AlertsSection {
    fn validate(&self) -> anyhow::Result<cisp_engine::CoalesceConfig> {
        if self.coalesce_window_ms > 3_600_000 {
            bail!("alerts.coalesce_window_ms must be at most 3600000 (an hour); 0 sends every alert at once");
        }
        if self.coalesce_max_sightings < 2 || self.coalesce_max_open == 0 {
            bail!("alerts.coalesce_max_sightings must be at least 2 and alerts.coalesce_max_open at least 1");
        }
        Ok(cisp_engine::CoalesceConfig {
            window_ms: i64::try_from(self.coalesce_window_ms).unwrap_or(0),
            max_sightings: self.coalesce_max_sightings,
            max_open: self.coalesce_max_open,
        })
    }
}

/// `[engine]`: the correlation engine's tunables.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct EngineSection {
    hot_observable_limit: u32,
    common_after_campaigns: u32,
    link_window_days: u32,
    warnlists_disabled: Vec<String>,
    attribution_threshold: f64,
    max_related_per_alert: usize,
    max_shared_per_alert: usize,
    id_salt: Secret,
    k_anonymity: u32,
    escalation_members: u32,
    escalation_sectors: u32,
    view_budget: u32,
    commodity_malware_links: bool,
    dispute_members: u32,
}

impl Default for EngineSection {
    fn default() -> EngineSection {
        let d = cisp_engine::EngineConfig::default();
        EngineSection {
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
            commodity_malware_links: d.commodity_malware_links,
            dispute_members: d.dispute_members,
        }
    }
}

impl EngineSection {
    fn validate(&self) -> anyhow::Result<cisp_engine::EngineConfig> {
        let e = self;
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
        if !(2..=1000).contains(&e.dispute_members) {
            bail!("engine.dispute_members must be 2 to 1000 (one member alone never unlinks a value for everyone)");
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
        cisp_engine::WarnLists::shipped(&e.warnlists_disabled)
            .map_err(|m| anyhow::anyhow!("engine.warnlists_disabled: {m}"))?;
        Ok(cisp_engine::EngineConfig {
            hot_observable_limit: e.hot_observable_limit,
            common_after_campaigns: e.common_after_campaigns,
            link_window_ms: i64::from(e.link_window_days) * 86_400_000,
            warnlists_disabled: e.warnlists_disabled.clone(),
            attribution_threshold: e.attribution_threshold,
            max_related_per_alert: e.max_related_per_alert,
            max_shared_per_alert: e.max_shared_per_alert,
            id_salt: e.id_salt.clone(),
            k_anonymity: e.k_anonymity,
            escalation_members: e.escalation_members,
            escalation_sectors: e.escalation_sectors,
            view_budget: e.view_budget,
            commodity_malware_links: e.commodity_malware_links,
            dispute_members: e.dispute_members,
        })
    }
}

/// The validated configuration the service runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub registry_path: PathBuf,
    /// Where `/metrics` and `/health` are served; port 0 picks a free port.
    pub metrics_addr: SocketAddr,
    pub log: String,
    pub kafka: KafkaConfig,
    pub clickhouse: ClickHouseConfig,
    pub limits: Limits,
    pub engine: cisp_engine::EngineConfig,
    /// Coalescing of follow-up alerts (`[alerts]`).
    pub alerts: cisp_engine::CoalesceConfig,
    pub state: StateConfig,
    /// Bearer token of the Fusion Cell query API (`/api/...`); the API is
    /// off without one.
    pub api_token: Option<Secret>,
    /// Every effective setting (file, environment, defaults; paths
    /// resolved; secrets redacted): what `cisp-fusion config` prints.
    pub effective: Table,
}

/// Where and how often the engine is snapshotted.
#[derive(Clone, Debug)]
pub struct StateConfig {
    pub snapshot_path: PathBuf,
    pub snapshot_every_records: u64,
    pub snapshot_interval: Duration,
}

impl Config {
    /// Reads `path`, applies `CISP_*` environment overrides, validates.
    /// Relative paths in the file are relative to the file's folder.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_parts(&text, &settings::process_env(), base)
            .with_context(|| format!("invalid config {}", path.display()))
    }

    /// The configuration of `text` with environment `env`; relative paths
    /// are relative to `base`.
    pub fn from_parts(
        text: &str,
        env: &BTreeMap<String, String>,
        base: &Path,
    ) -> anyhow::Result<Config> {
        let mut table = settings::merged(text, env)?;
        let mut own = Table::new();
        for key in SERVICE_SECTIONS {
            if let Some(v) = table.remove(*key) {
                own.insert((*key).to_owned(), v);
            }
        }
        let shared: SharedSection = settings::section(table)?;
        let mut service: ServiceSections = settings::section(own)?;
        let (shared, written) = shared.validate(base, Credentials::Required, Table::new())?;
        let engine = service.engine.validate()?;
        let alerts = service.alerts.validate()?;
        let state = service.state.validate(base)?;
        let api_token = service.api_token.clone().filter(|t| !t.is_empty());
        if api_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            bail!("CISP_API_TOKEN must be at least 16 characters");
        }
        let mut effective = settings::to_table(&written)?;
        effective.extend(settings::to_table(&service)?);
        Ok(Config {
            registry_path: shared.registry_path,
            metrics_addr: shared.metrics_addr,
            log: service.log,
            kafka: shared.kafka,
            clickhouse: shared.clickhouse,
            limits: shared.limits,
            engine,
            alerts,
            state,
            api_token,
            effective,
        })
    }

    /// The sections every service shares, as the other services load them.
    pub fn shared(&self) -> SharedConfig {
        SharedConfig {
            registry_path: self.registry_path.clone(),
            metrics_addr: self.metrics_addr,
            limits: self.limits.clone(),
            kafka: self.kafka.clone(),
            clickhouse: self.clickhouse.clone(),
            settings: self.effective.clone(),
        }
    }

    /// The effective value of a dotted key (`metrics_addr`,
    /// `kafka.client.sasl.username`), as `cisp-fusion config --get` prints
    /// it; secrets come out as `<redacted>`.
    pub fn get(&self, key: &str) -> Option<String> {
        settings::lookup(&self.effective, key).map(settings::show)
    }
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
        let env = BTreeMap::from([
            ("CISP_ID_SALT".to_owned(), "salt-1234".to_owned()),
            (
                "CISP_API_TOKEN".to_owned(),
                "token-0123456789abcdef".to_owned(),
            ),
        ]);
        let c = Config::from_parts(FILE, &env, Path::new(".")).unwrap();
        let shown = format!("{c:?}");
        for secret in ["hunter2", "salt-1234", "token-0123456789abcdef"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
            assert!(!c.effective.to_string().contains(secret));
        }
        assert_eq!(c.get("clickhouse.password").unwrap(), "<redacted>");
        assert_eq!(c.get("api_token").unwrap(), "<redacted>");
        assert_eq!(c.engine.id_salt.expose(), "salt-1234");
    }

    #[test]
    fn get_answers_with_the_effective_value() {
        let env = BTreeMap::from([("CISP_METRICS_ADDR".to_owned(), "127.0.0.1:9464".to_owned())]);
        let c = Config::from_parts(FILE, &env, Path::new("/etc/cisp")).unwrap();
        assert_eq!(c.get("metrics_addr").unwrap(), "127.0.0.1:9464");
        assert_eq!(c.get("registry_path").unwrap(), "/etc/cisp/members.toml");
        // Defaults are filled in.
        assert_eq!(c.get("kafka.partitions").unwrap(), "3");
        assert_eq!(c.get("engine.k_anonymity").unwrap(), "3");
        assert!(c.get("kafka.no_such_key").is_none());
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
        assert_eq!(
            c.kafka.client_secrets["sasl.password"].expose(),
            "pw-from-env"
        );
        assert_eq!(c.get("kafka.client.sasl.password").unwrap(), "<redacted>");
        assert!(!format!("{c:?}").contains("pw-from-env"));

        let dir = std::env::temp_dir().join(format!("cisp-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pw");
        std::fs::write(&path, "pw-from-file\n").unwrap();
        let env = BTreeMap::from([(
            "CISP_KAFKA_SASL_PASSWORD_FILE".to_owned(),
            path.display().to_string(),
        )]);
        let c = Config::from_parts(&file, &env, Path::new(".")).unwrap();
        assert_eq!(
            c.kafka.client_secrets["sasl.password"].expose(),
            "pw-from-file"
        );
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
