//! Behaviour of the engine through its public API (no I/O).

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cisp_engine::{
    Alert, CoalesceConfig, Coalesced, Engine, EngineConfig, Ingest, Offered, Outcome, SubmissionKey,
};
use cisp_model::*;
use proptest::prelude::*;

const REGISTRY: &str = r#"
[[member]]
id = "fusion-cell"
name = "Fusion Cell"
sector = "government"
role = "fusion-cell"
[[member]]
id = "bank-a"
name = "Bank A"
sector = "finance"
groups = ["fin-isac"]
role = "member"
[[member]]
id = "bank-b"
name = "Bank B"
sector = "finance"
groups = ["fin-isac"]
role = "member"
[[member]]
id = "grid"
name = "Grid plc"
sector = "energy"
role = "member"
"#;

fn registry() -> Arc<Registry> {
    Arc::new(Registry::from_toml_str(REGISTRY).unwrap())
}

fn sub(member: &str, id: &str, scope: &str, anonymous: bool, obs: &[(&str, &str)]) -> Submission {
    SubmissionDraft {
        submission_id: id.into(),
        member_id: member.into(),
        submitted_at_ms: 1_760_000_000_000,
        kind: "incident".into(),
        tlp: "GREEN".into(),
        scope: scope.into(),
        anonymous,
        title: format!("report {id}"),
        observables: obs
            .iter()
            .map(|(k, v)| ObservableDraft {
                kind: (*k).into(),
                value: (*v).into(),
                ..Default::default()
            })
            .collect(),
        confidence: 50,
        ..Default::default()
    }
    .validate(
        &MemberId::parse(member).unwrap(),
        &registry(),
        &Limits::default(),
    )
    .unwrap()
}

/// The defaults, with the documentation warn-list off: these fixtures use
/// RFC 2606 / 5737 values on purpose.
fn fixtures() -> EngineConfig {
    EngineConfig {
        warnlists_disabled: vec!["documentation".into()],
        ..EngineConfig::default()
    }
}

fn at(t: i64) -> Ingest {
    Ingest {
        published_at_ms: t,
        now_ms: t + 1,
    }
}

fn accepted(o: Outcome) -> cisp_engine::Effects {
    match o {
        Outcome::Accepted(e) => e,
        Outcome::Duplicate { .. } => panic!("unexpected duplicate"),
    }
}

#[test]
fn shared_observable_joins_campaign_and_alerts_both_sides() {
    let mut e = Engine::new(registry(), fixtures());
    let a = accepted(e.process(
        &sub(
            "bank-a",
            "a1",
            "community",
            false,
            &[("domain", "evil.example")],
        ),
        at(1),
    ));
    assert!(a.alerts.is_empty());
    let b = accepted(e.process(
        &sub(
            "grid",
            "g1",
            "community",
            false,
            &[
                ("url", "hxxp://EVIL[.]example/x"),
                ("domain", "Evil.Example."),
            ],
        ),
        at(2),
    ));
    assert_eq!(
        b.campaign_id, a.campaign_id,
        "same domain, differently written, is one campaign"
    );
    let recipients: BTreeSet<String> = b.alerts.iter().map(|a| a.recipient.to_string()).collect();
    assert_eq!(recipients, ["bank-a", "grid"].map(String::from).into());
    let to_a = b
        .alerts
        .iter()
        .find(|x| x.recipient.as_str() == "bank-a")
        .unwrap();
    assert_eq!(
        to_a.related[0].member.as_ref().map(MemberId::as_str),
        Some("grid")
    );
    assert_eq!(to_a.shared.len(), 1);
    assert_eq!(to_a.your_submissions[0].as_str(), "a1");
}

#[test]
fn fusion_cell_only_submissions_alert_nobody_else() {
    let mut e = Engine::new(registry(), fixtures());
    e.process(
        &sub(
            "bank-a",
            "a1",
            "community",
            false,
            &[("ipv4", "203.0.113.9")],
        ),
        at(1),
    );
    let fc = accepted(e.process(
        &sub(
            "grid",
            "secret",
            "fusion-cell-only",
            false,
            &[("ipv4", "203.0.113.9")],
        ),
        at(2),
    ));
    // grid may see bank-a's community report; bank-a may not learn of grid's.
    assert_eq!(fc.alerts.len(), 1);
    assert_eq!(fc.alerts[0].recipient.as_str(), "grid");
    // A later community report by bank-b sharing the IP tells bank-b only
    // about bank-a's report, never about the restricted one.
    let later = accepted(e.process(
        &sub(
            "bank-b",
            "b1",
            "community",
            false,
            &[("ipv4", "203.0.113.9")],
        ),
        at(3),
    ));
    for alert in later
        .alerts
        .iter()
        .filter(|a| a.recipient.as_str() != "fusion-cell")
    {
        for r in &alert.related {
            assert_ne!(
                r.id.as_str(),
                "secret",
                "restricted submission leaked to {}",
                alert.recipient
            );
        }
        assert!(
            !alert.provenance.iter().any(|k| k.id.as_str() == "secret")
                || alert.recipient.as_str() == "grid"
        );
    }
    let to_b = later
        .alerts
        .iter()
        .find(|a| a.recipient.as_str() == "bank-b")
        .unwrap();
    assert_eq!(
        to_b.other_member_count, 1,
        "counts only what bank-b may see"
    );
}

#[test]
fn anonymous_submitters_are_never_named() {
    let mut e = Engine::new(registry(), fixtures());
    e.process(
        &sub(
            "bank-a",
            "a1",
            "community",
            true,
            &[("sha256", &"b".repeat(64))],
        ),
        at(1),
    );
    let out = accepted(e.process(
        &sub(
            "grid",
            "g1",
            "community",
            false,
            &[("sha256", &"B".repeat(64))],
        ),
        at(2),
    ));
    let to_grid = out
        .alerts
        .iter()
        .find(|a| a.recipient.as_str() == "grid")
        .unwrap();
    assert_eq!(to_grid.related[0].member, None);
    assert_eq!(to_grid.related[0].member_name, None);
    assert_eq!(to_grid.related[0].sector, None);
    assert!(!to_grid.summary.contains("bank-a") && !to_grid.summary.contains("Bank A"));
}

