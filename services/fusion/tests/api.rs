//! The Fusion Cell query API on the running service: authentication, a
//! campaign with its evidence, the DOT graph, an observable's sightings
//! (looked up defanged, as analysts paste them), and explanations.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use cisp_fusion::http::get_with;
use cisp_model::ObservableKind;
use cisp_testkit::{community_record, wait_durable, TestEnv};

const TOKEN: &str = "api-test-token-0123456789";

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_api_explains_campaigns_to_the_fusion_cell_only() {
    let mut env = TestEnv::new();
    env.config.api_token = Some(TOKEN.into());
    let (trigger, running) = env.start().await;
    let p = env.producer();
    let a = community_record(
        "northbank",
        "API-A",
        &[
            (ObservableKind::Domain, "x.evil-api.com"),
            (ObservableKind::Url, "http://x.evil-api.com/a"),
            (ObservableKind::Ipv4, "8.8.8.8"),
        ],
    );
    let b = community_record(
        "gridco",
        "API-B",
        &[
            (ObservableKind::Url, "http://x.evil-api.com/b"),
            (ObservableKind::Ipv4, "8.8.8.8"),
            (ObservableKind::Filename, r#"in"voice\"};.exe"#),
        ],
    );
    env.submit(&p, &a).await;
    env.submit(&p, &b).await;
    wait_durable(&running, 2).await;
    let addr = running.metrics_addr;

    // Only with the token.
    let denied = get_with(addr, "/api/campaigns", None).unwrap_err();
    assert!(denied.to_string().contains("401"), "{denied}");
    let wrong = get_with(addr, "/api/campaigns", Some("api-test-token-0123456780")).unwrap_err();
    assert!(wrong.to_string().contains("401"), "{wrong}");

    let list: serde_json::Value =
        serde_json::from_str(&get_with(addr, "/api/campaigns", Some(TOKEN)).unwrap()).unwrap();
    let campaigns = list["campaigns"].as_array().unwrap();
    assert_eq!(campaigns.len(), 1, "{list}");
    assert_eq!(campaigns[0]["submission_count"], 2);
    let id = campaigns[0]["id"].as_str().unwrap().to_owned();

    let detail: serde_json::Value = serde_json::from_str(
        &get_with(addr, &format!("/api/campaigns/{id}"), Some(TOKEN)).unwrap(),
    )
    .unwrap();
    assert_eq!(detail["submissions"].as_array().unwrap().len(), 2);
    let hops = detail["evidence"].as_array().unwrap();
    assert_eq!(hops.len(), 1, "{detail}");
    assert_eq!(
        hops[0]["evidence"][0],
        serde_json::json!(["domain", "x.evil-api.com"])
    );
    let resolver = detail["observables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["value"] == "8.8.8.8")
        .unwrap();
    assert_eq!(resolver["warnlist"], "public-resolvers");

    let dot = get_with(addr, &format!("/api/campaigns/{id}/graph.dot"), Some(TOKEN)).unwrap();
    assert!(dot.starts_with("digraph campaign {"), "{dot}");
    assert!(dot.contains("derived-from") && dot.contains("member-of"));
    assert!(
        dot.contains(r#"in\"voice\\\"};.exe"#),
        "quotes and backslashes in labels are escaped: {dot}"
    );

    let url = encode("hxxp://x.evil-api[.]com/a");
    let obs: serde_json::Value = serde_json::from_str(
        &get_with(
            addr,
            &format!("/api/observables?type=url&value={url}"),
            Some(TOKEN),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(obs["value"], "http://x.evil-api.com/a");
    assert_eq!(obs["sightings"].as_array().unwrap().len(), 1);
    assert_eq!(obs["campaigns"][0], id.as_str());
    assert!(obs["score"].as_f64().unwrap() > 0.0);
    let missing = get_with(
        addr,
        "/api/observables?type=domain&value=never.example",
        Some(TOKEN),
    );
    assert!(missing.unwrap_err().to_string().contains("404"));
    let bad = get_with(addr, "/api/observables?type=nonsense&value=x", Some(TOKEN));
    assert!(bad.unwrap_err().to_string().contains("400"));

    let why: serde_json::Value = serde_json::from_str(
        &get_with(
            addr,
            "/api/explain?a=northbank/API-A&b=gridco/API-B",
            Some(TOKEN),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(why["linked"], true);
    assert_eq!(why["hops"].as_array().unwrap().len(), 1);

    trigger.trigger();
    running.join().await.unwrap();

    // Without a configured token the API does not exist.
    let mut off = TestEnv::new();
    off.config.api_token = None;
    let (trigger, running) = off.start().await;
    let gone = get_with(running.metrics_addr, "/api/campaigns", Some(TOKEN)).unwrap_err();
    assert!(gone.to_string().contains("404"), "{gone}");
    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
    off.drop_database().await;
}
