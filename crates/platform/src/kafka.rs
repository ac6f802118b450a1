//! Kafka: the `[kafka]` section, the one client builder every service and
//! tool uses, topic creation, and a reader that takes a whole topic.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cisp_model::Secret;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::PlatformError;
use crate::settings::is_secret_property;
use crate::topics::TopicSpec;

/// `[kafka]` as written (defaults filled in, environment applied).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSection {
    pub brokers: String,
    pub topic_prefix: String,
    pub group_id: String,
    /// This instance's static group membership id (`group.instance.id`):
    /// a restarted instance takes its partitions back at once instead of
    /// waiting for the dead one's session to expire. Empty: the group id
    /// and the host name. Two running instances must not share one.
    pub instance_id: String,
    /// The service creates missing topics itself only where its broker
    /// user may (an open development broker); with ACLs the administrator
    /// provisions them (`cisp-fusion acls`).
    pub create_topics: bool,
    pub partitions: i32,
    pub batch_max_records: usize,
    pub batch_max_wait_ms: u64,
    pub batch_max_age_ms: u64,
    pub max_poll_interval_ms: u64,
    pub max_message_bytes: usize,
    /// Batches whose outputs may be on their way to the broker and
    /// ClickHouse while the next ones are processed.
    pub max_in_flight_batches: usize,
    /// Bytes of output records and rows those batches may hold.
    pub max_in_flight_bytes: usize,
    pub stall_after_secs: u64,
    pub confluent_schema_ids: Vec<u32>,
    /// Extra librdkafka properties (security.protocol, sasl.*); secret ones
    /// only from the environment (`CISP_KAFKA_SASL_PASSWORD`).
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaSection {
    fn default() -> KafkaSection {
        KafkaSection {
            brokers: String::new(),
            topic_prefix: "cisp".into(),
            group_id: "cisp-fusion".into(),
            instance_id: String::new(),
            create_topics: false,
            partitions: 3,
            batch_max_records: 5000,
            batch_max_wait_ms: 50,
            batch_max_age_ms: 1000,
            max_poll_interval_ms: 300_000,
            max_message_bytes: 1024 * 1024,
            max_in_flight_batches: 8,
            max_in_flight_bytes: 64 * 1024 * 1024,
            stall_after_secs: 60,
            confluent_schema_ids: Vec::new(),
            client: BTreeMap::new(),
        }
    }
}

/// Whether a loaded `[kafka]` must carry the principal's password: the
/// service connects with it; tools that connect as someone else (intake,
/// the demo's members) or not at all (the report) bring their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    Required,
    Optional,
}

/// Kafka settings, validated.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topic_prefix: String,
    pub group_id: String,
    /// Static group membership id (never empty once validated).
    pub instance_id: String,
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
    /// In-flight limits of the pipeline (back-pressure): batches and bytes
    /// not yet durable.
    pub max_in_flight_batches: usize,
    pub max_in_flight_bytes: usize,
    /// A partition whose committed offset stays put this long while
    /// records wait behind it is reported stalled (`/health`, metric).
    pub stall_after: Duration,
    pub confluent_schema_ids: Vec<u32>,
    /// librdkafka properties that are not secret.
    pub client: BTreeMap<String, String>,
    /// librdkafka properties that are (`sasl.password`).
    pub client_secrets: BTreeMap<String, Secret>,
}

impl KafkaSection {
    /// Replaces the secret client properties by `<redacted>` (for the
    /// effective-settings table).
    pub fn redact(&mut self) {
        for (key, value) in self.client.iter_mut() {
            if is_secret_property(key) {
                *value = "<redacted>".into();
            }
        }
    }

