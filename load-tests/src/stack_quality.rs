//! Clustering quality read back from ClickHouse (issue 20): the planted
//! scenario published to the local broker as members publish, the fusion
//! service run over it, and pairwise precision and recall computed from
//! what every ClickHouse reader sees — each submission's campaign now
//! (`submission_campaigns`) — and, for comparison, from the campaign each
//! submission was given when it was processed (`submissions.campaign_id`,
//! what readers counted before).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cisp_fusion::{shutdown_channel, Config, Store, Topics};
use cisp_model::MemberId;
use cisp_wire::{Codec, DecodeLimits, RecordType};
use rdkafka::producer::FutureProducer;

use crate::scenario::{pairwise, truth, Scenario};

/// The service's configuration for one run of generated members on the
/// local stack: `config_path`'s settings in a topic prefix (`run`), group
/// and ClickHouse `database` of its own, with the generated registry and
/// a snapshot under `dir`.
pub fn run_config(
    run: &str,
    database: &str,
    dir: &Path,
    registry_toml: &str,
    config_path: &Path,
) -> anyhow::Result<Config> {
    std::fs::create_dir_all(dir)?;
    let registry_path = dir.join("members.toml");
    std::fs::write(&registry_path, registry_toml)?;
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let env: BTreeMap<String, String> = [
        ("CISP_TOPIC_PREFIX", run.to_owned()),
        ("CISP_GROUP_ID", format!("{run}-fusion")),
        ("CISP_CLICKHOUSE_DATABASE", database.to_owned()),
        ("CISP_REGISTRY", registry_path.display().to_string()),
        ("CISP_METRICS_ADDR", "127.0.0.1:0".into()),
        (
            "CISP_SNAPSHOT_PATH",
            dir.join("engine.snapshot").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(cisp_testkit::local_kafka_env())
    .collect();
    Config::from_parts(&text, &env, config_path.parent().unwrap_or(Path::new(".")))
}

/// Precision and recall as ClickHouse holds the campaigns.
pub struct StackQuality {
    pub precision: f64,
    pub recall: f64,
    /// From `submissions.campaign_id` (the campaign at processing time).
    pub at_processing_precision: f64,
    pub at_processing_recall: f64,
    pub campaigns: usize,
    /// From the first record handled to the last committed.
    pub seconds: f64,
}

/// Runs the scenario through the local stack (`make stack-up`) with the
/// service configured by `config_path` (its `[engine]` settings), in a
/// topic prefix and database of its own, dropped afterwards.
pub async fn measure_through_stack(
    s: &Scenario,
    members: usize,
    config_path: &Path,
) -> anyhow::Result<StackQuality> {
    let run = cisp_testkit::unique("quality");
    let dir = std::env::temp_dir().join(&run);
    let mut config = run_config(
        &run,
        &format!("quality_{run}"),
        &dir,
        &crate::scenario::registry_toml(members),
        config_path,
    )?;
    // The quality figures are the output: the service's log stays quiet.
    config.log = "warn".into();
    cisp_testkit::provision(&config, false).map_err(anyhow::Error::msg)?;
    cisp_fusion::setup(&config).await?;

    // Published as members publish (the administrator stands in for the
    // scenario's members, which have no broker users).
    let topics = Topics::new(&config.kafka.topic_prefix);
    let codec = Codec::new(DecodeLimits::default())?;
    let producer: FutureProducer =
        cisp_testkit::as_stack_user(&config.kafka, cisp_testkit::ADMIN_USER)
            .set("enable.idempotence", "true")
            .set("queue.buffering.max.messages", "1000000")
            .create()?;
    let mut waiting = Vec::with_capacity(s.reports.len());
    for r in &s.reports {
        let payload = codec.encode(RecordType::Submission, &r.record)?;
        let topic = topics.submissions(&MemberId::parse(&r.record.member_id)?);
        let d =
            cisp_platform::kafka::enqueue(&producer, &topic, &r.record.submission_id, &payload)?;
        waiting.push((topic, d));
    }
    for (topic, d) in waiting {
        match d.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => bail!("publishing to {topic}: {e}"),
            Err(_) => bail!("publishing to {topic}: the producer went away"),
        }
    }

    let (trigger, shutdown) = shutdown_channel();
    let running = cisp_fusion::start(config.clone(), shutdown).await?;
    let m = running.metrics.clone();
    let n = s.reports.len() as u64;
    let started = Instant::now();
    while m.records_committed.get() < n {
        if started.elapsed() > Duration::from_secs(900) {
            bail!(
                "the service made {} of {n} records durable in 15 minutes",
                m.records_committed.get()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    trigger.trigger();
    running.join().await?;

    let store = Store::new(&config.clickhouse);
    let db = &config.clickhouse.database;
    let read = |sql: String| {
        let client = store.client().clone();
        async move {
            client
                .query(&sql)
                .fetch_all::<(String, String, String)>()
                .await
                .map(|rows| {
                    rows.into_iter()
                        .map(|(m, id, c)| ((m, id), c))
                        .collect::<HashMap<(String, String), String>>()
                })
        }
    };
    let now = read(format!(
        "SELECT member_id, submission_id, current_campaign FROM {db}.submission_campaigns"
    ))
    .await?;
    let then = read(format!(
        "SELECT member_id, submission_id, any(campaign_id) FROM {db}.submissions GROUP BY member_id, submission_id"
    ))
    .await?;
    let labels = |held: &HashMap<(String, String), String>| -> anyhow::Result<Vec<String>> {
        s.reports
            .iter()
            .map(|r| {
                held.get(&(r.record.member_id.clone(), r.record.submission_id.clone()))
                    .cloned()
                    .with_context(|| format!("{} is not in ClickHouse", r.record.submission_id))
            })
            .collect()
    };
    let truth = truth(s);
    let found = labels(&now)?;
    let (precision, recall) = pairwise(&found, &truth);
    let (at_processing_precision, at_processing_recall) = pairwise(&labels(&then)?, &truth);
    let campaigns = found
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let _ = config
        .clickhouse
        .server_client()
        .query(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute()
        .await;
    // Its 250 partitions would otherwise stay on the shared local broker
    // run after run (its start-up time grows with them).
    cisp_testkit::delete_topics(&config).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(StackQuality {
        precision,
        recall,
        at_processing_precision,
        at_processing_recall,
        campaigns,
        seconds,
    })
}
