//! One record-size limit from the member's producer to the service: the
//! broker refuses a record the service could never accept (with a clear
//! error to the producer), a record the broker takes but the service finds
//! too large is fetched and dead-lettered, and the partition goes on. When
//! a partition does stop making progress while records wait (here: a
//! consumer that cannot fetch what the broker holds, as the old local
//! broker did with a 5 MB record), `/health` and a metric say so.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::time::Duration;

use cisp_fusion::Topics;
use cisp_model::{MemberId, ObservableKind};
use cisp_testkit::{community_record, read_password, wait_durable, wait_until, TestEnv};
use cisp_wire::records::DeadLetterRecord;
use cisp_wire::{Codec, DecodeLimits, RecordType};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

const FIVE_MB: usize = 5 * 1024 * 1024;

/// A member's producer whose own size check is out of the way, so what
/// happens to a large record is the broker's decision.
fn member_producer(env: &TestEnv, member: &str, compression: &str) -> FutureProducer {
    env.client_as(member, &read_password(member))
        .set("message.max.bytes", "10000000")
        .set("compression.type", compression)
        .set("message.timeout.ms", "20000")
        .create()
        .unwrap()
}

fn noise(len: usize) -> Vec<u8> {
    // Incompressible bytes (xorshift), so the batch is as large as the record.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_refuses_what_the_service_could_never_take_and_the_rest_is_dead_lettered() {
    let env = TestEnv::new();
    let limit = env.config.kafka.max_message_bytes;
    let t = Topics::new(env.prefix());
    let topic = t.submissions(&MemberId::parse("gridco").unwrap());
    let (trigger, running) = env.start().await;

    // 1. 5 MB of noise: refused by the broker, and the producer is told.
    let plain = member_producer(&env, "gridco", "none");
    let refused = plain
        .send(
            FutureRecord::to(&topic).key("k").payload(&noise(FIVE_MB)),
            Duration::from_secs(30),
        )
        .await;
    match refused {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
        other => panic!("a 5 MB record should be refused by the broker, got {other:?}"),
    }

    // 2. Just over the service's limit but inside the topic's: accepted by
    //    the broker, fetched, dead-lettered as too large.
    plain
        .send(
            FutureRecord::to(&topic)
                .key("k")
                .payload(&noise(limit + 1000)),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    // 3. 5 MB that gzip to a few KiB: the broker checks the compressed
    //    batch and takes it; the service sees 5 MB and dead-letters it.
    let zstd = member_producer(&env, "gridco", "gzip");
    zstd.send(
        FutureRecord::to(&topic)
            .key("k")
            .payload(&vec![b'A'; FIVE_MB]),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    // 4. The same partition goes on: a good record behind them is processed.
    let p = env.producer();
    let good = community_record(
        "gridco",
        "AFTER-BIG",
        &[(ObservableKind::Domain, "after-big.example")],
    );
    let codec = Codec::new(DecodeLimits::default()).unwrap();
    env.produce(
        &p,
        &topic,
        "k",
        &codec.encode(RecordType::Submission, &good).unwrap(),
    )
    .await;
    wait_durable(&running, 3).await;

    let dead: Vec<DeadLetterRecord> = env
        .read_all(&t.dead_letter())
        .iter()
        .map(|b| {
            codec
                .decode::<DeadLetterRecord>(RecordType::DeadLetter, b)
                .unwrap()
                .0
        })
        .collect();
    let mut sizes: Vec<i64> = dead
        .iter()
        .inspect(|d| {
            assert_eq!(d.reason_code, "too_large", "{}", d.reason);
            assert!(
                d.payload.0.len() <= 64 * 1024 && d.payload_truncated,
                "the dead letter keeps an excerpt only"
            );
        })
        .map(|d| d.payload_size)
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![(limit + 1000) as i64, FIVE_MB as i64]);
    let db = &env.config.clickhouse.database;
    assert_eq!(
        env.count(&format!(
            "SELECT count() FROM {db}.submissions WHERE submission_id = 'AFTER-BIG'"
        ))
        .await,
        1
    );
    assert!(cisp_fusion::http::get(running.metrics_addr, "/health").is_ok());
    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_a_metric_report_a_partition_that_stops_making_progress() {
    // A consumer that cannot take a response over 61 000 bytes: a record
    // of 200 000 (which the broker holds) can never be fetched, as a 5 MB
    // record could not on the old local broker.
    let env = TestEnv::with(|t| {
        *t = t
            .replace("batch_max_wait_ms = 20", "batch_max_wait_ms = 20\nstall_after_secs = 5")
            .replace(
                "[kafka.client]",
                "[kafka.client]\n\"message.max.bytes\" = \"60000\"\n\"fetch.max.bytes\" = \"60000\"\n\"max.partition.fetch.bytes\" = \"60000\"\n\"receive.message.max.bytes\" = \"61000\"",
            )
    });
    let t = Topics::new(env.prefix());
    let topic = t.submissions(&MemberId::parse("waterworks").unwrap());
    let (trigger, running) = env.start().await;
    let codec = Codec::new(DecodeLimits::default()).unwrap();
    let p = env.producer();
    let first = community_record(
        "waterworks",
        "BEFORE",
        &[(ObservableKind::Domain, "before.example")],
    );
    env.produce(
        &p,
        &topic,
        "k",
        &codec.encode(RecordType::Submission, &first).unwrap(),
    )
    .await;
    wait_durable(&running, 1).await;
    assert!(cisp_fusion::http::get(running.metrics_addr, "/health").is_ok());

    let plain = member_producer(&env, "waterworks", "none");
    plain
        .send(
            FutureRecord::to(&topic).key("k").payload(&noise(200_000)),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let m = running.metrics.clone();
    let stalled = wait_until(Duration::from_secs(60), || {
        m.consumer_stalled_partitions.get() == 1
    })
    .await;
    assert!(stalled, "the stuck partition was never reported");
    let health = cisp_fusion::http::get(running.metrics_addr, "/health")
        .unwrap_err()
        .to_string();
    assert!(health.contains("503"), "{health}");
    assert!(
        health.contains(&topic) && health.contains("no progress"),
        "{health}"
    );
    let metrics = cisp_fusion::http::get(running.metrics_addr, "/metrics").unwrap();
    assert!(
        metrics.contains("cisp_fusion_consumer_stalled_partitions 1"),
        "{metrics}"
    );
    assert_eq!(running.metrics.records_committed.get(), 1);

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}