    pub fn validate(self, credentials: Credentials) -> anyhow::Result<KafkaConfig> {
        let k = self;
        if k.brokers.trim().is_empty() {
            bail!("kafka.brokers is empty");
        }
        check_topic_prefix(&k.topic_prefix)?;
        let instance_id = if k.instance_id.is_empty() {
            format!("{}-{}", k.group_id, host_name())
        } else {
            k.instance_id.clone()
        };
        if instance_id.len() > 249
            || !instance_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            bail!("kafka.instance_id {instance_id:?} must be at most 249 characters of [A-Za-z0-9._-]");
        }
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
        if !(1..=64).contains(&k.max_in_flight_batches) {
            bail!("kafka.max_in_flight_batches must be 1 to 64");
        }
        if !(1024 * 1024..=4096 * 1024 * 1024).contains(&k.max_in_flight_bytes) {
            bail!("kafka.max_in_flight_bytes must be 1 MiB to 4 GiB");
        }
        if !(30_000..=3_600_000).contains(&k.max_poll_interval_ms) {
            bail!(
                "kafka.max_poll_interval_ms must be 30000 (the group session timeout) to 3600000"
            );
        }
        if !(5..=86_400).contains(&k.stall_after_secs) {
            bail!("kafka.stall_after_secs must be 5 to 86400");
        }
        let (secrets, client): (BTreeMap<_, _>, BTreeMap<_, _>) = k
            .client
            .into_iter()
            .partition(|(key, _)| is_secret_property(key));
        let client_secrets: BTreeMap<String, Secret> = secrets
            .into_iter()
            .map(|(key, v)| (key, Secret::new(v)))
            .collect();
        check_sasl(&client, &client_secrets, credentials)?;
        if let Some(key) = client.keys().find(|key| {
            matches!(
                key.as_str(),
                "enable.auto.commit"
                    | "enable.auto.offset.store"
                    | "group.id"
                    | "bootstrap.servers"
            )
        }) {
            bail!("kafka.client.{key} is set by the service itself");
        }
        Ok(KafkaConfig {
            brokers: k.brokers,
            topic_prefix: k.topic_prefix,
            group_id: k.group_id,
            instance_id,
            create_topics: k.create_topics,
            partitions: k.partitions,
            batch_max_records: k.batch_max_records,
            batch_max_wait: Duration::from_millis(k.batch_max_wait_ms),
            batch_max_age: Duration::from_millis(k.batch_max_age_ms),
            max_poll_interval: Duration::from_millis(k.max_poll_interval_ms),
            max_message_bytes: k.max_message_bytes,
            max_in_flight_batches: k.max_in_flight_batches,
            max_in_flight_bytes: k.max_in_flight_bytes,
            stall_after: Duration::from_secs(k.stall_after_secs),
            confluent_schema_ids: k.confluent_schema_ids,
            client,
            client_secrets,
        })
    }
}

fn check_sasl(
    client: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, Secret>,
    credentials: Credentials,
) -> anyhow::Result<()> {
    let protocol = client
        .get("security.protocol")
        .map(|p| p.to_ascii_uppercase())
        .unwrap_or_default();
    if !protocol.starts_with("SASL") {
        return Ok(());
    }
    let mechanism = client
        .get("sasl.mechanism")
        .map(|m| m.to_ascii_uppercase())
        .unwrap_or_else(|| "GSSAPI".into());
    let needs_password = mechanism == "PLAIN" || mechanism.starts_with("SCRAM");
    if needs_password && !client.contains_key("sasl.username") {
        bail!("kafka.client.security.protocol is {protocol} with {mechanism}: set kafka.client.\"sasl.username\" (or CISP_KAFKA_SASL_USERNAME)");
    }
    if credentials == Credentials::Required
        && needs_password
        && !secrets.contains_key("sasl.password")
    {
        bail!("kafka.client.security.protocol is {protocol} with {mechanism}: set CISP_KAFKA_SASL_PASSWORD or CISP_KAFKA_SASL_PASSWORD_FILE");
    }
    Ok(())
}

