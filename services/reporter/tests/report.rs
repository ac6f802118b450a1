//! The quarterly report, rendered from the demo data on the real broker and
//! ClickHouse (plus a previous-quarter submission, a hostile one and a
//! restricted one), checked section by section against direct queries on
//! the fact tables and an independent computation in Rust.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

mod common;

use std::collections::{BTreeMap, BTreeSet};

use cisp_model::{ObservableKind, Scope, SubmissionKind, Tlp};
use cisp_reporter::{build, client, write, Audience, Quarter, Reader, Report, Request};
use cisp_testkit::{community_record, publish, repo_root, wait_durable, Scenario, TestEnv};
use cisp_wire::records::{DistributionRecord, SubmissionRecord};

const HOSTILE: &str = "<script>alert('x')</script> | [click](javascript:evil) **bold** # head";
const SECRET_TITLE: &str = "SECRET-TITLE red incident at the reservoir";
const SECRET_MALWARE: &str = "SecretMalwareFamily";
/// 2025-09-10 09:00 UTC (2025Q3) and 2025-11-18 08:00 UTC (2025Q4).
const Q3_MS: i64 = 1_757_494_800_000;
const Q4_EARLY_MS: i64 = 1_763_452_800_000;

fn extra_records() -> Vec<SubmissionRecord> {
    // Previous quarter: a community report of the phishing domain the demo
    // campaign uses in Q4 (so it is recurring in Q4, not new).
    let q3 = SubmissionRecord {
        submitted_at: Q3_MS,
        kind: SubmissionKind::Phishing,
        title: "Earlier invoice lure".into(),
        malware: vec!["Carbanak".into()],
        ..community_record(
            "lakeside-bs",
            "LBS-Q3-001",
            &[(ObservableKind::Domain, "pay-invoice-portal.example")],
        )
    };
    // A hostile title, actor claim and malware name, visible to everyone.
    let hostile = SubmissionRecord {
        submitted_at: Q4_EARLY_MS,
        title: HOSTILE.into(),
        malware: vec![format!("<img src=x onerror=alert(1)>{HOSTILE}")],
        actor_claims: vec!["<b>APT</b> | evil".into()],
        ..community_record(
            "smallbiz",
            "SB-HOSTILE-1",
            &[(ObservableKind::Sha256, &"ab".repeat(32))],
        )
    };
    // TLP:RED to the Fusion Cell only: the community report must not show
    // any trace of it.
    let secret = SubmissionRecord {
        submitted_at: Q4_EARLY_MS,
        tlp: Tlp::Red,
        distribution: DistributionRecord {
            scope: Scope::FusionCellOnly,
            members: vec![],
            groups: vec![],
        },
        title: SECRET_TITLE.into(),
        malware: vec![SECRET_MALWARE.into()],
        ..community_record(
            "gridco",
            "GC-SECRET-1",
            &[(ObservableKind::Domain, "secret-reservoir-c2.example")],
        )
    };
    vec![q3, hostile, secret]
}

