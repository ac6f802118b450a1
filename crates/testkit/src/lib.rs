//! Support for tests that run against the real local stack (started by
//! `make stack-up`): each [`TestEnv`] gets its own topic prefix, ClickHouse
//! database and consumer group, so tests run side by side on one broker;
//! [`TestEnv::start`] runs the fusion service in the test's process.
//! A dev-dependency of the services' integration tests, never a
//! dependency of a production build.

use std::collections::BTreeMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use cisp_fusion::{Config, Store};
pub use cisp_platform::credentials::password_file;
use cisp_platform::kafka::read_topic;

pub use cisp_demo::{publish, Scenario};
/// The fusion service the environments run, for tests of other crates.
pub use cisp_fusion as fusion;
pub use cisp_platform::credentials::credentials_dir;

/// The repository root (for config/ and schemas/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interpreter of the Python environment the interop tests use
/// (`CISP_PYTHON`, as `make test` sets it; else created the way
/// `scripts/python-env.sh` does).
pub fn python() -> String {
    if let Ok(p) = std::env::var("CISP_PYTHON") {
        return p;
    }
    let out = std::process::Command::new("bash")
        .arg(repo_root().join("scripts/python-env.sh"))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "scripts/python-env.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// One HTTP/1.1 exchange (the tests need no HTTP client crate): `method
/// path` with a bearer `token` if given, `headers` and `body`; returns the
/// status, the response's header block and its body bytes. Blocking: call
/// it from `spawn_blocking` in async tests that serve on the same runtime.
pub fn http_exchange(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(t) = token {
        request.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (n, v) in headers {
        request.push_str(&format!("{n}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(&bytes).expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("receive");
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf.get(end + 4..).unwrap_or_default().to_vec();
    (status, head, body)
}

/// A name no other test run on this machine uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}{:x}{:x}{n}",
        nanos & 0xffff_ffff_ffff,
        std::process::id()
    )
}

/// A plain submission record: TLP:GREEN to the whole community, attributed,
/// kind incident, titled `report <id>`. Tests change what they need with
/// struct update syntax (`SubmissionRecord { tlp, ..community_record(…) }`).
/// Five members of `config/members.toml`, one per sector, that tests
/// publish as.
pub const MEMBERS: [&str; 5] = [
    "northbank",
    "gridco",
    "healthtrust",
    "smallbiz",
    "waterworks",
];

/// `campaigns` campaigns of two reports each, by their own domain, every
/// report also naming one shared hosting address (which glues the
/// campaigns together until the over-correlation guard finds it ties too
/// many unrelated ones and splits them again, issue 20) and one commodity
/// loader (context: it links nothing).
/// Submission ids are `{prefix}-{campaign}-{report}`.
pub fn glued_campaigns(
    prefix: &str,
    campaigns: usize,
) -> Vec<cisp_wire::records::SubmissionRecord> {
    use cisp_model::ObservableKind;
    let mut out = Vec::new();
    for c in 0..campaigns {
        for k in 0..2 {
            let domain = format!("login.brand{c}-secure.com");
            out.push(cisp_wire::records::SubmissionRecord {
                malware: vec!["SmokeLoader".into()],
                ..community_record(
                    MEMBERS[(c + k) % MEMBERS.len()],
                    &format!("{prefix}-{c}-{k}"),
                    &[
                        (ObservableKind::Domain, domain.as_str()),
                        (ObservableKind::Ipv4, GLUE_HOST),
                    ],
                )
            });
        }
    }
    out
}

/// The shared hosting address of [`glued_campaigns`].
pub const GLUE_HOST: &str = "91.92.93.94";

pub fn community_record(
    member: &str,
    id: &str,
    observables: &[(cisp_model::ObservableKind, &str)],
) -> cisp_wire::records::SubmissionRecord {
    use cisp_wire::records::{DistributionRecord, ObservableRecord, SubmissionRecord};
    SubmissionRecord {
        submission_id: id.into(),
        member_id: member.into(),
        submitted_at: 1_763_546_400_000,
        kind: cisp_model::SubmissionKind::Incident,
        tlp: cisp_model::Tlp::Green,
        distribution: DistributionRecord {
            scope: cisp_model::Scope::Community,
            members: vec![],
            groups: vec![],
        },
        attribution: cisp_model::Attribution::Attributed,
        title: format!("report {id}"),
        description: None,
        observables: observables
            .iter()
            .map(|(k, v)| ObservableRecord::new(*k, *v))
            .collect(),
        ttps: vec![],
        malware: vec![],
        actor_claims: vec![],
        targeted_sectors: vec![],
        confidence: 50,
    }
}

/// The environment a tool needs to reach the local broker as the fusion
/// service: the real `CISP_KAFKA_SASL_PASSWORD(_FILE)` if set, else the
/// stack's password file.
pub fn local_kafka_env() -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for var in ["CISP_KAFKA_SASL_PASSWORD", "CISP_KAFKA_SASL_PASSWORD_FILE"] {
        if let Ok(v) = std::env::var(var) {
            env.insert(var.to_owned(), v);
        }
    }
    if env.is_empty() {
        env.insert(
            "CISP_KAFKA_SASL_PASSWORD_FILE".to_owned(),
            password_file("cisp-fusion").display().to_string(),
        );
    }
    env
}

/// The local broker's super user (`scripts/stack/common.sh`): it provisions
/// topics and ACLs, and the load generator publishes as it on behalf of
/// synthetic members that have no broker users.
pub const ADMIN_USER: &str = "cisp-admin";

/// Gives the local broker the users, topics (with their size limits) and
/// ACLs `config` needs, as production gets them: the plan `cisp-fusion
/// acls --format plan` prints, applied by `scripts/stack/kafka-admin.sh`
/// as the super user. Returns the tool's summary line. `with_users`: also
/// create the SCRAM users the rules name (each needs a password file; the
/// load generator's synthetic members have none and publish as the
/// administrator).
pub fn provision(config: &Config, with_users: bool) -> Result<String, String> {
    use std::io::Write as _;
    let registry = cisp_model::Registry::load(&config.registry_path)
        .map_err(|e| format!("registry {}: {e}", config.registry_path.display()))?;
    let plan = cisp_platform::acl::Provisioning::for_config(
        &config.kafka,
        &registry,
        "cisp-fusion",
        "cisp-intake",
    )
    .plan(with_users);
    let mut child = std::process::Command::new("bash")
        .arg(repo_root().join("scripts/stack/kafka-admin.sh"))
        .arg("apply")
        .env("CISP_KAFKA_BOOTSTRAP", &config.kafka.brokers)
        .env("CISP_CREDENTIALS_DIR", credentials_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run scripts/stack/kafka-admin.sh: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(plan.as_bytes())
            .map_err(|e| format!("writing the plan: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("kafka-admin.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "provisioning topics and ACLs for prefix {} failed (is the stack up? `make stack-up`): {}",
            config.kafka.topic_prefix,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Publishes test records as a member would: a record for a member's
/// submission topic goes out authenticated as that member (the broker's
/// ACLs allow nobody else but intake to write there); anything else as the
/// fusion service.
pub struct TestProducer {
    env_prefix: String,
    producers: BTreeMap<String, FutureProducer>,
    kafka: cisp_platform::KafkaConfig,
}

impl TestProducer {
    /// The producer of whoever may write `topic`.
    fn for_topic(&mut self, topic: &str) -> &FutureProducer {
        let user = cisp_platform::Topics::new(&self.env_prefix)
            .member_of(topic)
            .map_or_else(|| "cisp-fusion".to_owned(), |m| m.as_str().to_owned());
        let kafka = &self.kafka;
        self.producers.entry(user.clone()).or_insert_with(|| {
            as_stack_user(kafka, &user)
                .set("enable.idempotence", "true")
                .create()
                .unwrap_or_else(|e| panic!("producer of {user}: {e}"))
        })
    }
}

/// A client of `kafka`'s brokers as the local stack's user `user` (its
/// password file).
pub fn as_stack_user(kafka: &cisp_platform::KafkaConfig, user: &str) -> ClientConfig {
    kafka
        .client_as_user("cisp-test", user, None)
        .unwrap_or_else(|e| panic!("{e:#} (run `make stack-up`)"))
}

/// The local broker password of `user`, from its password file.
pub fn read_password(user: &str) -> String {
    let file = password_file(user);
    cisp_platform::credentials::read_password(&file)
        .unwrap_or_else(|e| panic!("{e:#} (run `make stack-up`)"))
        .expose()
        .to_owned()
}

/// One isolated test environment on the shared local stack.
pub struct TestEnv {
    pub config: Config,
    /// The configuration file's text (registry path relative to `config/`).
    pub toml: String,
}

impl TestEnv {
    /// Builds a config for the local stack (`CISP_TEST_KAFKA`,
    /// `CISP_TEST_CLICKHOUSE` override the addresses). Panics with how to
    /// start the stack when it is not reachable: a test that needs the
    /// real broker must fail, not skip, without it.
    pub fn new() -> TestEnv {
        TestEnv::with(|_| {})
    }

    /// Like [`TestEnv::new`], with a hook to adjust the TOML before parsing.
    pub fn with(adjust: impl FnOnce(&mut String)) -> TestEnv {
        TestEnv::with_env(adjust, &[])
    }

    /// Like [`TestEnv::with`], with environment variables the service
    /// reads besides the stack's (e.g. `CISP_API_TOKEN`).
    pub fn with_env(adjust: impl FnOnce(&mut String), vars: &[(&str, &str)]) -> TestEnv {
        let kafka = std::env::var("CISP_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".into());
        let clickhouse = std::env::var("CISP_TEST_CLICKHOUSE")
            .unwrap_or_else(|_| "http://127.0.0.1:18123".into());
        for (what, addr) in [
            ("broker", kafka.clone()),
            (
                "clickhouse",
                clickhouse.trim_start_matches("http://").to_owned(),
            ),
        ] {
            let reachable = addr
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
            assert!(
                reachable,
                "the local {what} at {addr} is not reachable: run `make stack-up` (or `make test`)"
            );
        }
        let prefix = unique("t");
        let mut toml = format!(
            r#"
registry_path = "members.toml"
metrics_addr = "127.0.0.1:0"
log = "warn"
[kafka]
brokers = "{kafka}"
topic_prefix = "{prefix}"
group_id = "{prefix}-fusion"
partitions = 2
batch_max_wait_ms = 20
[clickhouse]
url = "{clickhouse}"
database = "test_{prefix}"
max_retries = 2
retry_backoff_ms = 100
[kafka.client]
"security.protocol" = "SASL_PLAINTEXT"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "cisp-fusion"
[engine]
id_salt = "test"
warnlists_disabled = ["documentation"]
[state]
snapshot_path = "{snapshots}/{prefix}.snapshot"
"#,
            snapshots = std::env::temp_dir().join("cisp-test-snapshots").display(),
        );
        adjust(&mut toml);
        let mut env = local_kafka_env();
        env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        if let Some(f) = env.get("CISP_KAFKA_SASL_PASSWORD_FILE") {
            assert!(
                Path::new(f).is_file(),
                "the local broker's password file {f} is missing: run `make stack-up` (or `make test`)"
            );
        }
        let config =
            Config::from_parts(&toml, &env, &repo_root().join("config")).expect("test config");
        provision(&config, true).unwrap_or_else(|e| panic!("{e}"));
        TestEnv { config, toml }
    }

    /// Writes the configuration as a file a `cisp-fusion` process can run
    /// with (`--config`), next to nothing else: paths in it are absolute.
    pub fn write_config(&self, dir: &Path) -> PathBuf {
        let registry = repo_root().join("config/members.toml");
        let text = self.toml.replace(
            "registry_path = \"members.toml\"",
            &format!("registry_path = {:?}", registry.display().to_string()),
        );
        std::fs::create_dir_all(dir).expect("config dir");
        let path = dir.join(format!("{}.toml", self.prefix()));
        std::fs::write(&path, text).expect("config written");
        path
    }

    pub fn prefix(&self) -> &str {
        &self.config.kafka.topic_prefix
    }

    fn client(&self) -> ClientConfig {
        client_for(&self.config)
    }

    /// A client that authenticates as `user` with `password` instead of
    /// as the fusion service.
    pub fn client_as(&self, user: &str, password: &str) -> ClientConfig {
        self.config
            .kafka
            .client_as("cisp-test", user, &cisp_model::Secret::new(password))
    }

    /// A producer that publishes as whoever may write each topic
    /// ([`TestProducer`]).
    pub fn producer(&self) -> Mutex<TestProducer> {
        Mutex::new(TestProducer {
            env_prefix: self.prefix().to_owned(),
            producers: BTreeMap::new(),
            kafka: self.config.kafka.clone(),
        })
    }

    /// Produces and waits for the broker's acknowledgement.
    pub async fn produce(
        &self,
        producer: &Mutex<TestProducer>,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) {
        let producer = producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .for_topic(topic)
            .clone();
        producer
            .send(
                FutureRecord::to(topic).key(key).payload(payload),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("producing to {topic}: {e}"));
    }

    /// Every record of `topic` from the beginning to its current end, read
    /// as the principal the ACLs let read it: a member's alerts as that
    /// member, campaigns and dead letters as the Fusion Cell, submissions
    /// as the fusion service.
    pub fn read_all(&self, topic: &str) -> Vec<Vec<u8>> {
        let topics = cisp_platform::Topics::new(self.prefix());
        let alerts_of = topic
            .strip_prefix(&format!("{}.alerts.", self.prefix()))
            .map(str::to_owned);
        let user = if let Some(member) = alerts_of {
            member
        } else if topic == topics.campaigns() || topic == topics.dead_letter() {
            "fusion-cell".to_owned()
        } else {
            "cisp-fusion".to_owned()
        };
        let group = self.reader_group(&user);
        // A broker that has just restarted answers "not leader" for a few
        // seconds: ask again for a while.
        let started = std::time::Instant::now();
        loop {
            let client = as_stack_user(&self.config.kafka, &user);
            match read_topic(client, &group, topic, Duration::from_secs(30)) {
                Ok(records) => return records.into_iter().map(|(_, payload)| payload).collect(),
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    eprintln!("reading {topic} as {user}: {e}; trying again");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("reading {topic} as {user}: {e}"),
            }
        }
    }

    /// Every alert on `member`'s alert topic, decoded, read as that member.
    pub fn alerts_of(&self, member: &str) -> Vec<cisp_wire::records::AlertRecord> {
        let codec = cisp_wire::Codec::new(cisp_wire::DecodeLimits::default()).expect("codec");
        let member = cisp_model::MemberId::parse(member).expect("member id");
        self.read_all(&cisp_platform::Topics::new(self.prefix()).alerts(&member))
            .iter()
            .map(|b| {
                codec
                    .decode::<cisp_wire::records::AlertRecord>(cisp_wire::RecordType::Alert, b)
                    .expect("an alert the service wrote decodes")
                    .0
            })
            .collect()
    }

    /// A consumer group `user` may name under this environment's ACLs: the
    /// service's own group, intake's, or one in a member's namespace.
    pub fn reader_group(&self, user: &str) -> String {
        match user {
            "cisp-fusion" => self.config.kafka.group_id.clone(),
            "cisp-intake" => cisp_platform::acl::INTAKE_GROUP.to_owned(),
            member => cisp_platform::acl::member_group(member, "test-reader"),
        }
    }

    /// The offsets the fusion service's group has committed for `topic`.
    pub fn committed(&self, topic: &str, partitions: i32) -> BTreeMap<i32, Offset> {
        let consumer: BaseConsumer = self
            .client()
            .set("group.id", &self.config.kafka.group_id)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        got.elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect()
    }

    /// Starts the service on this environment.
    pub async fn start(&self) -> (cisp_fusion::ShutdownTrigger, cisp_fusion::Running) {
        let (trigger, shutdown) = cisp_fusion::shutdown_channel();
        let running = cisp_fusion::start(self.config.clone(), shutdown)
            .await
            .expect("the service starts");
        (trigger, running)
    }

    /// Publishes `records` as [`TestEnv::submit`] does, all handed to the
    /// producers before any acknowledgement is awaited: a burst, as a busy
    /// partnership sends, not one record per round trip.
    pub async fn submit_all(
        &self,
        producer: &Mutex<TestProducer>,
        records: &[cisp_wire::records::SubmissionRecord],
    ) {
        let codec = cisp_wire::Codec::new(cisp_wire::DecodeLimits::default()).expect("codec");
        let topics = cisp_platform::Topics::new(self.prefix());
        let mut waiting = Vec::with_capacity(records.len());
        for record in records {
            let payload = codec
                .encode(cisp_wire::RecordType::Submission, record)
                .expect("encodable record");
            let member = cisp_model::MemberId::parse(&record.member_id).expect("member id");
            let topic = topics.submissions(&member);
            let p = producer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .for_topic(&topic)
                .clone();
            let delivery =
                cisp_platform::kafka::enqueue(&p, &topic, &record.submission_id, &payload)
                    .unwrap_or_else(|e| panic!("producing to {topic}: {e}"));
            waiting.push((topic, delivery));
        }
        for (topic, delivery) in waiting {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => panic!("producing to {topic}: {e}"),
                Err(_) => panic!("producing to {topic}: the producer went away"),
            }
        }
    }

    /// Encodes `record` (single-object) and publishes it on its member's
    /// submission topic, waiting for the broker's acknowledgement.
    pub async fn submit(
        &self,
        producer: &Mutex<TestProducer>,
        record: &cisp_wire::records::SubmissionRecord,
    ) {
        let codec = cisp_wire::Codec::new(cisp_wire::DecodeLimits::default()).expect("codec");
        let payload = codec
            .encode(cisp_wire::RecordType::Submission, record)
            .expect("encodable record");
        let member = cisp_model::MemberId::parse(&record.member_id).expect("member id");
        let topic = cisp_platform::Topics::new(self.prefix()).submissions(&member);
        self.produce(producer, &topic, &record.submission_id, &payload)
            .await;
    }

    pub fn store(&self) -> Store {
        Store::new(&self.config.clickhouse)
    }

    /// `SELECT count() …` helper.
    pub async fn count(&self, sql: &str) -> u64 {
        self.store()
            .client()
            .query(sql)
            .fetch_one::<u64>()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Drops this test's ClickHouse database.
    pub async fn drop_database(&self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS {}",
            self.config.clickhouse.database
        );
        let _ = self
            .config
            .clickhouse
            .server_client()
            .query(&sql)
            .execute()
            .await;
    }
}

/// A client with `config`'s broker and client properties (it
/// authenticates as the fusion service unless told otherwise).
fn client_for(config: &Config) -> ClientConfig {
    config.kafka.client("cisp-test")
}

/// Deletes every topic of `config`'s prefix (best effort), as the broker's
/// administrator: nobody else may.
pub async fn delete_topics(config: &Config) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let Ok(registry) = cisp_model::Registry::load(&config.registry_path) else {
        return;
    };
    let names: Vec<String> = cisp_platform::Topics::new(&config.kafka.topic_prefix)
        .all(&registry)
        .into_iter()
        .map(|t| t.name)
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let admin: Result<AdminClient<DefaultClientContext>, _> =
        as_stack_user(&config.kafka, ADMIN_USER).create();
    if let Ok(admin) = admin {
        let _ = admin
            .delete_topics(
                &refs,
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
            )
            .await;
    }
}

/// A finished test's topics are deleted, so test runs do not pile
/// thousands of partitions onto the shared local broker (its start-up time
/// and memory grow with them). On a thread of its own: the test's runtime
/// may be the one dropping.
impl Drop for TestEnv {
    fn drop(&mut self) {
        let config = self.config.clone();
        let done = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(delete_topics(&config));
            }
        });
        let _ = done.join();
    }
}

impl Default for TestEnv {
    fn default() -> TestEnv {
        TestEnv::new()
    }
}

/// Waits (up to a minute) until the service has made `n` records durable
/// and committed; panics otherwise.
pub async fn wait_durable(running: &cisp_fusion::Running, n: u64) {
    let m = running.metrics.clone();
    let ok = wait_until(Duration::from_secs(60), || m.records_committed.get() >= n).await;
    assert!(
        ok,
        "the service made {} of {n} records durable",
        running.metrics.records_committed.get()
    );
}

/// Polls `check` until it is true or `timeout` passes; returns the last value.
pub async fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP proxy in front of a local server (ClickHouse), so a test can take
/// the server away from one service without stopping it for every other
/// test: [`TcpProxy::cut`] drops every connection and refuses new ones
/// until [`TcpProxy::restore`].
/// A test environment whose service reaches ClickHouse through a
/// [`TcpProxy`] the test can cut, so an outage hits this service alone.
pub fn behind_clickhouse_proxy(adjust: impl FnOnce(&mut String)) -> (TestEnv, TcpProxy) {
    use std::net::ToSocketAddrs;
    let clickhouse =
        std::env::var("CISP_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:18123".into());
    let target = clickhouse
        .trim_start_matches("http://")
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("{clickhouse} does not resolve"));
    let proxy = TcpProxy::start(target);
    let via = format!("http://{}", proxy.addr);
    let env = TestEnv::with(|toml| {
        *toml = toml.replace(&clickhouse, &via);
        adjust(toml);
    });
    assert!(env.config.clickhouse.url.contains(&proxy.addr.to_string()));
    (env, proxy)
}

