//! The consume → correlate → publish → store → commit loop.
//!
//! One thread owns the consumer and the engine and works in batches:
//!
//! 1. poll up to `batch_max_records` records, lingering `batch_max_wait`
//!    for each next one (at most one second per batch);
//! 2. decode, validate and correlate each; bad ones become dead letters;
//! 3. produce alerts, campaign updates and dead letters and wait until the
//!    broker has acknowledged every one (idempotent producer, acks=all),
//!    meanwhile writing the dead letters, observations and campaigns to
//!    ClickHouse;
//! 4. write the alert audit and then the submissions (retrying transient
//!    errors) — a `submissions` row means "fully handled" to the replay;
//! 5. only then commit the batch's offsets.
//!
//! 6. every `state.snapshot_every_records` records or
//!    `state.snapshot_interval_s` seconds, snapshot the engine (`state.rs`).
//!
//! If step 3 or 4 fails for good, the loop stops *without committing*: the
//! process exits, and on restart the engine is loaded from its snapshot
//! plus the submissions ClickHouse holds beyond it, and the uncommitted
//! records are redelivered. Redelivered submissions the
//! engine already holds are duplicates and change nothing; alerts that were
//! acknowledged but not recorded are sent again with the same alert id.
//!
//! Back-pressure: while a batch is being made durable the loop does not
//! poll. librdkafka's `max.poll.interval.ms` must therefore exceed the
//! worst flush time, or the group would rebalance the partitions away; the
//! config refuses ClickHouse retry budgets above half of it, and producer
//! deliveries time out (`message.timeout.ms`) well inside it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cisp_engine::{Alert, Engine, Ingest, Outcome};
use cisp_model::{Limits, MemberId, Registry, Submission, SubmissionDraft};
use cisp_wire::records::{Bytes, DeadLetterRecord, SubmissionRecord};
use cisp_wire::{Codec, RecordType};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use crate::config::{KafkaConfig, StateConfig};
use crate::convert::{self, Source};
use crate::error::FusionError;
use crate::metrics::{Metrics, RecordOutcome};
use crate::store::{datetime, DeadLetterRow, Rows, Store};
use crate::topics::Topics;
use crate::Shutdown;

/// The dead-letter topic carries at most this much of a bad payload.
const DEAD_LETTER_PAYLOAD_MAX: usize = 64 * 1024;
/// Upper bound on the time spent filling one batch, so a steady stream
/// still reaches the broker and ClickHouse at least this often.
/// ClickHouse keeps a hex excerpt of this many bytes.
const DEAD_LETTER_ROW_BYTES: usize = 4 * 1024;

fn internal(e: cisp_wire::WireError) -> FusionError {
    FusionError::Internal(format!("cannot encode an output record: {e}"))
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

struct Polled {
    source: Source,
    timestamp_ms: Option<i64>,
    payload: Vec<u8>,
}

enum OutKind {
    Alert {
        row: usize,
        trigger_published_ms: i64,
    },
    Campaign,
    DeadLetter,
}

struct Outgoing {
    topic: String,
    key: String,
    payload: Vec<u8>,
    kind: OutKind,
}

#[derive(Default)]
struct Batch {
    records: usize,
    outgoing: Vec<Outgoing>,
    rows: Rows,
    /// Highest offset seen per (topic, partition).
    offsets: BTreeMap<(String, i32), i64>,
}

/// Progress since the last snapshot.
pub struct SinceSnapshot {
    records: u64,
    at: Instant,
    /// Next offset per topic:partition, as committed.
    offsets: BTreeMap<String, i64>,
}

impl SinceSnapshot {
    pub fn new() -> SinceSnapshot {
        SinceSnapshot {
            records: 0,
            at: Instant::now(),
            offsets: BTreeMap::new(),
        }
    }
}

impl Default for SinceSnapshot {
    fn default() -> SinceSnapshot {
        SinceSnapshot::new()
    }
}

/// The engine, shared with the query API (which only reads it).
pub type SharedEngine = Arc<std::sync::Mutex<Engine>>;

/// Locks the engine; a panic while it was held is a bug that already
/// stopped the pipeline, so a poisoned lock is taken as is for reading.
pub fn lock(engine: &SharedEngine) -> std::sync::MutexGuard<'_, Engine> {
    engine
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub struct Pipeline {
    pub(crate) consumer: crate::kafka::FusionConsumer,
    pub(crate) producer: FutureProducer,
    pub(crate) codec: Codec,
    pub(crate) engine: SharedEngine,
    pub(crate) store: Store,
    pub(crate) topics: Topics,
    pub(crate) registry: Arc<Registry>,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) kafka: KafkaConfig,
    pub(crate) state: StateConfig,
    pub(crate) snapshot_scope: String,
    pub(crate) since_snapshot: SinceSnapshot,
}