async fn tsv(env: &TestEnv, sql: &str) -> Vec<Vec<String>> {
    common::tsv_rows(env, sql)
        .await
        .iter()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

async fn num(env: &TestEnv, sql: &str) -> u64 {
    tsv(env, sql).await[0][0].parse().unwrap()
}

fn headline(r: &Report, name: &str) -> (u64, u64) {
    let h = r.headline.iter().find(|h| h.name == name).unwrap();
    (h.value.current, h.value.previous)
}

async fn report(env: &TestEnv, audience: Audience, k: u64) -> Report {
    let req = Request {
        quarter: "2025Q4".parse::<Quarter>().unwrap(),
        reader: Reader::new(audience, None).unwrap(),
        k,
        generated_at: "test".into(),
    };
    build(&client(&env.config.clickhouse), &req).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quarterly_report_matches_the_facts_and_respects_tlp() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let scenario = Scenario::load(&repo_root().join("demo/scenario.json")).unwrap();
    let mut n = publish(&env.config.shared(), &scenario).await.unwrap() as u64;
    let producer = env.producer();
    for r in extra_records() {
        env.submit(&producer, &r).await;
        n += 1;
    }
    wait_durable(&running, n).await;

    let community = report(&env, Audience::Community, 3).await;
    let fusion = report(&env, Audience::FusionCell, 3).await;

    // Headline numbers against the fact tables, read directly.
    let q4 = "submitted_at >= toDateTime('2025-10-01 00:00:00') AND submitted_at < toDateTime('2026-01-01 00:00:00')";
    let q3 = "submitted_at >= toDateTime('2025-07-01 00:00:00') AND submitted_at < toDateTime('2025-10-01 00:00:00')";
    let vis = "scope = 'community' AND tlp IN ('CLEAR', 'GREEN')";
    for (r, filter) in [(&community, vis), (&fusion, "1")] {
        let subs = |period: &str| {
            format!("SELECT count() FROM submissions FINAL WHERE {period} AND {filter}")
        };
        assert_eq!(
            headline(r, "Submissions"),
            (num(&env, &subs(q4)).await, num(&env, &subs(q3)).await),
            "{:?}",
            r.audience
        );
        let members =
            format!("SELECT uniqExact(member_id) FROM submissions FINAL WHERE {q4} AND {filter}");
        assert_eq!(
            headline(r, "Contributing members").0,
            num(&env, &members).await
        );
        let obs = format!(
            "SELECT uniqExact(obs_type, value) FROM observations FINAL WHERE {} AND {filter}",
            q4.replace("submitted_at", "observed_at")
        );
        assert_eq!(headline(r, "Distinct observables").0, num(&env, &obs).await);
        // Kinds.
        let rows = tsv(
            &env,
            &format!(
                "SELECT kind, count() FROM submissions FINAL WHERE {q4} AND {filter} GROUP BY kind"
            ),
        )
        .await;
        let direct: BTreeMap<String, u64> = rows
            .iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap()))
            .collect();
        let reported: BTreeMap<String, u64> = r
            .by_kind
            .iter()
            .filter(|b| b.value.current > 0)
            .map(|b| (b.label.clone(), b.value.current))
            .collect();
        assert_eq!(reported, direct);
        // Malware families (ARRAY JOIN on the facts).
        let rows = tsv(
            &env,
            &format!(
                "SELECT m, count() FROM submissions FINAL ARRAY JOIN malware AS m WHERE {q4} AND {filter} GROUP BY m"
            ),
        )
        .await;
        let direct: BTreeMap<String, u64> = rows
            .iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap()))
            .collect();
        let reported: BTreeMap<String, u64> = r
            .top_malware
            .iter()
            .map(|l| (l.label.clone(), l.submissions.current))
            .collect();
        assert_eq!(reported, direct);
    }
    assert!(headline(&fusion, "Submissions").0 > headline(&community, "Submissions").0);
    assert_eq!(
        headline(&community, "Submissions").1,
        1,
        "the Q3 submission"
    );

    // New versus recurring, computed here from the raw sightings.
    let rows = tsv(
        &env,
        &format!(
            "SELECT obs_type, value, toUInt32(observed_at) FROM observations FINAL WHERE {vis}"
        ),
    )
    .await;
    let q4_start = 1_759_276_800u32; // 2025-10-01
    let q4_end = 1_767_225_600u32; // 2026-01-01
    let mut first: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut in_q4 = BTreeSet::new();
    for r in &rows {
        let key = (r[0].clone(), r[1].clone());
        let t: u32 = r[2].parse().unwrap();
        let e = first.entry(key.clone()).or_insert(t);
        *e = (*e).min(t);
        if (q4_start..q4_end).contains(&t) {
            in_q4.insert(key);
        }
    }
    let new = in_q4.iter().filter(|k| first[*k] >= q4_start).count() as u64;
    let recurring = in_q4.len() as u64 - new;
    assert_eq!(community.new_indicators.current, new);
    assert_eq!(
        community
            .indicators
            .iter()
            .map(|i| i.recurring)
            .sum::<u64>(),
        recurring
    );
    assert!(recurring >= 1, "the Q3 phishing domain recurs in Q4");

    // Alerts: the community counts only alerts every input of which it may
    // see (computed here from provenance, not with the report's SQL).
    let visible: BTreeSet<String> = tsv(
        &env,
        &format!("SELECT concat(member_id, '/', submission_id) FROM submissions FINAL WHERE {vis}"),
    )
    .await
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let in_quarter: BTreeSet<String> = tsv(
        &env,
        &format!("SELECT concat(member_id, '/', submission_id) FROM submissions FINAL WHERE {q4}"),
    )
    .await
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let alerts = tsv(
        &env,
        "SELECT recipient, alert_id, concat(trigger_member, '/', trigger_submission), \
         arrayStringConcat(provenance, ',') FROM alerts FINAL",
    )
    .await;
    let count = |community_only: bool| {
        alerts
            .iter()
            .filter(|a| in_quarter.contains(&a[2]))
            .filter(|a| !community_only || a[3].split(',').all(|p| visible.contains(p)))
            .count() as u64
    };
    assert_eq!(headline(&community, "Alerts sent").0, count(true));
    assert_eq!(headline(&fusion, "Alerts sent").0, count(false));
    assert!(
        count(false) > count(true),
        "restricted alerts exist and are left out"
    );
    assert!(community.notable_alerts.iter().all(|a| a.summary.is_none()));

    // Campaigns: the demo's FIN7 campaign includes AMBER and sector-scoped
    // submissions, so the community must not see it (nor its GREEN
    // community submission's title through it); the Fusion Cell does.
    let has_campaign =
        |r: &Report, title: &str| r.top_campaigns.iter().any(|c| c.headline.contains(title));
    assert!(!has_campaign(&community, "Invoice lure"));
    assert!(has_campaign(&fusion, "Invoice lure"));
    let fin7 = fusion
        .top_campaigns
        .iter()
        .find(|c| c.headline.contains("Invoice lure"))
        .unwrap();
    assert_eq!(fin7.actor, "FIN7");
    assert!(has_campaign(&community, HOSTILE));
    assert!(community
        .top_campaigns
        .iter()
        .all(|c| c.campaign_id.is_none()));

    // k-anonymity: no demo sector has 3 members; with k = 2 only finance
    // (Northbank and Lakeside) does, in the Fusion Cell's report.
    assert!(community.by_sector.is_empty() && fusion.by_sector.is_empty());
    assert!(fusion.suppressed_sectors >= 5);
    let k2 = report(&env, Audience::FusionCell, 2).await;
    let shown: Vec<&str> = k2.by_sector.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(shown, vec!["finance"]);
    let finance = num(
        &env,
        &format!("SELECT count() FROM submissions FINAL WHERE {q4} AND sector = 'finance'"),
    )
    .await;
    assert_eq!(k2.by_sector[0].value.current, finance);
    assert!(k2
        .top_campaigns
        .iter()
        .all(|c| c.sectors.iter().all(|s| s == "finance")));

    // TLP: the community report carries GREEN at most and nothing of the
    // RED submission; the Fusion Cell's carries it.
    assert_eq!(community.tlp, "TLP:GREEN");
    assert_eq!(fusion.tlp, "TLP:RED");
    let dir = std::env::temp_dir().join(format!("cisp-report-{}", env.prefix()));
    let cw = write(&community, &dir).unwrap();
    let fw = write(&fusion, &dir).unwrap();
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    let community_text = [read(&cw.html), read(&cw.markdown), read(&cw.json)]
        .into_iter()
        .chain(cw.charts.iter().map(|p| read(p)))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in [
        SECRET_TITLE,
        SECRET_MALWARE,
        "GC-SECRET-1",
        "secret-reservoir",
        "Invoice lure",
    ] {
        assert!(
            !community_text.contains(secret),
            "{secret} leaked into the community report"
        );
    }
    let fusion_html = read(&fw.html);
    assert!(fusion_html.contains(SECRET_MALWARE) && fusion_html.contains("SECRET-TITLE"));

    // Every section, chart and query is there.
    let html = read(&cw.html);
    for id in [
        "headline",
        "sectors",
        "kinds",
        "observable-types",
        "weekly",
        "campaigns",
        "actors",
        "malware",
        "techniques",
        "indicators",
        "alerts",
        "appendix",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    assert!(html.matches("<svg").count() >= 6);
    assert_eq!(cw.charts.len(), 7);
    assert_eq!(community.queries.len(), 15);
    for h in &community.headline {
        for q in h.query.split(", ") {
            assert!(community.queries.iter().any(|x| x.id == q), "{q}");
        }
    }
    let md = read(&cw.markdown);
    assert!(md.contains("## 1. Headline numbers") && md.contains("## Appendix: queries"));
    assert!(md.contains("](report-2025Q4-community-charts/kinds.svg)"));

    // Hostile member text is inert in every output.
    for text in [&html, &md] {
        assert!(!text.contains("<script"), "raw script tag");
        assert!(!text.contains("<img"), "raw img tag");
        assert!(!text.contains("<b>APT"), "raw b tag");
    }
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(
        md.contains("&lt;script&gt;")
            && md.contains("\\[click\\]")
            && md.contains("\\*\\*bold\\*\\*")
    );
    for chart in &cw.charts {
        let svg = read(chart);
        assert!(
            !svg.contains("<script") && !svg.contains("<img"),
            "{}",
            chart.display()
        );
    }
    let json: serde_json::Value = serde_json::from_str(&read(&cw.json)).unwrap();
    assert_eq!(json["quarter"], "2025Q4");
    assert_eq!(json["audience"], "community");

    // A batch inserted twice (a retried insert, or a batch re-derived after
    // a crash) reaches the materialised views twice: the report must not
    // change. Simulated by inserting every fact row again.
    trigger.trigger();
    running.join().await.unwrap();
    for t in ["submissions", "observations", "alerts"] {
        env.store()
            .client()
            .query(&format!("INSERT INTO {t} SELECT * FROM {t}"))
            .execute()
            .await
            .unwrap();
    }
    assert_eq!(
        num(&env, "SELECT count() FROM submissions").await,
        2 * num(&env, "SELECT count() FROM submissions FINAL").await,
        "the duplicates are there (not merged yet)"
    );
    let again = report(&env, Audience::Community, 3).await;
    let numbers = |r: &Report| {
        serde_json::to_value((
            &r.headline,
            &r.by_kind,
            &r.by_observable_type,
            &r.top_campaigns,
            &r.top_malware,
            &r.top_techniques,
            &r.indicators,
            &r.alerts,
        ))
        .unwrap()
    };
    assert_eq!(numbers(&again), numbers(&community));

    let _ = std::fs::remove_dir_all(&dir);
    env.drop_database().await;
}
