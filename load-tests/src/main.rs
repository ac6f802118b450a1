//! `cisp-load`: end-to-end benchmark of the fusion service on the real
//! local broker and ClickHouse, in one run:
//!
//! 1. publish a synthetic backlog (fixed seed) to N members' topics;
//! 2. drain it with a do-nothing librdkafka consumer: the raw consume rate;
//! 3. drain it with the fusion service (decode, validate, correlate,
//!    alerts acknowledged, ClickHouse written, offsets committed);
//! 4. print both rates and their ratio, and check nothing was lost
//!    (ClickHouse counts equal what was published).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cisp_fusion::config::KafkaConfig;
use cisp_fusion::metrics::RecordOutcome;
use cisp_fusion::{shutdown_channel, Store, Topics};
use cisp_load::generator::{generate, Item, Params};
use cisp_load::load_scenario::LoadScenario;
use cisp_model::MemberId;
use cisp_platform::metrics::Label as _;
use cisp_testkit::unique;
use cisp_wire::{Codec, DecodeLimits, RecordType};
use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

#[derive(Parser)]
#[command(
    name = "cisp-load",
    about = "End-to-end throughput of the fusion service versus the raw broker consume rate"
)]
struct Cli {
    #[arg(long, default_value = "config/fusion.toml")]
    config: PathBuf,
    /// The scenario folder (its `scenario.toml` holds every parameter);
    /// the flags below override single parameters.
    #[arg(long, default_value = "load-tests/scenarios/default")]
    scenario: PathBuf,
    /// Records to publish.
    #[arg(long)]
    records: Option<u64>,
    /// Member organisations publishing.
    #[arg(long)]
    members: Option<u64>,
    #[arg(long)]
    max_observables: Option<u64>,
    #[arg(long)]
    seed: Option<u64>,
    /// Keep the benchmark's ClickHouse database afterwards.
    #[arg(long)]
    keep: bool,
    /// Seconds of paced load per latency level (the scenario's
    /// `latency_levels`, percentages of the measured maximum); 0 skips it.
    #[arg(long)]
    latency_seconds: Option<u64>,
    /// After the latency levels, run this many minutes at `--soak-percent`
    /// of the maximum and chart latency and memory over time
    /// (`make bench-e2e SOAK=1`: 30 minutes).
    #[arg(long, default_value_t = 0)]
    soak_minutes: u64,
    #[arg(long, default_value_t = 50)]
    soak_percent: u64,
    /// Where the soak's chart (`soak.svg`) and samples (`soak.csv`) go.
    #[arg(long, default_value = "docs/bench")]
    soak_out: PathBuf,
}

