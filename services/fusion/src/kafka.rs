//! Kafka clients with the settings the pipeline's guarantees rely on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::IntGauge;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};

use crate::config::KafkaConfig;
use crate::error::FusionError;

/// The consumer's client context: logs every assignment and revocation
/// and keeps `cisp_fusion_assigned_partitions`.
pub struct FusionContext {
    assigned: IntGauge,
}

impl ClientContext for FusionContext {}

impl ConsumerContext for FusionContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let list = |tpl: &TopicPartitionList| {
            tpl.elements()
                .iter()
                .map(|e| format!("{}:{}", e.topic(), e.partition()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match rebalance {
            Rebalance::Assign(tpl) => {
                self.assigned
                    .set(i64::try_from(tpl.count()).unwrap_or(i64::MAX));
                info!(partitions = tpl.count(), assigned = %list(tpl), "partitions assigned");
            }
            Rebalance::Revoke(tpl) => {
                self.assigned.set(0);
                info!(partitions = tpl.count(), revoked = %list(tpl), "partitions revoked");
            }
            Rebalance::Error(e) => warn!(error = %e, "rebalance failed"),
        }
    }
}

/// How often the [`ProgressWatch`] compares committed offsets with the
/// partitions' ends.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Watches the group's durable progress from outside the consumer: every
/// [`PROGRESS_INTERVAL`] it asks the broker for each member-topic
/// partition's end offset (ListOffsets) and the group's committed offset
/// (OffsetFetch), sets `cisp_fusion_consumer_lag` to the records not yet
/// committed, and feeds the [`StallWatch`]. It has its own client because
/// the consumer's own view (librdkafka's statistics) learns a partition's
/// end from its fetch responses: a consumer that cannot fetch believes it
/// is up to date, which is how a stuck partition once looked healthy.
pub struct ProgressWatch {
    client: BaseConsumer,
    topics: Vec<String>,
    lag: IntGauge,
    stalls: Arc<StallWatch>,
}

impl ProgressWatch {
    pub fn new(
        cfg: &KafkaConfig,
        topics: Vec<String>,
        lag: IntGauge,
        stalls: Arc<StallWatch>,
    ) -> Result<ProgressWatch, FusionError> {
        // Never subscribes or commits: the group is named only to read
        // its committed offsets. It fetches no records, so the consumer's
        // fetch and size settings are not its own: a consumer tuned (or
        // mistuned) to small responses must not blind its watch.
        let mut c = cfg.client("cisp-fusion-progress");
        for size in [
            "receive.message.max.bytes",
            "fetch.max.bytes",
            "max.partition.fetch.bytes",
            "fetch.message.max.bytes",
            "message.max.bytes",
        ] {
            c.remove(size);
        }
        let client = c
            .set("group.id", &cfg.group_id)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| FusionError::kafka("create progress client", e))?;
        Ok(ProgressWatch {
            client,
            topics,
            lag,
            stalls,
        })
    }