/// This machine's name as a group-instance id may hold it (`HOSTNAME`,
/// else `/etc/hostname`, else `local`).
fn host_name() -> String {
    let raw = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if name.is_empty() {
        "local".into()
    } else {
        name
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

impl KafkaConfig {
    /// Whether clients authenticate with a user name and password.
    pub fn uses_passwords(&self) -> bool {
        self.client.contains_key("sasl.username")
    }

    /// The one client builder: the configured brokers and properties, as
    /// the configured principal. Callers add what their role needs
    /// (group, commit policy, idempotence).
    pub fn client(&self, client_id: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", client_id);
        for (k, v) in &self.client {
            c.set(k, v);
        }
        for (k, v) in &self.client_secrets {
            c.set(k, v.expose());
        }
        c
    }

    /// The same brokers and properties, authenticating as `user` with
    /// `password` (a member, intake, the administrator).
    pub fn client_as(&self, client_id: &str, user: &str, password: &Secret) -> ClientConfig {
        let mut c = self.client(client_id);
        c.set("sasl.username", user)
            .set("sasl.password", password.expose());
        c
    }

    /// A client as `user` whose password is in `file`, or else in the
    /// local stack's password file of that user. Without SASL in the
    /// configuration no password is read.
    pub fn client_as_user(
        &self,
        client_id: &str,
        user: &str,
        file: Option<&Path>,
    ) -> anyhow::Result<ClientConfig> {
        if !self.uses_passwords() {
            return Ok(self.client(client_id));
        }
        let path = file.map_or_else(
            || crate::credentials::password_file(user),
            Path::to_path_buf,
        );
        let password = crate::credentials::read_password(&path)
            .with_context(|| format!("the broker password of {user}"))?;
        Ok(self.client_as(client_id, user, &password))
    }

    /// Creates missing topics (with [`TopicSpec::configs`]); existing ones
    /// are left as they are. Needs the Create permission, which production
    /// and the local stack give only to the administrator.
    pub async fn ensure_topics(&self, specs: &[TopicSpec]) -> Result<(), PlatformError> {
        let admin: AdminClient<DefaultClientContext> = self
            .client("cisp-admin-client")
            .create()
            .map_err(|e| PlatformError::kafka("create admin client", e))?;
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let configs: Vec<Vec<(&str, String)>> = specs
            .iter()
            .map(|s| s.configs(self.max_message_bytes))
            .collect();
        let new: Vec<NewTopic<'_>> = specs
            .iter()
            .zip(&configs)
            .map(|(s, configs)| {
                configs.iter().fold(
                    NewTopic::new(&s.name, self.partitions, TopicReplication::Fixed(1)),
                    |t, (k, v)| t.set(k, v),
                )
            })
            .collect();
        let results = admin
            .create_topics(&new, &opts)
            .await
            .map_err(|e| PlatformError::kafka("create topics", e))?;
        let mut created = 0;
        for r in results {
            match r {
                Ok(_) => created += 1,
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    warn!(topic = %name, error = %code, "topic creation failed");
                    return Err(PlatformError::Incomplete(format!(
                        "cannot create topic {name}: {code}"
                    )));
                }
            }
        }
        info!(created, total = specs.len(), "topics ensured");
        Ok(())
    }
}

/// Reads `topic` from the beginning of every partition to its end as of
/// the call (the high watermarks then), as whichever user `client`
/// authenticates as, with each record's broker timestamp (milliseconds; 0
/// if it has none). Partitions are assigned and offsets never committed;
/// `group` is only named, but librdkafka looks its coordinator up, so the
/// reader needs Describe on it: a member names one of its own
/// ([`crate::acl::member_group`]), intake [`crate::acl::INTAKE_GROUP`],
/// the service its own group. A partition is done when the record just
/// before its high watermark has been read, so offsets skipped by
/// compaction cannot stall it; an end not reached within `timeout` is an
/// error, never a silent partial list.
pub fn read_topic(
    mut client: ClientConfig,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<(i64, Vec<u8>)>, PlatformError> {
    let consumer: BaseConsumer = client
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| PlatformError::kafka("create reader", e))?;
    let md = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| PlatformError::kafka("metadata", e))?;
    // A topic the broker cannot describe right now (unknown, leaderless
    // after a restart) is an error, not an empty list.
    let described = md.topics().iter().find(|t| t.name() == topic);
    let partitions: Vec<i32> = match described {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            if let Some(p) = t.partitions().iter().find(|p| p.error().is_some()) {
                return Err(PlatformError::Incomplete(format!(
                    "{topic} partition {} has no leader now: {:?}",
                    p.id(),
                    p.error()
                )));
            }
            t.partitions().iter().map(|p| p.id()).collect()
        }
        Some(t) => {
            return Err(PlatformError::Incomplete(format!(
                "the broker cannot describe {topic} now: {:?}",
                t.error()
            )))
        }
        None => {
            return Err(PlatformError::Incomplete(format!(
                "the broker does not describe {topic}"
            )))
        }
    };
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in partitions {
        let (lo, hi) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|e| PlatformError::kafka("watermarks", e))?;
        if hi > lo {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| PlatformError::kafka("assign", e))?;
            ends.insert(p, hi);
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return Ok(out);
    }
    consumer
        .assign(&tpl)
        .map_err(|e| PlatformError::kafka("assign", e))?;
    let deadline = Instant::now() + timeout;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(PlatformError::Incomplete(format!(
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
            Some(Err(e)) => return Err(PlatformError::kafka("read", e)),
            None => {}
        }
    }
    Ok(out)
}

