//! The configuration file and its environment overrides, declared once.
//!
//! Every service reads the same TOML file (`config/fusion.toml`). Before
//! any section is deserialised, the file becomes one TOML table and the
//! environment is laid over it by [`ENV`]: each `CISP_*` variable is bound
//! to the one setting it overrides, so the table, the documentation and
//! the code cannot drift apart. Secrets may also come from `<VAR>_FILE`
//! (container secrets); some may come *only* from the environment and are
//! refused in the file. Each section then validates itself into its typed
//! form ([`crate::kafka::KafkaSection`] → [`crate::kafka::KafkaConfig`],
//! …), and [`lookup`] answers `cisp-fusion config --get KEY` from the
//! effective settings, secrets redacted.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use toml::{Table, Value};

/// What an environment variable's text becomes in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// `true`/`1` or `false`/`0`.
    Flag,
}

/// Where a setting's value may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The file or the variable.
    FileOrEnv,
    /// A secret: the file, the variable or `<VAR>_FILE`.
    Secret,
    /// A secret that must not be written in the file: the variable or
    /// `<VAR>_FILE` only.
    SecretEnvOnly,
}

/// One environment variable and the setting (a path of table keys) it
/// overrides.
#[derive(Clone, Copy, Debug)]
pub struct EnvBinding {
    pub var: &'static str,
    pub key: &'static [&'static str],
    pub kind: Kind,
    pub source: Source,
}

