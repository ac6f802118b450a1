//! The consume → correlate → publish → store → commit loop.
//!
//! One thread owns the consumer and the engine and works in batches, but
//! never stops consuming to wait for durability:
//!
//! 1. poll up to `batch_max_records` records, lingering `batch_max_wait`
//!    for each next one (at most `batch_max_age` per batch);
//! 2. decode, validate and correlate each; bad ones become dead letters;
//!    every output record (alert, campaign update, dead letter) is handed
//!    to the idempotent producer (acks=all) **at once**, as the engine
//!    returns it;
//! 3. the closed batch goes to a durability task on the runtime, while the
//!    thread goes on with the next batch. The task waits for the broker's
//!    acknowledgement of every output record while writing the dead
//!    letters, observations and campaigns to ClickHouse; then, once every
//!    *earlier* batch has written its own, it writes the alert audit and
//!    the submissions (retrying transient errors) — a `submissions` row
//!    means "fully handled" to the replay, so they land in batch order;
//! 4. the thread commits a batch's offsets once its task and every earlier
//!    one has succeeded, in order.
//!
//! 5. every `state.snapshot_every_records` records or
//!    `state.snapshot_interval_s` seconds, and at a stop, the thread lets
//!    the batches in flight finish, commits, and snapshots the engine
//!    (`state.rs`): a snapshot reflects only durable, committed records.
//!
//! A store that is away (ClickHouse down, the broker unreachable) is
//! waited out: transient ClickHouse errors are retried for as long as they
//! last, and while the oldest batch waits the partitions are paused and
//! the consumer keeps polling, so the group keeps them. If a batch cannot
//! be made durable at all (our bug, a refused delivery), the loop stops
//! *without committing* it or anything after it: the process exits, and on restart the engine
//! is loaded from its snapshot plus the submissions ClickHouse holds beyond
//! it, and the uncommitted records are redelivered. Redelivered
//! submissions the engine already holds are duplicates and change nothing;
//! alerts that were acknowledged but not recorded are sent again with the
//! same alert id.
//!
//! Back-pressure: at most `kafka.max_in_flight_batches` batches and
//! `kafka.max_in_flight_bytes` of output records and rows are in flight;
//! past either the thread waits for the oldest batch, with the partitions
//! paused and polling on (records fetched before the pause are held for
//! the next batch), so a long wait never exceeds `max.poll.interval.ms`.
//! Producer deliveries time out (`message.timeout.ms`) at a quarter of it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cisp_engine::{
    ActionOutcome, Alert, Audited, Coalesced, Coalescer, Effects, Engine, Ingest, Offered, Outcome,
    Revision, SubmissionKey,
};
use cisp_model::{
    Correction, CorrectionDraft, DecisionAction, DecisionDraft, Feedback, FeedbackDraft, Limits,
    MemberId, Registry, Submission, SubmissionDraft,
};
use cisp_wire::records::{
    Bytes, CorrectionRecord, DeadLetterRecord, DecisionRecord, FeedbackRecord, SubmissionRecord,
};
use cisp_wire::{Codec, RecordType};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use crate::config::{KafkaConfig, StateConfig};
use crate::convert::{self, Source};
use crate::error::FusionError;
use crate::metrics::{Metrics, RecordOutcome};
use crate::store::{datetime, AlertRow, DeadLetterRow, Rows, Store};
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

/// Why a record was not admitted: its dead letter's reason.
struct Rejected {
    member: Option<MemberId>,
    code: &'static str,
    reason: String,
}

struct Polled {
    source: Source,
    timestamp_ms: Option<i64>,
    payload: Vec<u8>,
}

impl Polled {
    /// The time context of handling it at `now`: when it was published
    /// (its broker timestamp, else now).
    fn ingest(&self, now: i64) -> Ingest {
        Ingest {
            published_at_ms: self.timestamp_ms.unwrap_or(now),
            now_ms: now,
        }
    }
}

enum OutKind {
    /// Its audit row is built once the broker has acknowledged it.
    Alert(Box<Alert>),
    Campaign,
    DeadLetter,
}

/// An output record handed to the producer.
struct Sent {
    topic: String,
    kind: OutKind,
}

/// A delivery's outcome and when it was seen.
type Acked = (<DeliveryFuture as std::future::Future>::Output, i64);

/// Awaits a batch's deliveries as they are sent, noting when each was
/// acknowledged: an alert's latency ends at its own acknowledgement, not
/// when its batch closes. Each delivery is awaited on its own task, so a
/// batch whose records all had to be sent again (the broker away) is
/// acknowledged together when the broker is back, not one by one.
struct Acks {
    tx: tokio::sync::mpsc::UnboundedSender<DeliveryFuture>,
    task: tokio::task::JoinHandle<Vec<Acked>>,
}

impl Acks {
    fn start(
        rt: &tokio::runtime::Handle,
        producer: &FutureProducer,
        metrics: &Arc<Metrics>,
    ) -> Acks {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<DeliveryFuture>();
        let (producer, metrics) = (producer.clone(), metrics.clone());
        let task = rt.spawn(async move {
            let mut waiting = Vec::new();
            while let Some(d) = rx.recv().await {
                let (producer, metrics) = (producer.clone(), metrics.clone());
                waiting.push(tokio::spawn(async move {
                    let r = acknowledged(&producer, d, &metrics).await;
                    (r, now_ms())
                }));
            }
            let mut out = Vec::with_capacity(waiting.len());
            for w in waiting {
                match w.await {
                    Ok(acked) => out.push(acked),
                    // A panicked waiter: the count check turns it into a
                    // stop without commit.
                    Err(_) => break,
                }
            }
            out
        });
        Acks { tx, task }
    }
}