#[test]
fn merges_keep_the_oldest_campaign_and_report_the_absorbed_one() {
    let mut e = Engine::new(registry(), fixtures());
    let c1 = accepted(e.process(
        &sub(
            "bank-a",
            "a1",
            "community",
            false,
            &[("domain", "one.example")],
        ),
        at(1),
    ))
    .campaign_id;
    let c2 = accepted(e.process(
        &sub(
            "grid",
            "g1",
            "community",
            false,
            &[("domain", "two.example")],
        ),
        at(2),
    ))
    .campaign_id;
    assert_ne!(c1, c2);
    let bridge = accepted(e.process(
        &sub(
            "bank-b",
            "b1",
            "community",
            false,
            &[("domain", "two.example"), ("domain", "one.example")],
        ),
        at(3),
    ));
    assert_eq!(bridge.campaign_id, c1, "the older campaign survives");
    let absorbed = bridge
        .campaigns
        .iter()
        .find(|v| v.id == c2)
        .expect("absorbed campaign reported");
    assert_eq!(absorbed.merged_into.as_ref(), Some(&c1));
    let survivor = bridge.campaigns.iter().find(|v| v.id == c1).unwrap();
    assert_eq!(survivor.submission_count, 3);
    assert_eq!(survivor.member_count, 3);
    assert_eq!(survivor.observable_count, 2);
    let key = SubmissionKey {
        member: MemberId::parse("grid").unwrap(),
        id: SubmissionId::parse("g1").unwrap(),
    };
    assert_eq!(e.campaign_of(&key), Some(c1));
}

/// A report of `domain` naming techniques and malware.
fn ttp_sub(
    member: &str,
    id: &str,
    domain: &str,
    ttps: &[&str],
    malware: &[&str],
    tlp: &str,
) -> Submission {
    let mut s = sub(member, id, "community", false, &[("domain", domain)]);
    s.ttps = ttps.iter().map(|t| (*t).to_owned()).collect();
    s.malware = malware.iter().map(|m| (*m).to_owned()).collect();
    s.tlp = Tlp::parse(tlp).unwrap();
    s
}

#[test]
fn attribution_changes_reach_the_fusion_cell_and_the_campaign_rows() {
    let mut e = Engine::new(registry(), fixtures());
    // APT28's own tooling and techniques: attributed.
    let first = accepted(e.process(
        &ttp_sub(
            "bank-a",
            "a1",
            "apt.example",
            &["T1566", "T1059", "T1071", "T1003", "T1547"],
            &["x-agent", "zebrocy"],
            "GREEN",
        ),
        at(1),
    ));
    let id = first.campaign_id.clone();
    assert_eq!(
        first.attribution_changes.len(),
        1,
        "{:?}",
        first.attribution_changes
    );
    let change = &first.attribution_changes[0];
    assert_eq!(change.change(), "attributed");
    assert_eq!(change.after.as_ref().unwrap().actor_id, "G0007");
    let told: Vec<&Alert> = first
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::ActorAttribution)
        .collect();
    assert_eq!(told.len(), 1, "one alert, to the Fusion Cell only");
    assert_eq!(told[0].recipient.as_str(), "fusion-cell");
    assert!(
        told[0].summary.contains("attributed to APT28 (G0007)"),
        "{}",
        told[0].summary
    );
    assert_eq!(told[0].campaign_id.as_ref(), Some(&id));

    // The same campaign again with nothing new: no change, no alert.
    let again = accepted(e.process(
        &ttp_sub("bank-b", "b1", "apt.example", &["T1566"], &[], "GREEN"),
        at(2),
    ));
    assert!(again.attribution_changes.is_empty());
    assert!(!again
        .alerts
        .iter()
        .any(|a| a.kind == AlertKind::ActorAttribution));

    // A report, marked AMBER, drowns the evidence in another group's
    // unique tooling: the attribution changes or is withdrawn, the Fusion
    // Cell hears of it under the campaign's TLP, and the campaign's new row
    // says so.
    let p = cisp_engine::Actors::shipped();
    let lazarus = p
        .profiles()
        .iter()
        .find(|a| a.name == "Lazarus Group")
        .unwrap();
    let ttps: Vec<&str> = lazarus
        .techniques
        .iter()
        .map(String::as_str)
        .take(40)
        .collect();
    let rare: Vec<&str> = lazarus
        .software
        .iter()
        .map(String::as_str)
        .take(8)
        .collect();
    let third = accepted(e.process(
        &ttp_sub("grid", "g1", "apt.example", &ttps, &rare, "AMBER"),
        at(3),
    ));
    assert_eq!(
        third.attribution_changes.len(),
        1,
        "{:?}",
        third.attribution_changes
    );
    let change = &third.attribution_changes[0];
    assert_eq!(change.before.as_ref().unwrap().actor_id, "G0007");
    assert_ne!(
        change.after.as_ref().map(|a| a.actor_id.as_str()),
        Some("G0007")
    );
    let row = third.campaigns.iter().find(|v| v.id == id).unwrap();
    assert_eq!(
        row.attribution.as_ref().map(|a| &a.actor_id),
        change.after.as_ref().map(|a| &a.actor_id),
        "the campaign row carries the new attribution"
    );
    let told: Vec<&Alert> = third
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::ActorAttribution)
        .collect();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].recipient.as_str(), "fusion-cell");
    assert_eq!(told[0].tlp, Tlp::Amber, "the campaign's TLP");
    assert!(
        told[0].summary.contains("was APT28 (G0007)"),
        "{}",
        told[0].summary
    );
    assert_ne!(
        told[0].id,
        first
            .alerts
            .iter()
            .find(|a| a.kind == AlertKind::ActorAttribution)
            .unwrap()
            .id
    );
}