const fn text(var: &'static str, key: &'static [&'static str]) -> EnvBinding {
    EnvBinding {
        var,
        key,
        kind: Kind::Text,
        source: Source::FileOrEnv,
    }
}

const fn secret(var: &'static str, key: &'static [&'static str], source: Source) -> EnvBinding {
    EnvBinding {
        var,
        key,
        kind: Kind::Text,
        source,
    }
}

/// Every environment override of the configuration file.
pub const ENV: &[EnvBinding] = &[
    text("CISP_REGISTRY", &["registry_path"]),
    text("CISP_METRICS_ADDR", &["metrics_addr"]),
    text("CISP_LOG", &["log"]),
    text("CISP_KAFKA_BROKERS", &["kafka", "brokers"]),
    text("CISP_TOPIC_PREFIX", &["kafka", "topic_prefix"]),
    text("CISP_GROUP_ID", &["kafka", "group_id"]),
    text("CISP_INSTANCE_ID", &["kafka", "instance_id"]),
    EnvBinding {
        var: "CISP_KAFKA_CREATE_TOPICS",
        key: &["kafka", "create_topics"],
        kind: Kind::Flag,
        source: Source::FileOrEnv,
    },
    text(
        "CISP_KAFKA_SECURITY_PROTOCOL",
        &["kafka", "client", "security.protocol"],
    ),
    text(
        "CISP_KAFKA_SASL_MECHANISM",
        &["kafka", "client", "sasl.mechanism"],
    ),
    text(
        "CISP_KAFKA_SASL_USERNAME",
        &["kafka", "client", "sasl.username"],
    ),
    secret(
        "CISP_KAFKA_SASL_PASSWORD",
        &["kafka", "client", "sasl.password"],
        Source::SecretEnvOnly,
    ),
    text(
        "CISP_KAFKA_SSL_CA_LOCATION",
        &["kafka", "client", "ssl.ca.location"],
    ),
    text("CISP_CLICKHOUSE_URL", &["clickhouse", "url"]),
    text("CISP_CLICKHOUSE_DATABASE", &["clickhouse", "database"]),
    text("CISP_CLICKHOUSE_USER", &["clickhouse", "user"]),
    secret(
        "CISP_CLICKHOUSE_PASSWORD",
        &["clickhouse", "password"],
        Source::Secret,
    ),
    secret("CISP_ID_SALT", &["engine", "id_salt"], Source::Secret),
    text("CISP_SNAPSHOT_PATH", &["state", "snapshot_path"]),
    secret("CISP_API_TOKEN", &["api_token"], Source::SecretEnvOnly),
];

/// librdkafka properties that hold secrets: never in the configuration
/// file, never printed.
pub fn is_secret_property(key: &str) -> bool {
    key.contains("password")
        || key.contains("secret")
        || key.ends_with(".pem")
        || key == "sasl.jaas.config"
        || key == "sasl.oauthbearer.config"
}

/// `a.b."c.d"` for a key path.
pub fn key_name(key: &[&str]) -> String {
    key.iter()
        .map(|k| {
            if k.contains('.') {
                format!("{k:?}")
            } else {
                (*k).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The `CISP_*` variables of this process.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("CISP_"))
        .collect()
}

/// The file's table with the environment laid over it: secrets refused
/// where they do not belong, `<VAR>_FILE` read, every bound variable set.
pub fn merged(text: &str, env: &BTreeMap<String, String>) -> anyhow::Result<Table> {
    let mut table: Table = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    refuse_secrets_in_file(&table)?;
    for b in ENV {
        let Some(value) = env_value(b, env)? else {
            continue;
        };
        let value = match b.kind {
            Kind::Text => Value::String(value),
            Kind::Flag => Value::Boolean(match value.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => bail!("{} must be true or false, not {value:?}", b.var),
            }),
        };
        set(&mut table, b.key, value).with_context(|| format!("applying {}", b.var))?;
    }
    Ok(table)
}

fn refuse_secrets_in_file(table: &Table) -> anyhow::Result<()> {
    if let Some(Value::Table(client)) = get(table, &["kafka", "client"]) {
        if let Some(key) = client.keys().find(|k| is_secret_property(k)) {
            bail!(
                "kafka.client.{key} is a secret and does not belong in the config file; \
                 for sasl.password set CISP_KAFKA_SASL_PASSWORD or CISP_KAFKA_SASL_PASSWORD_FILE"
            );
        }
    }
    for b in ENV.iter().filter(|b| b.source == Source::SecretEnvOnly) {
        if get(table, b.key).is_some() {
            bail!(
                "{} is a secret and does not belong in the config file; set {} or {}_FILE",
                key_name(b.key),
                b.var,
                b.var
            );
        }
    }
    Ok(())
}

/// A binding's value from the environment: the variable, or for secrets
/// the content of the file `<VAR>_FILE` names (trailing newline dropped).
fn env_value(b: &EnvBinding, env: &BTreeMap<String, String>) -> anyhow::Result<Option<String>> {
    let direct = env.get(b.var).cloned();
    if b.source == Source::FileOrEnv {
        return Ok(direct);
    }
    let file_var = format!("{}_FILE", b.var);
    let Some(path) = env.get(&file_var) else {
        return Ok(direct);
    };
    if direct.is_some() {
        bail!("both {} and {file_var} are set; set one", b.var);
    }
    let value =
        std::fs::read_to_string(path).with_context(|| format!("{file_var}: cannot read {path}"))?;
    let value = value.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        bail!("{file_var}: {path} is empty");
    }
    Ok(Some(value))
}

/// `table` with every secret replaced by `<redacted>`: the bound secrets
/// and the secret client properties.
pub fn redacted(mut table: Table) -> Table {
    for b in ENV.iter().filter(|b| b.source != Source::FileOrEnv) {
        if get(&table, b.key).is_some() {
            let _ = set(&mut table, b.key, Value::String("<redacted>".into()));
        }
    }
    if let Some(Value::Table(kafka)) = table.get_mut("kafka") {
        if let Some(Value::Table(client)) = kafka.get_mut("client") {
            for (key, value) in client.iter_mut() {
                if is_secret_property(key) {
                    *value = Value::String("<redacted>".into());
                }
            }
        }
    }
    table
}

fn get<'t>(table: &'t Table, key: &[&str]) -> Option<&'t Value> {
    let (last, path) = key.split_last()?;
    let mut t = table;
    for k in path {
        t = t.get(*k)?.as_table()?;
    }
    t.get(*last)
}

