//! The report counts campaigns as they are now (issue 20): shared hosting
//! glues six two-report campaigns together until the over-correlation
//! guard splits them again; the Fusion Cell's quarterly report must list
//! six campaigns of two submissions each — not the glued ids the
//! submissions were given when processed.

#![allow(clippy::unwrap_used)]

use cisp_reporter::{build, client, Audience, Quarter, Reader, Request};
use cisp_testkit::{glued_campaigns, wait_durable, TestEnv};

const CAMPAIGNS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_campaigns_as_they_are_after_the_guards_splits() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let p = env.producer();
    let records = glued_campaigns("RT", CAMPAIGNS);
    let n = records.len() as u64;
    env.submit_all(&p, &records).await;
    wait_durable(&running, n).await;
    trigger.trigger();
    running.join().await.unwrap();

    let db = &env.config.clickhouse.database;
    let at_processing = env
        .count(&format!(
            "SELECT uniqExact(campaign_id) FROM {db}.submissions"
        ))
        .await;
    assert_ne!(
        at_processing, CAMPAIGNS as u64,
        "the campaigns were glued when processed (else this test shows nothing)"
    );
    let req = Request {
        quarter: "2025Q4".parse::<Quarter>().unwrap(),
        reader: Reader::new(Audience::FusionCell, None).unwrap(),
        k: 1,
        generated_at: "test".into(),
    };
    let report = build(&client(&env.config.clickhouse), &req).await.unwrap();
    let sizes: Vec<u64> = report
        .top_campaigns
        .iter()
        .map(|c| c.submissions.current)
        .collect();
    assert_eq!(sizes, vec![2; CAMPAIGNS], "campaigns in the report");
    env.drop_database().await;
}