/// The broker's answer to one output record. A record it did not
/// acknowledge for a reason that can pass — away for longer than
/// `message.timeout.ms`, a leader moving, an error it did not name — is
/// sent again, for as long as it takes: a broker outage is waited out like
/// a ClickHouse one (nothing is committed meanwhile, the partitions stay
/// paused behind the in-flight limit, `/health` says why). A resend can
/// put a record on its topic twice; every output record is keyed and
/// idempotent for its readers (alert ids, campaign versions). Errors that
/// will not pass (the record refused, our rights revoked) are returned.
async fn acknowledged(
    producer: &FutureProducer,
    first: DeliveryFuture,
    metrics: &Metrics,
) -> <DeliveryFuture as std::future::Future>::Output {
    let worth_again = |e: &rdkafka::error::KafkaError| {
        e.rdkafka_error_code().is_none_or(|code| {
            code == rdkafka::types::RDKafkaErrorCode::MessageTimedOut
                || !cisp_platform::kafka::is_permanent(code)
        })
    };
    let mut delivery = first;
    let mut resent = 0u32;
    let out = loop {
        let (e, msg) = match delivery.await {
            Ok(Err((e, msg))) if worth_again(&e) => (e, msg),
            other => break other,
        };
        if resent == 0 {
            metrics.deliveries_unacknowledged.inc();
            warn!(topic = msg.topic(), error = %e, "the broker did not acknowledge a record; sending it again until it does (nothing is committed meanwhile)");
        }
        metrics.delivery_retries.inc();
        resent = resent.saturating_add(1);
        // A timeout has already waited `message.timeout.ms`; any other
        // error is paced here.
        if e.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::MessageTimedOut) {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(resent.min(20)))).await;
        }
        let key = msg.key().unwrap_or_default();
        let payload = msg.payload().unwrap_or_default();
        match cisp_platform::kafka::enqueue(producer, msg.topic(), key, payload) {
            Ok(d) => delivery = d,
            Err(e) => break Ok(Err((e, msg))),
        }
    };
    if resent > 0 {
        metrics.deliveries_unacknowledged.dec();
    }
    out
}

/// A coalesced update, acknowledged, for the batch of its first held
/// sighting: its audit row, or why it could not be delivered.
type UpdateAcked = Result<AlertRow, FusionError>;

#[derive(Default)]
struct Batch {
    /// Position of the batch in this run (tags the sightings it holds).
    seq: u64,
    records: usize,
    /// Updates that will carry a sighting of this batch first: the batch
    /// writes their audit rows and is durable only once they are delivered.
    first_holds: usize,
    sent: Vec<Sent>,
    acks: Option<Acks>,
    rows: Rows,
    /// Bytes of output records and rows: what the batch holds in memory
    /// until it is durable (approximate for rows).
    bytes: usize,
    /// Highest offset seen per (topic, partition).
    offsets: BTreeMap<(String, i32), i64>,
}

/// What a durability task reports.
struct Durable {
    alerts: u64,
    updates: u64,
    campaigns: u64,
}

/// A batch whose outputs are on their way to the broker and ClickHouse.
struct InFlight {
    seq: u64,
    records: usize,
    bytes: usize,
    offsets: BTreeMap<(String, i32), i64>,
    started: Instant,
    task: tokio::task::JoinHandle<Result<Durable, FusionError>>,
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
    consumer: crate::kafka::FusionConsumer,
    producer: FutureProducer,
    codec: Codec,
    pub(crate) engine: SharedEngine,
    store: Store,
    topics: Topics,
    /// The member topics the consumer is subscribed to.
    subscriptions: Vec<String>,
    pub(crate) registry: Arc<Registry>,
    limits: Limits,
    metrics: Arc<Metrics>,
    rt: tokio::runtime::Handle,
    kafka: KafkaConfig,
    state: StateConfig,
    snapshot_scope: String,
    since_snapshot: SinceSnapshot,
    /// Batches not yet durable and committed, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Records fetched while the partitions were paused, handled first.
    held: VecDeque<Polled>,
    /// Fires when the newest launched batch has written its submissions
    /// (`true`) or cannot (`false`): the next batch writes its own only
    /// after it.
    last_final: Option<tokio::sync::oneshot::Receiver<bool>>,
    /// Follow-up sightings held for coalesced updates, tagged with their
    /// batch's `seq`.
    coalescer: Coalescer<u64>,
    next_batch: u64,
    /// Where a delivered update's audit row goes: the durability task of
    /// the batch holding its first sighting (by batch `seq`).
    update_routes: BTreeMap<u64, tokio::sync::mpsc::UnboundedSender<UpdateAcked>>,
    /// The snapshot file being written, off this thread.
    snapshot_writer: Option<std::thread::JoinHandle<()>>,
    /// The stop signal `run` was given (a barrier waits on it).
    shutdown: Option<Shutdown>,
}

