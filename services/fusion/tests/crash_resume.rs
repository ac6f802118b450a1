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
    let members = cisp_testkit::MEMBERS;
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
    /// Starts the binary and waits until `/health` answers 200.
    fn start(config: &std::path::Path) -> Service {
        let s = Service::spawn(config);
        let started = Instant::now();
        while cisp_fusion::http::get(s.addr, "/health").is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "service not healthy in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// Starts the binary without waiting for it.
    fn spawn(config: &std::path::Path) -> Service {
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
        Service { child, addr }
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
        let mut by: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for (key, campaign) in cisp_testkit::api_membership(self.addr, TOKEN) {
            by.entry(campaign).or_default().insert(key);
        }
        by.into_values().collect()
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

    env.submit(&p, &record("RS-2")).await;
    let started = Instant::now();
    let s = Service::start(&config);
    s.wait_committed(1);
    let took = started.elapsed();
    eprintln!(
        "killed with SIGKILL, started again: the waiting record committed {took:?} after the start"
    );
    assert!(
        took < Duration::from_secs(20),
        "the restarted service resumed after {took:?}: it waited for the dead instance's session"
    );
    assert!(s.metric("cisp_fusion_assigned_partitions ") > 0.0);
    s.kill();
    env.drop_database().await;
}

/// The escalation of issue 19: ClickHouse fails while a campaign reaches
/// the escalation threshold, so members are told before the alert's audit
/// row can be written; the process is then killed. The restarted service
/// handles the uncommitted records again (in whatever order the broker
/// hands the members' topics out) and must send the *same* escalation —
/// same id — and audit it: every escalation a member holds is in the
/// audit, and no member holds two escalation ids for the one campaign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_store_failure_sends_no_second_escalation() {
    use cisp_model::AlertKind;
    use cisp_wire::records::AlertRecord;

    let (env, proxy) = cisp_testkit::behind_clickhouse_proxy(|_| {});
    cisp_fusion::setup(&env.config).await.unwrap();
    let config = env.write_config(&std::env::temp_dir().join("cisp-escalation-restart"));
    let p = env.producer();
    let shared = [(ObservableKind::Domain, "escalate.restart.example")];
    let members = cisp_testkit::MEMBERS;
    let escalations = |member: &str| -> Vec<AlertRecord> {
        env.alerts_of(member)
            .into_iter()
            .filter(|a| a.kind == AlertKind::CampaignEscalation)
            .collect()
    };

    // Two members link while ClickHouse is up: durable, committed.
    for (i, m) in members[..2].iter().enumerate() {
        env.submit(&p, &community_record(m, &format!("ESC-{i}"), &shared))
            .await;
    }
    let s = Service::start(&config);
    s.wait_committed(2);

    // ClickHouse goes away; three more members report the campaign, which
    // crosses the escalation threshold (three members) in the first
    // members' views. The alerts go out; nothing can be audited or
    // committed.
    proxy.cut();
    for (i, m) in members.iter().enumerate().skip(2) {
        env.submit(&p, &community_record(m, &format!("ESC-{i}"), &shared))
            .await;
    }
    let started = Instant::now();
    while escalations("northbank").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no escalation reached northbank during the outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s.metric("cisp_fusion_records_committed_total "), 2.0);
    s.kill();
    let db = &env.config.clickhouse.database;
    proxy.restore();
    assert_eq!(
        env.count(&format!(
            "SELECT count() FROM {db}.alerts FINAL WHERE kind = 'campaign_escalation'"
        ))
        .await,
        0,
        "the escalations sent during the outage were not audited before the kill"
    );

    // Started again with ClickHouse back: the records are handled again.
    let s = Service::start(&config);
    s.wait_committed(members.len() - 2);
    let audited = |member: &'static str| {
        let env = &env;
        async move {
            env.store()
                .client()
                .query(&format!(
                    "SELECT alert_id FROM {db}.alerts FINAL \
                     WHERE kind = 'campaign_escalation' AND recipient = '{member}'"
                ))
                .fetch_all::<String>()
                .await
                .unwrap()
                .into_iter()
                .collect::<BTreeSet<String>>()
        }
    };
    let mut escalated = 0;
    for m in members {
        let held: BTreeSet<String> = escalations(m).into_iter().map(|a| a.alert_id).collect();
        assert!(
            held.len() <= 1,
            "{m} holds {} escalation ids for one campaign: {held:?}",
            held.len()
        );
        assert_eq!(
            audited(m).await,
            held,
            "{m}: what it holds is what is audited"
        );
        escalated += held.len();
    }
    assert!(
        escalated >= 3,
        "the members in the campaign were escalated ({escalated})"
    );
    s.kill();
    env.drop_database().await;
}