impl Pipeline {
    /// Runs until `shutdown` fires (after flushing the batch in hand) or a
    /// batch cannot be made durable.
    pub fn run(mut self, shutdown: Shutdown) -> Result<(), FusionError> {
        info!("pipeline started");
        while !shutdown.is_triggered() {
            let mut batch = Batch::default();
            self.poll_batch(&mut batch)?;
            if batch.records == 0 {
                continue;
            }
            self.flush(batch)?;
            if self.since_snapshot.records >= self.state.snapshot_every_records
                || self.since_snapshot.at.elapsed() >= self.state.snapshot_interval
            {
                self.snapshot();
            }
        }
        if self.since_snapshot.records > 0 {
            self.snapshot();
        }
        info!("pipeline stopped: every processed record is durable and committed");
        Ok(())
    }

    /// Fills a batch: up to `batch_max_records`, waiting at most
    /// `batch_max_wait` for each next record (a linger: an idle stream is
    /// flushed quickly, a backlog fills whole batches), and never working on
    /// one batch for more than `batch_max_age`.
    fn poll_batch(&mut self, batch: &mut Batch) -> Result<(), FusionError> {
        // Wait briefly for the first record so shutdown is noticed quickly.
        let mut timeout = Duration::from_millis(200);
        let mut started: Option<Instant> = None;
        while batch.records < self.kafka.batch_max_records {
            let polled = match self.consumer.poll(timeout) {
                None => break,
                Some(Err(e)) => {
                    self.metrics.kafka_errors.inc();
                    warn!(error = %e, "kafka consumer error");
                    break;
                }
                Some(Ok(m)) => Polled {
                    source: Source {
                        topic: m.topic().to_owned(),
                        partition: m.partition(),
                        offset: m.offset(),
                    },
                    timestamp_ms: m.timestamp().to_millis(),
                    payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                },
            };
            self.handle(polled, batch)?;
            if started.get_or_insert_with(Instant::now).elapsed() >= self.kafka.batch_max_age {
                break;
            }
            timeout = self.kafka.batch_max_wait;
        }
        Ok(())
    }

    /// Handles one record. Bad input is dead-lettered (not an error); an
    /// error here is ours (an output that cannot be encoded) and stops the
    /// pipeline before anything of the batch is committed.
    fn handle(&mut self, m: Polled, batch: &mut Batch) -> Result<(), FusionError> {
        batch.records += 1;
        let key = (m.source.topic.clone(), m.source.partition);
        let off = batch.offsets.entry(key).or_insert(m.source.offset);
        *off = (*off).max(m.source.offset);
        let now = now_ms();

        let Some(member) = self.topics.member_of(&m.source.topic) else {
            return self.dead_letter(
                batch,
                &m,
                None,
                "unknown_topic",
                "topic is not a member submission topic".into(),
            );
        };
        if self.registry.member(&member).is_none() {
            return self.dead_letter(
                batch,
                &m,
                Some(&member),
                "unknown_member",
                format!("member {member} is not in the registry"),
            );
        }
        let record: SubmissionRecord = match self.codec.decode(RecordType::Submission, &m.payload) {
            Ok((r, _framing)) => r,
            Err(e) => {
                return self.dead_letter(batch, &m, Some(&member), e.reason_code(), e.to_string())
            }
        };
        let draft: SubmissionDraft = record.into();
        let sub = match draft.validate(&member, &self.registry, &self.limits) {
            Ok(s) => s,
            Err(e) => {
                return self.dead_letter(batch, &m, Some(&member), e.reason_code(), e.to_string())
            }
        };
        let published = m.timestamp_ms.unwrap_or(now);
        let outcome = lock(&self.engine).process(
            &sub,
            Ingest {
                published_at_ms: published,
                now_ms: now,
            },
        );
        match outcome {
            Outcome::Duplicate { campaign_id } => {
                debug!(member = %member, submission = %sub.id, campaign = %campaign_id, "duplicate submission ignored");
                self.metrics.records.inc(RecordOutcome::Duplicate);
            }
            Outcome::Accepted(fx) => {
                self.metrics.records.inc(RecordOutcome::Accepted);
                self.metrics
                    .hot_observables
                    .inc_by(u64::from(fx.hot_observables));
                self.metrics
                    .views_over_budget
                    .inc_by(u64::from(fx.views_over_budget));
                self.metrics
                    .view_walks
                    .inc_by(u64::from(fx.view_walks.walks));
                self.metrics.view_edges.inc_by(fx.view_walks.edges);
                let facts = convert::submission_facts(
                    &sub,
                    fx.seq,
                    fx.campaign_id.as_str(),
                    &self.registry,
                    &m.source,
                    now,
                    &convert::ObservableFacts {
                        warnlisted: &fx.warnlisted,
                        scores: &fx.scores,
                    },
                )
                .map_err(|e| {
                    FusionError::Internal(format!("cannot serialise a validated submission: {e}"))
                })?;
                batch.rows.submissions.push(facts.submission);
                self.metrics
                    .common_infrastructure
                    .inc_by(fx.common_infrastructure.len() as u64);
                self.metrics
                    .warnlisted
                    .inc_by(fx.warnlisted.iter().filter(|w| w.is_some()).count() as u64);
                for o in &fx.common_infrastructure {
                    info!(observable = %o, "value is common infrastructure: it links nothing from now on");
                    batch
                        .rows
                        .common_infrastructure
                        .push(crate::store::CommonRow {
                            detected_at: datetime(now),
                            seq: fx.seq,
                            obs_type: o.kind().name().to_owned(),
                            value: o.value().to_owned(),
                        });
                }
                batch.rows.observations.extend(facts.observations);
                for alert in &fx.alerts {
                    self.queue_alert(batch, alert, &sub)?;
                }
                for view in &fx.campaigns {
                    let payload = self
                        .codec
                        .encode(RecordType::CampaignUpdate, &convert::campaign_record(view))
                        .map_err(internal)?;
                    batch.outgoing.push(Outgoing {
                        topic: self.topics.campaigns(),
                        key: view.id.to_string(),
                        payload,
                        kind: OutKind::Campaign,
                    });
                    batch.rows.campaigns.push(convert::campaign_row(view));
                }
            }
        }
        Ok(())
    }

