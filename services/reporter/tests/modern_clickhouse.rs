//! Our ClickHouse SQL on today's ClickHouse as well as Debian's 18.16: the
//! migrations run unchanged on a current engine (chdb, the embedded
//! ClickHouse from PyPI), the fact tables are loaded from what 18.16 holds
//! after the demo, and every report query and dashboard panel query must
//! be accepted and return the same rows on both.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

mod common;

use std::process::Command;

use cisp_reporter::{build, client, Audience, Reader, Request};
use cisp_testkit::{publish, python, repo_root, wait_durable, Scenario, TestEnv};
use common::{dashboard, expand_sql, targets, tsv_rows};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_and_dashboard_sql_agree_on_clickhouse_18_16_and_current() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let scenario = Scenario::load(&repo_root().join("demo/scenario.json")).unwrap();
    let n = publish(&env.config.shared(), &scenario).await.unwrap() as u64;
    wait_durable(&running, n).await;
    trigger.trigger();
    running.join().await.unwrap();

    // The queries: both reports' (as logged for their appendix) and every
    // ClickHouse panel and variable of the Threat picture dashboard.
    let ch = client(&env.config.clickhouse);
    let mut queries: Vec<(String, String)> = Vec::new();
    for audience in [Audience::Community, Audience::FusionCell] {
        let req = Request {
            quarter: "2025Q4".parse().unwrap(),
            reader: Reader::new(audience, None).unwrap(),
            k: 3,
            generated_at: "test".into(),
        };
        for q in build(&ch, &req).await.unwrap().queries {
            queries.push((format!("{audience} {}", q.id), q.sql));
        }
    }
    let tp = dashboard("threat-picture");
    let var = tp["templating"]["list"][0]["query"]
        .as_str()
        .unwrap()
        .to_owned();
    let sectors = tsv_rows(&env, &var).await;
    queries.push(("sector variable".into(), var));
    for (title, _, sql) in targets(&tp) {
        queries.push((title, expand_sql(&sql, &sectors)));
    }
    // The intake gateway's member feeds (issue 23), for a member of each
    // kind of audience and the Fusion Cell.
    let registry = cisp_model::Registry::load(&env.config.registry_path).unwrap();
    let filters = cisp_intake::feed::FeedParams::default()
        .filters(&[
            cisp_model::ObservableKind::Ipv4,
            cisp_model::ObservableKind::Domain,
            cisp_model::ObservableKind::Url,
        ])
        .unwrap();
    for m in ["northbank", "gridco", "fusion-cell"] {
        let member = registry
            .member(&cisp_model::MemberId::parse(m).unwrap())
            .unwrap();
        let sql = cisp_intake::feed::query(&env.config.clickhouse.database, member, &filters)
            .replace(&format!("{}.", env.config.clickhouse.database), "");
        queries.push((format!("feed {m}"), sql));
    }
    // Alerts' created_at is "now": keep the dashboard's time filter
    // comparable by evaluating both engines against the same fixed end.
    let now = tsv_rows(&env, "SELECT toString(now())").await.remove(0);
    let mut job_queries = Vec::new();
    for (id, sql) in &queries {
        let sql = sql
            .replace("today()", &format!("toDate('{}')", &now[..10]))
            .replace("now()", &format!("toDateTime('{now}')"));
        let expected = tsv_rows(&env, &sql).await.join("\n");
        job_queries.push(json!({"id": id, "sql": sql, "expected": expected}));
    }
    assert!(job_queries.len() >= 35, "{}", job_queries.len());

    // The facts as 18.16 holds them (escaped TSV both engines read).
    let dir = std::env::temp_dir().join(format!("cisp-modern-{}", env.prefix()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut tables = serde_json::Map::new();
    for t in [
        "submissions",
        "observations",
        "alerts",
        "campaigns",
        "campaign_membership",
        "common_infrastructure",
        "attribution_changes",
    ] {
        let bytes = env
            .store()
            .client()
            .query(&format!("SELECT * FROM {t}"))
            .fetch_bytes("TabSeparated")
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert!(
            !bytes.is_empty() || t == "common_infrastructure" || t == "attribution_changes",
            "{t} is empty"
        );
        let p = dir.join(format!("{t}.tsv"));
        std::fs::write(&p, &bytes).unwrap();
        tables.insert(t.into(), json!(p.display().to_string()));
    }
    let mut migrations: Vec<String> = std::fs::read_dir(repo_root().join("schemas/clickhouse"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| p.display().to_string())
        .collect();
    migrations.sort();
    assert!(migrations.len() >= 4);
    let job = json!({
        "workdir": dir.join("chdb").display().to_string(),
        "migrations": migrations,
        "tables": tables,
        "queries": job_queries,
    });
    let job_path = dir.join("job.json");
    std::fs::write(&job_path, serde_json::to_vec(&job).unwrap()).unwrap();

    let out = Command::new(python())
        .arg(repo_root().join("tests/interop/modern_clickhouse.py"))
        .arg(&job_path)
        .output()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" 0 failed"), "{text}");
    println!("{text}");

    let _ = std::fs::remove_dir_all(&dir);
    env.drop_database().await;
}