/// Whether a produce error is not worth sending again: the record itself
/// or the principal's rights are wrong, or librdkafka already retried for
/// the whole `message.timeout.ms` (a timeout is also how a wrong password
/// shows). Everything else (a broker restarting, a leader moving, an
/// error the broker did not name) is worth another try.
pub fn is_permanent(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageTimedOut
            | C::MessageSizeTooLarge
            | C::InvalidMessage
            | C::InvalidMessageSize
            | C::InvalidRecord
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::TransactionalIdAuthorizationFailed
            | C::SaslAuthenticationFailed
            | C::Authentication
            | C::UnknownTopicOrPartition
            | C::InvalidTopic
            | C::UnsupportedVersion
            | C::UnsupportedForMessageFormat
    )
}

/// Hands one record to the producer without waiting for the broker: a full
/// local queue is waited out (the producer drains it in the background),
/// any other error is returned at once. The returned future resolves to the
/// broker's answer.
pub fn enqueue<K, P>(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    key: &K,
    payload: &P,
) -> Result<rdkafka::producer::DeliveryFuture, rdkafka::error::KafkaError>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        let record = rdkafka::producer::FutureRecord::to(topic)
            .key(key)
            .payload(payload);
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((e, _)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// Sends one record and waits for the broker's acknowledgement, sending
/// it again (up to `attempts` times, with a growing pause) when the failure
/// is not permanent ([`is_permanent`]). Idempotent producers and keyed
/// submissions make a resend harmless: the fusion service sees a duplicate
/// at worst. Returns the delivery (partition, offset).
pub async fn deliver(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    key: &str,
    payload: &[u8],
    attempts: u32,
) -> Result<rdkafka::producer::future_producer::Delivery, rdkafka::error::KafkaError> {
    let mut attempt = 1;
    loop {
        let record = rdkafka::producer::FutureRecord::to(topic)
            .key(key)
            .payload(payload);
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(delivery) => return Ok(delivery),
            Err((e, _)) => {
                let permanent = e.rdkafka_error_code().is_some_and(is_permanent);
                if permanent || attempt >= attempts {
                    return Err(e);
                }
                warn!(%topic, attempt, error = %e, "delivery failed; sending again");
                tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_of_the_record_or_the_rights_are_permanent() {
        assert!(is_permanent(RDKafkaErrorCode::MessageSizeTooLarge));
        assert!(is_permanent(RDKafkaErrorCode::TopicAuthorizationFailed));
        assert!(is_permanent(RDKafkaErrorCode::MessageTimedOut));
        for transient in [
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::NotEnoughReplicas,
            RDKafkaErrorCode::Unknown,
        ] {
            assert!(!is_permanent(transient), "{transient:?}");
        }
    }
}