pub struct TcpProxy {
    pub addr: std::net::SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<Mutex<Vec<TcpStream>>>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub fn start(target: std::net::SocketAddr) -> TcpProxy {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let cut = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (cut2, live2) = (cut.clone(), live.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if cut2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(target) else {
                    continue;
                };
                let pairs = [
                    (client.try_clone(), upstream.try_clone()),
                    (upstream.try_clone(), client.try_clone()),
                ];
                if let Ok(mut l) = live2.lock() {
                    l.extend([client, upstream]);
                }
                for (from, to) in pairs {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                    }
                }
            }
        });
        TcpProxy { addr, cut, live }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        if let Ok(mut l) = self.live.lock() {
            for s in l.drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Every submission (`member/id`) with its campaign now, from the query
/// API of the service at `addr` (the Fusion Cell's view). A campaign
/// listed and then split or merged before its detail was read (the
/// service is applying something) makes it read the whole picture again.
pub fn api_membership(addr: std::net::SocketAddr, token: &str) -> BTreeMap<String, String> {
    let get = |path: &str| -> Result<serde_json::Value, String> {
        let body = cisp_fusion::http::get_with(addr, path, Some(token))
            .map_err(|e| format!("GET {path}: {e}"))?;
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}"))
    };
    let text = |v: &serde_json::Value| v.as_str().expect("a string").to_owned();
    let read = || -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        let list = get("/api/campaigns?limit=10000")?;
        for c in list["campaigns"].as_array().expect("a campaign list") {
            let id = text(&c["id"]);
            let detail = get(&format!("/api/campaigns/{id}"))?;
            for s in detail["submissions"].as_array().expect("a submission list") {
                out.insert(
                    format!("{}/{}", text(&s["member"]), text(&s["id"])),
                    id.clone(),
                );
            }
        }
        Ok(out)
    };
    let mut attempt = 0;
    loop {
        match read() {
            Ok(out) => return out,
            Err(e) if attempt < 20 => {
                eprintln!("{e}; reading the campaigns again");
                attempt += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    }
}