    /// Runs on its own thread until `shutdown`; a failed round is logged
    /// and retried at the next interval (the broker may be away).
    pub fn spawn(self, shutdown: crate::Shutdown) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("progress-watch".into())
            .spawn(move || {
                while !shutdown.is_triggered() {
                    if let Err(error) = self.round() {
                        warn!(%error, "cannot compare committed offsets with the partitions' ends");
                    }
                    let until = Instant::now() + PROGRESS_INTERVAL;
                    while Instant::now() < until && !shutdown.is_triggered() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
    }

    /// One comparison: every partition of the member topics.
    pub fn round(&self) -> Result<(), FusionError> {
        let timeout = Duration::from_secs(10);
        let md = self
            .client
            .fetch_metadata(None, timeout)
            .map_err(|e| FusionError::kafka("metadata", e))?;
        let mut tpl = TopicPartitionList::new();
        for t in md.topics() {
            if self.topics.iter().any(|name| name == t.name()) {
                for p in t.partitions() {
                    tpl.add_partition(t.name(), p.id());
                }
            }
        }
        if tpl.count() == 0 {
            self.stalls.observe(Instant::now(), []);
            self.lag.set(0);
            return Ok(());
        }
        let committed = self
            .client
            .committed_offsets(tpl.clone(), timeout)
            .map_err(|e| FusionError::kafka("committed offsets", e))?;
        // ListOffsets (batched per broker) for every partition's end, and
        // for the beginning of those the group has never committed: it
        // starts there (auto.offset.reset=earliest).
        let ends = self.list_offsets(&tpl, Offset::End, timeout)?;
        let mut uncommitted = TopicPartitionList::new();
        for e in committed.elements() {
            if !matches!(e.offset(), Offset::Offset(o) if o >= 0) {
                uncommitted.add_partition(e.topic(), e.partition());
            }
        }
        let starts = if uncommitted.count() == 0 {
            BTreeMap::new()
        } else {
            self.list_offsets(&uncommitted, Offset::Beginning, timeout)?
        };
        let mut parts = Vec::with_capacity(tpl.count());
        for e in committed.elements() {
            let key = (e.topic().to_owned(), e.partition());
            let Some(&end) = ends.get(&key) else {
                continue;
            };
            let committed = match e.offset() {
                Offset::Offset(o) if o >= 0 => o,
                _ => match starts.get(&key) {
                    Some(&start) => start,
                    None => continue,
                },
            };
            parts.push(PartitionProgress {
                topic: key.0,
                partition: key.1,
                committed,
                end,
            });
        }
        let lag: i64 = parts.iter().map(|p| (p.end - p.committed).max(0)).sum();
        self.lag.set(lag);
        self.stalls.observe(Instant::now(), parts);
        Ok(())
    }

    fn list_offsets(
        &self,
        tpl: &TopicPartitionList,
        which: Offset,
        timeout: Duration,
    ) -> Result<BTreeMap<(String, i32), i64>, FusionError> {
        let mut query = TopicPartitionList::new();
        for e in tpl.elements() {
            query
                .add_partition_offset(e.topic(), e.partition(), which)
                .map_err(|e| FusionError::kafka("list offsets", e))?;
        }
        let answer = self
            .client
            .offsets_for_times(query, timeout)
            .map_err(|e| FusionError::kafka("list offsets", e))?;
        Ok(answer
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(((e.topic().to_owned(), e.partition()), o)),
                _ => None,
            })
            .collect())
    }
}

/// One partition's durable progress, as the broker reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionProgress {
    pub topic: String,
    pub partition: i32,
    /// The next offset the group will resume from (durable progress).
    pub committed: i64,
    /// The partition's high watermark.
    pub end: i64,
}

/// A partition that has records waiting but has made no durable progress
/// for at least the watch's `after`: a record the consumer cannot fetch,
/// a batch that never becomes durable. `/health` names it and
/// `cisp_fusion_consumer_stalled_partitions` counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stalled {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    pub lag: i64,
    pub stalled_for: Duration,
}

/// Follows each partition's committed offset: one whose offset stays put
/// while records wait behind it is stalled. A busy partition
/// commits every batch (a second at most), so `after` (a minute by
/// default) is far from any healthy pause.
pub struct StallWatch {
    after: Duration,
    gauge: IntGauge,
    state: Mutex<BTreeMap<(String, i32), Tracked>>,
}

/// A watched partition: the committed offset last seen, since when it has
/// stayed there, and the stall it amounts to (if it does).
type Tracked = (i64, Instant, Option<Stalled>);