    fn queue_alert(
        &self,
        batch: &mut Batch,
        alert: &Alert,
        trigger: &Submission,
    ) -> Result<(), FusionError> {
        let payload = self
            .codec
            .encode(RecordType::Alert, &convert::alert_record(alert))
            .map_err(internal)?;
        batch.rows.alerts.push(convert::alert_row(
            alert,
            trigger,
            alert.trigger_published_at_ms,
        ));
        batch.outgoing.push(Outgoing {
            topic: self.topics.alerts(&alert.recipient),
            key: alert.id.clone(),
            payload,
            kind: OutKind::Alert {
                row: batch.rows.alerts.len() - 1,
                trigger_published_ms: alert.trigger_published_at_ms,
            },
        });
        Ok(())
    }

    fn dead_letter(
        &self,
        batch: &mut Batch,
        m: &Polled,
        member: Option<&MemberId>,
        code: &'static str,
        reason: String,
    ) -> Result<(), FusionError> {
        // Reasons quote input; keep log lines and the audit single-line.
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { '\u{fffd}' } else { c })
            .collect();
        warn!(
            topic = %m.source.topic,
            partition = m.source.partition,
            offset = m.source.offset,
            reason_code = code,
            %reason,
            "record dead-lettered"
        );
        self.metrics.records.inc(RecordOutcome::DeadLetter);
        self.metrics.dead_letters.with_label_values(&[code]).inc();
        let now = now_ms();
        let cut = m.payload.len().min(DEAD_LETTER_PAYLOAD_MAX);
        let record = DeadLetterRecord {
            received_at: now,
            source_topic: m.source.topic.clone(),
            source_partition: m.source.partition,
            source_offset: m.source.offset,
            member_id: member.map(ToString::to_string),
            reason_code: code.to_owned(),
            reason: reason.clone(),
            payload: Bytes(m.payload[..cut].to_vec()),
            payload_size: i64::try_from(m.payload.len()).unwrap_or(i64::MAX),
            payload_truncated: cut < m.payload.len(),
        };
        let payload = self
            .codec
            .encode(RecordType::DeadLetter, &record)
            .map_err(internal)?;
        batch.outgoing.push(Outgoing {
            topic: self.topics.dead_letter(),
            key: format!(
                "{}:{}:{}",
                m.source.topic, m.source.partition, m.source.offset
            ),
            payload,
            kind: OutKind::DeadLetter,
        });
        let hex: String = m.payload[..m.payload.len().min(DEAD_LETTER_ROW_BYTES)]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        batch.rows.dead_letters.push(DeadLetterRow {
            received_at: datetime(now),
            source_topic: m.source.topic.clone(),
            source_partition: m.source.partition,
            source_offset: m.source.offset,
            member_id: member.map(ToString::to_string).unwrap_or_default(),
            reason_code: code.to_owned(),
            reason,
            payload_size: m.payload.len() as u64,
            payload_hex: hex,
        });
        Ok(())
    }

    /// Snapshots the engine (everything it reflects is durable and
    /// committed). A failure is logged and counted, not fatal: recovery
    /// then replays more from ClickHouse.
    fn snapshot(&mut self) {
        let started = Instant::now();
        let header = crate::state::Header {
            processed: lock(&self.engine).processed(),
            offsets: self.since_snapshot.offsets.clone(),
            created_at_ms: now_ms(),
            scope: self.snapshot_scope.clone(),
        };
        let written = {
            let engine = lock(&self.engine);
            crate::state::write(&self.state.snapshot_path, &header, &engine)
        };
        match written {
            Ok(bytes) => {
                let secs = started.elapsed().as_secs_f64();
                self.metrics.snapshot_seconds.observe(secs);
                self.metrics
                    .snapshot_bytes
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
                info!(
                    submissions = header.processed,
                    bytes,
                    ms = (secs * 1000.0) as u64,
                    "engine snapshot written"
                );
            }
            Err(e) => {
                self.metrics.snapshot_failures.inc();
                warn!(error = %format!("{e:#}"), path = %self.state.snapshot_path.display(), "engine snapshot failed");
            }
        }
        self.since_snapshot.records = 0;
        self.since_snapshot.at = Instant::now();
    }

    /// Makes a batch durable, then commits its offsets.
    fn flush(&mut self, mut batch: Batch) -> Result<(), FusionError> {
        let started = Instant::now();
        let mut deliveries = Vec::with_capacity(batch.outgoing.len());
        for o in &batch.outgoing {
            loop {
                let record = FutureRecord::to(&o.topic).key(&o.key).payload(&o.payload);
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => return Err(FusionError::kafka("produce", e)),
                }
            }
        }
        // Wait for the acknowledgements while the tables the replay does not
        // read are written; alerts and submissions follow the acks.
        let (results, derived) = self.rt.block_on(async {
            let acks = async {
                let mut out = Vec::with_capacity(deliveries.len());
                for d in deliveries {
                    out.push(d.await);
                }
                out
            };
            tokio::join!(acks, self.store.write_derived(&batch.rows, &self.metrics))
        });
        let acked = now_ms();
        let mut alerts = 0u64;
        let mut campaigns = 0u64;
        for (o, r) in batch.outgoing.iter().zip(results) {
            match r {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    error!(topic = %o.topic, error = %e, "broker did not acknowledge a record; stopping without commit");
                    return Err(FusionError::kafka("delivery", e));
                }
                Err(_) => return Err(FusionError::Internal("producer dropped a delivery".into())),
            }
            match o.kind {
                OutKind::Alert {
                    row,
                    trigger_published_ms,
                } => {
                    alerts += 1;
                    let latency_ms = (acked - trigger_published_ms).max(0);
                    self.metrics
                        .publish_to_alert
                        .observe(latency_ms as f64 / 1000.0);
                    batch.rows.alerts[row].publish_to_alert_ms = latency_ms;
                }
                OutKind::Campaign => campaigns += 1,
                OutKind::DeadLetter => {}
            }
        }
        derived?;
        self.metrics.alerts.inc_by(alerts);
        self.metrics.campaign_updates.inc_by(campaigns);
        self.rt
            .block_on(self.store.write_final(&batch.rows, &self.metrics))?;

        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &batch.offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))
                .map_err(|e| FusionError::kafka("offset list", e))?;
        }
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
            // Everything is durable; a failed commit only means redelivery,
            // which the engine recognises as duplicates.
            self.metrics.kafka_errors.inc();
            warn!(error = %e, "offset commit failed; records will be redelivered and ignored as duplicates");
        }
        self.metrics.records_committed.inc_by(batch.records as u64);
        self.metrics.batch_records.observe(batch.records as f64);
        self.metrics
            .batch_flush
            .observe(started.elapsed().as_secs_f64());
        self.metrics.set_engine(lock(&self.engine).stats());
        self.since_snapshot.records += batch.records as u64;
        for ((topic, partition), offset) in &batch.offsets {
            self.since_snapshot
                .offsets
                .insert(format!("{topic}:{partition}"), offset + 1);
        }
        debug!(
            records = batch.records,
            alerts, campaigns, "batch durable and committed"
        );
        Ok(())
    }
}
