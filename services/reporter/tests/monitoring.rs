//! The dashboards, Prometheus configuration and alert rules, exercised by
//! the real tools: promtool checks and rule unit tests; Grafana's own
//! dashboard schema (@grafana/schema types, checked by tsc); a real
//! Prometheus scraping a running fusion service, evaluating every PromQL
//! expression of the dashboards and every rule; every ClickHouse panel and
//! variable query run against the demo data.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cisp_testkit::{publish, repo_root, wait_durable, wait_until, Scenario, TestEnv};
use serde_json::Value;

mod common;

use common::{dashboard, expand_sql, targets, tsv_rows, DASHBOARDS};

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run `make test`, which installs it)"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn promtool_accepts_the_config_and_the_rules_pass_their_unit_tests() {
    let dir = repo_root().join("dashboards/prometheus");
    for args in [
        vec!["check", "config", "prometheus.yml"],
        vec!["check", "rules", "rules/cisp-fusion.yml"],
        vec!["test", "rules", "tests/cisp-fusion.test.yml"],
    ] {
        let (ok, out) = run(Command::new("promtool").args(&args).current_dir(&dir));
        assert!(ok, "promtool {args:?}:\n{out}");
    }
}

fn schema_dir() -> PathBuf {
    let dir = std::env::var("CISP_GRAFANA_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let cache = std::env::var("CISP_CACHE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cisp-fusion")
                });
            cache.join("grafana-schema")
        });
    assert!(
        dir.join("node_modules/@grafana/schema/package.json").is_file(),
        "Grafana's schema package is not in {}: run `bash scripts/monitoring-env.sh` (make test does)",
        dir.display()
    );
    dir
}

/// Type-checks dashboard JSON as Grafana's `Dashboard` type; returns tsc's
/// verdict and output.
fn check_against_grafana_schema(node_dir: &Path, name: &str, json: &str) -> (bool, String) {
    let work = node_dir.join(format!("check-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("dashboard.ts"),
        format!(
            "import type {{ Dashboard }} from '@grafana/schema';\nexport const dashboard: Dashboard = {json};\n"
        ),
    )
    .unwrap();
    std::fs::write(
        work.join("tsconfig.json"),
        r#"{"compilerOptions":{"strict":true,"noEmit":true,"module":"esnext","moduleResolution":"bundler","target":"es2022","skipLibCheck":true},"files":["dashboard.ts"]}"#,
    )
    .unwrap();
    let result = run(Command::new("node")
        .arg(node_dir.join("node_modules/typescript/bin/tsc"))
        .arg("-p")
        .arg(work.join("tsconfig.json")));
    let _ = std::fs::remove_dir_all(&work);
    result
}

#[test]
fn dashboards_validate_against_grafanas_dashboard_schema() {
    let node = schema_dir();
    for name in DASHBOARDS {
        let text =
            std::fs::read_to_string(repo_root().join(format!("dashboards/grafana/{name}.json")))
                .unwrap();
        let (ok, out) = check_against_grafana_schema(&node, name, &text);
        assert!(
            ok,
            "{name}.json does not match Grafana's Dashboard type:\n{out}"
        );
    }
    // The check can fail: a misspelt panel key and a wrongly typed field.
    let bad = std::fs::read_to_string(repo_root().join("dashboards/grafana/operations.json"))
        .unwrap()
        .replacen("\"gridPos\"", "\"gridPosition\"", 1)
        .replace("\"schemaVersion\": 39", "\"schemaVersion\": \"39\"");
    let (ok, out) = check_against_grafana_schema(&node, "bad", &bad);
    assert!(
        !ok && out.contains("gridPosition") && out.contains("TS2322"),
        "{out}"
    );

    // Every datasource a dashboard names is provisioned, with that uid.
    let prov = std::fs::read_to_string(
        repo_root().join("dashboards/grafana/provisioning/datasources/cisp.yaml"),
    )
    .unwrap();
    for name in DASHBOARDS {
        let d = dashboard(name);
        for p in d["panels"].as_array().unwrap() {
            let uid = p["datasource"]["uid"].as_str().unwrap();
            assert!(
                prov.contains(&format!("uid: {uid}")),
                "{name}: {uid} not provisioned"
            );
        }
    }
}

/// A local Prometheus, killed when dropped.
struct Prometheus {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(target: &str, tag: &str) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("cisp-prometheus-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = repo_root().join("dashboards/prometheus/rules/cisp-fusion.yml");
    // Our scrape config with the test's target and fast intervals.
    let config = std::fs::read_to_string(repo_root().join("dashboards/prometheus/prometheus.yml"))
        .unwrap()
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
        .replace("rules/*.yml", &rules.display().to_string())
        .replace("fusion:9464", target);
    assert!(config.contains(target) && config.contains("scrape_interval: 1s"));
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (run `bash scripts/monitoring-env.sh`, make test does)");
    Prometheus { child, addr, dir }
}

/// GET over HTTP/1.0 (no chunking): the body if it is JSON, else the
/// whole response as the error.
fn try_get_json(addr: &str, path_and_query: &str) -> Result<Value, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let body = buf.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).map_err(|e| format!("{path_and_query}: {e}: {buf}"))
}