#[test]
fn a_merged_campaigns_row_keeps_no_attribution() {
    let mut e = Engine::new(registry(), fixtures());
    let older = accepted(e.process(
        &sub(
            "grid",
            "g1",
            "community",
            false,
            &[("domain", "one.example")],
        ),
        at(1),
    ))
    .campaign_id;
    let attributed = accepted(e.process(
        &ttp_sub(
            "bank-a",
            "a1",
            "two.example",
            &["T1566", "T1059", "T1071", "T1003", "T1547"],
            &["x-agent", "zebrocy"],
            "GREEN",
        ),
        at(2),
    ));
    let absorbed_id = attributed.campaign_id.clone();
    assert!(attributed.campaigns[0].attribution.is_some());
    let bridge = accepted(e.process(
        &sub(
            "bank-b",
            "b1",
            "community",
            false,
            &[("domain", "one.example"), ("domain", "two.example")],
        ),
        at(3),
    ));
    let absorbed = bridge
        .campaigns
        .iter()
        .find(|v| v.id == absorbed_id)
        .unwrap();
    assert_eq!(absorbed.merged_into.as_ref(), Some(&older));
    assert!(
        absorbed.attribution.is_none(),
        "a report would show the absorbed campaign's actor"
    );
    let survivor = bridge.campaigns.iter().find(|v| v.id == older).unwrap();
    assert_eq!(survivor.attribution.as_ref().unwrap().actor_id, "G0007");
    let change = &bridge.attribution_changes;
    assert_eq!(change.len(), 1);
    assert_eq!(
        (change[0].campaign_id.clone(), change[0].change()),
        (older, "attributed")
    );
}

#[test]
fn a_members_own_assets_in_a_report_notify_it_inside_the_audience_and_the_fusion_cell_outside() {
    let toml = REGISTRY.replace(
        "id = \"bank-a\"\nname = \"Bank A\"",
        "id = \"bank-a\"\nname = \"Bank A\"\ndomains = [\"bank-a.example\"]\nnetworks = [\"198.51.100.0/24\"]",
    );
    let reg = Arc::new(Registry::from_toml_str(&toml).unwrap());
    let mut e = Engine::new(reg.clone(), fixtures());
    let report = |id: &str, scope: &str, obs: &[(&str, &str)]| {
        let mut d = SubmissionDraft {
            submission_id: id.into(),
            member_id: "grid".into(),
            submitted_at_ms: 1_760_000_000_000,
            kind: "incident".into(),
            tlp: "GREEN".into(),
            scope: scope.into(),
            title: format!("report {id}"),
            observables: obs
                .iter()
                .map(|(k, v)| ObservableDraft {
                    kind: (*k).into(),
                    value: (*v).into(),
                    ..Default::default()
                })
                .collect(),
            confidence: 50,
            ..Default::default()
        };
        if scope == "named-members" {
            d.tlp = "AMBER".into();
            d.distribution_members = vec!["bank-b".into()];
        }
        d.validate(&MemberId::parse("grid").unwrap(), &reg, &Limits::default())
            .unwrap()
    };
    let told = |fx: &cisp_engine::Effects| -> Vec<(String, String)> {
        fx.alerts
            .iter()
            .filter(|a| a.kind == AlertKind::VictimNotification)
            .map(|a| (a.recipient.to_string(), a.summary.clone()))
            .collect()
    };
    // Inside the audience: Bank A is told at once, and only Bank A.
    let fx = accepted(e.process(
        &report(
            "v1",
            "community",
            &[("domain", "vpn.bank-a.example"), ("ipv4", "198.51.100.7")],
        ),
        at(1),
    ));
    let t = told(&fx);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].0, "bank-a");
    assert!(
        t[0].1.contains("your own asset bank-a.example"),
        "{}",
        t[0].1
    );
    // Outside it (named for Bank B only): nothing reaches Bank A; the
    // Fusion Cell is told of the match.
    let fx = accepted(e.process(
        &report("v2", "named-members", &[("ipv4", "198.51.100.9")]),
        at(2),
    ));
    let t = told(&fx);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].0, "fusion-cell");
    assert!(
        t[0].1.contains("bank-a's own asset 198.51.100.0/24"),
        "{}",
        t[0].1
    );
    assert!(!fx.alerts.iter().any(|a| a.recipient.as_str() == "bank-a"));
}

#[test]
fn view_walks_are_counted_and_skipped_for_readers_who_see_everything() {
    let mut e = Engine::new(registry(), fixtures());
    let x = [("domain", "walk.example")];
    // A sector-only report from finance, then two community reports.
    let fx = accepted(e.process(&sub("bank-a", "A1", "SECTOR", false, &x), at(1)));
    assert_eq!(fx.view_walks.walks, 0, "nothing to tell, nothing walked");
    // grid (energy) reports: bank-a sees all that is restricted (its own):
    // the whole campaign, no walk; grid may not see A1, so it is told
    // nothing about it and needs no view either.
    let fx = accepted(e.process(&sub("grid", "G1", "COMMUNITY", false, &x), at(2)));
    assert_eq!(fx.view_walks.walks, 0);
    // bank-b (finance) reports: bank-a and bank-b see A1 (same sector),
    // grid does not: one walk for grid's view, none for the others.
    let fx = accepted(e.process(&sub("bank-b", "B1", "COMMUNITY", false, &x), at(3)));
    assert_eq!(fx.view_walks.walks, 1, "{:?}", fx.view_walks);
    assert!(fx.view_walks.edges > 0);
    let grid = fx
        .alerts
        .iter()
        .find(|a| a.recipient.as_str() == "grid")
        .expect("grid is told of bank-b's community report");
    assert!(grid.related.iter().all(|r| r.id.as_str() != "A1"));
}