impl Pipeline {
    /// Every part of the pipeline, in one place: the consumer subscribed to
    /// every member's submission topic, the idempotent producer, the codec
    /// with the configured limits. Must be called inside the runtime the
    /// durability tasks will run on.
    pub fn new(
        config: &crate::Config,
        engine: SharedEngine,
        store: Store,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Pipeline> {
        use anyhow::Context as _;
        let topics = Topics::new(&config.kafka.topic_prefix);
        let consumer = crate::kafka::consumer(&config.kafka, metrics.assigned_partitions.clone())?;
        let mut subscriptions: Vec<String> = registry
            .members()
            .map(|m| topics.submissions(&m.id))
            .collect();
        // The Fusion Cell's decisions, applied in order with the rest.
        subscriptions.push(topics.decisions());
        let subs: Vec<&str> = subscriptions.iter().map(String::as_str).collect();
        consumer
            .subscribe(&subs)
            .context("subscribing to member topics")?;
        let codec = Codec::new(cisp_wire::DecodeLimits {
            max_message_bytes: config.kafka.max_message_bytes,
            confluent_schema_ids: config.kafka.confluent_schema_ids.clone(),
            ..cisp_wire::DecodeLimits::default()
        })?;
        let coalescer = lock(&engine).coalescer(config.alerts);
        Ok(Pipeline {
            coalescer,
            next_batch: 0,
            update_routes: BTreeMap::new(),
            snapshot_writer: None,
            shutdown: None,
            consumer,
            producer: crate::kafka::producer(&config.kafka)?,
            codec,
            engine,
            store,
            topics,
            subscriptions,
            registry,
            limits: config.limits.clone(),
            metrics,
            rt: tokio::runtime::Handle::current(),
            kafka: config.kafka.clone(),
            state: config.state.clone(),
            snapshot_scope: crate::state::scope(config),
            since_snapshot: SinceSnapshot::new(),
            in_flight: VecDeque::new(),
            held: VecDeque::new(),
            last_final: None,
        })
    }

    /// The member topics the consumer is subscribed to.
    pub fn subscriptions(&self) -> &[String] {
        &self.subscriptions
    }

    /// Runs until `shutdown` fires (after making every batch in hand
    /// durable) or a batch cannot be made durable.
    pub fn run(mut self, shutdown: Shutdown) -> Result<(), FusionError> {
        info!("pipeline started");
        self.shutdown = Some(shutdown.clone());
        while !shutdown.is_triggered() {
            let mut batch = Batch {
                seq: self.next_batch,
                ..Batch::default()
            };
            self.poll_batch(&mut batch)?;
            if batch.records > 0 {
                self.next_batch += 1;
                self.launch(batch);
            }
            let due = self.coalescer.due(now_ms());
            self.send_updates(due)?;
            self.commit_durable(false, &shutdown)?;
            if self.snapshot_due() && self.commit_durable(true, &shutdown)? {
                self.snapshot();
            }
        }
        if !self.commit_durable(true, &shutdown)? {
            warn!(
                batches = self.in_flight.len(),
                records = self.in_flight_records(),
                "stopping with batches not yet durable (a store is away): they stay uncommitted and will be redelivered"
            );
            self.finish_snapshot_write();
            return Ok(());
        }
        if self.since_snapshot.records > 0 {
            self.snapshot();
        }
        self.finish_snapshot_write();
        info!("pipeline stopped: every processed record is durable and committed");
        Ok(())
    }

    /// Every `state.snapshot_every_records` records, or after
    /// `state.snapshot_interval` with anything new.
    fn snapshot_due(&self) -> bool {
        if self
            .snapshot_writer
            .as_ref()
            .is_some_and(|h| !h.is_finished())
        {
            return false; // the last one is still being written
        }
        let new = self.since_snapshot.records + self.in_flight_records();
        new >= self.state.snapshot_every_records
            || (new > 0 && self.since_snapshot.at.elapsed() >= self.state.snapshot_interval)
    }

    fn in_flight_records(&self) -> u64 {
        self.in_flight.iter().map(|f| f.records as u64).sum()
    }

    /// Fills a batch: up to `batch_max_records`, waiting at most
    /// `batch_max_wait` for each next record (a linger: an idle stream is
    /// flushed quickly, a backlog fills whole batches), and never working on
    /// one batch for more than `batch_max_age`.
    fn poll_batch(&mut self, batch: &mut Batch) -> Result<(), FusionError> {
        // Wait briefly for the first record so shutdown is noticed quickly,
        // and more briefly while batches are in flight, so their offsets
        // are committed soon after they are durable.
        let mut timeout = if self.in_flight.is_empty() {
            Duration::from_millis(200)
        } else {
            Duration::from_millis(5)
        };
        let mut started: Option<Instant> = None;
        while batch.records < self.kafka.batch_max_records {
            let polled = if let Some(held) = self.held.pop_front() {
                held
            } else {
                match self.poll_one(timeout) {
                    Ok(Some(p)) => p,
                    Ok(None) | Err(()) => break,
                }
            };
            // A correction, or feedback that will stop a value linking,
            // tells whoever was alerted on what it takes back: it is a
            // batch of its own, handled once everything before it is
            // durable, so the provenance audit holds every such alert.
            if self.needs_barrier(&polled) {
                if batch.records > 0 || !self.barrier()? {
                    self.held.push_front(polled);
                    break;
                }
                self.handle(polled, batch)?;
                break;
            }
            self.handle(polled, batch)?;
            if started.get_or_insert_with(Instant::now).elapsed() >= self.kafka.batch_max_age {
                break;
            }
            timeout = self.kafka.batch_max_wait;
        }
        Ok(())
    }

    /// One record from the consumer, if one comes within `timeout`
    /// (`Err` on a consumer error, which is counted and logged).
    fn poll_one(&mut self, timeout: Duration) -> Result<Option<Polled>, ()> {
        match self.consumer.poll(timeout) {
            None => Ok(None),
            Some(Err(e)) => {
                self.metrics.kafka_errors.inc();
                warn!(error = %e, "kafka consumer error");
                Err(())
            }
            Some(Ok(m)) => Ok(Some(Polled {
                source: Source {
                    topic: m.topic().to_owned(),
                    partition: m.partition(),
                    offset: m.offset(),
                },
                timestamp_ms: m.timestamp().to_millis(),
                payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            })),
        }
    }

    /// Handles one record: admit it (identity from the topic, decode,
    /// validate), let the engine process it, then hand its effects on.
    /// Bad input is dead-lettered (not an error); an error here is ours (an
    /// output that cannot be encoded) and stops the pipeline before
    /// anything of the batch is committed.
    fn handle(&mut self, m: Polled, batch: &mut Batch) -> Result<(), FusionError> {
        batch.records += 1;
        batch.bytes += m.payload.len();
        let key = (m.source.topic.clone(), m.source.partition);
        let off = batch.offsets.entry(key).or_insert(m.source.offset);
        *off = (*off).max(m.source.offset);
        let now = now_ms();
        if m.source.topic == self.topics.decisions() {
            return self.handle_decision(&m, batch, now);
        }
        match self.codec.member_record_type(&m.payload) {
            RecordType::Correction => return self.handle_correction(&m, batch, now),
            RecordType::Feedback => return self.handle_feedback(&m, batch, now),
            _ => {}
        }

        let sub = match self.admit(&m) {
            Ok(sub) => sub,
            Err(r) => return self.dead_letter(batch, &m, r.member.as_ref(), r.code, r.reason),
        };
        let ingest = m.ingest(now);
        self.metrics
            .publish_to_process
            .observe((now - ingest.published_at_ms).max(0) as f64 / 1000.0);
        let outcome = lock(&self.engine).process(&sub, ingest);
        match outcome {
            Outcome::Duplicate {
                campaign_id,
                same_content: true,
            } => {
                debug!(member = %sub.member, submission = %sub.id, campaign = %campaign_id, "duplicate submission ignored");
                self.metrics.records.inc(RecordOutcome::Duplicate);
                Ok(())
            }
            // An id reused for something else is not a redelivery: the
            // member must hear that its new content was not taken.
            Outcome::Duplicate {
                same_content: false,
                ..
            } => self.dead_letter(
                batch,
                &m,
                Some(&sub.member),
                "resent_with_different_content",
                format!(
                    "submission {} was processed before with other content; an id is never reused: publish the new content under a new submission id",
                    sub.id
                ),
            ),
            Outcome::Accepted(fx) => self.effects(batch, &sub, fx, &m.source, now),
        }
    }

    /// The member whose topic `m` came from, if it is in the registry.
    fn topic_member(&self, m: &Polled) -> Result<MemberId, Rejected> {
        let Some(member) = self.topics.member_of(&m.source.topic) else {
            return Err(Rejected {
                member: None,
                code: "unknown_topic",
                reason: "topic is not a member submission topic".into(),
            });
        };
        if self.registry.member(&member).is_none() {
            return Err(Rejected {
                reason: format!("member {member} is not in the registry"),
                member: Some(member),
                code: "unknown_member",
            });
        }
        Ok(member)
    }

    /// Whether `m` must wait for everything before it to be durable: a
    /// correction, or a false positive that tips a value into dispute.
    fn needs_barrier(&self, m: &Polled) -> bool {
        if m.source.topic == self.topics.decisions() {
            return true;
        }
        match self.codec.member_record_type(&m.payload) {
            RecordType::Correction => true,
            RecordType::Feedback => match self.admit_feedback(m) {
                Ok(f) => lock(&self.engine).feedback_tips(&f),
                Err(_) => false,
            },
            _ => false,
        }
    }

    /// Makes every batch in hand durable and commits it (held updates
    /// sent first). `false` when the service is stopping meanwhile.
    fn barrier(&mut self) -> Result<bool, FusionError> {
        let Some(shutdown) = self.shutdown.clone() else {
            return Ok(true);
        };
        self.metrics.barriers.inc();
        self.commit_durable(true, &shutdown)
    }

    /// Who was alerted on anything built on `keys`, from the audit.
    fn audited(&self, keys: &[SubmissionKey]) -> Result<Vec<Audited>, FusionError> {
        let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let rows = self
            .rt
            .block_on(self.store.alerts_citing(&keys, &self.metrics))?;
        Ok(rows
            .into_iter()
            .filter_map(|(alert_id, recipient)| {
                Some(Audited {
                    alert_id,
                    recipient: MemberId::parse(&recipient).ok()?,
                })
            })
            .collect())
    }

    /// Decodes a member record of type `rt` and validates it as its
    /// topic's member sent it.
    fn admit_as<R, T>(
        &self,
        m: &Polled,
        rt: RecordType,
        validate: impl FnOnce(R, &MemberId) -> Result<T, cisp_model::ModelError>,
    ) -> Result<T, Rejected>
    where
        R: serde::de::DeserializeOwned,
    {
        let member = self.topic_member(m)?;
        let record: R = self
            .codec
            .decode(rt, &m.payload)
            .map_err(|e| Rejected {
                member: Some(member.clone()),
                code: e.reason_code(),
                reason: e.to_string(),
            })?
            .0;
        validate(record, &member).map_err(|e| Rejected {
            code: e.reason_code(),
            reason: e.to_string(),
            member: Some(member),
        })
    }

    fn admit_correction(&self, m: &Polled) -> Result<Correction, Rejected> {
        self.admit_as(m, RecordType::Correction, |r: CorrectionRecord, who| {
            CorrectionDraft::from(r).validate(who, &self.registry, &self.limits)
        })
    }

    fn admit_feedback(&self, m: &Polled) -> Result<Feedback, Rejected> {
        self.admit_as(m, RecordType::Feedback, |r: FeedbackRecord, who| {
            FeedbackDraft::from(r).validate(who, &self.registry)
        })
    }

    /// A member's correction of its own report: applied by the engine,
    /// revocations to everyone the audit says was alerted on it.
    fn handle_correction(
        &mut self,
        m: &Polled,
        batch: &mut Batch,
        now: i64,
    ) -> Result<(), FusionError> {
        let c = match self.admit_correction(m) {
            Ok(c) => c,
            Err(r) => return self.dead_letter(batch, m, r.member.as_ref(), r.code, r.reason),
        };
        let key = SubmissionKey {
            member: c.member.clone(),
            id: c.submission.clone(),
        };
        let audited = self.audited(std::slice::from_ref(&key))?;
        let ingest = m.ingest(now);
        let outcome = lock(&self.engine).correct(&c, &audited, ingest);
        match outcome {
            ActionOutcome::Duplicate => {
                self.metrics.records.inc(RecordOutcome::Duplicate);
                Ok(())
            }
            ActionOutcome::Refused { code, reason } => {
                self.dead_letter(batch, m, Some(&c.member), code, reason)
            }
            ActionOutcome::Applied(rev) => {
                self.metrics.records.inc(RecordOutcome::Accepted);
                self.metrics
                    .corrections
                    .with_label_values(&[if c.is_retraction() {
                        "retract"
                    } else {
                        "remove"
                    }])
                    .inc();
                self.metrics.revocations.inc_by(rev.alerts.len() as u64);
                info!(
                    member = %c.member,
                    submission = %c.submission,
                    correction = %c.id,
                    retract = c.is_retraction(),
                    removed = rev.removed.len(),
                    revocations = rev.alerts.len(),
                    moved = rev.moved.len(),
                    "correction applied"
                );
                batch
                    .rows
                    .corrections
                    .push(convert::correction_row(&c, &rev, now));
                self.revision_effects(batch, rev, now)
            }
        }
    }

    /// A member's feedback on an indicator. Whether it counted is never
    /// said to the member (that would tell whether the value exists).
    fn handle_feedback(
        &mut self,
        m: &Polled,
        batch: &mut Batch,
        now: i64,
    ) -> Result<(), FusionError> {
        let f = match self.admit_feedback(m) {
            Ok(f) => f,
            Err(r) => return self.dead_letter(batch, m, r.member.as_ref(), r.code, r.reason),
        };
        let ingest = m.ingest(now);
        let outcome = lock(&self.engine).feedback(&f, ingest);
        let ActionOutcome::Applied(mut rev) = outcome else {
            self.metrics.records.inc(RecordOutcome::Duplicate);
            return Ok(());
        };
        self.metrics.records.inc(RecordOutcome::Accepted);
        self.metrics
            .feedback
            .with_label_values(&[f.kind.name()])
            .inc();
        if !rev.counted {
            self.metrics.feedback_not_counted.inc();
        }
        self.tell_disputed(&mut rev, f.id.as_str(), ingest)?;
        if let Some((value, keys)) = &rev.disputed {
            self.metrics.disputed_values.inc();
            info!(
                value = %value,
                reports = keys.len(),
                told = rev.alerts.len(),
                moved = rev.moved.len(),
                "value disputed by members: it links nothing from now on"
            );
        }
        batch
            .rows
            .feedback
            .push(convert::feedback_row(&f, &rev, now));
        self.revision_effects(batch, rev, now)
    }

    /// A Fusion Cell decision (its own topic, which only the Fusion Cell
    /// and this service may write). A refused decision is a dead letter
    /// with the reason.
    fn handle_decision(
        &mut self,
        m: &Polled,
        batch: &mut Batch,
        now: i64,
    ) -> Result<(), FusionError> {
        let record: DecisionRecord = match self.codec.decode(RecordType::Decision, &m.payload) {
            Ok((r, _)) => r,
            Err(e) => return self.dead_letter(batch, m, None, e.reason_code(), e.to_string()),
        };
        let d = match DecisionDraft::from(record).validate() {
            Ok(d) => d,
            Err(e) => return self.dead_letter(batch, m, None, e.reason_code(), e.to_string()),
        };
        let ingest = m.ingest(now);
        let audited = match &d.action {
            DecisionAction::Withdraw(r) => self.audited(&[SubmissionKey {
                member: r.member.clone(),
                id: r.id.clone(),
            }])?,
            _ => Vec::new(),
        };
        let outcome = lock(&self.engine).decide(&d, &audited, ingest);
        let mut rev = match outcome {
            ActionOutcome::Duplicate => {
                self.metrics.records.inc(RecordOutcome::Duplicate);
                return Ok(());
            }
            ActionOutcome::Refused { code, reason } => {
                return self.dead_letter(
                    batch,
                    m,
                    None,
                    code,
                    format!("decision {} ({}): {reason}", d.id, d.action.name()),
                )
            }
            ActionOutcome::Applied(rev) => rev,
        };
        self.metrics.records.inc(RecordOutcome::Accepted);
        self.metrics
            .decisions
            .with_label_values(&[d.action.name()])
            .inc();
        self.tell_disputed(&mut rev, d.id.as_str(), ingest)?;
        info!(
            decision = %d.id,
            action = d.action.name(),
            analyst = %d.analyst,
            campaigns = rev.campaigns.len(),
            moved = rev.moved.len(),
            told = rev.alerts.len(),
            "decision applied"
        );
        batch
            .rows
            .decisions
            .push(convert::decision_row(&d, &rev, now));
        self.revision_effects(batch, rev, now)
    }

    /// A value stopped linking with `rev` (members' disputes, a benign
    /// declaration): the notices to everyone the audit says was alerted
    /// about a report carrying it. Everything before the record is durable
    /// (it was a barrier), so the audit holds every such alert.
    fn tell_disputed(
        &self,
        rev: &mut Revision,
        action: &str,
        ingest: Ingest,
    ) -> Result<(), FusionError> {
        if let Some((value, keys)) = &rev.disputed {
            let audited = self.audited(keys)?;
            rev.alerts = lock(&self.engine).dispute_notices(value, action, &audited, ingest);
        }
        Ok(())
    }

    /// What an applied correction or feedback gives: moved memberships,
    /// changed campaigns, attribution changes, alerts sent at once.
    fn revision_effects(
        &mut self,
        batch: &mut Batch,
        rev: Revision,
        now: i64,
    ) -> Result<(), FusionError> {
        self.record_changes(
            batch,
            &rev.moved,
            convert::action_version(rev.after_seq),
            &rev.attribution_changes,
            rev.after_seq,
            now,
        );
        for alert in rev.alerts {
            self.queue_alert(batch, Box::new(alert))?;
        }
        self.send_campaigns(batch, &rev.campaigns)
    }

    /// Who sent the record (its topic), and the submission it holds if it
    /// decodes and validates.
    fn admit(&self, m: &Polled) -> Result<Submission, Rejected> {
        self.admit_as(m, RecordType::Submission, |r: SubmissionRecord, who| {
            SubmissionDraft::from(r).validate(who, &self.registry, &self.limits)
        })
    }

    /// What an accepted submission's processing gives: the facts for
    /// ClickHouse, the alerts (each sent at once or held for its update),
    /// the campaign updates.
    fn effects(
        &mut self,
        batch: &mut Batch,
        sub: &Submission,
        fx: Effects,
        source: &Source,
        now: i64,
    ) -> Result<(), FusionError> {
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
            sub,
            fx.seq,
            fx.campaign_id.as_str(),
            &self.registry,
            source,
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
        // Its campaign now, and every earlier submission's that changed
        // with it: ClickHouse's current membership (issue 20).
        batch.rows.membership.push(convert::membership_row(
            sub.member.as_str(),
            sub.id.as_str(),
            fx.campaign_id.as_str(),
            convert::membership_version(fx.seq),
            now,
        ));
        self.record_changes(
            batch,
            &fx.moved,
            convert::membership_version(fx.seq),
            &fx.attribution_changes,
            fx.seq,
            now,
        );
        self.metrics
            .common_infrastructure
            .inc_by(fx.common_infrastructure.len() as u64);
        self.metrics
            .warnlisted
            .inc_by(fx.warnlisted.iter().filter(|w| w.is_some()).count() as u64);
        for j in &fx.common_infrastructure {
            info!(
                kind = j.kind,
                value = %j.value,
                reason = j.reason.name(),
                submissions = j.submissions,
                groups = j.groups,
                "common infrastructure: it links nothing from now on"
            );
            batch
                .rows
                .common_infrastructure
                .push(convert::common_row(j, fx.seq, now));
        }
        batch.rows.observations.extend(facts.observations);
        for alert in fx.alerts {
            match self.coalescer.offer(alert, batch.seq) {
                Offered::Send(alert) => self.queue_alert(batch, alert)?,
                Offered::Held { first } => {
                    self.metrics.alert_sightings_held.inc();
                    batch.first_holds += usize::from(first);
                }
            }
        }
        self.send_campaigns(batch, &fx.campaigns)
    }

    /// Earlier submissions now in another campaign (rows of the current
    /// membership at `membership_version`) and campaigns whose attributed
    /// actor changed (at `version`).
    fn record_changes(
        &self,
        batch: &mut Batch,
        moved: &[cisp_engine::Moved],
        membership_version: u64,
        attribution_changes: &[cisp_engine::AttributionChange],
        version: u64,
        now: i64,
    ) {
        for c in attribution_changes {
            batch
                .rows
                .attribution_changes
                .push(convert::attribution_change_row(c, version, now));
        }
        self.metrics.moved_submissions.inc_by(moved.len() as u64);
        for m in moved {
            batch.rows.membership.push(convert::membership_row(
                m.key.member.as_str(),
                m.key.id.as_str(),
                m.campaign_id.as_str(),
                membership_version,
                now,
            ));
        }
    }

    /// Campaign updates: on `cisp.campaigns` and in `campaigns`.
    fn send_campaigns(
        &mut self,
        batch: &mut Batch,
        views: &[cisp_engine::CampaignView],
    ) -> Result<(), FusionError> {
        for view in views {
            let payload = self
                .codec
                .encode(RecordType::CampaignUpdate, &convert::campaign_record(view))
                .map_err(internal)?;
            self.send(
                batch,
                self.topics.campaigns(),
                &view.id.to_string(),
                &payload,
                OutKind::Campaign,
            )?;
            batch.rows.campaigns.push(convert::campaign_row(view));
        }
        Ok(())
    }

    fn queue_alert(&mut self, batch: &mut Batch, alert: Box<Alert>) -> Result<(), FusionError> {
        let payload = self
            .codec
            .encode(RecordType::Alert, &convert::alert_record(&alert))
            .map_err(internal)?;
        let topic = self.topics.alerts(&alert.recipient);
        let key = alert.id.clone();
        self.send(batch, topic, &key, &payload, OutKind::Alert(alert))
    }

    /// Sends coalesced updates now. Each one's acknowledgement and audit
    /// row go to the durability task of the batch holding its first
    /// sighting, which is durable (and lets later batches commit) only
    /// after it; an update that cannot be delivered stops the pipeline
    /// there, with nothing of it committed.
    fn send_updates(&mut self, updates: Vec<Coalesced<u64>>) -> Result<(), FusionError> {
        self.metrics
            .coalescing_windows
            .set(i64::try_from(self.coalescer.open()).unwrap_or(i64::MAX));
        for Coalesced { alert, tags } in updates {
            let Some(route) = tags
                .first()
                .and_then(|t| self.update_routes.get(t))
                .cloned()
            else {
                return Err(FusionError::Internal(
                    "a coalesced update has no batch to make it durable".into(),
                ));
            };
            let payload = self
                .codec
                .encode(RecordType::Alert, &convert::alert_record(&alert))
                .map_err(internal)?;
            let topic = self.topics.alerts(&alert.recipient);
            let delivery =
                cisp_platform::kafka::enqueue(&self.producer, &topic, &alert.id, &payload)
                    .map_err(|e| FusionError::kafka("produce", e))?;
            let metrics = self.metrics.clone();
            let producer = self.producer.clone();
            self.rt.spawn(async move {
                let acked = match acknowledged(&producer, delivery, &metrics).await {
                    Ok(Ok(_)) => {
                        let at = now_ms();
                        metrics.publish_to_update.observe(
                            (at - alert.trigger_published_at_ms).max(0) as f64 / 1000.0,
                        );
                        Ok(convert::alert_row(&alert, at))
                    }
                    Ok(Err((e, _))) => {
                        error!(%topic, error = %e, "broker did not acknowledge an alert update; stopping without commit");
                        Err(FusionError::kafka("delivery", e))
                    }
                    Err(_) => Err(FusionError::Internal("producer dropped a delivery".into())),
                };
                // The batch's task is waiting for it; if it is gone the
                // pipeline is already stopping.
                let _ = route.send(acked);
            });
        }
        Ok(())
    }

    fn dead_letter(
        &mut self,
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
        self.send(
            batch,
            self.topics.dead_letter(),
            &format!(
                "{}:{}:{}",
                m.source.topic, m.source.partition, m.source.offset
            ),
            &payload,
            OutKind::DeadLetter,
        )?;
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
    ///
    /// Only encoding the engine holds up the pipeline (it needs the
    /// engine); the file is written and synced on a thread of its own while
    /// records flow, and no next snapshot starts before it is done.
    fn snapshot(&mut self) {
        self.finish_snapshot_write();
        let started = Instant::now();
        let header = crate::state::Header {
            processed: lock(&self.engine).processed(),
            offsets: self.since_snapshot.offsets.clone(),
            created_at_ms: now_ms(),
            scope: self.snapshot_scope.clone(),
        };
        let encoded = {
            let engine = lock(&self.engine);
            crate::state::encode(&header, &engine)
        };
        self.since_snapshot.records = 0;
        self.since_snapshot.at = Instant::now();
        let encoded = match encoded {
            Ok(e) => e,
            Err(e) => {
                self.metrics.snapshot_failures.inc();
                warn!(error = %format!("{e:#}"), "engine snapshot could not be encoded");
                return;
            }
        };
        let encode_ms = started.elapsed().as_millis() as u64;
        let path = self.state.snapshot_path.clone();
        let metrics = self.metrics.clone();
        let writer = std::thread::Builder::new()
            .name("snapshot-writer".into())
            .spawn(move || match encoded.write(&path) {
                Ok(n) => {
                    let secs = started.elapsed().as_secs_f64();
                    metrics.snapshot_seconds.observe(secs);
                    metrics
                        .snapshot_bytes
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                    info!(
                        submissions = header.processed,
                        bytes = n,
                        encode_ms,
                        ms = (secs * 1000.0) as u64,
                        "engine snapshot written"
                    );
                }
                Err(e) => {
                    metrics.snapshot_failures.inc();
                    warn!(error = %format!("{e:#}"), path = %path.display(), "engine snapshot failed");
                }
            });
        match writer {
            Ok(handle) => self.snapshot_writer = Some(handle),
            Err(e) => {
                self.metrics.snapshot_failures.inc();
                warn!(error = %e, "cannot start the snapshot writer");
            }
        }
    }

    /// Waits for the snapshot being written, if any.
    fn finish_snapshot_write(&mut self) {
        if let Some(h) = self.snapshot_writer.take() {
            if h.join().is_err() {
                self.metrics.snapshot_failures.inc();
                warn!("the snapshot writer panicked");
            }
        }
    }

    /// Hands one output record to the producer now; its acknowledgement
    /// is awaited by the batch's durability task. A full producer queue is
    /// waited out (the producer drains it in the background).
    fn send(
        &mut self,
        batch: &mut Batch,
        topic: String,
        key: &str,
        payload: &[u8],
        kind: OutKind,
    ) -> Result<(), FusionError> {
        batch.bytes += payload.len();
        let delivery = cisp_platform::kafka::enqueue(&self.producer, &topic, key, payload)
            .map_err(|e| FusionError::kafka("produce", e))?;
        let acks = batch
            .acks
            .get_or_insert_with(|| Acks::start(&self.rt, &self.producer, &self.metrics));
        if acks.tx.send(delivery).is_err() {
            return Err(FusionError::Internal(
                "the acknowledgement task ended early".into(),
            ));
        }
        batch.sent.push(Sent { topic, kind });
        Ok(())
    }

    /// Starts making a closed batch durable, on the runtime: the broker's
    /// acknowledgements and the derived tables together, then — after every
    /// earlier batch has — the alert audit and the submissions.
    fn launch(&mut self, batch: Batch) {
        let Batch {
            seq,
            records,
            first_holds,
            sent,
            acks,
            mut rows,
            bytes,
            offsets,
        } = batch;
        let mut updates = (first_holds > 0).then(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            self.update_routes.insert(seq, tx);
            rx
        });
        let (done, next) = tokio::sync::oneshot::channel();
        let earlier = self.last_final.replace(next);
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let task = self.rt.spawn(async move {
            let acked = async move {
                match acks {
                    None => Ok(Vec::new()),
                    Some(Acks { tx, task }) => {
                        drop(tx);
                        task.await
                    }
                }
            };
            let (results, derived) = tokio::join!(acked, store.write_derived(&rows, &metrics));
            let results = results
                .map_err(|_| FusionError::Internal("the acknowledgement task panicked".into()))?;
            if results.len() != sent.len() {
                return Err(FusionError::Internal("a delivery went missing".into()));
            }
            let mut durable = Durable {
                alerts: 0,
                updates: 0,
                campaigns: 0,
            };
            for (Sent { topic, kind }, (r, acked)) in sent.into_iter().zip(results) {
                match r {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => {
                        error!(%topic, error = %e, "broker did not acknowledge a record; stopping without commit");
                        return Err(FusionError::kafka("delivery", e));
                    }
                    Err(_) => {
                        return Err(FusionError::Internal("producer dropped a delivery".into()))
                    }
                }
                match kind {
                    OutKind::Alert(alert) => {
                        durable.alerts += 1;
                        let latency_ms = (acked - alert.trigger_published_at_ms).max(0);
                        metrics
                            .publish_to_alert
                            .observe(latency_ms as f64 / 1000.0);
                        rows.alerts.push(convert::alert_row(&alert, acked));
                    }
                    OutKind::Campaign => durable.campaigns += 1,
                    OutKind::DeadLetter => {}
                }
            }
            derived?;
            // The updates this batch's held sightings went into first.
            if let Some(rx) = updates.as_mut() {
                for _ in 0..first_holds {
                    let row = rx.recv().await.ok_or_else(|| {
                        FusionError::Internal("a coalesced update went missing".into())
                    })??;
                    durable.updates += 1;
                    rows.alerts.push(row);
                }
            }
            let earlier_ok = match earlier {
                None => true,
                Some(rx) => rx.await.unwrap_or(false),
            };
            if !earlier_ok {
                return Err(FusionError::Internal(
                    "an earlier batch could not be made durable".into(),
                ));
            }
            let written = store.write_final(&rows, &metrics).await;
            let _ = done.send(written.is_ok());
            written?;
            metrics.alerts.inc_by(durable.alerts + durable.updates);
            metrics.alert_updates.inc_by(durable.updates);
            metrics.campaign_updates.inc_by(durable.campaigns);
            Ok(durable)
        });
        self.in_flight.push_back(InFlight {
            seq,
            records,
            bytes,
            offsets,
            started: Instant::now(),
            task,
        });
        self.metrics
            .batches_in_flight
            .set(self.in_flight.len() as i64);
    }

    /// Commits, oldest first, every batch whose durability task has
    /// finished; waits for the oldest while more than the in-flight limits
    /// are out (or for all, with `all`). Waiting never stops polling: the
    /// partitions are paused, so the group keeps them however long a store
    /// is away, and records already fetched are held for later. Returns
    /// whether everything asked for is committed (`false` only when
    /// `shutdown` fired during a wait). A failed batch stops the pipeline
    /// with nothing of it or after it committed.
    fn commit_durable(&mut self, all: bool, shutdown: &Shutdown) -> Result<bool, FusionError> {
        if all && self.coalescer.held() > 0 {
            let updates = self.coalescer.flush_all(now_ms());
            self.send_updates(updates)?;
        }
        loop {
            let Some(front) = self.in_flight.front() else {
                return Ok(true);
            };
            let bytes: usize = self.in_flight.iter().map(|f| f.bytes).sum();
            let over = self.in_flight.len() > self.kafka.max_in_flight_batches
                || bytes > self.kafka.max_in_flight_bytes;
            if !front.task.is_finished() {
                if !(all || over) {
                    return Ok(true);
                }
                // The oldest batch may be waiting for updates whose windows
                // are still open: send them now rather than wait.
                let front_seq = front.seq;
                let early = self.coalescer.flush_through(front_seq, now_ms());
                self.send_updates(early)?;
                if !self.wait_paused(shutdown) {
                    return Ok(false);
                }
            }
            let Some(mut batch) = self.in_flight.pop_front() else {
                return Ok(true);
            };
            self.update_routes.remove(&batch.seq);
            self.metrics
                .batches_in_flight
                .set(self.in_flight.len() as i64);
            let durable = self
                .rt
                .block_on(&mut batch.task)
                .map_err(|_| FusionError::Internal("a durability task panicked".into()))??;
            self.commit(&batch, &durable)?;
        }
    }

    /// Waits for the oldest batch in flight with the assigned partitions
    /// paused, polling all the while (a record fetched before the pause is
    /// held for the next batch). Returns `false` if `shutdown` fired first.
    fn wait_paused(&mut self, shutdown: &Shutdown) -> bool {
        // Most waits are short (a ClickHouse insert): wait a moment without
        // touching the fetch state; pause only for a long one.
        let short = Instant::now();
        while short.elapsed() < Duration::from_secs(1) {
            if self.in_flight.front().is_none_or(|f| f.task.is_finished()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let paused = self.consumer.assignment().ok();
        if let Some(tpl) = &paused {
            if let Err(e) = self.consumer.pause(tpl) {
                warn!(error = %e, "cannot pause the partitions");
            }
        }
        let started = Instant::now();
        let mut told = false;
        let finished = loop {
            if self.in_flight.front().is_none_or(|f| f.task.is_finished()) {
                break true;
            }
            if shutdown.is_triggered() {
                break false;
            }
            if let Ok(Some(p)) = self.poll_one(Duration::from_millis(20)) {
                self.held.push_back(p);
            }
            if !told && started.elapsed() > Duration::from_secs(10) {
                told = true;
                warn!("waiting for the oldest batch to become durable; partitions paused, consumer still in its group");
            }
        };
        if let Ok(tpl) = self.consumer.assignment() {
            if let Err(e) = self.consumer.resume(&tpl) {
                warn!(error = %e, "cannot resume the partitions");
            }
        }
        if told {
            info!(
                waited_s = started.elapsed().as_secs(),
                "the oldest batch is durable; consuming again"
            );
        }
        finished
    }

    /// Commits a durable batch's offsets.
    fn commit(&mut self, batch: &InFlight, durable: &Durable) -> Result<(), FusionError> {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &batch.offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))
                .map_err(|e| FusionError::kafka("offset list", e))?;
        }
        match self.consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => self.metrics.last_commit.set(now_ms() / 1000),
            Err(e) => {
                // Everything is durable; a failed commit only means
                // redelivery, which the engine recognises as duplicates.
                self.metrics.kafka_errors.inc();
                warn!(error = %e, "offset commit failed; records will be redelivered and ignored as duplicates");
            }
        }
        self.metrics.records_committed.inc_by(batch.records as u64);
        self.metrics.batch_records.observe(batch.records as f64);
        self.metrics
            .batch_flush
            .observe(batch.started.elapsed().as_secs_f64());
        self.metrics.set_engine(lock(&self.engine).stats());
        self.since_snapshot.records += batch.records as u64;
        for ((topic, partition), offset) in &batch.offsets {
            self.since_snapshot
                .offsets
                .insert(format!("{topic}:{partition}"), offset + 1);
        }
        debug!(
            records = batch.records,
            alerts = durable.alerts,
            campaigns = durable.campaigns,
            "batch durable and committed"
        );
        Ok(())
    }
}
