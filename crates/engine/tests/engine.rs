//! Behaviour of the engine through its public API (no I/O).

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cisp_engine::{Engine, EngineConfig, Ingest, Outcome, SubmissionKey};
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
    let mut e = Engine::new(registry(), EngineConfig::default());
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
    let mut e = Engine::new(registry(), EngineConfig::default());
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
    for alert in &later.alerts {
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
    let mut e = Engine::new(registry(), EngineConfig::default());
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
    let mut e = Engine::new(registry(), EngineConfig::default());
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

#[test]
fn redelivery_changes_nothing() {
    let mut e = Engine::new(registry(), EngineConfig::default());
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
        Outcome::Duplicate { campaign_id } => assert_eq!(campaign_id, first.campaign_id),
        Outcome::Accepted(_) => panic!("a redelivered submission must be a duplicate"),
    }
    assert_eq!(e.stats(), before);
}

#[test]
fn hot_observables_stop_linking() {
    let cfg = EngineConfig {
        hot_observable_limit: 2,
        ..EngineConfig::default()
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
                id_salt: "s".into(),
                ..EngineConfig::default()
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

#[derive(Debug, Clone)]
struct M {
    sector: u8,
    groups: BTreeSet<u8>,
    fusion: bool,
}

#[derive(Debug, Clone)]
struct S {
    member: usize,
    scope: u8,
    named: BTreeSet<usize>,
    groups: BTreeSet<u8>,
    anonymous: bool,
    tlp: u8,
    obs: BTreeSet<u8>,
}

fn members() -> impl Strategy<Value = Vec<M>> {
    proptest::collection::vec(
        (
            0u8..3,
            proptest::collection::btree_set(0u8..3, 0..3),
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(sector, groups, fusion)| M {
                sector,
                groups,
                fusion,
            }),
        2..8,
    )
}

fn submissions(n_members: usize) -> impl Strategy<Value = Vec<S>> {
    proptest::collection::vec(
        (
            0..n_members,
            0u8..5,
            proptest::collection::btree_set(0..n_members, 1..3),
            proptest::collection::btree_set(0u8..3, 1..3),
            any::<bool>(),
            0u8..5,
            proptest::collection::btree_set(0u8..6, 1..4),
        )
            .prop_map(|(member, scope, named, groups, anonymous, tlp, obs)| S {
                member,
                scope,
                named,
                groups,
                anonymous,
                tlp,
                obs,
            }),
        1..25,
    )
}

/// The audience rule, written again from DESIGN §5 without the registry.
fn oracle_may_see(ms: &[M], reader: usize, s: &S) -> bool {
    if ms[reader].fusion || reader == s.member {
        return true;
    }
    match s.scope {
        0 => false,
        1 => s.named.contains(&reader),
        2 => !ms[reader].groups.is_disjoint(&s.groups),
        3 => ms[reader].sector == ms[s.member].sector,
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn no_alert_reveals_what_its_recipient_may_not_see(
        (ms, ss) in members().prop_flat_map(|ms| { let n = ms.len(); (Just(ms), submissions(n)) })
    ) {
        let mut toml = String::from("[[member]]\nid = \"fc\"\nname = \"FC\"\nsector = \"gov\"\nrole = \"fusion-cell\"\n");
        for (i, m) in ms.iter().enumerate() {
            let groups: Vec<String> = m.groups.iter().map(|g| format!("\"g{g}\"")).collect();
            toml.push_str(&format!(
                "[[member]]\nid = \"m{i}\"\nname = \"Member {i}\"\nsector = \"s{}\"\ngroups = [{}]\nrole = \"{}\"\n",
                m.sector, groups.join(","), if m.fusion { "fusion-cell" } else { "member" }
            ));
        }
        let reg = Arc::new(Registry::from_toml_str(&toml).unwrap());
        let mut engine = Engine::new(reg.clone(), EngineConfig::default());
        let mut by_key: HashMap<(String, String), (usize, S)> = HashMap::new();
        for (n, s) in ss.iter().enumerate() {
            let scope = ["fusion-cell-only", "named-members", "sharing-groups", "sector", "community"][s.scope as usize];
            let tlp = ["CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED"][s.tlp as usize];
            let known_groups: BTreeSet<u8> = ms.iter().flat_map(|m| m.groups.iter().copied()).collect();
            let draft = SubmissionDraft {
                submission_id: format!("s{n}"),
                member_id: format!("m{}", s.member),
                submitted_at_ms: 1_760_000_000_000 + n as i64,
                kind: "incident".into(),
                tlp: tlp.into(),
                scope: scope.into(),
                distribution_members: s.named.iter().map(|m| format!("m{m}")).collect(),
                distribution_groups: s.groups.iter().map(|g| format!("g{g}")).collect(),
                anonymous: s.anonymous,
                title: "t".into(),
                observables: s.obs.iter().map(|o| ObservableDraft { kind: "domain".into(), value: format!("o{o}.example"), ..Default::default() }).collect(),
                confidence: 50,
                ..Default::default()
            };
            let member = MemberId::parse(&format!("m{}", s.member)).unwrap();
            let Ok(valid) = draft.validate(&member, &reg, &Limits::default()) else {
                // Inconsistent TLP/scope or unknown groups are rejected, as they should be.
                prop_assert!(!Tlp::parse(tlp).unwrap().allows(Scope::parse(scope).unwrap())
                    || (s.scope == 2 && !s.groups.is_subset(&known_groups)));
                continue;
            };
            by_key.insert((member.to_string(), format!("s{n}")), (n, s.clone()));
            let Outcome::Accepted(fx) = engine.process(&valid, Ingest { published_at_ms: 0, now_ms: 0 }) else { continue };
            for alert in fx.alerts {
                let r: usize = alert.recipient.as_str()[1..].parse().unwrap();
                for k in &alert.provenance {
                    let (_, src) = &by_key[&(k.member.to_string(), k.id.to_string())];
                    prop_assert!(oracle_may_see(&ms, r, src), "alert to m{} built from {:?}", r, src);
                    prop_assert!(alert.tlp as u8 >= src.tlp, "alert TLP below an input's");
                }
                for rel in &alert.related {
                    let (_, src) = &by_key[&(format!("m{}", src_member(&by_key, rel.id.as_str())), rel.id.to_string())];
                    if src.anonymous && !ms[r].fusion {
                        prop_assert!(rel.member.is_none() && rel.member_name.is_none() && rel.sector.is_none());
                    }
                }
            }
        }
    }
}

fn src_member(by_key: &HashMap<(String, String), (usize, S)>, id: &str) -> usize {
    by_key
        .iter()
        .find(|((_, sid), _)| sid == id)
        .map(|(_, (_, s))| s.member)
        .unwrap()
}
