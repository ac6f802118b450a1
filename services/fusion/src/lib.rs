//! The CiSP fusion service.
//!
//! Members publish Avro [`Submission`](cisp_model::Submission)s on
//! `<prefix>.submissions.<member>`; this service decodes and validates them
//! (bad ones go to `<prefix>.dead-letter` with a reason), feeds them to the
//! correlation engine ([`cisp_engine::Engine`]), publishes each member's
//! alerts on `<prefix>.alerts.<member>` and campaign updates on
//! `<prefix>.campaigns`, writes the facts to ClickHouse, and only then
//! commits the consumed offsets ([`pipeline`]).
//!
//! Start-up ([`start`]): load the member registry, migrate ClickHouse,
//! ensure topics, rebuild the engine by replaying the stored submissions in
//! their original order (the engine is deterministic, so ids come out the
//! same), serve `/metrics` and `/health`, and run the pipeline on its own
//! thread until [`Shutdown`] fires.

pub mod config;
pub mod convert;
pub mod error;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod pipeline;
pub mod state;
pub mod store;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use cisp_engine::{Engine, Ingest};
use cisp_model::{Registry, Submission};
use tokio::sync::watch;
use tracing::info;

pub use cisp_platform::{acl, topics, Topics};
pub use config::Config;
pub use metrics::Metrics;
pub use store::Store;

/// Fires once to stop the service; tasks drain and flush before exiting.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub struct ShutdownTrigger(watch::Sender<bool>);

pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

/// Dropping the trigger stops the service too, so a test that panics with
/// the service running unwinds into a clean stop instead of a runtime that
/// waits for ever on the consumer thread.
impl Drop for ShutdownTrigger {
    fn drop(&mut self) {
        self.trigger();
    }
}

impl Shutdown {
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }
}

/// A started service.
pub struct Running {
    /// Where `/metrics` and `/health` are served.
    pub metrics_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Waits for the pipeline to end (after shutdown, or on a fatal error).
    pub async fn join(self) -> anyhow::Result<()> {
        self.handle.await.context("pipeline task panicked")?
    }
}

/// Creates the ClickHouse tables and the topics (idempotent).
pub async fn setup(config: &Config) -> anyhow::Result<Arc<Registry>> {
    let registry = Arc::new(Registry::load(&config.registry_path)?);
    Store::new(&config.clickhouse)
        .migrate()
        .await
        .context("migrating ClickHouse")?;
    if config.kafka.create_topics {
        let specs = Topics::new(&config.kafka.topic_prefix).all(&registry);
        config
            .kafka
            .ensure_topics(&specs)
            .await
            .context("creating topics")?;
    }
    Ok(registry)
}

/// Applies a stored correction or feedback record again.
fn replay_action(engine: &mut Engine, a: &store::StoredAction) -> anyhow::Result<()> {
    let ingest = Ingest {
        published_at_ms: 0,
        now_ms: 0,
    };
    if a.ordinal != engine.actions_applied() {
        tracing::warn!(
            stored = a.ordinal,
            expected = engine.actions_applied(),
            "corrections and feedback are not contiguous in the store"
        );
    }
    match a.kind.as_str() {
        "correction" => {
            let c: cisp_model::Correction = serde_json::from_str(&a.body)
                .with_context(|| format!("stored correction #{} does not parse", a.ordinal))?;
            engine.correct(&c, &[], ingest);
        }
        "decision" => {
            let d: cisp_model::Decision = serde_json::from_str(&a.body)
                .with_context(|| format!("stored decision #{} does not parse", a.ordinal))?;
            engine.decide(&d, &[], ingest);
        }
        _ => {
            let f: cisp_model::Feedback = serde_json::from_str(&a.body)
                .with_context(|| format!("stored feedback #{} does not parse", a.ordinal))?;
            engine.feedback(&f, ingest);
        }
    }
    Ok(())
}

/// Rebuilds the engine: the snapshot if there is a usable one, then the
/// submissions ClickHouse holds beyond it (all of them without one).
async fn rebuild_engine(
    config: &Config,
    registry: &Arc<Registry>,
    store: &Store,
) -> anyhow::Result<(Engine, usize, u64)> {
    let started = Instant::now();
    let stored = store
        .count_submissions()
        .await
        .context("counting stored submissions")?;
    let (mut engine, header) = state::load_or_fresh(
        &config.state.snapshot_path,
        &state::scope(config),
        stored,
        registry,
        &config.engine,
    );
    let from = header.as_ref().map_or(0, |h| h.processed);
    let bodies = store
        .load_submission_bodies(from)
        .await
        .context("loading submissions for replay")?;
    // Corrections and feedback (issue 22) go back in between the
    // submissions exactly where they were applied; nobody is told again.
    let actions = store
        .load_actions(engine.actions_applied())
        .await
        .context("loading corrections and feedback for replay")?;
    let replayed_actions = actions.len();
    let mut actions = actions.into_iter().peekable();
    let ingest = Ingest {
        published_at_ms: 0,
        now_ms: 0,
    };
    for (i, body) in bodies.iter().enumerate() {
        while let Some(a) = actions.next_if(|a| a.after_seq <= engine.processed()) {
            replay_action(&mut engine, &a)?;
        }
        let sub: Submission = serde_json::from_str(body).with_context(|| {
            format!("stored submission #{i} does not parse; the submissions table is corrupt")
        })?;
        engine.process(&sub, ingest);
    }
    for a in actions {
        replay_action(&mut engine, &a)?;
    }
    // A store written before `campaign_membership` existed: fill it once
    // from the engine, which knows every submission's campaign now.
    let held = engine.stats().submissions;
    if held > 0
        && store
            .membership_is_empty()
            .await
            .context("reading campaign_membership")?
    {
        let version = convert::membership_version(held - 1);
        let rows: Vec<_> = engine
            .memberships()
            .iter()
            .map(|m| {
                convert::membership_row(
                    m.key.member.as_str(),
                    m.key.id.as_str(),
                    m.campaign_id.as_str(),
                    version,
                    pipeline::now_ms(),
                )
            })
            .collect();
        store
            .write_now("campaign_membership", &rows)
            .await
            .context("filling campaign_membership")?;
        info!(
            submissions = rows.len(),
            "campaign_membership filled from the engine"
        );
    }
    // A store from before every kind of judgement was recorded (only
    // observables were): add what the engine knows and the table lacks.
    let judged = engine.stats().common_infrastructure;
    if judged > 0 {
        let stored: std::collections::HashSet<(String, String)> = store
            .common_keys()
            .await
            .context("reading common_infrastructure")?
            .into_iter()
            .collect();
        if (stored.len() as u64) < judged {
            let version = held.saturating_sub(1);
            let rows: Vec<store::CommonRow> = engine
                .common_judgements()
                .into_iter()
                .filter(|j| !stored.contains(&(j.kind.to_owned(), j.value.clone())))
                .map(|j| convert::common_row(&j, version, pipeline::now_ms()))
                .collect();
            store
                .write_now("common_infrastructure", &rows)
                .await
                .context("filling common_infrastructure")?;
            info!(
                added = rows.len(),
                "common_infrastructure completed from the engine"
            );
        }
    }
    info!(
        from_snapshot = from,
        replayed = bodies.len(),
        replayed_actions,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "engine rebuilt"
    );
    Ok((engine, bodies.len(), from))
}

