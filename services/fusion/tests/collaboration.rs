//! Members talk back (issue 22), end to end on the real broker and
//! ClickHouse: a submitter withdraws a report that alone held a campaign
//! together — the campaign splits, the members alerted on it receive
//! revocations naming their alerts, ClickHouse's trend views and current
//! membership leave it out; three members dispute a value — it stops
//! linking, and the members alerted about it hear of it; feedback on a
//! value the member may not see changes nothing and is answered by
//! nothing; and all of it survives a restart that rebuilds the engine from
//! ClickHouse alone.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::collections::{BTreeMap, BTreeSet};

use cisp_model::{AlertKind, ObservableKind, Scope, Tlp};
use cisp_testkit::{community_record, wait_durable, TestEnv, TestProducer};
use cisp_wire::records::{
    AlertRecord, CorrectionRecord, FeedbackKindRecord, FeedbackRecord, ObservableRecord,
};
use cisp_wire::{Codec, DecodeLimits, RecordType};

const TOKEN: &str = "collaboration-test-token";

fn api(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let body = cisp_fusion::http::get_with(addr, path, Some(TOKEN)).unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Every submission (`member/id`) with its campaign, from the query API.
fn campaigns(addr: std::net::SocketAddr) -> BTreeMap<String, String> {
    cisp_testkit::api_membership(addr, TOKEN)
}

async fn publish(
    env: &TestEnv,
    p: &std::sync::Mutex<TestProducer>,
    member: &str,
    key: &str,
    payload: Vec<u8>,
) {
    let topic = cisp_platform::Topics::new(env.prefix())
        .submissions(&cisp_model::MemberId::parse(member).unwrap());
    env.produce(p, &topic, key, &payload).await;
}

fn retraction(member: &str, id: &str, of: &str) -> CorrectionRecord {
    CorrectionRecord {
        correction_id: id.into(),
        member_id: member.into(),
        submission_id: of.into(),
        corrected_at: 1_763_546_500_000,
        retract: true,
        remove_observables: vec![],
        tlp: None,
        distribution: None,
        reason: "our own mail relay, reported by mistake".into(),
    }
}

fn false_positive(member: &str, id: &str, value: &str) -> FeedbackRecord {
    FeedbackRecord {
        feedback_id: id.into(),
        member_id: member.into(),
        kind: FeedbackKindRecord::FalsePositive,
        observable: ObservableRecord::new(ObservableKind::Domain, value),
        count: 1,
        seen_at: None,
        confidence: None,
        comment: "a CDN edge".into(),
        submitted_at: 1_763_546_600_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawals_and_disputes_reach_exactly_the_alerted_and_survive_a_rebuild() {
    use ObservableKind::*;
    let env = TestEnv::with_env(|_| {}, &[("CISP_API_TOKEN", TOKEN)]);
    let codec = Codec::new(DecodeLimits::default()).unwrap();
    let (trigger, running) = env.start().await;
    let p = env.producer();
    // G1 alone joins A1 and B1; H1 and W1 share a CDN name. Z1 is for
    // healthtrust's eyes only (named members).
    let mut hidden = community_record("lakeside-bs", "Z1", &[(Domain, "quiet.zeta.example")]);
    hidden.tlp = Tlp::Amber;
    hidden.distribution.scope = Scope::NamedMembers;
    hidden.distribution.members = vec!["healthtrust".into()];
    env.submit_all(
        &p,
        &[
            community_record(
                "northbank",
                "A1",
                &[
                    (Domain, "c2.alpha.example"),
                    (Domain, "drop.shared.example"),
                ],
            ),
            community_record(
                "gridco",
                "G1",
                &[
                    (Domain, "drop.shared.example"),
                    (Domain, "relay.beta.example"),
                ],
            ),
            community_record(
                "smallbiz",
                "B1",
                &[(Domain, "relay.beta.example"), (Domain, "x.gamma.example")],
            ),
            community_record("healthtrust", "H1", &[(Domain, "edge.cdn-delta.example")]),
            community_record(
                "waterworks",
                "W1",
                &[(Domain, "edge.cdn-delta.example"), (Ipv4, "203.0.113.9")],
            ),
            hidden,
        ],
    )
    .await;
    wait_durable(&running, 6).await;
    let addr = running.metrics_addr;
    let before = campaigns(addr);
    assert_eq!(before["northbank/A1"], before["smallbiz/B1"]);
    assert_eq!(before["healthtrust/H1"], before["waterworks/W1"]);

    let alerts_of = |m: &str| env.alerts_of(m);
    let db = env.config.clickhouse.database.clone();
    let client = env.store().client().clone();
    let audit = |key: &'static str| {
        let client = client.clone();
        let sql = format!(
            "SELECT DISTINCT recipient, alert_id FROM {db}.alerts ARRAY JOIN provenance AS p WHERE p = '{key}'"
        );
        async move {
            let mut by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (r, a) in client
                .query(&sql)
                .fetch_all::<(String, String)>()
                .await
                .unwrap()
            {
                by.entry(r).or_default().insert(a);
            }
            by
        }
    };
    let alerted_on_g1 = audit("gridco/G1").await;
    assert!(
        alerted_on_g1.contains_key("northbank") && alerted_on_g1.contains_key("smallbiz"),
        "{alerted_on_g1:?}"
    );

    // 1. gridco withdraws G1.
    let c = retraction("gridco", "FIX-1", "G1");
    publish(
        &env,
        &p,
        "gridco",
        "FIX-1",
        codec.encode(RecordType::Correction, &c).unwrap(),
    )
    .await;
    wait_durable(&running, 7).await;
    let after = campaigns(addr);
    assert_ne!(
        after["northbank/A1"], after["smallbiz/B1"],
        "the campaign split"
    );
    // (the burst goes to several topics: A1 or B1 may have come first)
    assert!(
        after["northbank/A1"] == before["northbank/A1"]
            || after["smallbiz/B1"] == before["smallbiz/B1"],
        "the part with the oldest remaining report keeps the id"
    );
    assert!(
        !after.contains_key("gridco/G1"),
        "a withdrawn report is in no campaign the API lists"
    );
    for (member, ids) in alerted_on_g1.iter().filter(|(m, _)| m.as_str() != "gridco") {
        let revocations: Vec<AlertRecord> = alerts_of(member)
            .into_iter()
            .filter(|a| a.kind == AlertKind::Revocation)
            .collect();
        assert_eq!(revocations.len(), 1, "{member}: {revocations:?}");
        let revoked: BTreeSet<String> = revocations[0].revokes.iter().cloned().collect();
        assert_eq!(&revoked, ids, "{member}: exactly the alerts built on G1");
        assert!(revocations[0].summary.contains("withdrew"));
        assert!(
            !revocations[0].summary.contains("mail relay"),
            "the reason is the Fusion Cell's"
        );
    }
    assert!(
        alerts_of("gridco")
            .iter()
            .all(|a| a.kind != AlertKind::Revocation),
        "the submitter is not told of its own correction"
    );
    for bystander in ["healthtrust", "waterworks", "lakeside-bs"] {
        if alerted_on_g1.contains_key(bystander) {
            continue;
        }
        assert!(
            alerts_of(bystander)
                .iter()
                .all(|a| a.kind != AlertKind::Revocation),
            "{bystander} was never alerted on G1 and hears nothing"
        );
    }
    // ClickHouse: the current membership follows, the trend views leave
    // G1 out (the stored aggregates still count it), the feed views name it.
    let count = |sql: String| {
        let client = client.clone();
        async move { client.query(&sql).fetch_one::<u64>().await.unwrap() }
    };
    assert_eq!(
        count(format!(
            "SELECT uniqExactMerge(submissions) FROM {db}.submissions_daily_current"
        ))
        .await,
        5
    );
    assert_eq!(
        count(format!(
            "SELECT uniqExactMerge(submissions) FROM {db}.submissions_daily"
        ))
        .await,
        6,
        "the stored aggregate still counts it: the _current views are what changed"
    );
    assert_eq!(
        count(format!(
            "SELECT uniqExactMerge(sightings) FROM {db}.trend_daily_current"
        ))
        .await,
        8
    );
    assert_eq!(
        count(format!(
            "SELECT count() FROM {db}.withdrawn_submissions WHERE member_id = 'gridco'"
        ))
        .await,
        1
    );
    let current: BTreeMap<String, String> = client
        .query(&format!(
            "SELECT member_id, submission_id, current_campaign FROM {db}.submission_campaigns"
        ))
        .fetch_all::<(String, String, String)>()
        .await
        .unwrap()
        .into_iter()
        .map(|(m, s, c)| (format!("{m}/{s}"), c))
        .collect();
    for (key, campaign) in &after {
        assert_eq!(current.get(key), Some(campaign), "{key}");
    }
    // Sent again (a redelivery): nothing more happens.
    publish(
        &env,
        &p,
        "gridco",
        "FIX-1",
        codec.encode(RecordType::Correction, &c).unwrap(),
    )
    .await;
    // Not one's own report: refused (a dead letter), nothing changes.
    let foreign = retraction("gridco", "FIX-2", "A1");
    publish(
        &env,
        &p,
        "gridco",
        "FIX-2",
        codec.encode(RecordType::Correction, &foreign).unwrap(),
    )
    .await;
    wait_durable(&running, 9).await;
    assert_eq!(campaigns(addr), after);
    assert_eq!(
        running
            .metrics
            .dead_letters
            .with_label_values(&["unknown_submission"])
            .get(),
        1
    );

    // 2. Three members dispute the CDN name; before the third, nothing moves.
    let alerted_on_cdn_h = audit("healthtrust/H1").await;
    let alerted_on_cdn_w = audit("waterworks/W1").await;
    for (i, m) in ["northbank", "smallbiz"].iter().enumerate() {
        let f = false_positive(m, &format!("FP-{i}"), "edge.cdn-delta.example");
        publish(
            &env,
            &p,
            m,
            &f.feedback_id.clone(),
            codec.encode(RecordType::Feedback, &f).unwrap(),
        )
        .await;
    }
    // A value northbank may not see (Z1 is for healthtrust): accepted,
    // recorded, changes nothing, answered by nothing.
    let mut unseen = false_positive("northbank", "FP-HIDDEN", "quiet.zeta.example");
    unseen.kind = FeedbackKindRecord::Sighting;
    publish(
        &env,
        &p,
        "northbank",
        "FP-HIDDEN",
        codec.encode(RecordType::Feedback, &unseen).unwrap(),
    )
    .await;
    wait_durable(&running, 12).await;
    assert_eq!(
        campaigns(addr)["healthtrust/H1"],
        campaigns(addr)["waterworks/W1"]
    );
    assert_eq!(running.metrics.feedback_not_counted.get(), 1);
    let north_before = alerts_of("northbank").len();
    let f = false_positive("gridco", "FP-2", "edge.cdn-delta.example");
    publish(
        &env,
        &p,
        "gridco",
        "FP-2",
        codec.encode(RecordType::Feedback, &f).unwrap(),
    )
    .await;
    wait_durable(&running, 13).await;
    let disputed = campaigns(addr);
    assert_ne!(
        disputed["healthtrust/H1"], disputed["waterworks/W1"],
        "it no longer links"
    );
    assert_eq!(running.metrics.disputed_values.get(), 1);
    let mut told = BTreeMap::new();
    for (m, ids) in alerted_on_cdn_h.iter().chain(&alerted_on_cdn_w) {
        told.entry(m.clone())
            .or_insert_with(BTreeSet::new)
            .extend(ids.iter().cloned());
    }
    assert!(
        told.contains_key("healthtrust") && told.contains_key("waterworks"),
        "{told:?}"
    );
    for (member, ids) in &told {
        let notices: Vec<AlertRecord> = alerts_of(member)
            .into_iter()
            .filter(|a| a.kind == AlertKind::Dispute)
            .collect();
        assert_eq!(notices.len(), 1, "{member}: {notices:?}");
        let revoked: BTreeSet<String> = notices[0].revokes.iter().cloned().collect();
        assert_eq!(&revoked, ids, "{member}");
        assert!(
            notices[0].summary.contains("3 members"),
            "{}",
            notices[0].summary
        );
        for disputer in ["northbank", "smallbiz", "gridco", "NorthBank", "GridCo"] {
            assert!(
                !notices[0].summary.contains(disputer),
                "a disputer named: {}",
                notices[0].summary
            );
        }
    }
    assert_eq!(
        alerts_of("northbank").len(),
        north_before,
        "a disputer never alerted about the value hears nothing"
    );
    // The Fusion Cell sees who said what; ClickHouse has every record.
    let detail = api(
        addr,
        "/api/observables?type=domain&value=edge.cdn-delta.example",
    );
    assert_eq!(
        detail["feedback"]["who"].as_array().unwrap().len(),
        3,
        "{detail}"
    );
    assert_eq!(
        count(format!(
            "SELECT count() FROM {db}.feedback FINAL WHERE disputed = 1"
        ))
        .await,
        1
    );

    // 3. A restart that rebuilds the engine from ClickHouse alone (no
    // snapshot) gives the same campaigns; so does one from the snapshot.
    trigger.trigger();
    running.join().await.unwrap();
    for from_snapshot in [false, true] {
        if !from_snapshot {
            std::fs::remove_file(&env.config.state.snapshot_path).unwrap();
        }
        let (trigger, running) = env.start().await;
        assert_eq!(
            campaigns(running.metrics_addr),
            disputed,
            "from snapshot: {from_snapshot}"
        );
        trigger.trigger();
        running.join().await.unwrap();
    }
    env.drop_database().await;
}