fn set(table: &mut Table, key: &[&str], value: Value) -> anyhow::Result<()> {
    let Some((last, path)) = key.split_last() else {
        bail!("empty key");
    };
    let mut t = table;
    for k in path {
        let entry = t
            .entry((*k).to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        t = match entry {
            Value::Table(inner) => inner,
            _ => bail!("{k} is not a table"),
        };
    }
    t.insert((*last).to_owned(), value);
    Ok(())
}

/// The value at dotted `key` in `table` (a map key may itself contain
/// dots: `kafka.client.sasl.username`).
pub fn lookup<'t>(table: &'t Table, key: &str) -> Option<&'t Value> {
    if let Some(v) = table.get(key) {
        return Some(v);
    }
    key.match_indices('.').find_map(|(i, _)| {
        let inner = table.get(&key[..i])?.as_table()?;
        lookup(inner, &key[i + 1..])
    })
}

/// How `config --get` prints a value: strings bare, the rest as TOML.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Any serialisable settings struct as a TOML table (secrets come out
/// redacted: [`cisp_model::Secret`] serialises so).
pub fn to_table(settings: &impl serde::Serialize) -> anyhow::Result<Table> {
    Table::try_from(settings).context("the settings do not form a TOML table")
}

/// Deserialises a section (or the whole file) from the merged table.
pub fn section<T: serde::de::DeserializeOwned>(table: Table) -> anyhow::Result<T> {
    T::deserialize(Value::Table(table)).map_err(|e| anyhow::anyhow!("{}", e.message()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn each_variable_sets_its_key_and_flags_are_typed() {
        let t = merged(
            "[kafka]\nbrokers = \"a:1\"\n",
            &env(&[
                ("CISP_KAFKA_BROKERS", "b:2"),
                ("CISP_KAFKA_SASL_USERNAME", "svc"),
                ("CISP_KAFKA_CREATE_TOPICS", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(show(lookup(&t, "kafka.brokers").unwrap()), "b:2");
        assert_eq!(
            show(lookup(&t, "kafka.client.sasl.username").unwrap()),
            "svc"
        );
        assert_eq!(
            lookup(&t, "kafka.create_topics"),
            Some(&Value::Boolean(true))
        );
        let bad = merged("", &env(&[("CISP_KAFKA_CREATE_TOPICS", "yes")])).unwrap_err();
        assert!(bad.to_string().contains("true or false"), "{bad}");
    }

    #[test]
    fn env_only_secrets_are_refused_in_the_file() {
        let e = merged("api_token = \"0123456789abcdef\"\n", &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("CISP_API_TOKEN"), "{e}");
        assert!(!e.to_string().contains("0123456789abcdef"));
        // A salt may be in the file (tests and the demo carry one).
        assert!(merged("[engine]\nid_salt = \"x\"\n", &BTreeMap::new()).is_ok());
    }

    #[test]
    fn redaction_covers_every_secret() {
        let t = merged(
            "[clickhouse]\npassword = \"ch-pw\"\n[kafka.client]\n\"sasl.username\" = \"u\"\n",
            &env(&[
                ("CISP_KAFKA_SASL_PASSWORD", "kafka-pw"),
                ("CISP_ID_SALT", "salty"),
                ("CISP_API_TOKEN", "token-0123456789"),
            ]),
        )
        .unwrap();
        let shown = redacted(t).to_string();
        for secret in ["ch-pw", "kafka-pw", "salty", "token-0123456789"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("sasl.username"));
    }

    #[test]
    fn every_binding_is_distinct() {
        let mut vars: Vec<_> = ENV.iter().map(|b| b.var).collect();
        let mut keys: Vec<_> = ENV.iter().map(|b| key_name(b.key)).collect();
        vars.sort_unstable();
        vars.dedup();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!((vars.len(), keys.len()), (ENV.len(), ENV.len()));
    }
}