/// mimalloc instead of glibc's allocator: allocation was about a quarter
/// of the engine's time in `perf` (BENCHMARKS.md, "Profile").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut sc = LoadScenario::load(&cli.scenario)?;
    sc.records = cli.records.unwrap_or(sc.records);
    sc.members = cli.members.unwrap_or(sc.members);
    sc.max_observables = cli.max_observables.unwrap_or(sc.max_observables);
    sc.seed = cli.seed.unwrap_or(sc.seed);
    sc.latency_seconds = cli.latency_seconds.unwrap_or(sc.latency_seconds);
    sc.check()?;
    println!(
        "scenario {}: {} (seed {}, {} records, {} members, 1-{} observables)",
        cli.scenario.display(),
        sc.description,
        sc.seed,
        sc.records,
        sc.members,
        sc.max_observables
    );
    let run = unique("load");
    let members: Vec<String> = (0..sc.members).map(|i| format!("m{i:04}")).collect();
    let dir = std::env::temp_dir().join(&run);
    let mut config = cisp_load::stack_quality::run_config(
        &run,
        &format!("bench_{run}"),
        &dir,
        &cisp_load::generator::registry_toml(
            &members,
            "Load member",
            &["finance", "energy", "health", "government", "retail"],
        ),
        &cli.config,
    )?;
    if let Some(age) = sc.batch_max_age_ms {
        config.kafka.batch_max_age = Duration::from_millis(age);
        println!("service batches close {age} ms after their first record at the latest");
    }
    // Topics and ACLs as production gets them (the administrator's plan),
    // then the ClickHouse tables.
    let provisioned = cisp_testkit::provision(&config, false).map_err(anyhow::Error::msg)?;
    println!("broker: {provisioned}");
    cisp_fusion::setup(&config).await?;
    let topics = Topics::new(&config.kafka.topic_prefix);

    // 1. Publish.
    let params = Params {
        members: members.clone(),
        max_observables: sc.max_observables,
        campaign_percent: sc.campaign_percent,
        campaigns: sc.campaigns,
        malformed_percent: sc.malformed_percent,
        shared_hosting_percent: sc.shared_hosting_percent,
        warnlisted_percent: sc.warnlisted_percent,
    };
    let items = generate(&params, sc.records, sc.seed);
    let codec = Codec::new(DecodeLimits::default())?;
    let mut payloads = Vec::with_capacity(items.len());
    let (mut valid, mut malformed, mut observables) = (0u64, 0u64, 0u64);
    for item in &items {
        match item {
            Item::Submission { member, record } => {
                valid += 1;
                observables += record.observables.len() as u64;
                payloads.push((
                    member.clone(),
                    record.submission_id.clone(),
                    codec.encode(RecordType::Submission, record)?,
                ));
            }
            Item::Malformed { member, bytes } => {
                malformed += 1;
                payloads.push((member.clone(), String::new(), bytes.clone()));
            }
        }
    }
    let bytes: usize = payloads.iter().map(|p| p.2.len()).sum();
    let producer: FutureProducer = admin_client(&config.kafka)
        // Members' producers are idempotent, as our own clients are.
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // Short: the latency phase reuses this producer, and its linger is
        // part of publish→alert.
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(payloads.len());
    for (member, key, payload) in &payloads {
        let topic = topics.submissions(&MemberId::parse(member)?);
        let f = producer
            .send_result(FutureRecord::to(&topic).key(key).payload(payload))
            .map_err(|(e, _)| e)?;
        deliveries.push((topic, key.clone(), payload.clone(), f));
    }
    let mut resent = deliver_all(&producer, deliveries).await?;
    let publish_secs = started.elapsed().as_secs_f64();
    println!(
        "published {} records ({valid} submissions with {observables} observables, {malformed} malformed), {:.1} MiB, in {publish_secs:.2} s ({:.0} records/s)",
        payloads.len(),
        bytes as f64 / 1_048_576.0,
        payloads.len() as f64 / publish_secs
    );

    // 2. Raw consume rate of the same topics.
    let subs: Vec<String> = members
        .iter()
        .map(|m| MemberId::parse(m).map(|m| topics.submissions(&m)))
        .collect::<Result<_, _>>()?;
    let raw_rate = tokio::task::spawn_blocking({
        let kafka = config.kafka.clone();
        let subs = subs.clone();
        let n = payloads.len() as u64;
        move || raw_consume(&kafka, &subs, n)
    })
    .await??;
    println!("raw librdkafka consumer (do nothing): {raw_rate:.0} records/s");

    // 3. The fusion service draining the same backlog.
    let (trigger, shutdown) = shutdown_channel();
    let t0 = Instant::now();
    let running = cisp_fusion::start(config.clone(), shutdown).await?;
    let m = running.metrics.clone();
    let n = payloads.len() as u64;
    let mut first: Option<Instant> = None;
    let mut handled_at: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let done = m.records_committed.get();
        let handled: u64 = RecordOutcome::ALL.iter().map(|o| m.records.get(*o)).sum();
        if handled > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        // Once every record is handled the service is stopped: a stop sends
        // the coalesced updates still inside their window and commits, so
        // the end of the backlog is not the window's wait (a service left
        // running commits the last batches up to one window later).
        if handled >= n && handled_at.is_none() {
            handled_at = Some(Instant::now());
            trigger.trigger();
        }
        if done >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("fusion made {done} of {n} records durable within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end = Instant::now();
    let total_secs = (end - t0).as_secs_f64();
    let steady_secs = (end - first.unwrap_or(t0)).as_secs_f64().max(1e-3);
    let fusion_rate = n as f64 / steady_secs;
    let alerts = m.alerts.get();
    let flush = m.batch_flush.get_sample_sum() / m.batch_flush.get_sample_count().max(1) as f64;
    let ch =
        m.clickhouse_insert.get_sample_sum() / m.clickhouse_insert.get_sample_count().max(1) as f64;
    let batches = m.batch_records.get_sample_count();
    let handled_secs = handled_at.map_or(steady_secs, |h| (h - first.unwrap_or(t0)).as_secs_f64());
    trigger.trigger();
    running.join().await?;
    println!(
        "fusion service: {fusion_rate:.0} records/s ({:.0} observables/s) from the first record handled to the last committed; {total_secs:.2} s including start-up; \
         {batches} batches, mean flush {:.1} ms (ClickHouse {:.1} ms); {alerts} alerts; every record handled after {handled_secs:.2} s",
        fusion_rate * observables as f64 / n as f64,
        flush * 1000.0,
        ch * 1000.0
    );
    println!(
        "per-audience views: {} walks building kept views, {} posting entries looked at ({:.0} per record)",
        m.view_walks.get(),
        m.view_edges.get(),
        m.view_edges.get() as f64 / n as f64
    );
    println!("ratio fusion / raw consume: {:.3}", fusion_rate / raw_rate);

    // 3b. The I/O floor: a pipeline without logic that consumes the same
    //     records, produces the same output records (same topics, keys and
    //     bytes), writes the same rows and commits the same way.
    let store = Store::new(&config.clickhouse);
    let db = &config.clickhouse.database;
    let mut out_topics: Vec<String> = std::iter::once("fusion-cell".to_owned())
        .chain(members.iter().cloned())
        .map(|m| MemberId::parse(&m).map(|m| topics.alerts(&m)))
        .collect::<Result<_, _>>()?;
    out_topics.push(topics.campaigns());
    out_topics.push(topics.dead_letter());
    let outputs = tokio::task::spawn_blocking({
        let client = admin_client(&config.kafka);
        move || cisp_load::floor::read_outputs(client, &out_topics)
    })
    .await??;
    let derived = cisp_load::floor::Derived {
        outputs,
        rows: cisp_load::floor::read_rows(&store, db).await?,
    };
    let floor_outputs = derived.outputs.len();
    let floor_mib = derived.output_bytes() as f64 / 1_048_576.0;
    let floor_rows = derived.rows.submissions.len()
        + derived.rows.observations.len()
        + derived.rows.alerts.len()
        + derived.rows.campaigns.len()
        + derived.rows.dead_letters.len()
        + derived.rows.common_infrastructure.len();
    let mut floor_config = config.clone();
    floor_config.clickhouse.database = format!("floor_{run}");
    let floor_store = Store::new(&floor_config.clickhouse);
    floor_store.migrate().await?;
    let floor_rate = tokio::task::spawn_blocking({
        let rt = tokio::runtime::Handle::current();
        let config = config.clone();
        let client = admin_client(&config.kafka);
        let subs = subs.clone();
        let store = floor_store.clone();
        move || cisp_load::floor::run(&rt, &config, client, &subs, n, &derived, store)
    })
    .await??;
    floor_store
        .client()
        .query(&format!("DROP DATABASE IF EXISTS floor_{run}"))
        .execute()
        .await?;
    println!(
        "I/O floor (no logic: the same records consumed, the same {floor_outputs} output records ({floor_mib:.1} MiB) produced and {floor_rows} rows written, committed alike): {floor_rate:.0} records/s"
    );
    println!(
        "fusion / floor: {:.2}; fusion / raw consume: {:.3}; alerts per record: {:.2} ({alerts} alerts for {n} records)",
        fusion_rate / floor_rate,
        fusion_rate / raw_rate,
        alerts as f64 / n as f64
    );

    // 4. Publish→alert latency under paced load: 25 %, 50 % and 90 % of the
    //    rate just measured, each level with fresh records (their own seed),
    //    the service restarted from its snapshot. Latencies come from the
    //    alert audit (`alerts.publish_to_alert_ms`: broker timestamp of the
    //    triggering record to the broker's acknowledgement of the alert).
    let (mut valid, mut malformed) = (valid, malformed);
    if sc.latency_seconds > 0 {
        let (trigger, shutdown) = shutdown_channel();
        let running = cisp_fusion::start(config.clone(), shutdown).await?;
        let m = running.metrics.clone();
        // Latency is measured from the moment the group has given the
        // service its partitions, not across its start.
        let deadline = Instant::now() + Duration::from_secs(120);
        while m.assigned_partitions.get() == 0 {
            if Instant::now() > deadline {
                bail!("the restarted service got no partitions within 2 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut committed_target = m.records_committed.get();
        let mut waited_before = (
            m.publish_to_process.get_sample_sum(),
            m.publish_to_process.get_sample_count(),
        );
        for (level, percent) in (1u64..).zip(sc.latency_levels.iter().copied()) {
            let rate = (fusion_rate * percent as f64 / 100.0).max(1.0);
            let count = (rate * sc.latency_seconds as f64) as u64;
            let seed = sc.seed + 1000 * level;
            let items = generate(&params, count, seed);
            let t0 = Instant::now();
            let mut deliveries = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let due = t0 + Duration::from_secs_f64(i as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
                deliveries.push(send_item(
                    &codec,
                    &producer,
                    &topics,
                    item,
                    &mut valid,
                    &mut malformed,
                )?);
            }
            let sent_secs = t0.elapsed().as_secs_f64();
            resent += deliver_all(&producer, deliveries).await?;
            committed_target += items.len() as u64;
            let deadline = Instant::now() + Duration::from_secs(600);
            while m.records_committed.get() < committed_target {
                if Instant::now() > deadline {
                    bail!("latency phase {percent} %: records not durable within 10 minutes");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let waited = (
                m.publish_to_process.get_sample_sum() - waited_before.0,
                m.publish_to_process.get_sample_count() - waited_before.1,
            );
            waited_before = (
                m.publish_to_process.get_sample_sum(),
                m.publish_to_process.get_sample_count(),
            );
            let (q, u) = latency(&store, db, &format!("load-{seed}-")).await?;
            println!(
                "latency at {percent} % of maximum ({:.0} records/s offered, {:.0} achieved by the publisher): publish→alert p50 {:.0} ms, p99 {:.0} ms, p999 {:.0} ms over {} alerts sent at once; {} coalesced updates for {} held sightings (p50 {:.0} ms after the first); a record waited {:.0} ms on average before the service took it up",
                rate,
                items.len() as f64 / sent_secs.max(1e-3),
                q.quantiles[0],
                q.quantiles[1],
                q.quantiles[2],
                q.count,
                u.count,
                u.sightings,
                u.quantiles[0],
                waited.0 * 1000.0 / (waited.1.max(1) as f64),
            );
        }
        // A trickle: one linked pair per second (the second report of each
        // pair alerts both members at once).
        let seed = sc.seed + 9000;
        let pairs = sc.latency_seconds;
        let t0 = Instant::now();
        let mut deliveries = Vec::new();
        for k in 0..pairs {
            for (i, (member, record)) in cisp_load::generator::linked_pair(&members, seed, k)
                .into_iter()
                .enumerate()
            {
                let due = t0 + Duration::from_millis(k * 1000 + i as u64 * 200);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
                valid += 1;
                let payload = codec.encode(RecordType::Submission, &record)?;
                let key = record.submission_id.clone();
                let topic = topics.submissions(&MemberId::parse(&member)?);
                let f = producer
                    .send_result(FutureRecord::to(&topic).key(&key).payload(&payload))
                    .map_err(|(e, _)| e)?;
                deliveries.push((topic, key, payload, f));
            }
        }
        resent += deliver_all(&producer, deliveries).await?;
        committed_target += 2 * pairs;
        let deadline = Instant::now() + Duration::from_secs(120);
        while m.records_committed.get() < committed_target {
            if Instant::now() > deadline {
                bail!("trickle: records not durable within 2 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (q, _) = latency(&store, db, &format!("trickle-{seed}-")).await?;
        println!(
            "latency at a trickle (one linked pair per second, {pairs} pairs): publish→alert p50 {:.0} ms, p99 {:.0} ms, p999 {:.0} ms over {} alerts",
            q.quantiles[0], q.quantiles[1], q.quantiles[2], q.count
        );
        if cli.soak_minutes > 0 {
            let soak = Soak {
                minutes: cli.soak_minutes,
                percent: cli.soak_percent,
                rate: fusion_rate * cli.soak_percent as f64 / 100.0,
                out: cli.soak_out.clone(),
            };
            let (published, bad) = soak
                .run(
                    &params,
                    &codec,
                    &producer,
                    &topics,
                    &m,
                    &store,
                    db,
                    committed_target,
                )
                .await?;
            valid += published;
            malformed += bad;
        }
        trigger.trigger();
        running.join().await?;
    }

    // 5. Nothing lost.
    let subs_stored: u64 = store
        .client()
        .query(&format!("SELECT count() FROM {db}.submissions FINAL"))
        .fetch_one()
        .await?;
    let dead_stored: u64 = store
        .client()
        .query(&format!("SELECT count() FROM {db}.dead_letters FINAL"))
        .fetch_one()
        .await?;
    let obs_stored: u64 = store
        .client()
        .query(&format!("SELECT count() FROM {db}.observations FINAL"))
        .fetch_one()
        .await?;
    println!("ClickHouse: {subs_stored} submissions (published {valid}), {obs_stored} observations, {dead_stored} dead letters (published {malformed})");
    if !cli.keep {
        store
            .client()
            .query(&format!("DROP DATABASE IF EXISTS {db}"))
            .execute()
            .await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if resent > 0 {
        println!("{resent} deliveries the broker failed were sent again");
    }
    // A resent record the broker had in fact stored is a duplicate: the
    // service drops a duplicate submission, but a duplicate malformed
    // record is a second dead letter (its own offset).
    if subs_stored != valid || dead_stored < malformed || dead_stored > malformed + resent {
        bail!("records were lost: ClickHouse counts differ from what was published");
    }
    println!("nothing lost: every published record is in ClickHouse");
    Ok(())
}

/// A long run at a fixed share of the maximum.
struct Soak {
    minutes: u64,
    percent: u64,
    rate: f64,
    out: PathBuf,
}

impl Soak {
    /// Publishes fresh records at `rate` for `minutes`, one second's worth
    /// at a time (each second's deliveries awaited before the next, so the
    /// generator holds nothing), sampling the process's resident memory
    /// and the records' wait every 30 s; then waits for the service to
    /// make everything durable and writes the chart. Returns the valid and
    /// malformed records it published.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        params: &Params,
        codec: &Codec,
        producer: &FutureProducer,
        topics: &Topics,
        m: &cisp_fusion::Metrics,
        store: &Store,
        db: &str,
        mut committed_target: u64,
    ) -> anyhow::Result<(u64, u64)> {
        const INTERVAL_S: u64 = 30;
        let started_unix = u32::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs(),
        )?;
        println!(
            "soak: {} minutes at {} % of maximum ({:.0} records/s)",
            self.minutes, self.percent, self.rate
        );
        let t0 = Instant::now();
        let per_second = self.rate.max(1.0) as u64;
        let (mut valid, mut malformed) = (0u64, 0u64);
        let mut samples: Vec<(f64, f64, f64)> = Vec::new(); // minute, wait, rss
        let mut waited = (
            m.publish_to_process.get_sample_sum(),
            m.publish_to_process.get_sample_count(),
        );
        for second in 0..self.minutes * 60 {
            let items = generate(params, per_second, 70_000 + second);
            let mut deliveries = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let due = t0
                    + Duration::from_secs(second)
                    + Duration::from_secs_f64(i as f64 / per_second as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
                deliveries.push(send_item(
                    codec,
                    producer,
                    topics,
                    item,
                    &mut valid,
                    &mut malformed,
                )?);
            }
            deliver_all(producer, deliveries).await?;
            committed_target += items.len() as u64;
            if (second + 1) % INTERVAL_S == 0 {
                let now = (
                    m.publish_to_process.get_sample_sum(),
                    m.publish_to_process.get_sample_count(),
                );
                let wait_ms = (now.0 - waited.0) * 1000.0 / ((now.1 - waited.1).max(1) as f64);
                waited = now;
                let minute = (second + 1) as f64 / 60.0;
                let rss = cisp_load::soak::rss_mib();
                println!(
                    "soak {minute:5.1} min: a record waited {wait_ms:.0} ms on average; resident memory {rss:.0} MiB; {} records not yet durable",
                    committed_target.saturating_sub(m.records_committed.get())
                );
                samples.push((minute, wait_ms, rss));
            }
        }
        // Drain (the chart is written either way: a soak that falls behind
        // is what it is for).
        let deadline = Instant::now() + Duration::from_secs(900);
        let mut drained = true;
        while m.records_committed.get() < committed_target {
            if Instant::now() > deadline {
                drained = false;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        #[derive(clickhouse::Row, serde::Deserialize)]
        struct Bucket {
            b: u32,
            q: Vec<f64>,
            n: u64,
        }
        let rows: Vec<Bucket> = store
            .client()
            .query(&format!(
                "SELECT toUInt32(intDiv(toUInt32(created_at) - {started_unix}, {INTERVAL_S})) AS b, \
                 quantiles(0.5, 0.99)(publish_to_alert_ms) AS q, count() AS n FROM {db}.alerts FINAL \
                 WHERE coalesced = 0 AND created_at >= toDateTime({started_unix}) GROUP BY b ORDER BY b"
            ))
            .fetch_all()
            .await?;
        let by_bucket: BTreeMap<u32, (Vec<f64>, u64)> =
            rows.into_iter().map(|r| (r.b, (r.q, r.n))).collect();
        let samples: Vec<cisp_load::soak::Sample> = samples
            .into_iter()
            .enumerate()
            .map(|(i, (minute, wait_ms, rss_mib))| {
                let (q, alerts) = by_bucket
                    .get(&u32::try_from(i).unwrap_or(u32::MAX))
                    .cloned()
                    .unwrap_or_default();
                cisp_load::soak::Sample {
                    minute,
                    p50_ms: q.first().copied().unwrap_or(f64::NAN),
                    p99_ms: q.get(1).copied().unwrap_or(f64::NAN),
                    alerts,
                    wait_ms,
                    rss_mib,
                }
            })
            .collect();
        std::fs::create_dir_all(&self.out)?;
        let title = format!(
            "soak: {} min at {} % of maximum ({:.0} records/s), publish→alert of alerts sent at once per 30 s",
            self.minutes, self.percent, self.rate
        );
        std::fs::write(
            self.out.join("soak.svg"),
            cisp_load::soak::svg(&title, &samples),
        )?;
        std::fs::write(self.out.join("soak.csv"), cisp_load::soak::csv(&samples))?;
        println!(
            "soak chart: {} (samples in soak.csv)",
            self.out.join("soak.svg").display()
        );
        if !drained {
            bail!(
                "soak: {} records still not durable 15 minutes after its end",
                committed_target.saturating_sub(m.records_committed.get())
            );
        }
        Ok((valid, malformed))
    }
}

/// Latency figures of a set of alerts (from the alert audit).
struct Latency {
    quantiles: [f64; 3],
    count: u64,
    sightings: u64,
}

/// publish→alert of the alerts triggered by submissions whose id starts
/// with `prefix`: those sent at once (p50, p99, p999) and the coalesced
/// updates (p50, from the first sighting each holds).
async fn latency(store: &Store, db: &str, prefix: &str) -> anyhow::Result<(Latency, Latency)> {
    let mut out = Vec::new();
    for filter in ["coalesced = 0", "coalesced = 1"] {
        let (q, count, sightings): (Vec<f64>, u64, u64) = store
            .client()
            .query(&format!(
                "SELECT quantiles(0.5, 0.99, 0.999)(publish_to_alert_ms), count(), sum(sightings) FROM {db}.alerts FINAL \
                 WHERE startsWith(trigger_submission, '{prefix}') AND {filter}"
            ))
            .fetch_one()
            .await?;
        let at = |i: usize| q.get(i).copied().unwrap_or(f64::NAN);
        out.push(Latency {
            quantiles: [at(0), at(1), at(2)],
            count,
            sightings,
        });
    }
    let updates = out.pop().context("two rows")?;
    let single = out.pop().context("two rows")?;
    Ok((single, updates))
}

/// A client authenticated as the local broker's administrator: the load
/// generator publishes for hundreds of synthetic members that have no
/// broker users of their own, and reads with groups of its choosing.
fn admin_client(kafka: &KafkaConfig) -> ClientConfig {
    cisp_testkit::as_stack_user(kafka, cisp_testkit::ADMIN_USER)
}

/// Consumes `n` records from `topics` with a fresh group and does nothing
/// with them; returns records per second from the first record.
fn raw_consume(kafka: &KafkaConfig, topics: &[String], n: u64) -> anyhow::Result<f64> {
    let consumer: BaseConsumer = admin_client(kafka)
        .set("group.id", unique("raw"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&refs)?;
    let mut seen = 0u64;
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen < n {
        if Instant::now() > deadline {
            bail!("raw consumer read {seen} of {n}");
        }
        if let Some(r) = consumer.poll(Duration::from_millis(100)) {
            r?;
            first.get_or_insert_with(Instant::now);
            seen += 1;
        }
    }
    let secs = first.map_or(1e-3, |f| f.elapsed().as_secs_f64().max(1e-3));
    Ok(n as f64 / secs)
}

/// Hands one generated item to the producer, counting it as valid or
/// malformed.
fn send_item(
    codec: &Codec,
    producer: &FutureProducer,
    topics: &Topics,
    item: &Item,
    valid: &mut u64,
    malformed: &mut u64,
) -> anyhow::Result<Pending> {
    let (member, key, payload) = match item {
        Item::Submission { member, record } => {
            *valid += 1;
            (
                member,
                record.submission_id.clone(),
                codec.encode(RecordType::Submission, record)?,
            )
        }
        Item::Malformed { member, bytes } => {
            *malformed += 1;
            (member, String::new(), bytes.clone())
        }
    };
    let topic = topics.submissions(&MemberId::parse(member)?);
    let f = producer
        .send_result(FutureRecord::to(&topic).key(&key).payload(&payload))
        .map_err(|(e, _)| e)?;
    Ok((topic, key, payload, f))
}

/// A record on its way: topic, key, payload, and the broker's answer.
type Pending = (String, String, Vec<u8>, DeliveryFuture);

/// Awaits every delivery and sends again what the broker failed (up to five
/// rounds, a second apart); returns how many were sent again (a transient
/// broker error must not abort a long run; the count is printed).
async fn deliver_all(producer: &FutureProducer, mut pending: Vec<Pending>) -> anyhow::Result<u64> {
    let mut resent = 0u64;
    for round in 0..=5u32 {
        let mut failed = Vec::new();
        let mut first_error = None;
        for (topic, key, payload, delivery) in pending {
            let error = match delivery.await {
                Ok(Ok(_)) => continue,
                Ok(Err((e, _))) => e.to_string(),
                Err(_) => "delivery canceled".to_owned(),
            };
            first_error.get_or_insert(error);
            failed.push((topic, key, payload));
        }
        if failed.is_empty() {
            return Ok(resent);
        }
        let error = first_error.unwrap_or_default();
        if round == 5 {
            bail!(
                "{} records not delivered after five retries: {error}",
                failed.len()
            );
        }
        eprintln!(
            "{} deliveries failed ({error}); sending them again",
            failed.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        pending = Vec::with_capacity(failed.len());
        for (topic, key, payload) in failed {
            let f = producer
                .send_result(FutureRecord::to(&topic).key(&key).payload(&payload))
                .map_err(|(e, _)| e)?;
            resent += 1;
            pending.push((topic, key, payload, f));
        }
    }
    Ok(resent)
}
