//! The I/O floor: what a pipeline that does no logic at all costs on the
//! same records.
//!
//! After the fusion service has drained a backlog, the floor run collects
//! everything the service produced — every record on the alert topics and
//! on the campaigns topic, every row of its ClickHouse tables — and then,
//! timed, consumes the same submission records with a fresh group, in
//! batches closed by the service's own rules, and for each record produces
//! its proportional share of those output records (same topics, same keys,
//! same bytes) and writes its share of those rows (same tables, the
//! service's own insert code, the derived tables next to the
//! acknowledgements and the alert audit and submissions after them, in
//! batch order), and commits each batch's offsets in order once it is
//! durable, with the service's in-flight limit. No decoding, no
//! validation, no correlation: fusion ÷ floor is how much of the cost
//! the logic adds.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cisp_fusion::store::{
    AlertRow, AttributionChangeRow, CampaignRow, CommonRow, CorrectionRow, DeadLetterRow,
    DecisionRow, FeedbackRow, MembershipRow, ObservationRow, Rows, SubmissionRow,
};
use cisp_fusion::{Config, Metrics, Store};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// An output record as the service wrote it.
pub struct Output {
    pub topic: String,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Everything the service derived from a run's records.
#[derive(Default)]
pub struct Derived {
    pub outputs: Vec<Output>,
    pub rows: Rows,
}

impl Derived {
    pub fn output_bytes(&self) -> usize {
        self.outputs.iter().map(|o| o.payload.len()).sum()
    }
}

/// Reads every record of `topics` (from the start to the current end).
pub fn read_outputs(mut client: ClientConfig, topics: &[String]) -> anyhow::Result<Vec<Output>> {
    let consumer: BaseConsumer = client
        .set("group.id", cisp_testkit::unique("floor-read"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    let mut expected = 0i64;
    for topic in topics {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for t in md.topics() {
            for p in t.partitions() {
                let (low, high) =
                    consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
                if high > low {
                    expected += high - low;
                    tpl.add_partition_offset(topic, p.id(), Offset::Offset(low))?;
                }
            }
        }
    }
    consumer.assign(&tpl)?;
    let mut out = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    let deadline = Instant::now() + Duration::from_secs(600);
    while (out.len() as i64) < expected {
        if Instant::now() > deadline {
            bail!("read {} of {expected} output records", out.len());
        }
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            out.push(Output {
                topic: m.topic().to_owned(),
                key: m.key().map(<[u8]>::to_vec).unwrap_or_default(),
                payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// Every row of the service's tables in database `db`.
pub async fn read_rows(store: &Store, db: &str) -> anyhow::Result<Rows> {
    let c = store.client();
    let q = |table: &str| format!("SELECT ?fields FROM {db}.{table}");
    Ok(Rows {
        submissions: c
            .query(&q("submissions"))
            .fetch_all::<SubmissionRow>()
            .await?,
        observations: c
            .query(&q("observations"))
            .fetch_all::<ObservationRow>()
            .await?,
        alerts: c.query(&q("alerts")).fetch_all::<AlertRow>().await?,
        campaigns: c.query(&q("campaigns")).fetch_all::<CampaignRow>().await?,
        dead_letters: c
            .query(&q("dead_letters"))
            .fetch_all::<DeadLetterRow>()
            .await?,
        common_infrastructure: c
            .query(&q("common_infrastructure"))
            .fetch_all::<CommonRow>()
            .await?,
        membership: c
            .query(&q("campaign_membership"))
            .fetch_all::<MembershipRow>()
            .await?,
        attribution_changes: c
            .query(&q("attribution_changes"))
            .fetch_all::<AttributionChangeRow>()
            .await?,
        corrections: c
            .query(&q("corrections"))
            .fetch_all::<CorrectionRow>()
            .await?,
        feedback: c.query(&q("feedback")).fetch_all::<FeedbackRow>().await?,
        decisions: c.query(&q("decisions")).fetch_all::<DecisionRow>().await?,
    })
}

/// The share of `all` that belongs to records `from..to` of `n`.
fn share<T: Clone>(all: &[T], from: u64, to: u64, n: u64) -> Vec<T> {
    let at = |i: u64| {
        usize::try_from(u128::from(i) * all.len() as u128 / u128::from(n.max(1)))
            .unwrap_or(all.len())
    };
    all[at(from)..at(to)].to_vec()
}

fn rows_for(all: &Rows, from: u64, to: u64, n: u64) -> Rows {
    Rows {
        submissions: share(&all.submissions, from, to, n),
        observations: share(&all.observations, from, to, n),
        alerts: share(&all.alerts, from, to, n),
        campaigns: share(&all.campaigns, from, to, n),
        dead_letters: share(&all.dead_letters, from, to, n),
        common_infrastructure: share(&all.common_infrastructure, from, to, n),
        membership: share(&all.membership, from, to, n),
        attribution_changes: share(&all.attribution_changes, from, to, n),
        corrections: share(&all.corrections, from, to, n),
        feedback: share(&all.feedback, from, to, n),
        decisions: share(&all.decisions, from, to, n),
    }
}

struct FloorBatch {
    offsets: TopicPartitionList,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Runs the floor pipeline over `n` records of `topics`; returns records
/// per second from the first record consumed to the last committed.
/// `client` authenticates as the stack's administrator; `store` writes to a
/// fresh database with the service's tables.
pub fn run(
    rt: &tokio::runtime::Handle,
    config: &Config,
    mut client: ClientConfig,
    topics: &[String],
    n: u64,
    derived: &Derived,
    store: Store,
) -> anyhow::Result<f64> {
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", cisp_testkit::unique("floor"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&refs)?;
    let producer: FutureProducer = client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .create()?;
    let metrics = std::sync::Arc::new(Metrics::new()?);
    let kafka = &config.kafka;
    let outs = derived.outputs.len() as u64;
    let mut seen = 0u64;
    let mut first: Option<Instant> = None;
    let mut in_flight: VecDeque<FloorBatch> = VecDeque::new();
    let mut last_final: Option<tokio::sync::oneshot::Receiver<bool>> = None;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while seen < n {
        if Instant::now() > deadline {
            bail!("the floor pipeline consumed {seen} of {n} records");
        }
        // A batch, closed as the service closes its own.
        let start = seen;
        let mut offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut deliveries = Vec::new();
        let mut opened: Option<Instant> = None;
        let mut timeout = Duration::from_millis(if in_flight.is_empty() { 200 } else { 5 });
        while seen < n && ((seen - start) as usize) < kafka.batch_max_records {
            let Some(m) = consumer.poll(timeout) else {
                break;
            };
            let m = m?;
            first.get_or_insert_with(Instant::now);
            let next = offsets
                .entry((m.topic().to_owned(), m.partition()))
                .or_insert(0);
            *next = (*next).max(m.offset() + 1);
            let (lo, hi) = (seen * outs / n, (seen + 1) * outs / n);
            for o in &derived.outputs[lo as usize..hi as usize] {
                let d = cisp_platform::kafka::enqueue(&producer, &o.topic, &o.key, &o.payload)?;
                deliveries.push(d);
            }
            seen += 1;
            if opened.get_or_insert_with(Instant::now).elapsed() >= kafka.batch_max_age {
                break;
            }
            timeout = kafka.batch_max_wait;
        }
        if seen > start {
            let rows = rows_for(&derived.rows, start, seen, n);
            let store = store.clone();
            let metrics = metrics.clone();
            let (done, next) = tokio::sync::oneshot::channel();
            let earlier = last_final.replace(next);
            let task = rt.spawn(async move {
                let acks = async {
                    for d in deliveries {
                        d.await
                            .context("delivery dropped")?
                            .map_err(|(e, _)| anyhow::anyhow!("delivery failed: {e}"))?;
                    }
                    anyhow::Ok(())
                };
                let (acked, derived) = tokio::join!(acks, store.write_derived(&rows, &metrics));
                acked?;
                derived?;
                if let Some(rx) = earlier {
                    if !rx.await.unwrap_or(false) {
                        bail!("an earlier floor batch failed");
                    }
                }
                let written = store.write_final(&rows, &metrics).await;
                let _ = done.send(written.is_ok());
                written?;
                Ok(())
            });
            let mut tpl = TopicPartitionList::new();
            for ((topic, partition), next) in offsets {
                tpl.add_partition_offset(&topic, partition, Offset::Offset(next))?;
            }
            in_flight.push_back(FloorBatch { offsets: tpl, task });
        }
        // Commit, oldest first, what is durable; wait past the limit.
        while let Some(front) = in_flight.front() {
            let over = in_flight.len() > kafka.max_in_flight_batches;
            if !(front.task.is_finished() || over || seen >= n) {
                break;
            }
            let Some(b) = in_flight.pop_front() else {
                break;
            };
            rt.block_on(b.task)??;
            consumer.commit(&b.offsets, CommitMode::Sync)?;
        }
    }
    let secs = first.map_or(1e-3, |f| f.elapsed().as_secs_f64().max(1e-3));
    Ok(n as f64 / secs)
}
