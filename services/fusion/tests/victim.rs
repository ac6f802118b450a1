//! Victim notifications end to end (issue 23): a member's own domain in a
//! report it may see alerts it at once; in a report it may not see,
//! nothing reaches it until the Fusion Cell releases a notification
//! through the query API — its asset, the kind of report and a contact,
//! never the report, its submitter or its values — and every release is
//! audited in ClickHouse. RED reports are never released.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use cisp_model::{AlertKind, ObservableKind, Scope, Tlp};
use cisp_testkit::{community_record, wait_durable, TestEnv};
use cisp_wire::records::AlertRecord;

const TOKEN: &str = "victim-test-token";

/// POST with a JSON body and the API token: (status, body).
fn post(addr: std::net::SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let (status, _, body) = cisp_testkit::http_exchange(
        addr,
        "POST",
        path,
        token,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_outside_the_audience_hears_only_what_the_fusion_cell_releases() {
    use ObservableKind::*;
    let env = TestEnv::with_env(|_| {}, &[("CISP_API_TOKEN", TOKEN)]);
    let (trigger, running) = env.start().await;
    let p = env.producer();
    // northbank declares northbank.example (config/members.toml).
    let mut hidden = community_record(
        "gridco",
        "V-HIDDEN",
        &[(Domain, "vpn.northbank.example"), (Ipv4, "198.51.100.77")],
    );
    hidden.tlp = Tlp::Amber;
    hidden.distribution.scope = Scope::NamedMembers;
    hidden.distribution.members = vec!["healthtrust".into()];
    hidden.title = "GridCo internal note about a partner's VPN".into();
    let open = community_record("smallbiz", "V-OPEN", &[(Domain, "mail.northbank.example")]);
    let mut red = community_record("waterworks", "V-RED", &[(Domain, "vpn2.northbank.example")]);
    red.tlp = Tlp::Red;
    red.distribution.scope = Scope::FusionCellOnly;
    env.submit_all(&p, &[hidden, open, red]).await;
    wait_durable(&running, 3).await;

    let alerts_of = |m: &str| env.alerts_of(m);
    // Inside the audience: told at once, about the open report only.
    let north = alerts_of("northbank");
    assert_eq!(north.len(), 1, "{north:?}");
    assert_eq!(north[0].kind, AlertKind::VictimNotification);
    assert_eq!(north[0].related[0].submission_id, "V-OPEN");
    // Outside it: the Fusion Cell was told of both matches.
    let fc: Vec<AlertRecord> = alerts_of("fusion-cell")
        .into_iter()
        .filter(|a| a.kind == AlertKind::VictimNotification)
        .collect();
    assert_eq!(fc.len(), 2, "{fc:?}");
    assert!(fc.iter().all(|a| a
        .summary
        .contains("northbank's own asset northbank.example")));

    // The Fusion Cell releases the hidden one: northbank learns its asset,
    // the kind of report and whom to contact — nothing of the report.
    let addr = running.metrics_addr;
    let req = r#"{"submission": "gridco/V-HIDDEN", "member": "northbank", "reason": "VPN credentials at risk"}"#;
    let (status, body) = post(addr, "/api/victim-releases", Some(TOKEN), req);
    assert_eq!(status, 201, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let north = alerts_of("northbank");
    assert_eq!(north.len(), 2, "{north:?}");
    let released = north
        .iter()
        .find(|a| a.alert_id == answer["alert_id"])
        .unwrap();
    assert_eq!(released.kind, AlertKind::VictimNotification);
    assert!(
        released.summary.contains("northbank.example"),
        "{}",
        released.summary
    );
    assert!(
        released.summary.contains("an incident report"),
        "{}",
        released.summary
    );
    let all = serde_json::to_string(released).unwrap();
    for never in [
        "gridco",
        "GridCo",
        "V-HIDDEN",
        "198.51.100.77",
        "vpn.northbank",
        "internal note",
        "healthtrust",
    ] {
        assert!(!all.contains(never), "{never} released: {all}");
    }
    assert!(released.related.is_empty() && released.shared_observables.is_empty());
    // Releasing again sends the same alert (readers drop the duplicate).
    let (status, again) = post(addr, "/api/victim-releases", Some(TOKEN), req);
    assert_eq!(status, 201);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap()["alert_id"],
        answer["alert_id"]
    );

    // Refused: a report the member may see, a RED one, a member named in
    // it, no token.
    for (req, why) in [
        (
            r#"{"submission": "smallbiz/V-OPEN", "member": "northbank"}"#,
            "may see",
        ),
        (
            r#"{"submission": "waterworks/V-RED", "member": "northbank"}"#,
            "RED",
        ),
        (
            r#"{"submission": "gridco/V-HIDDEN", "member": "healthtrust"}"#,
            "may see",
        ),
    ] {
        let (status, body) = post(addr, "/api/victim-releases", Some(TOKEN), req);
        assert_eq!(status, 409, "{req}: {body}");
        assert!(body.contains(why), "{body}");
    }
    assert_eq!(post(addr, "/api/victim-releases", None, req).0, 401);

    // Audited: who was told, of which report, why.
    let db = &env.config.clickhouse.database;
    let rows: Vec<(String, String, String, String)> = env
        .store()
        .client()
        .query(&format!(
            "SELECT member_id, asset, submission_id, reason FROM {db}.victim_releases FINAL"
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![(
            "northbank".to_owned(),
            "northbank.example".to_owned(),
            "V-HIDDEN".to_owned(),
            "VPN credentials at risk".to_owned()
        )]
    );

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}