#[test]
fn an_escalation_keeps_its_id_whichever_report_crosses_the_threshold() {
    // Three members report one value; the third crosses the escalation
    // threshold. Handled in another order (as after a crash, when the
    // uncommitted records come back interleaved differently), another
    // report crosses it: each member's escalation must keep its id.
    let x = [("domain", "order.example")];
    let run = |order: &[(&str, &str)]| -> BTreeMap<String, (String, String)> {
        let mut e = Engine::new(registry(), fixtures());
        let mut out = BTreeMap::new();
        for (t, (member, id)) in order.iter().enumerate() {
            let fx = accepted(e.process(&sub(member, id, "COMMUNITY", false, &x), at(t as i64)));
            for a in fx
                .alerts
                .iter()
                .filter(|a| a.kind == AlertKind::CampaignEscalation)
            {
                out.insert(
                    a.recipient.to_string(),
                    (a.id.clone(), a.trigger.id.to_string()),
                );
            }
        }
        out
    };
    let first = run(&[("bank-a", "A1"), ("bank-b", "B1"), ("grid", "G1")]);
    let second = run(&[("bank-a", "A1"), ("grid", "G1"), ("bank-b", "B1")]);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    assert!(first.len() >= 3, "{first:?}");
    for (who, (id, trigger)) in &first {
        let (id2, trigger2) = &second[who];
        assert_ne!(
            trigger, trigger2,
            "the orders differ in what crossed the threshold"
        );
        assert_eq!(id, id2, "{who}'s escalation changed id with the order");
    }
}

#[test]
fn redelivery_changes_nothing() {
    let mut e = Engine::new(registry(), fixtures());
    let s = sub(
        "bank-a",
        "a1",
        "community",
        false,
        &[("domain", "evil.example")],
    );
    let first = accepted(e.process(&s, at(1)));
    let before = e.stats();
    match e.process(&s, at(9)) {
        Outcome::Duplicate {
            campaign_id,
            same_content,
        } => {
            assert_eq!(campaign_id, first.campaign_id);
            assert!(same_content);
        }
        Outcome::Accepted(_) => panic!("a redelivered submission must be a duplicate"),
    }
    // The same file uploaded again later: only the time differs.
    let mut later = s.clone();
    later.submitted_at_ms += 3_600_000;
    assert!(matches!(
        e.process(&later, at(10)),
        Outcome::Duplicate {
            same_content: true,
            ..
        }
    ));
    // The id reused for other content is told apart (issue 22: it must not
    // pass silently).
    let mut other = s.clone();
    other.title = "something else".into();
    assert!(matches!(
        e.process(&other, at(11)),
        Outcome::Duplicate {
            same_content: false,
            ..
        }
    ));
    assert_eq!(e.stats(), before);
}

#[test]
fn hot_observables_stop_linking() {
    let cfg = EngineConfig {
        hot_observable_limit: 2,
        ..fixtures()
    };
    let mut e = Engine::new(registry(), cfg);
    let ids: Vec<_> = ["a1", "a2", "a3"]
        .iter()
        .zip(["bank-a", "grid", "bank-b"])
        .map(|(id, m)| {
            accepted(e.process(
                &sub(m, id, "community", false, &[("ipv4", "192.0.2.53")]),
                at(1),
            ))
        })
        .collect();
    assert_eq!(ids[0].campaign_id, ids[1].campaign_id);
    assert_ne!(
        ids[2].campaign_id, ids[0].campaign_id,
        "third sighting is past the limit"
    );
    assert_eq!(ids[2].hot_observables, 1);
    // Retroactive: the address linked the first two alone, so they split
    // again, and it is reported as common infrastructure.
    // The address and its /24, both past the limit, each with its reason.
    let judged: Vec<(&str, &str, cisp_engine::CommonReason, u32)> = ids[2]
        .common_infrastructure
        .iter()
        .map(|j| (j.kind, j.value.as_str(), j.reason, j.submissions))
        .collect();
    assert_eq!(
        judged,
        vec![
            ("ipv4", "192.0.2.53", cisp_engine::CommonReason::Hot, 3),
            ("prefix", "192.0.2.0/24", cisp_engine::CommonReason::Hot, 3),
        ]
    );
    assert_eq!(
        e.common_judgements().len(),
        2,
        "and the engine says the same"
    );
    let parts: Vec<_> = ids[2]
        .campaigns
        .iter()
        .filter(|v| v.merged_into.is_none())
        .map(|v| (v.id.clone(), v.submission_count))
        .collect();
    assert!(
        parts.contains(&(ids[0].campaign_id.clone(), 1)),
        "{parts:?}"
    );
    assert_eq!(parts.len(), 3, "two parts and the new one: {parts:?}");
    let a2 = SubmissionKey {
        member: MemberId::parse("grid").unwrap(),
        id: SubmissionId::parse("a2").unwrap(),
    };
    assert_ne!(e.campaign_of(&a2), Some(ids[0].campaign_id.clone()));
}

