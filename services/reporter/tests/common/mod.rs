//! Helpers shared by the reporter's stack tests: the dashboards' queries
//! and Grafana's macro expansion, and raw ClickHouse reads.

#![allow(dead_code, clippy::unwrap_used)] // not every test uses every helper

use cisp_testkit::{repo_root, TestEnv};
use serde_json::Value;

pub const DASHBOARDS: [&str; 2] = ["operations", "threat-picture"];

pub fn dashboard(name: &str) -> Value {
    let p = repo_root().join(format!("dashboards/grafana/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// Every (panel title, datasource type, query text) of a dashboard's panels.
pub fn targets(d: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap().to_owned();
        for t in p["targets"].as_array().unwrap() {
            let kind = t["datasource"]["type"].as_str().unwrap().to_owned();
            let q = t["expr"]
                .as_str()
                .or_else(|| t["rawSql"].as_str())
                .unwrap()
                .to_owned();
            out.push((title.clone(), kind, q));
        }
    }
    out
}

/// The grafana-clickhouse-datasource macros used by the dashboards, for a
/// range from the demo quarter's start until now.
pub fn expand_sql(sql: &str, sectors: &[String]) -> String {
    let quoted = sectors
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "\\'")))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = sql.replace("${sector:singlequote}", &quoted);
    for (mac, lo, hi) in [
        ("$__dateFilter(", "toDate('2025-10-01')", "today()"),
        (
            "$__timeFilter(",
            "toDateTime('2025-10-01 00:00:00')",
            "now()",
        ),
    ] {
        while let Some(start) = out.find(mac) {
            let rest = &out[start + mac.len()..];
            let end = rest.find(')').unwrap();
            let col = rest[..end].trim().to_owned();
            out = format!(
                "{}{col} >= {lo} AND {col} <= {hi}{}",
                &out[..start],
                &rest[end + 1..]
            );
        }
    }
    assert!(!out.contains('$'), "unexpanded macro or variable in {out}");
    out
}

pub async fn tsv_rows(env: &TestEnv, sql: &str) -> Vec<String> {
    let bytes = env
        .store()
        .client()
        .query(sql)
        .fetch_bytes("TabSeparatedRaw")
        .unwrap()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}
