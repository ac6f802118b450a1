//! The quarterly report leaves out what submitters withdrew (issue 22):
//! a member retracts one report and removes one observable from another;
//! the report built after counts neither — submissions, observable
//! sightings, malware named, campaigns — though the stored aggregates and
//! the audit still hold them.

#![allow(clippy::unwrap_used)]

use cisp_model::ObservableKind::*;
use cisp_reporter::{build, client, Audience, Quarter, Reader, Request};
use cisp_testkit::{community_record, wait_durable, TestEnv};
use cisp_wire::records::{CorrectionRecord, ObservableRecord};
use cisp_wire::{Codec, DecodeLimits, RecordType};

fn correction(id: &str, of: &str, retract: bool, remove: &[&str]) -> CorrectionRecord {
    CorrectionRecord {
        correction_id: id.into(),
        member_id: "gridco".into(),
        submission_id: of.into(),
        corrected_at: 1_763_546_500_000,
        retract,
        remove_observables: remove
            .iter()
            .map(|v| ObservableRecord::new(cisp_model::ObservableKind::Domain, *v))
            .collect(),
        tlp: None,
        distribution: None,
        reason: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_after_a_withdrawal_leaves_it_out() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let p = env.producer();
    let mut wrong = community_record("gridco", "WR-1", &[(Domain, "relay.gridco-mail.example")]);
    wrong.malware = vec!["Emotet".into()];
    let kept = community_record(
        "gridco",
        "WR-2",
        &[
            (Domain, "c2.kept.example"),
            (Domain, "customer.gridco-client.example"),
        ],
    );
    let other = community_record("northbank", "WR-3", &[(Domain, "c2.kept.example")]);
    env.submit_all(&p, &[wrong, kept, other]).await;
    wait_durable(&running, 3).await;

    let quarter = "2025Q4".parse::<Quarter>().unwrap();
    let req = Request {
        quarter,
        reader: Reader::new(Audience::FusionCell, None).unwrap(),
        k: 1,
        generated_at: "test".into(),
    };
    let ch = client(&env.config.clickhouse);
    let before = build(&ch, &req).await.unwrap();

    let codec = Codec::new(DecodeLimits::default()).unwrap();
    let topic = cisp_platform::Topics::new(env.prefix())
        .submissions(&cisp_model::MemberId::parse("gridco").unwrap());
    for c in [
        correction("WR-FIX-1", "WR-1", true, &[]),
        correction(
            "WR-FIX-2",
            "WR-2",
            false,
            &["customer.gridco-client.example"],
        ),
    ] {
        let payload = codec.encode(RecordType::Correction, &c).unwrap();
        env.produce(&p, &topic, &c.correction_id, &payload).await;
    }
    wait_durable(&running, 5).await;
    trigger.trigger();
    running.join().await.unwrap();
    let after = build(&ch, &req).await.unwrap();

    let headline = |r: &cisp_reporter::Report, name: &str| {
        r.headline
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.current)
            .unwrap_or_else(|| panic!("no headline {name}"))
    };
    let names: Vec<&str> = before.headline.iter().map(|h| h.name).collect();
    eprintln!("headlines: {names:?}");
    let subs = names.iter().find(|n| n.contains("ubmission")).unwrap();
    assert_eq!(headline(&before, subs), 3);
    assert_eq!(
        headline(&after, subs),
        2,
        "the withdrawn report is left out"
    );
    let sightings = |r: &cisp_reporter::Report| {
        r.by_observable_type
            .iter()
            .map(|b| b.sightings.unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(sightings(&before), 4);
    assert_eq!(
        sightings(&after),
        2,
        "withdrawn and removed observables are left out"
    );
    let malware = |r: &cisp_reporter::Report| {
        r.top_malware
            .iter()
            .map(|l| l.label.clone())
            .collect::<Vec<_>>()
    };
    assert!(malware(&before)
        .iter()
        .any(|m| m.eq_ignore_ascii_case("emotet")));
    assert!(malware(&after).is_empty(), "{:?}", malware(&after));
    let campaign_subs = |r: &cisp_reporter::Report| {
        r.top_campaigns
            .iter()
            .map(|c| c.submissions.current)
            .sum::<u64>()
    };
    assert_eq!(campaign_subs(&after), 2);
    let indicators = |r: &cisp_reporter::Report| {
        r.indicators
            .iter()
            .map(|i| i.new + i.recurring)
            .sum::<u64>()
    };
    assert_eq!(indicators(&before), 3);
    assert_eq!(indicators(&after), 1, "only c2.kept.example is left");
    env.drop_database().await;
}
