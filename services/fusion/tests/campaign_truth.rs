//! One campaign truth (issue 20): after the over-correlation guard splits
//! campaigns that shared hosting glued together, ClickHouse's current
//! membership (`submission_campaigns`) is the engine's, submission by
//! submission, and the dashboard's campaign count is the query API's —
//! while `submissions.campaign_id`, the campaign at processing time, still
//! holds the glued id (which is what every reader used to count).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use cisp_testkit::{community_record, glued_campaigns, wait_durable, TestEnv, GLUE_HOST};

const TOKEN: &str = "campaign-truth-test-token";
const CAMPAIGNS: usize = 6;

fn api(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let body = cisp_fusion::http::get_with(addr, path, Some(TOKEN)).unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Every submission (`member/id`) with its campaign, from the query API.
fn engine_membership(addr: std::net::SocketAddr) -> BTreeMap<String, String> {
    cisp_testkit::api_membership(addr, TOKEN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_membership_follows_the_guards_splits_submission_by_submission() {
    let env = TestEnv::with_env(|_| {}, &[("CISP_API_TOKEN", TOKEN)]);
    let (trigger, running) = env.start().await;
    let p = env.producer();
    let records = glued_campaigns("CT", CAMPAIGNS);
    let n = records.len() as u64;
    env.submit_all(&p, &records).await;
    wait_durable(&running, n).await;

    let engine = engine_membership(running.metrics_addr);
    assert_eq!(engine.len() as u64, n, "the API lists every submission");
    let engine_campaigns: BTreeSet<&String> = engine.values().collect();
    assert_eq!(
        engine_campaigns.len(),
        CAMPAIGNS,
        "the guard split the glued campaigns again: {engine:?}"
    );

    let db = &env.config.clickhouse.database;
    let client = env.store();
    let rows = |sql: String| {
        let client = client.client().clone();
        async move {
            client
                .query(&sql)
                .fetch_all::<(String, String, String)>()
                .await
                .unwrap()
                .into_iter()
                .map(|(m, s, c)| (format!("{m}/{s}"), c))
                .collect::<BTreeMap<String, String>>()
        }
    };
    let current = rows(format!(
        "SELECT member_id, submission_id, current_campaign FROM {db}.submission_campaigns"
    ))
    .await;
    let at_processing = rows(format!(
        "SELECT member_id, submission_id, campaign_id FROM {db}.submissions FINAL"
    ))
    .await;
    assert_ne!(
        at_processing, engine,
        "some submission's campaign changed after it was stored (else this test shows nothing)"
    );
    for (key, campaign) in &engine {
        assert_eq!(
            current.get(key),
            Some(campaign),
            "{key}: ClickHouse's current campaign is the engine's"
        );
    }
    assert_eq!(current.len(), engine.len());

    // The dashboard's count (Threat picture, "campaigns") is the API's.
    let dashboard = env
        .count(&format!(
            "SELECT uniqExact(current_campaign) FROM {db}.campaign_activity WHERE current_campaign != ''"
        ))
        .await;
    assert_eq!(dashboard, CAMPAIGNS as u64);
    let stale = env
        .count(&format!(
            "SELECT uniqExact(campaign_id) FROM {db}.submissions FINAL"
        ))
        .await;
    eprintln!(
        "campaigns: engine {}, ClickHouse now {dashboard}, at processing time {stale}",
        engine_campaigns.len()
    );

    // Every judgement of the guard, of every kind, is in the table and the
    // API, and the metric counts the same values.
    let table: BTreeSet<(String, String, String)> = client
        .client()
        .query(&format!(
            "SELECT obs_type, value, any(reason) FROM {db}.common_infrastructure GROUP BY obs_type, value"
        ))
        .fetch_all::<(String, String, String)>()
        .await
        .unwrap()
        .into_iter()
        .collect();
    let answer = api(running.metrics_addr, "/api/common");
    assert!(
        answer["commodity_families"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "smokeloader"),
        "the commodity rule is listed: {answer}"
    );
    let listed: BTreeSet<(String, String, String)> = answer["common"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["kind"].as_str().unwrap().to_owned(),
                j["value"].as_str().unwrap().to_owned(),
                j["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    eprintln!("the guard's judgements: {listed:?}");
    assert_eq!(table, listed, "the table and the API agree");
    assert!(
        listed.contains(&("ipv4".into(), GLUE_HOST.into(), "shared".into())),
        "{listed:?}"
    );
    let metric = cisp_fusion::http::get(running.metrics_addr, "/metrics")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("cisp_fusion_common_values "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap();
    assert_eq!(
        metric as usize,
        table.len(),
        "the metric counts what the table holds"
    );

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}

/// Issue 26: a campaign's attribution set, changed and withdrawn reaches
/// the Fusion Cell as alerts and ClickHouse as rows, and the campaign's
/// current row never keeps an actor the engine dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribution_changes_reach_the_fusion_cell_and_clickhouse() {
    use cisp_model::ObservableKind::Domain;
    let env = TestEnv::with_env(|_| {}, &[("CISP_API_TOKEN", TOKEN)]);
    let (trigger, running) = env.start().await;
    let p = env.producer();
    let domain = format!(
        "{}.attribution-test.example",
        env.prefix().replace('_', "-")
    );
    // APT28's own tooling: attributed.
    let mut first = community_record("northbank", "AT-1", &[(Domain, domain.as_str())]);
    first.ttps = ["T1566", "T1059", "T1071", "T1003", "T1547"]
        .map(String::from)
        .to_vec();
    first.malware = ["x-agent", "zebrocy"].map(String::from).to_vec();
    // Another member's report of the same domain, full of Lazarus Group's
    // techniques and tooling: the attribution moves.
    let actors = cisp_engine::Actors::shipped();
    let lazarus = actors
        .profiles()
        .iter()
        .find(|a| a.name == "Lazarus Group")
        .unwrap();
    let mut second = community_record("gridco", "AT-2", &[(Domain, domain.as_str())]);
    second.ttps = lazarus.techniques.iter().take(40).cloned().collect();
    second.malware = lazarus.software.iter().take(8).cloned().collect();
    env.submit(&p, &first).await;
    wait_durable(&running, 1).await;
    env.submit(&p, &second).await;
    wait_durable(&running, 2).await;

    let db = &env.config.clickhouse.database;
    let client = env.store().client().clone();
    let changes: Vec<(String, String, String, String)> = client
        .query(&format!(
            "SELECT campaign_id, change, actor_id, previous_actor_id FROM {db}.attribution_changes FINAL ORDER BY version"
        ))
        .fetch_all()
        .await
        .unwrap();
    eprintln!("attribution changes: {changes:?}");
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        (changes[0].1.as_str(), changes[0].2.as_str()),
        ("attributed", "G0007")
    );
    assert_eq!(changes[1].3, "G0007");
    assert_ne!(changes[1].2, "G0007");
    let campaign = &changes[0].0;
    let current: String = client
        .query(&format!(
            "SELECT argMax(actor_id, version) FROM {db}.campaigns WHERE campaign_id = ?"
        ))
        .bind(campaign.as_str())
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        current, changes[1].2,
        "the campaign's current row is the last change"
    );

    // The Fusion Cell's campaign view: winner, runner-up, margin, and
    // what speaks for and against each.
    let detail = api(running.metrics_addr, &format!("/api/campaigns/{campaign}"));
    let candidates = detail["candidates"].as_array().unwrap();
    assert!(candidates.len() >= 2, "{detail}");
    assert_eq!(candidates[0]["actor_id"], changes[1].2.as_str());
    let (first, second) = (
        candidates[0]["confidence"].as_f64().unwrap(),
        candidates[1]["confidence"].as_f64().unwrap(),
    );
    assert!((detail["margin"].as_f64().unwrap() - (first - second)).abs() < 1e-9);
    assert!(!candidates[0]["matching"].as_array().unwrap().is_empty());
    let against: Vec<&str> = candidates[0]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(
        against
            .iter()
            .any(|m| m.contains("x-agent") || m.contains("zebrocy")),
        "APT28's malware speaks against the new winner: {against:?}"
    );
    assert_eq!(candidates[0]["claims_contribution"].as_f64(), Some(0.0));

    // The Fusion Cell was told of each, and no member was.
    let told: Vec<(String, String)> = client
        .query(&format!(
            "SELECT recipient, summary FROM {db}.alerts FINAL WHERE kind = 'actor_attribution' ORDER BY created_at, summary"
        ))
        .fetch_all()
        .await
        .unwrap();
    eprintln!("attribution alerts: {told:?}");
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(told.iter().all(|(r, _)| r == "fusion-cell"), "{told:?}");
    assert!(told
        .iter()
        .any(|(_, s)| s.contains("attributed to APT28 (G0007)")));
    assert!(told.iter().any(|(_, s)| s.contains("was APT28 (G0007)")));
    let topic = cisp_platform::Topics::new(env.prefix())
        .alerts(&cisp_model::MemberId::parse("fusion-cell").unwrap());
    assert!(
        env.read_all(&topic).len() >= 2,
        "on the Fusion Cell's alert topic"
    );

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}