#[test]
fn a_replay_rebuilds_identical_ids() {
    let subs = [
        sub(
            "bank-a",
            "a1",
            "community",
            false,
            &[("domain", "x.example")],
        ),
        sub("grid", "g1", "sector", false, &[("domain", "y.example")]),
        sub(
            "bank-b",
            "b1",
            "community",
            false,
            &[("domain", "x.example"), ("domain", "y.example")],
        ),
    ];
    let run = || {
        let mut e = Engine::new(
            registry(),
            EngineConfig {
                id_salt: cisp_model::Secret::new("s"),
                ..fixtures()
            },
        );
        subs.iter()
            .enumerate()
            .map(|(i, s)| {
                let fx = accepted(e.process(s, at(i as i64)));
                (
                    fx.campaign_id,
                    fx.alerts.into_iter().map(|a| a.id).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

// ---- The no-leak invariant, as a property over random registries and submissions.
//
// Everything below re-derives the sharing rules from docs/SHARING.md without the
// registry or the engine (the "oracle") and checks every alert of every kind
// against them.

#[derive(Debug, Clone)]
struct M {
    sector: u8,
    groups: BTreeSet<u8>,
    role: u8, // 0 member, 1 partner, 2 fusion cell
    suppliers: BTreeSet<u8>,
    /// Own domains: o{n}.example.
    owns: BTreeSet<u8>,
}

#[derive(Debug, Clone)]
struct S {
    member: usize,
    scope: u8,
    named: BTreeSet<usize>,
    groups: BTreeSet<u8>,
    anonymous: bool,
    tlp: u8,
    kind: u8,
    /// 0..6: o{n}.example; 6..9: host.sup{n-6}.example (a supplier's host).
    obs: BTreeSet<u8>,
    targeted: BTreeSet<u8>,
    actors: BTreeSet<u8>,
}

#[derive(Debug, Clone)]
struct World {
    members: Vec<M>,
    subs: Vec<S>,
    k: u32,
    esc_members: u32,
    esc_sectors: u32,
    hot: u32,
}

const KINDS: [&str; 3] = ["incident", "advisory", "phishing"];

fn world() -> impl Strategy<Value = World> {
    let members = proptest::collection::vec(
        (
            0u8..3,
            proptest::collection::btree_set(0u8..3, 0..3),
            prop_oneof![6 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)],
            proptest::collection::btree_set(0u8..3, 0..2),
            proptest::collection::btree_set(0u8..6, 0..2),
        )
            .prop_map(|(sector, groups, role, suppliers, owns)| M {
                sector,
                groups,
                role,
                suppliers,
                owns,
            }),
        2..9,
    );
    (members, 2u32..5, 2u32..4, 2u32..4, 2u32..6).prop_flat_map(|(ms, k, em, es, hot)| {
        let n = ms.len();
        let subs = proptest::collection::vec(
            (
                0..n,
                0u8..5,
                proptest::collection::btree_set(0..n, 1..3),
                proptest::collection::btree_set(0u8..3, 1..3),
                any::<bool>(),
                0u8..5,
                0u8..3,
                proptest::collection::btree_set(0u8..9, 1..4),
                proptest::collection::btree_set(0u8..3, 0..2),
                proptest::collection::btree_set(0u8..2, 0..2),
            )
                .prop_map(
                    |(
                        member,
                        scope,
                        named,
                        groups,
                        anonymous,
                        tlp,
                        kind,
                        obs,
                        targeted,
                        actors,
                    )| S {
                        member,
                        scope,
                        named,
                        groups,
                        anonymous,
                        tlp,
                        kind,
                        obs,
                        targeted,
                        actors,
                    },
                ),
            1..30,
        );
        (Just(ms), subs, Just(k), Just(em), Just(es), Just(hot)).prop_map(
            |(members, subs, k, esc_members, esc_sectors, hot)| World {
                members,
                subs,
                k,
                esc_members,
                esc_sectors,
                hot,
            },
        )
    })
}

impl World {
    fn registry_toml(&self) -> String {
        let mut toml = String::from(
            "[[member]]\nid = \"fc\"\nname = \"FC\"\nsector = \"gov\"\nrole = \"fusion-cell\"\n",
        );
        for (i, m) in self.members.iter().enumerate() {
            let groups: Vec<String> = m.groups.iter().map(|g| format!("\"g{g}\"")).collect();
            let sup: Vec<String> = m
                .suppliers
                .iter()
                .map(|g| format!("\"sup{g}.example\""))
                .collect();
            let owns: Vec<String> = m.owns.iter().map(|o| format!("\"o{o}.example\"")).collect();
            toml.push_str(&format!(
                "[[member]]\nid = \"m{i}\"\nname = \"Member {i}\"\nsector = \"s{}\"\ngroups = [{}]\nrole = \"{}\"\nsuppliers = [{}]\ndomains = [{}]\n",
                m.sector,
                groups.join(","),
                ["member", "partner", "fusion-cell"][m.role as usize],
                sup.join(","),
                owns.join(","),
            ));
        }
        toml
    }

    /// Reader index: `None` is the registry's own "fc" member.
    fn is_fc(&self, r: Option<usize>) -> bool {
        r.is_none_or(|i| self.members[i].role == 2)
    }

    /// The audience rule, written again from docs/SHARING.md.
    fn may_see(&self, reader: Option<usize>, s: &S) -> bool {
        if self.is_fc(reader) {
            return true;
        }
        let r = reader.unwrap();
        if r == s.member {
            return true;
        }
        match s.scope {
            0 => false,
            1 => s.named.contains(&r),
            2 => !self.members[r].groups.is_disjoint(&s.groups),
            3 => self.members[r].sector == self.members[s.member].sector,
            _ => true,
        }
    }

    /// A view as `reader` counts it (SHARING.md): whether it holds the
    /// reader's own reports; other members, named ones once and each
    /// anonymous report once (the Fusion Cell is told every name), plus
    /// one for the reader itself; sectors shown to the reader (an
    /// anonymous submitter's, its own included, only from k members).
    fn view_counts(
        &self,
        reader: Option<usize>,
        accepted: &[S],
        view: &BTreeSet<usize>,
    ) -> (bool, usize, usize) {
        let mut own = false;
        let mut named = BTreeSet::new();
        let mut anon = 0;
        let mut sectors = BTreeSet::new();
        for &p in view {
            let sp = &accepted[p];
            let sec = self.members[sp.member].sector;
            let shown = !sp.anonymous || self.is_fc(reader);
            if shown || self.sector_size(sec) >= self.k as usize {
                sectors.insert(sec);
            }
            if Some(sp.member) == reader {
                own = true;
            } else if shown {
                named.insert(sp.member);
            } else {
                anon += 1;
            }
        }
        (own, named.len() + anon + usize::from(own), sectors.len())
    }

    fn sector_size(&self, sector: u8) -> usize {
        self.members
            .iter()
            .filter(|m| m.role != 2 && m.sector == sector)
            .count()
    }

    fn host(o: u8) -> String {
        if o < 6 {
            format!("o{o}.example")
        } else {
            format!("host.sup{}.example", o - 6)
        }
    }
}

fn reader_of(id: &str) -> Option<usize> {
    (id != "fc").then(|| id[1..].parse().unwrap())
}

/// The oracle's checks every alert and update must pass on its own: the
/// recipient may see every input, the TLP is the most restrictive input's,
/// the member count is within the inputs, related submissions are inputs
/// and anonymous ones stay anonymous (their sector only above k). Returns
/// the inputs' engine sequence numbers.
fn check_inputs(
    w: &World,
    accepted: &[S],
    key_to_seq: &HashMap<(String, String), usize>,
    alert: &Alert,
) -> Result<Vec<usize>, TestCaseError> {
    let r = reader_of(alert.recipient.as_str());
    let prov: Vec<usize> = alert
        .provenance
        .iter()
        .map(|k| key_to_seq[&(k.member.to_string(), k.id.to_string())])
        .collect();
    let mut max_tlp = 0;
    for &p in &prov {
        prop_assert!(
            w.may_see(r, &accepted[p]),
            "{:?} alert to {} built from {:?}",
            alert.kind,
            alert.recipient,
            accepted[p]
        );
        max_tlp = max_tlp.max(accepted[p].tlp);
    }
    prop_assert_eq!(
        alert.tlp as u8,
        max_tlp,
        "alert TLP is the most restrictive input's"
    );
    let others = prov
        .iter()
        .filter(|&&p| Some(accepted[p].member) != r)
        .count();
    prop_assert!(
        alert.other_member_count as usize <= others,
        "more members counted than the inputs hold"
    );
    for rel in &alert.related {
        match &rel.member {
            Some(m) => {
                let p = key_to_seq[&(m.to_string(), rel.id.to_string())];
                prop_assert!(prov.contains(&p));
                prop_assert!(
                    !accepted[p].anonymous || w.is_fc(r),
                    "anonymous submitter named"
                );
            }
            None => {
                prop_assert!(!w.is_fc(r));
                prop_assert!(
                    rel.id.as_str().starts_with("anon-"),
                    "anonymous id shown: {}",
                    rel.id
                );
                prop_assert!(rel.member_name.is_none());
                if let Some(sector) = &rel.sector {
                    let sec: u8 = sector.as_str()[1..].parse().unwrap();
                    prop_assert!(
                        w.sector_size(sec) >= w.k as usize,
                        "sector of {} members shown for an anonymous report",
                        w.sector_size(sec)
                    );
                }
            }
        }
    }
    Ok(prov)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn no_alert_reveals_what_its_recipient_may_not_see(
        w in world(),
        window in 1i64..90,
        max_sightings in 2u32..6,
        view_budget in prop_oneof![3 => Just(200_000u32), 1 => 1u32..12],
    ) {
        let reg = Arc::new(Registry::from_toml_str(&w.registry_toml()).unwrap());
        let config = EngineConfig {
            hot_observable_limit: w.hot,
            // The bridging guard is checked in its own test; here every
            // value links until it is hot.
            common_after_campaigns: u32::MAX,
            k_anonymity: w.k,
            escalation_members: w.esc_members,
            escalation_sectors: w.esc_sectors,
            id_salt: cisp_model::Secret::new("prop"),
            // Sometimes so small that views go over it: alerts without a
            // campaign id, coalesced into per-member digests.
            view_budget,
            ..fixtures()
        };
        let mut engine = Engine::new(reg.clone(), config);
        // Accepted submissions in engine order, and per observable the
        // accepted submissions carrying it (it links them while there are
        // at most `hot`).
        let mut accepted: Vec<S> = Vec::new();
        let mut key_to_seq: HashMap<(String, String), usize> = HashMap::new();
        let mut linking: HashMap<u8, Vec<usize>> = HashMap::new();
        // Label given to a reader -> the oracle's component minimum.
        let mut labels: HashMap<String, (Option<usize>, usize)> = HashMap::new();
        let known_groups: BTreeSet<u8> = w.members.iter().flat_map(|m| m.groups.iter().copied()).collect();
        let all_names: Vec<String> = (0..w.members.len()).map(|i| format!("Member {i}")).collect();
        // Every alert also goes through a coalescer (a submission every
        // 3 ms, a window of `window` ms): the updates it sends are checked
        // at the end against the same rules and against their parts.
        let mut coalescer = engine.coalescer::<usize>(CoalesceConfig {
            window_ms: window,
            max_sightings,
            max_open: 1000,
        });
        let mut parts: Vec<Alert> = Vec::new();
        let mut held: BTreeSet<usize> = BTreeSet::new();
        let mut updates: Vec<Coalesced<usize>> = Vec::new();
        let mut ever_escalated: BTreeSet<String> = BTreeSet::new();

        for (n, s) in w.subs.iter().enumerate() {
            let scope = ["fusion-cell-only", "named-members", "sharing-groups", "sector", "community"][s.scope as usize];
            let tlp = ["CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED"][s.tlp as usize];
            let draft = SubmissionDraft {
                submission_id: format!("s{n}"),
                member_id: format!("m{}", s.member),
                submitted_at_ms: 1_760_000_000_000 + n as i64,
                kind: KINDS[s.kind as usize].into(),
                tlp: tlp.into(),
                scope: scope.into(),
                distribution_members: s.named.iter().map(|m| format!("m{m}")).collect(),
                distribution_groups: s.groups.iter().map(|g| format!("g{g}")).collect(),
                anonymous: s.anonymous,
                title: format!("title {n}"),
                observables: s.obs.iter().map(|&o| ObservableDraft { kind: "domain".into(), value: World::host(o), ..Default::default() }).collect(),
                targeted_sectors: s.targeted.iter().map(|t| format!("s{t}")).collect(),
                actor_claims: s.actors.iter().map(|a| format!("Actor {a}")).collect(),
                confidence: 50,
                ..Default::default()
            };
            let member = MemberId::parse(&format!("m{}", s.member)).unwrap();
            let Ok(valid) = draft.validate(&member, &reg, &Limits::default()) else {
                prop_assert!(!Tlp::parse(tlp).unwrap().allows(Scope::parse(scope).unwrap())
                    || (s.scope == 2 && !s.groups.is_subset(&known_groups)));
                continue;
            };
            let Outcome::Accepted(fx) = engine.process(&valid, Ingest { published_at_ms: 0, now_ms: 0 }) else {
                prop_assert!(false, "fresh submission ids are never duplicates");
                unreachable!()
            };
            let seq = accepted.len();
            prop_assert_eq!(fx.seq as usize, seq);
            let now = n as i64 * 3;
            for alert in &fx.alerts {
                let mut a = alert.clone();
                a.created_at_ms = now;
                let tag = parts.len();
                parts.push(a.clone());
                if let Offered::Held { .. } = coalescer.offer(a, tag) {
                    held.insert(tag);
                }
            }
            updates.extend(coalescer.due(now));
            // Direct matches of the new submission (for the liveness check).
            // A value carried by more than `hot` submissions links nothing,
            // retroactively.
            let mut matched: BTreeSet<usize> = BTreeSet::new();
            for &o in &s.obs {
                let l = linking.entry(o).or_default();
                if (l.len() as u32) < w.hot {
                    matched.extend(l.iter().copied());
                }
                l.push(seq);
            }
            accepted.push(s.clone());
            key_to_seq.insert((member.to_string(), format!("s{n}")), seq);

            // The oracle's view of a reader: the component of `start` in the
            // graph of linked submissions the reader may see.
            let view = |reader: Option<usize>, start: usize| -> BTreeSet<usize> {
                let mut seen = BTreeSet::from([start]);
                let mut stack = vec![start];
                while let Some(x) = stack.pop() {
                    for l in linking.values().filter(|l| l.len() as u32 <= w.hot && l.contains(&x)) {
                        for &y in l {
                            if w.may_see(reader, &accepted[y]) && seen.insert(y) {
                                stack.push(y);
                            }
                        }
                    }
                }
                seen
            };

            let mut told: BTreeSet<(String, AlertKind)> = BTreeSet::new();
            for alert in &fx.alerts {
                let r = reader_of(alert.recipient.as_str());
                told.insert((alert.recipient.to_string(), alert.kind));
                let prov = check_inputs(&w, &accepted, &key_to_seq, alert)?;
                prop_assert!(prov.contains(&seq), "the trigger is in the provenance");
                if s.anonymous && !w.is_fc(r) && Some(s.member) != r {
                    let name = &all_names[s.member];
                    prop_assert!(!alert.summary.contains(name.as_str()), "summary names the anonymous submitter: {}", alert.summary);
                }
                // The campaign id is a function of the recipient's own view.
                if let Some(c) = &alert.campaign_id {
                    let v = view(r, seq);
                    let min = *v.first().unwrap();
                    if let Some(prev) = labels.insert(c.to_string(), (r, min)) {
                        prop_assert_eq!(prev.1, min, "one id for two different views");
                    }
                    prop_assert!(prov.iter().all(|p| v.contains(p)), "provenance outside the view");
                }
                match alert.kind {
                    AlertKind::CampaignEscalation => {
                        let v = view(r, seq);
                        let (own, members, sectors) = w.view_counts(r, &accepted, &v);
                        prop_assert!(w.is_fc(r) || own);
                        prop_assert!(members >= w.esc_members as usize || sectors >= w.esc_sectors as usize,
                            "escalation below threshold");
                    }
                    AlertKind::SectorTargeting => {
                        let rs = w.members[r.unwrap()].sector;
                        prop_assert!(s.targeted.contains(&rs));
                    }
                    AlertKind::SupplyChain => {
                        let declared = &w.members[r.unwrap()].suppliers;
                        prop_assert!(s.obs.iter().any(|&o| o >= 6 && declared.contains(&(o - 6))));
                    }
                    AlertKind::PartnerAdvisory => {
                        prop_assert_eq!(s.kind, 1);
                        prop_assert!(w.members[s.member].role >= 1);
                    }
                    // A claim alert, or (to the Fusion Cell only) a change
                    // of the engine's attribution.
                    AlertKind::ActorAttribution => prop_assert!(!s.actors.is_empty() || w.is_fc(r)),
                    AlertKind::VictimNotification => {
                        // To a member: its own domain is in the report (which
                        // it may see: the audience check above). To the
                        // Fusion Cell: another member's, which that member
                        // may not see.
                        let owners: Vec<usize> = (0..w.members.len())
                            .filter(|&i| i != s.member && w.members[i].role != 2)
                            .filter(|&i| s.obs.iter().any(|&o| o < 6 && w.members[i].owns.contains(&o)))
                            .collect();
                        match r {
                            Some(i) if w.members[i].role != 2 => prop_assert!(owners.contains(&i)),
                            _ => prop_assert!(owners.iter().any(|&i| !w.may_see(Some(i), s)),
                                "the Fusion Cell is told only of owners outside the audience"),
                        }
                    }
                    _ => {}
                }
            }
            // Liveness of victim notifications: every member (not the
            // submitter) owning a domain the report names and allowed to see
            // it is told; the Fusion Cell is told of each owner outside.
            for i in 0..w.members.len() {
                if i == s.member || w.members[i].role == 2 {
                    continue;
                }
                if !s.obs.iter().any(|&o| o < 6 && w.members[i].owns.contains(&o)) {
                    continue;
                }
                let to = |who: &str| fx.alerts.iter().any(|a| a.kind == AlertKind::VictimNotification && a.recipient.as_str() == who);
                if w.may_see(Some(i), s) {
                    prop_assert!(to(&format!("m{i}")), "m{} owns a value of s{} and was not told", i, n);
                } else {
                    // The registry's own "fc" never submits: it is always told.
                    prop_assert!(to("fc"), "the Fusion Cell was not told of m{}'s asset", i);
                }
            }
            // Liveness of escalations: a reader that was never sent one,
            // may see the new report, is involved in its campaign (reported
            // in it, or the Fusion Cell) and whose own view now reaches a
            // threshold — while the whole campaign does — is sent one now.
            let whole = view(None, seq);
            let whole_members: BTreeSet<usize> = whole.iter().map(|&p| accepted[p].member).collect();
            let whole_sectors: BTreeSet<u8> = whole_members.iter().map(|&m| w.members[m].sector).collect();
            let may_escalate = whole_members.len() >= w.esc_members as usize
                || whole_sectors.len() >= w.esc_sectors as usize;
            if may_escalate && fx.views_over_budget == 0 {
                let readers = std::iter::once(None).chain((0..w.members.len()).map(Some));
                for r in readers {
                    let name = r.map_or_else(|| "fc".to_owned(), |i| format!("m{i}"));
                    let involved = w.is_fc(r) || whole_members.iter().any(|&m| Some(m) == r);
                    if ever_escalated.contains(&name) || !involved || !w.may_see(r, s) {
                        continue;
                    }
                    let v = view(r, seq);
                    let (own, members, sectors) = w.view_counts(r, &accepted, &v);
                    if (own || w.is_fc(r))
                        && (members >= w.esc_members as usize || sectors >= w.esc_sectors as usize)
                    {
                        prop_assert!(
                            told.contains(&(name.clone(), AlertKind::CampaignEscalation)),
                            "{} not sent an escalation its view reached ({} members, {} sectors)",
                            name, members, sectors
                        );
                    }
                }
            }
            for a in fx.alerts.iter().filter(|a| a.kind == AlertKind::CampaignEscalation) {
                ever_escalated.insert(a.recipient.to_string());
            }
            // Liveness: every direct match each side may see is reported.
            for &j in &matched {
                let owner = accepted[j].member;
                if owner == s.member { continue; }
                if w.may_see(Some(s.member), &accepted[j]) {
                    prop_assert!(told.contains(&(format!("m{}", s.member), AlertKind::PeerSighting)), "submitter not told of a match it may see");
                }
                if w.may_see(Some(owner), s) {
                    prop_assert!(told.contains(&(format!("m{owner}"), AlertKind::PeerSighting)), "earlier submitter not told of a match it may see");
                }
            }
        }

        // Coalesced updates: each reveals nothing its parts did not, and
        // keeps every sharing rule on its own.
        updates.extend(coalescer.flush_all(i64::MAX));
        prop_assert_eq!(coalescer.held(), 0);
        let mut covered: BTreeSet<usize> = BTreeSet::new();
        for Coalesced { alert: u, tags } in &updates {
            prop_assert_eq!(u.kind, AlertKind::PeerSighting);
            prop_assert_eq!(u.sightings as usize, tags.len());
            prop_assert!(u.coalesced);
            let mut prov_parts: BTreeSet<&SubmissionKey> = BTreeSet::new();
            let mut related_parts = BTreeSet::new();
            let mut shared_parts = BTreeSet::new();
            let mut own_parts = BTreeSet::new();
            for &t in tags {
                prop_assert!(held.contains(&t), "an update holds a sighting that was sent");
                prop_assert!(covered.insert(t), "a sighting in two updates");
                let p = &parts[t];
                prop_assert_eq!(&p.recipient, &u.recipient, "parts of two recipients merged");
                prop_assert_eq!(&p.campaign_id, &u.campaign_id, "two views merged into one update");
                prov_parts.extend(&p.provenance);
                related_parts.extend(p.related.iter().map(|x| (x.id.clone(), x.member.clone())));
                shared_parts.extend(p.shared.iter().cloned());
                own_parts.extend(p.your_submissions.iter().cloned());
            }
            prop_assert!(u.provenance.iter().all(|k| prov_parts.contains(k)), "update provenance beyond its parts");
            prop_assert!(u.related.iter().all(|x| related_parts.contains(&(x.id.clone(), x.member.clone()))), "update related beyond its parts");
            prop_assert!(u.shared.iter().all(|o| shared_parts.contains(o)), "update observable beyond its parts");
            prop_assert!(u.your_submissions.iter().all(|o| own_parts.contains(o)));
            prop_assert_eq!(u.shared.len(), u.shared_scores.len());
            // And the rules themselves, from the oracle.
            let prov = check_inputs(&w, &accepted, &key_to_seq, u)?;
            for id in &u.your_submissions {
                let p = key_to_seq[&(u.recipient.to_string(), id.to_string())];
                prop_assert!(prov.contains(&p));
            }
            for name in &all_names {
                prop_assert!(!u.summary.contains(name.as_str()), "an update's summary names a member: {}", u.summary);
            }
        }
        prop_assert_eq!(&covered, &held, "every held sighting reaches its member in an update");
    }
}