/// What `/health` is for: an instance that cannot work says so. A
/// successor started under *another* instance id (a deployment that
/// forgot the static id, or a host rename) joins a group whose dead member
/// still holds every partition until its session (30 s) expires. Meanwhile
/// records wait and nothing is processed: `/health` must answer 503 with
/// the reason, then 200 once the partitions are its own and it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_fails_while_a_dead_instance_holds_the_partitions() {
    let dir = std::env::temp_dir().join("cisp-health-idle");
    let env = TestEnv::new();
    cisp_fusion::setup(&env.config).await.unwrap();
    let base = env.write_config(&dir);
    let text = std::fs::read_to_string(&base).unwrap();
    let as_instance = |name: &str| {
        let path = dir.join(format!("{}-{name}.toml", env.prefix()));
        let with = text.replacen(
            "[kafka]\n",
            &format!("[kafka]\ninstance_id = \"{}-{name}\"\n", env.prefix()),
            1,
        );
        assert_ne!(with, text, "the config has a [kafka] table");
        std::fs::write(&path, with).unwrap();
        path
    };
    let p = env.producer();
    let record =
        |id: &str| community_record("gridco", id, &[(ObservableKind::Domain, "idle.example")]);
    env.submit(&p, &record("HI-1")).await;
    let a = Service::start(&as_instance("a"));
    a.wait_committed(1);
    a.kill();

    env.submit(&p, &record("HI-2")).await;
    let b = Service::spawn(&as_instance("b"));
    let started = Instant::now();
    let mut refused = None;
    while b.metric("cisp_fusion_records_committed_total ") < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the successor never took the partitions over"
        );
        match cisp_fusion::http::get(b.addr, "/health") {
            Err(e) if e.to_string().contains("no partitions assigned") => {
                refused.get_or_insert(started.elapsed());
            }
            // Once it has said so, the records wait until it works: an
            // ok before that must come from holding partitions.
            Ok(_) if refused.is_some() => assert!(
                b.metric("cisp_fusion_assigned_partitions ") > 0.0,
                "/health said ok while holding no partition and records waited"
            ),
            Ok(_) => {}
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = started.elapsed();
    let refused = refused.expect("/health never said it held no partition while records waited");
    assert!(
        took > Duration::from_secs(10),
        "the dead member's session did not delay the successor ({took:?}): the test shows nothing"
    );
    assert!(refused < took);
    let started = Instant::now();
    while cisp_fusion::http::get(b.addr, "/health").is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "healthy once it works"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    b.kill();
    env.drop_database().await;
}

/// Issue 22: the Fusion Cell splits a campaign through the query API
/// (forbidding the links that held it together), the service is killed
/// with SIGKILL, and the restarted one — rebuilt from its snapshot or from
/// ClickHouse — keeps the split; undoing one decision joins the parts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_split_survives_a_kill_and_restart() {
    let dir = std::env::temp_dir().join("cisp-analyst-split");
    let env = TestEnv::new();
    cisp_fusion::setup(&env.config).await.unwrap();
    let config = env.write_config(&dir);
    let p = env.producer();
    let reports = [
        ("northbank", "AS-1", &["lure.split-a.example"][..]),
        (
            "gridco",
            "AS-2",
            &["lure.split-a.example", "c2.split-b.example"][..],
        ),
        ("smallbiz", "AS-3", &["c2.split-b.example"][..]),
    ];
    for (m, id, hosts) in reports {
        let obs: Vec<(ObservableKind, &str)> =
            hosts.iter().map(|h| (ObservableKind::Domain, *h)).collect();
        env.submit(&p, &community_record(m, id, &obs)).await;
    }
    let s = Service::start(&config);
    s.wait_committed(3);
    assert_eq!(s.partition().len(), 1, "one campaign before the decision");

    let decide = |s: &Service, body: &str| {
        let (status, _, answer) = cisp_testkit::http_exchange(
            s.addr,
            "POST",
            "/api/decisions",
            Some(TOKEN),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert_eq!(status, 202, "{answer}");
        serde_json::from_str::<serde_json::Value>(&answer).unwrap()["decision_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = decide(
        &s,
        r#"{"action": "forbid_link", "a": "northbank/AS-1", "b": "gridco/AS-2", "analyst": "analyst.one", "reason": "a public lure host"}"#,
    );
    decide(
        &s,
        r#"{"action": "forbid_link", "a": "gridco/AS-2", "b": "smallbiz/AS-3", "analyst": "analyst.one", "reason": "different actor"}"#,
    );
    // Without a token, or malformed: refused at the door.
    let (status, _, _) = cisp_testkit::http_exchange(
        s.addr,
        "POST",
        "/api/decisions",
        None,
        &[],
        br#"{"action": "undo", "a": "x", "analyst": "x", "reason": "x"}"#,
    );
    assert_eq!(status, 401);
    s.wait_committed(5);
    let split = s.partition();
    assert_eq!(split.len(), 3, "the analyst split it: {split:?}");
    s.kill();

    let s = Service::start(&config);
    assert_eq!(
        s.partition(),
        split,
        "the split survives SIGKILL and restart"
    );
    let listed = cisp_fusion::http::get_with(s.addr, "/api/decisions", Some(TOKEN)).unwrap();
    assert!(
        listed.contains("analyst.one") && listed.contains("forbid_link"),
        "{listed}"
    );

    decide(
        &s,
        &format!(
            r#"{{"action": "undo", "a": "{first}", "analyst": "analyst.two", "reason": "the lure host is theirs after all"}}"#
        ),
    );
    let started = Instant::now();
    while s.partition().len() != 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the undo did not join AS-1 and AS-2"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The audit row lands when the undo's batch is durable (the API
    // already shows the engine's state): wait for it.
    let db = &env.config.clickhouse.database;
    let started = Instant::now();
    loop {
        let audited = env
            .count(&format!("SELECT count() FROM {db}.decisions FINAL"))
            .await;
        if audited == 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{audited} of 3 decisions audited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.kill();
    env.drop_database().await;
}