/// Every fallible start-up step: load the registry, migrate ClickHouse,
/// ensure topics, rebuild the engine, create and subscribe the clients.
async fn prepare(
    config: &Config,
    metrics: &Arc<Metrics>,
    stalls: Arc<kafka::StallWatch>,
) -> anyhow::Result<(pipeline::Pipeline, kafka::ProgressWatch)> {
    let registry = setup(config).await?;
    let store = Store::new(&config.clickhouse);
    let (engine, replayed, restored) = rebuild_engine(config, &registry, &store).await?;
    metrics
        .replayed_submissions
        .set(i64::try_from(replayed).unwrap_or(i64::MAX));
    metrics
        .snapshot_restored_submissions
        .set(i64::try_from(restored).unwrap_or(i64::MAX));
    metrics.set_engine(engine.stats());
    let engine = Arc::new(std::sync::Mutex::new(engine));

    let pipeline = pipeline::Pipeline::new(config, engine, store, registry, metrics.clone())?;
    let watch = kafka::ProgressWatch::new(
        &config.kafka,
        pipeline.subscriptions().to_vec(),
        metrics.consumer_lag.clone(),
        stalls,
    )?;
    Ok((pipeline, watch))
}

/// Starts the service and returns once it is consuming.
pub async fn start(config: Config, shutdown: Shutdown) -> anyhow::Result<Running> {
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let ready = Arc::new(AtomicBool::new(false));
    let stalls = Arc::new(kafka::StallWatch::new(
        config.kafka.stall_after,
        metrics.consumer_stalled_partitions.clone(),
    ));
    // The HTTP server stops when the pipeline ends, for whatever reason:
    // after a fatal error the process must exit (and be restarted), not
    // linger serving metrics.
    let (stop_http, http_stop) = shutdown_channel();
    let watch_stop = http_stop.clone();
    let engine_slot: http::EngineSlot = Arc::default();
    let (metrics_addr, http_task) = http::serve(
        config.metrics_addr,
        http::Serve {
            metrics: metrics.clone(),
            ready: ready.clone(),
            stalls: stalls.clone(),
            engine: engine_slot.clone(),
            api_token: config.api_token.clone(),
            // Releases go through the query API: without its token there
            // is nothing to connect a second producer for.
            releases: match &config.api_token {
                None => None,
                Some(_) => Some(http::Releases {
                    producer: kafka::producer(&config.kafka).context("the release producer")?,
                    store: store::Store::new(&config.clickhouse),
                    topics: cisp_platform::Topics::new(&config.kafka.topic_prefix),
                    codec: cisp_wire::Codec::new(cisp_wire::DecodeLimits::default())
                        .context("the release codec")?,
                }),
            },
        },
        http_stop.wait(),
    )
    .await
    .with_context(|| format!("binding the metrics endpoint {}", config.metrics_addr))?;
    info!(%metrics_addr, api = config.api_token.is_some(), "serving /metrics, /health and the query API (/api/, bearer token)");

    let (pipeline, watch) = match prepare(&config, &metrics, stalls).await {
        Ok(p) => p,
        Err(e) => {
            stop_http.trigger();
            let _ = http_task.await;
            return Err(e);
        }
    };
    watch
        .spawn(watch_stop)
        .context("starting the progress watch")?;
    let _ = engine_slot.set(pipeline.engine.clone());
    ready.store(true, Ordering::Release);
    info!(members = pipeline.registry.members().count(), prefix = %config.kafka.topic_prefix, "fusion service running");
    let handle = tokio::task::spawn_blocking(move || {
        let result = pipeline.run(shutdown);
        ready.store(false, Ordering::Release);
        result.map_err(anyhow::Error::from)
    });
    let handle = tokio::spawn(async move {
        let r = handle.await.context("pipeline thread panicked");
        stop_http.trigger();
        let _ = http_task.await;
        r?
    });
    Ok(Running {
        metrics_addr,
        metrics,
        handle,
    })
}

/// Starts the service and runs it until `shutdown` fires.
pub async fn run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    start(config, shutdown).await?.join().await
}