impl StallWatch {
    pub fn new(after: Duration, gauge: IntGauge) -> StallWatch {
        StallWatch {
            after,
            gauge,
            state: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes one report: every partition watched now (those missing from
    /// it are forgotten).
    pub fn observe(&self, now: Instant, parts: impl IntoIterator<Item = PartitionProgress>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = BTreeMap::new();
        for p in parts {
            let lag = p.end - p.committed;
            if lag <= 0 {
                continue;
            }
            let key = (p.topic.clone(), p.partition);
            let (since, was_stalled) = match state.remove(&key) {
                Some((committed, since, was)) if committed == p.committed => (since, was.is_some()),
                _ => (now, false),
            };
            let waited = now.saturating_duration_since(since);
            let stalled = (waited >= self.after).then_some(Stalled {
                topic: p.topic,
                partition: p.partition,
                committed: p.committed,
                lag,
                stalled_for: waited,
            });
            if let Some(s) = stalled.as_ref().filter(|_| !was_stalled) {
                warn!(topic = %s.topic, partition = s.partition, offset = s.committed, lag = s.lag,
                    stalled_secs = s.stalled_for.as_secs(), "partition makes no progress while records wait");
            }
            next.insert(key, (p.committed, since, stalled));
        }
        *state = next;
        let count = state.values().filter(|v| v.2.is_some()).count();
        self.gauge.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The partitions stalled as of the last report.
    pub fn stalled(&self) -> Vec<Stalled> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.values().filter_map(|v| v.2.clone()).collect()
    }
}

pub type FusionConsumer = BaseConsumer<FusionContext>;

/// A consumer that never commits on its own: offsets are committed by the
/// pipeline after the batch is durable.
/// Its group membership is static (`group.instance.id`): a restart after
/// a crash takes the partitions back at once.
pub fn consumer(cfg: &KafkaConfig, assigned: IntGauge) -> Result<FusionConsumer, FusionError> {
    cfg.client("cisp-fusion")
        .set("group.id", &cfg.group_id)
        .set("group.instance.id", &cfg.instance_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "max.poll.interval.ms",
            cfg.max_poll_interval.as_millis().to_string(),
        )
        .set("session.timeout.ms", "30000")
        .create_with_context(FusionContext { assigned })
        .map_err(|e| FusionError::kafka("create consumer", e))
}

/// An idempotent producer whose deliveries fail (rather than hang) well
/// inside `max.poll.interval.ms`.
pub fn producer(cfg: &KafkaConfig) -> Result<FutureProducer, FusionError> {
    let timeout_ms = (cfg.max_poll_interval.as_millis() / 4).clamp(5_000, 60_000);
    cfg.client("cisp-fusion")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", timeout_ms.to_string())
        .create()
        .map_err(|e| FusionError::kafka("create producer", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(partition: i32, committed: i64, end: i64) -> PartitionProgress {
        PartitionProgress {
            topic: "cisp.submissions.gridco".into(),
            partition,
            committed,
            end,
        }
    }

    #[test]
    fn a_partition_is_stalled_only_while_records_wait_behind_an_unmoving_offset() {
        let gauge = IntGauge::new("stalled", "test").expect("gauge");
        let watch = StallWatch::new(Duration::from_secs(60), gauge.clone());
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        // Partition 0 is stuck at 7 with 3 waiting; partition 1 moves on.
        watch.observe(at(0), [part(0, 7, 10), part(1, 0, 100)]);
        watch.observe(at(30), [part(0, 7, 10), part(1, 50, 100)]);
        assert!(watch.stalled().is_empty());
        watch.observe(at(61), [part(0, 7, 11), part(1, 90, 100)]);
        let stalled = watch.stalled();
        assert_eq!(stalled.len(), 1);
        assert_eq!(
            (stalled[0].partition, stalled[0].committed, stalled[0].lag),
            (0, 7, 4)
        );
        assert_eq!(stalled[0].stalled_for, Duration::from_secs(61));
        assert_eq!(gauge.get(), 1);
        // Progress clears it; so does having nothing left to read.
        watch.observe(at(70), [part(0, 8, 11), part(1, 100, 100)]);
        assert!(watch.stalled().is_empty());
        assert_eq!(gauge.get(), 0);
        watch.observe(at(200), [part(0, 8, 11)]);
        assert_eq!(watch.stalled().len(), 1);
        watch.observe(at(201), [part(0, 11, 11)]);
        assert!(watch.stalled().is_empty());
        // A partition no longer assigned is forgotten.
        watch.observe(at(300), [part(1, 0, 5)]);
        watch.observe(at(400), []);
        watch.observe(at(500), [part(1, 0, 5)]);
        assert!(watch.stalled().is_empty());
    }
}
