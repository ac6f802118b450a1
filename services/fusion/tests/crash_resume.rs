//! Crash and resume: the `cisp-fusion` binary is killed with SIGKILL in the
//! middle of a backlog, after it has written a snapshot and while several
//! batches are in flight (alerts sent, not yet durable), and started again.
//! It must load the snapshot, replay only what ClickHouse holds beyond it,
//! and end with the same campaigns as an uninterrupted run of the same
//! records — every submission stored exactly once.
//!
//! The records link only through campaign-specific values, so the final
//! campaigns do not depend on the order the broker hands out partitions.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cisp_model::ObservableKind;
use cisp_testkit::{community_record, local_kafka_env, TestEnv};

const REPORTS: usize = 600;
const CAMPAIGNS: usize = 25;
const TOKEN: &str = "crash-resume-test-token";

fn records() -> Vec<cisp_wire::records::SubmissionRecord> {
    let members = [
        "northbank",
        "gridco",
        "healthtrust",
        "smallbiz",
        "waterworks",
    ];
    (0..REPORTS)
        .map(|i| {
            let c = (i * 7919) % CAMPAIGNS;
            let mut obs = vec![(
                ObservableKind::Domain,
                format!("c2-{}.camp{c}-crash.net", i % 3),
            )];
            if i % 2 == 0 {
                obs.push((ObservableKind::Sha256, format!("{:064x}", 0xC0DE_0000 + c)));
            }
            obs.push((
                ObservableKind::Sha256,
                format!("{:064x}", 0xFEED_0000_0000u64 + i as u64),
            ));
            let refs: Vec<(ObservableKind, &str)> =
                obs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            community_record(members[i % members.len()], &format!("CR-{i}"), &refs)
        })
        .collect()
}

fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Service {
    fn start(config: &std::path::Path) -> Service {
        let addr = free_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_cisp-fusion"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .envs(local_kafka_env())
            .env("CISP_METRICS_ADDR", addr.to_string())
            .env("CISP_API_TOKEN", TOKEN)
            .env("CISP_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cisp-fusion starts");
        let s = Service { child, addr };
        let started = Instant::now();
        while cisp_fusion::http::get(addr, "/health").is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "service not healthy in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    fn metric(&self, name: &str) -> f64 {
        let text = cisp_fusion::http::get(self.addr, "/metrics").unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    fn wait_committed(&self, n: usize) {
        let started = Instant::now();
        while self.metric("cisp_fusion_records_committed_total ") < n as f64 {
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "{n} records not committed in 180 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The campaigns as sets of `member/id`, from the query API.
    fn partition(&self) -> BTreeSet<BTreeSet<String>> {
        let list =
            cisp_fusion::http::get_with(self.addr, "/api/campaigns?limit=10000", Some(TOKEN))
                .unwrap();
        let list: serde_json::Value = serde_json::from_str(&list).unwrap();
        let mut out = BTreeSet::new();
        for c in list["campaigns"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            let body = cisp_fusion::http::get_with(
                self.addr,
                &format!("/api/campaigns/{id}"),
                Some(TOKEN),
            )
            .unwrap();
            let d: serde_json::Value = serde_json::from_str(&body).unwrap();
            let subs: BTreeSet<String> = d["submissions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    format!(
                        "{}/{}",
                        s["member"].as_str().unwrap(),
                        s["id"].as_str().unwrap()
                    )
                })
                .collect();
            out.insert(subs);
        }
        out
    }

    /// SIGKILL: no flush, no snapshot, no commit.
    fn kill(self) {}
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn publish(env: &TestEnv) {
    let p = env.producer();
    for r in records() {
        env.submit(&p, &r).await;
    }
}

fn adjust(toml: &mut String) {
    // Small batches and frequent snapshots, so a kill lands between them.
    *toml = toml.replace(
        "batch_max_wait_ms = 20",
        "batch_max_wait_ms = 20\nbatch_max_records = 40",
    );
    toml.push_str("snapshot_every_records = 120\nsnapshot_interval_s = 3600\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_service_resumes_from_its_snapshot_to_the_uninterrupted_result() {
    let dir = std::env::temp_dir().join("cisp-crash-resume");

    // Uninterrupted.
    let calm = TestEnv::with(adjust);
    cisp_fusion::setup(&calm.config).await.unwrap();
    publish(&calm).await;
    let config = calm.write_config(&dir);
    let s = Service::start(&config);
    s.wait_committed(REPORTS);
    let want = s.partition();
    s.kill();

    // Killed mid-backlog, after a snapshot, then started again.
    let crash = TestEnv::with(adjust);
    cisp_fusion::setup(&crash.config).await.unwrap();
    publish(&crash).await;
    let config = crash.write_config(&dir);
    let s = Service::start(&config);
    s.wait_committed(150);
    // Kill the moment two or more batches are seen in flight.
    let started = Instant::now();
    let mut in_flight = 0.0;
    while in_flight < 2.0 {
        assert!(
            started.elapsed() < Duration::from_secs(120)
                && s.metric("cisp_fusion_records_committed_total ") < REPORTS as f64,
            "never saw two batches in flight (last {in_flight})"
        );
        in_flight = s.metric("cisp_fusion_batches_in_flight ");
    }
    s.kill();
    assert!(
        crash.config.state.snapshot_path.is_file(),
        "a snapshot was written before the kill"
    );
    let db = &crash.config.clickhouse.database;
    let stored = crash
        .count(&format!("SELECT count() FROM {db}.submissions FINAL"))
        .await;
    assert!(
        stored < REPORTS as u64,
        "killed before the end ({stored} stored)"
    );

    let s = Service::start(&config);
    let restored = s.metric("cisp_fusion_snapshot_restored_submissions ");
    let replayed = s.metric("cisp_fusion_replayed_submissions ");
    assert!(restored >= 120.0, "the snapshot was loaded: {restored}");
    // An insert the killed process had fully sent may land after the kill,
    // so the restart can find more than we counted, never less.
    assert!(
        restored + replayed >= stored as f64,
        "snapshot ({restored}) plus tail ({replayed}) covers the {stored} stored"
    );
    assert!(
        replayed < restored + replayed,
        "the snapshot spared part of the replay"
    );
    // The uncommitted records are redelivered; wait until all are stored.
    let started = Instant::now();
    loop {
        let n = crash
            .count(&format!("SELECT count() FROM {db}.submissions FINAL"))
            .await;
        if n == REPORTS as u64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{n} of {REPORTS} stored after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Settle: let the last batch's metrics land, then compare.
    s.wait_committed(REPORTS - stored as usize);
    let got = s.partition();
    s.kill();

    assert_eq!(
        want.len(),
        CAMPAIGNS,
        "the uninterrupted run found the planted campaigns"
    );
    assert_eq!(got, want, "crash-and-resume ends with the same campaigns");
    let raw = crash
        .count(&format!("SELECT count() FROM {db}.submissions"))
        .await;
    let fin = crash
        .count(&format!("SELECT count() FROM {db}.submissions FINAL"))
        .await;
    assert_eq!(fin, REPORTS as u64);
    assert!(
        raw >= fin,
        "a redelivered batch may be written twice; FINAL keeps one: {raw} {fin}"
    );
    let by_seq = crash
        .count(&format!(
            "SELECT uniqExact(seq) FROM {db}.submissions FINAL"
        ))
        .await;
    assert_eq!(
        by_seq, REPORTS as u64,
        "every submission has its own engine sequence number"
    );

    calm.drop_database().await;
    crash.drop_database().await;
}

/// Static group membership: the restarted process has the crashed one's
/// instance id, so the broker hands it the partitions at once instead of
/// waiting for the dead member's session (30 s) to expire. Without it the
/// second record below waits about that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_crash_takes_the_partitions_back_at_once() {
    let dir = std::env::temp_dir().join("cisp-crash-resume");
    let env = TestEnv::new();
    cisp_fusion::setup(&env.config).await.unwrap();
    let config = env.write_config(&dir);
    let p = env.producer();
    let record = |id: &str| {
        community_record(
            "northbank",
            id,
            &[(ObservableKind::Domain, "restart.example")],
        )
    };
    env.submit(&p, &record("RS-1")).await;
    let s = Service::start(&config);
    s.wait_committed(1);
    assert!(s.metric("cisp_fusion_assigned_partitions ") > 0.0);
    s.kill();

    let s = Service::start(&config);
    let started = Instant::now();
    env.submit(&p, &record("RS-2")).await;
    s.wait_committed(1);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "the restarted service resumed after {took:?}: it waited for the dead instance's session"
    );
    assert!(s.metric("cisp_fusion_assigned_partitions ") > 0.0);
    s.kill();
    env.drop_database().await;
}
