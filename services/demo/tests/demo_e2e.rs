//! The demo's promises, checked end to end on the real broker and
//! ClickHouse: the planted campaign's alerts reach exactly the members that
//! may see them, the fusion-cell-only and anonymous details reach nobody
//! else, bad records are dead-lettered, and ClickHouse holds one campaign.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use cisp_demo::{
    check, collect_alerts, dead_letters, largest_campaign, publish, render_alerts, Scenario,
};
use cisp_model::Registry;
use cisp_testkit::{repo_root, wait_durable, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scenario_keeps_its_promises() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let scenario = Scenario::load(&repo_root().join("demo/scenario.json")).unwrap();
    let n = publish(&env.config.shared(), &scenario).await.unwrap() as u64;
    wait_durable(&running, n).await;

    let registry = Registry::load(&env.config.registry_path).unwrap();
    let cfg = env.config.shared();
    let reg = registry.clone();
    let received = tokio::task::spawn_blocking(move || collect_alerts(&cfg, &reg))
        .await
        .unwrap()
        .unwrap();
    let problems = check(&scenario.expect, &scenario.submission_ids(), &received);
    assert!(
        problems.is_empty(),
        "{problems:#?}\n{}",
        render_alerts(&registry, &received.by_member)
    );
    assert!(
        received.by_member.values().map(Vec::len).sum::<usize>() >= 5,
        "the campaign produced alerts"
    );

    assert_eq!(
        dead_letters(&env.config.shared()).await.unwrap(),
        scenario.expect.dead_letters
    );
    assert_eq!(
        largest_campaign(&env.config.shared()).await.unwrap(),
        scenario.expect.campaign_submissions
    );

    // Publishing the same scenario again changes nothing but dead letters
    // (malformed records have new offsets, so they are new dead letters).
    let alerts_before: usize = received.by_member.values().map(Vec::len).sum();
    let n2 = publish(&env.config.shared(), &scenario).await.unwrap() as u64;
    wait_durable(&running, n + n2).await;
    // Every record that was accepted the first time (a submission on its
    // own member's topic) is a duplicate now.
    let accepted = scenario
        .records
        .iter()
        .filter(|r| {
            r.record
                .as_ref()
                .is_some_and(|s| s.member_id == r.topic_member)
        })
        .count() as u64;
    assert_eq!(
        running
            .metrics
            .records
            .get(cisp_testkit::fusion::metrics::RecordOutcome::Duplicate),
        accepted
    );
    let cfg = env.config.shared();
    let reg = registry.clone();
    let again = tokio::task::spawn_blocking(move || collect_alerts(&cfg, &reg))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.by_member.values().map(Vec::len).sum::<usize>(),
        alerts_before,
        "redelivery sends no new alerts"
    );

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}