fn get_json(addr: &str, path_and_query: &str) -> Value {
    try_get_json(addr, path_and_query).unwrap_or_else(|e| panic!("{e}"))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn promql(addr: &str, expr: &str) -> Value {
    get_json(addr, &format!("/api/v1/query?query={}", enc(expr)))
}

/// Grafana's template variables and built-ins, as Grafana would expand them
/// for a 5-minute range on this test's scrape interval.
fn expand_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__range", "5m")
        .replace("$instance", ".*")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_and_rule_query_runs_against_the_real_services() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let target = running.metrics_addr.to_string();
    let prom = start_prometheus(&target, env.prefix());

    // Prometheus is up and scraping the service before the demo runs, so
    // rates see the activity.
    let up = wait_until(Duration::from_secs(30), || {
        try_get_json(
            &prom.addr,
            &format!(
                "/api/v1/query?query={}",
                enc("up{job=\"cisp-fusion\"} == 1")
            ),
        )
        .is_ok_and(|v| {
            v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        })
    })
    .await;
    assert!(up, "prometheus did not scrape {target}");

    let scenario = Scenario::load(&repo_root().join("demo/scenario.json")).unwrap();
    let n = publish(&env.config.shared(), &scenario).await.unwrap() as u64;
    wait_durable(&running, n).await;
    tokio::time::sleep(Duration::from_secs(4)).await; // a few scrapes after the demo

    // Every PromQL expression of the Operations dashboard returns series.
    let ops = dashboard("operations");
    let mut checked = 0;
    for (title, kind, expr) in targets(&ops) {
        assert_eq!(kind, "prometheus", "{title}");
        let q = expand_promql(&expr);
        let v = promql(&prom.addr, &q);
        assert_eq!(v["status"], "success", "{title}: {q}: {v}");
        assert!(
            !v["data"]["result"].as_array().unwrap().is_empty(),
            "{title}: {q} returned nothing"
        );
        checked += 1;
    }
    assert!(checked >= 20, "{checked} expressions");
    // The instance variable's values (Grafana's label_values()).
    let v = get_json(
        &prom.addr,
        &format!(
            "/api/v1/label/instance/values?match[]={}",
            enc("cisp_fusion_records_total")
        ),
    );
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == target.as_str()),
        "{v}"
    );
    // Dead letters and alerts happened, and the dashboard shows them.
    let dl = promql(&prom.addr, "sum(cisp_fusion_dead_letters_total)");
    let dl: f64 = dl["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        dl as u64,
        scenario.expect.dead_letters.values().sum::<u64>()
    );
    let p99 = promql(
        &prom.addr,
        &expand_promql(
            "histogram_quantile(0.99, sum by (le) (rate(cisp_fusion_publish_to_alert_seconds_bucket[1m])))",
        ),
    );
    let p99: f64 = p99["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(p99.is_finite() && p99 > 0.0, "publish→alert p99 {p99}");

    // Every alert rule loaded, evaluated against the real series without
    // error, and every metric it names exists.
    let rules_in_file =
        std::fs::read_to_string(repo_root().join("dashboards/prometheus/rules/cisp-fusion.yml"))
            .unwrap()
            .matches("- alert:")
            .count();
    assert!(rules_in_file >= 8, "{rules_in_file} rules");
    let rules_ok = wait_until(Duration::from_secs(20), || {
        let v = get_json(&prom.addr, "/api/v1/rules");
        let rules: Vec<&Value> = v["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .collect();
        rules.len() == rules_in_file && rules.iter().all(|r| r["health"] == "ok")
    })
    .await;
    assert!(rules_ok, "{}", get_json(&prom.addr, "/api/v1/rules"));
    let rules_text =
        std::fs::read_to_string(repo_root().join("dashboards/prometheus/rules/cisp-fusion.yml"))
            .unwrap();
    let mut names: Vec<&str> = rules_text
        .match_indices("cisp_fusion_")
        .map(|(i, _)| {
            let rest = &rules_text[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        let v = promql(&prom.addr, &format!("count({{__name__=\"{name}\"}})"));
        assert!(
            !v["data"]["result"].as_array().unwrap().is_empty(),
            "rule metric {name} is not exported"
        );
    }

    // Every ClickHouse query of the Threat picture dashboard: the sector
    // variable first, then each panel with it and the time macros expanded.
    let tp = dashboard("threat-picture");
    let var = &tp["templating"]["list"][0];
    assert_eq!(var["name"], "sector");
    let sectors = tsv_rows(&env, var["query"].as_str().unwrap()).await;
    assert!(sectors.len() >= 5, "{sectors:?}");
    let mut panels = 0;
    for (title, kind, sql) in targets(&tp) {
        assert_eq!(kind, "grafana-clickhouse-datasource", "{title}");
        let rows = tsv_rows(&env, &expand_sql(&sql, &sectors)).await;
        assert!(!rows.is_empty(), "{title}: no rows from {sql}");
        panels += 1;
    }
    assert_eq!(panels, tp["panels"].as_array().unwrap().len());
    // One panel's number checked against the facts: alerts sent.
    let sent = tsv_rows(&env, &expand_sql("SELECT uniqExact(recipient, alert_id) AS alerts FROM alerts WHERE $__timeFilter(created_at)", &sectors)).await;
    let direct = tsv_rows(&env, "SELECT count() FROM alerts FINAL").await;
    assert_eq!(sent, direct);

    drop(prom);
    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}
