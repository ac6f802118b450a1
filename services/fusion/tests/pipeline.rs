//! Integration tests of the fusion service against the real local broker
//! and ClickHouse (`make stack-up`). Each test has its own topic prefix,
//! database and consumer group.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::time::Duration;

use cisp_fusion::Topics;
use cisp_model::*;
use cisp_testkit::{community_record, wait_durable, TestEnv};
use cisp_wire::records::*;
use cisp_wire::{Codec, DecodeLimits, RecordType};
use rdkafka::Offset;

fn record(member: &str, id: &str, obs: &[(ObservableKind, &str)]) -> SubmissionRecord {
    community_record(member, id, obs)
}

fn codec() -> Codec {
    Codec::new(DecodeLimits::default()).unwrap()
}

fn member(id: &str) -> MemberId {
    MemberId::parse(id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_submissions_become_one_campaign_with_alerts_and_facts() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let t = Topics::new(env.prefix());
    let c = codec();
    let p = env.producer();
    let a = record(
        "northbank",
        "A-1",
        &[
            (ObservableKind::Domain, "evil.example"),
            (ObservableKind::Ipv4, "198.51.100.1"),
        ],
    );
    let b = record(
        "gridco",
        "B-1",
        &[
            (ObservableKind::Url, "hxxp://EVIL[.]example/x"),
            (ObservableKind::Domain, "Evil.Example."),
        ],
    );
    env.submit(&p, &a).await;
    wait_durable(&running, 1).await;
    env.submit(&p, &b).await;
    wait_durable(&running, 2).await;

    // Each side hears about the other, on its own topic only.
    for (me, other) in [("northbank", "B-1"), ("gridco", "A-1")] {
        let alerts = env.read_all(&t.alerts(&member(me)));
        assert_eq!(alerts.len(), 1, "{me} gets one alert");
        let (alert, _) = c
            .decode::<AlertRecord>(RecordType::Alert, &alerts[0])
            .unwrap();
        assert_eq!(alert.recipient, me);
        assert_eq!(alert.related.len(), 1);
        assert_eq!(alert.related[0].submission_id, other);
        assert_eq!(alert.shared_observables[0].value, "evil.example");
    }
    assert!(env.read_all(&t.alerts(&member("healthtrust"))).is_empty());

    // Facts are in ClickHouse before the offsets were committed.
    let db = &env.config.clickhouse.database;
    assert_eq!(
        env.count(&format!("SELECT count() FROM {db}.submissions FINAL"))
            .await,
        2
    );
    assert_eq!(
        env.count(&format!("SELECT count() FROM {db}.observations FINAL"))
            .await,
        4
    );
    assert_eq!(
        env.count(&format!("SELECT count() FROM {db}.alerts FINAL"))
            .await,
        2
    );
    assert_eq!(
        env.count(&format!(
            "SELECT uniqExact(campaign_id) FROM {db}.submissions FINAL"
        ))
        .await,
        1
    );
    let committed = env.committed(&t.submissions(&member("gridco")), 2);
    assert!(
        committed.values().any(|o| matches!(o, Offset::Offset(1))),
        "gridco's record committed: {committed:?}"
    );

    // The campaign topic has the Fusion Cell's view.
    let campaigns = env.read_all(&t.campaigns());
    let last = c
        .decode::<CampaignUpdateRecord>(RecordType::CampaignUpdate, campaigns.last().unwrap())
        .unwrap()
        .0;
    assert_eq!((last.submission_count, last.member_count), (2, 2));

    // Metrics are served over HTTP.
    let text = cisp_fusion::http::get(running.metrics_addr, "/metrics").unwrap();
    assert!(
        text.contains("cisp_fusion_records_total{outcome=\"accepted\"} 2"),
        "{text}"
    );
    assert!(text.contains("cisp_fusion_alerts_total 2"));
    assert!(cisp_fusion::http::get(running.metrics_addr, "/health")
        .unwrap()
        .starts_with("ok"));

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_dead_lettered_with_reasons_and_the_service_keeps_going() {
    let env = TestEnv::with(|t| {
        *t = t.replace(
            "batch_max_wait_ms = 20",
            "batch_max_wait_ms = 20\nmax_message_bytes = 4096",
        )
    });
    let (trigger, running) = env.start().await;
    let t = Topics::new(env.prefix());
    let c = codec();
    let p = env.producer();
    let topic = t.submissions(&member("smallbiz"));
    let mut red_community = record("smallbiz", "RED-1", &[]);
    red_community.tlp = Tlp::Red;
    let bad_ip = record("smallbiz", "IP-1", &[(ObservableKind::Ipv4, "999.1.2.3")]);
    let spoof = record("northbank", "SPOOF-1", &[]);
    let huge = vec![0xC3u8; 10_000];
    // An id used twice: first a report, then something else under the same
    // id (issue 22: it used to be dropped silently as a duplicate), then
    // the report itself again (a redelivery: no dead letter).
    let reused = record(
        "smallbiz",
        "REUSED-1",
        &[(ObservableKind::Domain, "first.example")],
    );
    let mut reused_other = reused.clone();
    reused_other.observables = vec![ObservableRecord::new(
        ObservableKind::Domain,
        "second.example",
    )];
    env.submit(&p, &reused).await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            c.encode(RecordType::Submission, &reused_other).unwrap(),
            "resent_with_different_content",
        ),
        (b"not avro at all".to_vec(), "bad_framing"),
        (
            c.encode(RecordType::Submission, &red_community).unwrap(),
            "tlp_distribution",
        ),
        (
            c.encode(RecordType::Submission, &bad_ip).unwrap(),
            "invalid_observable",
        ),
        (
            c.encode(RecordType::Submission, &spoof).unwrap(),
            "member_spoofing",
        ),
        (huge, "too_large"),
        (
            c.encode(
                RecordType::CampaignUpdate,
                &CampaignUpdateRecord {
                    campaign_id: "x".into(),
                    version: 1,
                    merged_into: None,
                    submission_count: 1,
                    member_count: 1,
                    observable_count: 0,
                    member_ids: vec![],
                    sectors: vec![],
                    tlp: Tlp::Clear,
                    first_seen: 0,
                    last_seen: 0,
                    updated_at: 0,
                    actor_id: None,
                    actor_name: None,
                    attribution_confidence: 0.0,
                    attribution_evidence: vec![],
                },
            )
            .unwrap(),
            "unknown_schema",
        ),
    ];
    for (payload, _) in &cases {
        env.produce(&p, &topic, "k", payload).await;
    }
    let good = record(
        "smallbiz",
        "GOOD-1",
        &[(ObservableKind::Domain, "fine.example")],
    );
    env.submit(&p, &reused).await;
    env.submit(&p, &good).await;
    wait_durable(&running, cases.len() as u64 + 3).await;

    let dead: Vec<DeadLetterRecord> = env
        .read_all(&t.dead_letter())
        .iter()
        .map(|b| {
            c.decode::<DeadLetterRecord>(RecordType::DeadLetter, b)
                .unwrap()
                .0
        })
        .collect();
    let mut codes: Vec<&str> = dead.iter().map(|d| d.reason_code.as_str()).collect();
    codes.sort_unstable();
    let mut want: Vec<&str> = cases.iter().map(|(_, code)| *code).collect();
    want.sort_unstable();
    assert_eq!(codes, want);
    for d in &dead {
        assert_eq!(d.source_topic, topic);
        assert_eq!(d.member_id.as_deref(), Some("smallbiz"));
        assert!(!d.reason.is_empty());
        assert_eq!(
            d.payload_size as usize,
            d.payload.0.len(),
            "small payloads are kept whole"
        );
    }
    let ip = dead
        .iter()
        .find(|d| d.reason_code == "invalid_observable")
        .unwrap();
    assert!(
        ip.reason.contains("999.1.2.3"),
        "the reason names the offending value: {}",
        ip.reason
    );

    let db = &env.config.clickhouse.database;
    assert_eq!(
        env.count(&format!("SELECT count() FROM {db}.dead_letters FINAL"))
            .await,
        cases.len() as u64
    );
    assert_eq!(
        env.count(&format!("SELECT count() FROM {db}.submissions FINAL"))
            .await,
        2,
        "the reused id's first report and the good record after them were processed"
    );
    assert_eq!(
        running
            .metrics
            .dead_letters
            .with_label_values(&["member_spoofing"])
            .get(),
        1
    );

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rebuilds_the_engine_and_redelivery_changes_nothing() {
    let env = TestEnv::new();
    let t = Topics::new(env.prefix());
    let c = codec();
    let p = env.producer();
    let a = record(
        "northbank",
        "A-1",
        &[(ObservableKind::Sha256, &"ab".repeat(32))],
    );
    let a_bytes = c.encode(RecordType::Submission, &a).unwrap();

    let (trigger, running) = env.start().await;
    env.produce(&p, &t.submissions(&member("northbank")), "A-1", &a_bytes)
        .await;
    wait_durable(&running, 1).await;
    trigger.trigger();
    running.join().await.unwrap();

    // A new process: the engine comes back from the snapshot written at
    // the clean stop, with nothing left to replay.
    let (trigger, running) = env.start().await;
    assert_eq!(running.metrics.snapshot_restored_submissions.get(), 1);
    assert_eq!(running.metrics.replayed_submissions.get(), 0);
    env.produce(&p, &t.submissions(&member("northbank")), "A-1", &a_bytes)
        .await; // redelivery
    let b = record(
        "gridco",
        "B-1",
        &[(ObservableKind::Sha256, &"AB".repeat(32))],
    );
    env.submit(&p, &b).await;
    wait_durable(&running, 2).await;
    assert_eq!(
        running
            .metrics
            .records
            .get(cisp_fusion::metrics::RecordOutcome::Duplicate),
        1
    );

    let db = &env.config.clickhouse.database;
    assert_eq!(
        env.count(&format!("SELECT count() FROM {db}.submissions FINAL"))
            .await,
        2
    );
    assert_eq!(
        env.count(&format!(
            "SELECT uniqExact(campaign_id) FROM {db}.submissions FINAL"
        ))
        .await,
        1,
        "B joined A's campaign after the restart"
    );
    let to_b = env.read_all(&t.alerts(&member("gridco")));
    assert_eq!(to_b.len(), 1);
    let (alert, _) = c
        .decode::<AlertRecord>(RecordType::Alert, &to_b[0])
        .unwrap();
    assert_eq!(alert.related[0].submission_id, "A-1");

    trigger.trigger();
    running.join().await.unwrap();

    // Without the snapshot (lost disk, other settings) everything is
    // replayed from ClickHouse instead, to the same state.
    std::fs::remove_file(&env.config.state.snapshot_path).unwrap();
    let (trigger, running) = env.start().await;
    assert_eq!(running.metrics.snapshot_restored_submissions.get(), 0);
    assert_eq!(running.metrics.replayed_submissions.get(), 2);
    assert_eq!(running.metrics.indexed_submissions.get(), 2);
    assert_eq!(
        running.metrics.campaigns.get(),
        1,
        "the replay rebuilt the same campaign"
    );

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_committed_before_clickhouse_has_the_batch() {
    let env = TestEnv::new();
    let t = Topics::new(env.prefix());
    let p = env.producer();
    let topic = t.submissions(&member("healthtrust"));

    let (_trigger, running) = env.start().await;
    let a = record(
        "healthtrust",
        "H-1",
        &[(ObservableKind::Domain, "one.example")],
    );
    env.submit(&p, &a).await;
    wait_durable(&running, 1).await;

    // ClickHouse loses the database under the running service: the next
    // batch cannot be made durable, so the service must stop uncommitted.
    env.drop_database().await;
    let b = record(
        "healthtrust",
        "H-2",
        &[(ObservableKind::Domain, "two.example")],
    );
    env.submit(&p, &b).await;
    let result = tokio::time::timeout(Duration::from_secs(60), running.join())
        .await
        .expect("service stops");
    let err = format!("{:#}", result.expect_err("the service stops with an error"));
    assert!(err.contains("clickhouse"), "{err}");
    let committed = env.committed(&topic, 2);
    let total: i64 = committed
        .values()
        .map(|o| if let Offset::Offset(n) = o { *n } else { 0 })
        .sum();
    assert_eq!(total, 1, "only H-1 is committed: {committed:?}");

    // On restart the tables are recreated and H-2 is redelivered and stored.
    let (trigger, running) = env.start().await;
    wait_durable(&running, 1).await;
    let db = &env.config.clickhouse.database;
    let stored = env
        .count(&format!(
            "SELECT count() FROM {db}.submissions FINAL WHERE submission_id = 'H-2'"
        ))
        .await;
    assert_eq!(stored, 1);
    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent() {
    let env = TestEnv::new();
    env.store().migrate().await.unwrap();
    env.store().migrate().await.unwrap();
    let db = &env.config.clickhouse.database;
    // Twelve fact tables (007 added `attribution_changes`, 009
    // `victim_releases`, 010 `corrections` and `feedback`, 011
    // `decisions`), three trend views (each also has its inner storage
    // table; `campaign_daily` is dropped again by 006), the two membership
    // views, and the seven views of 010/011 (withdrawn reports and
    // observations, the four `_current` aggregates, benign values), once
    // each.
    assert_eq!(
        env.count(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND NOT startsWith(name, '.inner')"
        ))
        .await,
        24
    );
    assert_eq!(
        env.count(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND engine = 'MaterializedView'"
        ))
        .await,
        3
    );
    assert_eq!(
        env.count(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND engine = 'View'"
        ))
        .await,
        9
    );
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_up_sightings_of_a_campaign_are_coalesced_into_one_update_per_member() {
    // Long enough that the four reports land in one window on a loaded
    // machine (2 s was not, once, with two tests in parallel).
    let window_ms = 10_000;
    let env = TestEnv::with(|t| {
        t.push_str(&format!("[alerts]\ncoalesce_window_ms = {window_ms}\n"));
    });
    let (trigger, running) = env.start().await;
    let t = Topics::new(env.prefix());
    let c = codec();
    let p = env.producer();
    let obs = [
        (ObservableKind::Domain, "coalesce.example"),
        (ObservableKind::Ipv4, "198.51.100.77"),
    ];
    let reporters = [
        "northbank",
        "gridco",
        "lakeside-bs",
        "waterworks",
        "healthtrust",
    ];
    env.submit(&p, &record(reporters[0], "C-0", &obs)).await;
    wait_durable(&running, 1).await;
    // Four more reports of the same campaign, well inside one window. Each
    // report alerts its submitter and every earlier reporter: 2+3+4+5 = 14
    // sightings, one alert at once per member (5), and for each member
    // told again inside its window, one update (4).
    for (i, m) in reporters.iter().enumerate().skip(1) {
        env.submit(&p, &record(m, &format!("C-{i}"), &obs)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_durable(&running, 5).await;

    // In the order they were built (a topic's partitions are read one
    // after the other).
    let sightings = |me: &str| -> Vec<AlertRecord> {
        let mut v: Vec<AlertRecord> = env
            .read_all(&t.alerts(&member(me)))
            .iter()
            .map(|b| c.decode::<AlertRecord>(RecordType::Alert, b).unwrap().0)
            .filter(|a| a.kind == AlertKind::PeerSighting)
            .collect();
        v.sort_by_key(|a| a.created_at);
        v
    };
    let first = sightings("northbank");
    assert_eq!(first.len(), 2, "northbank: one alert at once, one update");
    assert_eq!(first[0].sightings, 1);
    assert_eq!(first[0].related.len(), 1);
    let update = &first[1];
    assert_eq!(update.sightings, 3, "the three later reports in one update");
    // Between them, every later report once (which came first is up to
    // the consumer: five topics).
    let mut related: Vec<&str> = first
        .iter()
        .flat_map(|a| a.related.iter().map(|r| r.submission_id.as_str()))
        .collect();
    related.sort_unstable();
    assert_eq!(related, ["C-1", "C-2", "C-3", "C-4"]);
    assert_eq!(update.related.len(), 3);
    assert_eq!(update.other_member_count, 3);
    assert_eq!(update.campaign_id, first[0].campaign_id);
    assert_ne!(update.alert_id, first[0].alert_id);
    assert!(
        update.created_at >= first[0].created_at + window_ms,
        "the update waits for its window to close"
    );
    // Every reporter but the last was told once at once and once more in
    // an update; the last one once, at once.
    let told: Vec<usize> = reporters.iter().map(|m| sightings(m).len()).collect();
    assert_eq!(told.iter().filter(|&&n| n == 2).count(), 4, "{told:?}");
    assert_eq!(told.iter().filter(|&&n| n == 1).count(), 1, "{told:?}");

    // The audit holds every alert, updates marked, and every sighting.
    let db = &env.config.clickhouse.database;
    let peer = format!("{db}.alerts FINAL WHERE kind = 'peer_sighting'");
    assert_eq!(env.count(&format!("SELECT count() FROM {peer}")).await, 9);
    assert_eq!(
        env.count(&format!("SELECT count() FROM {peer} AND coalesced = 1"))
            .await,
        4
    );
    assert_eq!(
        env.count(&format!("SELECT sum(sightings) FROM {peer}"))
            .await,
        14
    );
    let text = cisp_fusion::http::get(running.metrics_addr, "/metrics").unwrap();
    assert!(
        text.contains("cisp_fusion_alert_sightings_held_total 9"),
        "{text}"
    );
    assert!(text.contains("cisp_fusion_alert_updates_total 4"));

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}
