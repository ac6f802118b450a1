//! Clustering, checked against an oracle written again from docs/ARCHITECTURE.md, "The correlation engine" and
//! the engine docs, without the engine's code: campaigns are the connected
//! components of "submitted within the window and sharing one strong piece
//! of evidence, or two different weak ones, none warn-listed or common".
//! Also: warn-listed values never link, snapshots resume exactly, the
//! over-correlation guard splits what a shared host glued, attribution and
//! explanations.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cisp_engine::{Engine, EngineConfig, Ingest, Outcome, Reference, SubmissionKey};
use cisp_model::*;
use proptest::prelude::*;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_760_000_000_000;

fn registry() -> Arc<Registry> {
    static REGISTRY: std::sync::OnceLock<Arc<Registry>> = std::sync::OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let mut toml = String::new();
            for i in 0..6 {
                toml.push_str(&format!(
                    "[[member]]\nid = \"m{i}\"\nname = \"M{i}\"\nsector = \"s{}\"\nrole = \"member\"\n",
                    i % 3
                ));
            }
            toml.push_str("[[member]]\nid = \"fc\"\nname = \"FC\"\nsector = \"gov\"\nrole = \"fusion-cell\"\n");
            Arc::new(Registry::from_toml_str(&toml).unwrap())
        })
        .clone()
}

/// The universe of values a generated submission picks from: (kind, value).
const VALUES: [(&str, &str); 16] = [
    ("ipv4", "45.9.148.1"),
    ("ipv4", "45.9.148.2"),
    ("ipv4", "91.200.12.7"),
    ("ipv4", "8.8.8.8"),  // public resolver: warn-listed
    ("ipv4", "10.1.1.1"), // private: warn-listed
    ("domain", "a.evilcorp.com"),
    ("domain", "b.evilcorp.com"),
    ("domain", "c.badhost.net"),
    ("domain", "mail.google.com"), // popular: warn-listed
    ("url", "http://a.evilcorp.com/x"),
    ("url", "http://45.9.148.2/gate.php"),
    ("url", "https://www.google.com/"), // popular site root: warn-listed
    (
        "sha256",
        "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
    ),
    ("md5", "d41d8cd98f00b204e9800998ecf8427e"), // empty file: warn-listed
    ("filename", "invoice.pdf.exe"),
    ("cve", "CVE-2024-3094"),
];

/// Oracle: is this value on a warn-list? (Written out by hand.)
fn warn_listed(kind: &str, value: &str) -> bool {
    matches!(
        (kind, value),
        ("ipv4", "8.8.8.8")
            | ("ipv4", "10.1.1.1")
            | ("prefix", "10.1.1.0/24")
            | ("domain", "mail.google.com")
            | ("registrable-domain", "google.com")
            | ("url", "https://www.google.com/")
            | ("domain", "www.google.com")
            | ("md5", "d41d8cd98f00b204e9800998ecf8427e")
    )
}

#[derive(Debug, Clone)]
struct S {
    member: usize,
    day: i64,
    values: BTreeSet<usize>,
    ttps: u8,    // 0 none, 1 set A, 2 set B, 3 one technique
    malware: u8, // 0 none, 1 carbanak, 2 darkgate, 3 emotet (commodity: context)
}

fn subs() -> impl Strategy<Value = Vec<S>> {
    proptest::collection::vec(
        (
            0usize..6,
            0i64..60,
            proptest::collection::btree_set(0usize..VALUES.len(), 0..4),
            0u8..4,
            0u8..4,
        )
            .prop_map(|(member, day, values, ttps, malware)| S {
                member,
                day,
                values,
                ttps,
                malware,
            }),
        1..40,
    )
}

fn submission(n: usize, s: &S) -> Submission {
    let draft = SubmissionDraft {
        submission_id: format!("s{n}"),
        member_id: format!("m{}", s.member),
        submitted_at_ms: T0 + s.day * DAY,
        kind: "incident".into(),
        tlp: "GREEN".into(),
        scope: "community".into(),
        title: format!("t{n}"),
        observables: s
            .values
            .iter()
            .map(|&v| ObservableDraft {
                kind: VALUES[v].0.into(),
                value: VALUES[v].1.into(),
                ..Default::default()
            })
            .collect(),
        ttps: match s.ttps {
            1 => vec!["T1566.001".into(), "T1059".into()],
            2 => vec!["T1105".into(), "T1071".into()],
            3 => vec!["T1566".into()],
            _ => vec![],
        },
        malware: match s.malware {
            1 => vec!["Carbanak".into()],
            2 => vec!["DarkGate".into()],
            3 => vec!["Emotet".into()],
            _ => vec![],
        },
        confidence: 60,
        ..Default::default()
    };
    let member = MemberId::parse(&format!("m{}", s.member)).unwrap();
    draft
        .validate(&member, &registry(), &Limits::default())
        .unwrap()
}

/// Oracle: (kind, value, strong?) of everything a submission carries. A
/// value derived (a URL's host, a /24, a registrable domain) counts only
/// when derived from a value that is not common infrastructure.
fn oracle_evidence(s: &S, common: &BTreeSet<(String, String)>) -> Vec<(String, String, bool)> {
    let is_common = |k: &str, v: &str| common.contains(&(k.to_owned(), v.to_owned()));
    let mut out: Vec<(String, String, bool)> = Vec::new();
    let mut add = |k: &str, v: &str, strong: bool| {
        let e = (k.to_owned(), v.to_owned(), strong);
        if !out.contains(&e) {
            out.push(e);
        }
    };
    for &i in &s.values {
        let (kind, value) = VALUES[i];
        let value = if kind == "cve" {
            value.to_owned()
        } else {
            value.to_lowercase()
        };
        add(kind, &value, !matches!(kind, "filename" | "cve"));
        if warn_listed(kind, &value) {
            continue; // nothing derived from a warn-listed value
        }
        let mut ips = Vec::new();
        let mut hosts = Vec::new();
        match kind {
            "ipv4" => ips.push(value.clone()),
            "domain" => hosts.push(value.clone()),
            "url" if is_common("url", &value) => {} // nothing derived from a common value
            "url" => {
                let host = value
                    .split("://")
                    .nth(1)
                    .unwrap()
                    .split('/')
                    .next()
                    .unwrap()
                    .to_owned();
                if host.parse::<std::net::Ipv4Addr>().is_ok() {
                    add("ipv4", &host, true);
                    ips.push(host);
                } else {
                    add("domain", &host, true);
                    if !warn_listed("domain", &host) {
                        hosts.push(host);
                    }
                }
            }
            _ => {}
        }
        for ip in ips.into_iter().filter(|ip| !is_common("ipv4", ip)) {
            let p: Vec<&str> = ip.split('.').collect();
            add("prefix", &format!("{}.{}.{}.0/24", p[0], p[1], p[2]), false);
        }
        for h in hosts.into_iter().filter(|h| !is_common("domain", h)) {
            let labels: Vec<&str> = h.split('.').collect();
            let reg = labels[labels.len() - 2..].join(".");
            add("registrable-domain", &reg, false);
        }
    }
    match s.ttps {
        1 => add("technique-set", "T1059;T1566", false),
        2 => add("technique-set", "T1071;T1105", false),
        _ => {}
    }
    // A commodity family (data/commodity-malware.txt) is context: no
    // evidence for linking at all.
    match s.malware {
        1 => add("malware", "carbanak", false),
        2 => add("malware", "darkgate", false),
        _ => {}
    }
    out
}

/// Oracle: the partition of submissions into campaigns.
fn oracle_partition(
    subs: &[S],
    window_days: i64,
    common: &BTreeSet<(String, String)>,
) -> Vec<usize> {
    let ev: Vec<Vec<(String, String, bool)>> = subs
        .iter()
        .map(|s| {
            oracle_evidence(s, common)
                .into_iter()
                .filter(|(k, v, _)| !warn_listed(k, v) && !common.contains(&(k.clone(), v.clone())))
                .collect()
        })
        .collect();
    let linked = |a: usize, b: usize| {
        if (subs[a].day - subs[b].day).abs() > window_days {
            return false;
        }
        let shared: Vec<&(String, String, bool)> =
            ev[a].iter().filter(|e| ev[b].contains(e)).collect();
        shared.iter().any(|e| e.2) || shared.iter().filter(|e| !e.2).count() >= 2
    };
    let mut label: Vec<usize> = (0..subs.len()).collect();
    for a in 0..subs.len() {
        for b in 0..a {
            if linked(a, b) {
                let (la, lb) = (label[a], label[b]);
                for l in label.iter_mut() {
                    if *l == la {
                        *l = lb;
                    }
                }
            }
        }
    }
    label
}

fn key(n: usize, s: &S) -> SubmissionKey {
    SubmissionKey {
        member: MemberId::parse(&format!("m{}", s.member)).unwrap(),
        id: SubmissionId::parse(&format!("s{n}")).unwrap(),
    }
}

fn config(common_after: u32) -> EngineConfig {
    EngineConfig {
        common_after_campaigns: common_after,
        hot_observable_limit: 12,
        link_window_ms: 15 * DAY,
        id_salt: cisp_model::Secret::new("clustering"),
        ..EngineConfig::default()
    }
}

fn ingest(n: usize) -> Ingest {
    Ingest {
        published_at_ms: T0,
        now_ms: T0 + n as i64,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// After every submission, the engine's campaigns are exactly the
    /// oracle's components (given which values the engine has found to be
    /// common infrastructure), so no warn-listed value links anything.
    ///
    /// A store that keeps only what the effects say — each submission's
    /// campaign when it arrives, then every `moved` entry — holds exactly
    /// the engine's current campaign of every submission (issue 20: what
    /// ClickHouse's membership table is built from).
    #[test]
    fn campaigns_are_the_components_of_the_link_graph(subs in subs(), common_after in 1u32..4) {
        let mut engine = Engine::new(registry(), config(common_after));
        let mut store: BTreeMap<SubmissionKey, String> = BTreeMap::new();
        for (n, s) in subs.iter().enumerate() {
            let Outcome::Accepted(fx) = engine.process(&submission(n, s), ingest(n)) else {
                prop_assert!(false, "fresh ids are never duplicates");
                unreachable!()
            };
            store.insert(key(n, s), fx.campaign_id.to_string());
            for m in fx.moved {
                prop_assert!(m.key != key(n, s), "the new submission is not among the moved");
                store.insert(m.key, m.campaign_id.to_string());
            }
            let common: BTreeSet<(String, String)> = engine
                .common_evidence()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            for (k, v) in &common {
                prop_assert!(!warn_listed(k, v), "a warn-listed value was counted as linking: {k} {v}");
            }
            let seen = &subs[..=n];
            let want = oracle_partition(seen, 15, &common);
            let got: Vec<String> = seen
                .iter()
                .enumerate()
                .map(|(i, s)| engine.campaign_of_key(&key(i, s)).unwrap().to_string())
                .collect();
            for (i, s) in seen.iter().enumerate() {
                prop_assert_eq!(
                    store.get(&key(i, s)),
                    Some(&got[i]),
                    "the store's campaign of s{} after s{}", i, n
                );
            }
            for a in 0..seen.len() {
                for b in 0..a {
                    prop_assert_eq!(
                        want[a] == want[b],
                        got[a] == got[b],
                        "s{} and s{} after s{}: oracle {:?} engine {:?} common {:?}",
                        b, a, n, want, got, common
                    );
                }
            }
        }
    }

    /// A snapshot taken anywhere resumes to exactly the uninterrupted run.
    #[test]
    fn a_restored_snapshot_continues_like_the_original(subs in subs(), cut in 0usize..40) {
        let cut = cut.min(subs.len());
        let mut whole = Engine::new(registry(), config(2));
        let mut outputs = Vec::new();
        for (n, s) in subs.iter().enumerate() {
            if let Outcome::Accepted(fx) = whole.process(&submission(n, s), ingest(n)) {
                outputs.push((fx.campaign_id, fx.alerts, fx.campaigns));
            }
        }
        let mut first = Engine::new(registry(), config(2));
        for (n, s) in subs.iter().enumerate().take(cut) {
            first.process(&submission(n, s), ingest(n));
        }
        let bytes = first.snapshot().unwrap();
        drop(first);
        let mut resumed = Engine::restore(registry(), config(2), Reference::shipped(&[]).unwrap(), &bytes).unwrap();
        for (n, s) in subs.iter().enumerate().skip(cut) {
            let Outcome::Accepted(fx) = resumed.process(&submission(n, s), ingest(n)) else { unreachable!() };
            prop_assert_eq!(&outputs[n].0, &fx.campaign_id);
            prop_assert_eq!(&outputs[n].1, &fx.alerts);
            prop_assert_eq!(&outputs[n].2, &fx.campaigns);
        }
        prop_assert_eq!(whole.stats(), resumed.stats());
    }
}

fn simple(
    n: usize,
    member: usize,
    day: i64,
    obs: &[(&str, &str)],
    ttps: &[&str],
    malware: &[&str],
) -> Submission {
    let draft = SubmissionDraft {
        submission_id: format!("x{n}"),
        member_id: format!("m{member}"),
        submitted_at_ms: T0 + day * DAY,
        kind: "incident".into(),
        tlp: "GREEN".into(),
        scope: "community".into(),
        title: format!("x{n}"),
        observables: obs
            .iter()
            .map(|(k, v)| ObservableDraft {
                kind: (*k).into(),
                value: (*v).into(),
                ..Default::default()
            })
            .collect(),
        ttps: ttps.iter().map(|s| s.to_string()).collect(),
        malware: malware.iter().map(|s| s.to_string()).collect(),
        confidence: 80,
        ..Default::default()
    };
    let member = MemberId::parse(&format!("m{member}")).unwrap();
    draft
        .validate(&member, &registry(), &Limits::default())
        .unwrap()
}

fn accepted(o: Outcome) -> cisp_engine::Effects {
    match o {
        Outcome::Accepted(fx) => fx,
        Outcome::Duplicate { .. } => panic!("unexpected duplicate"),
    }
}

#[test]
fn a_shared_host_that_glues_campaigns_becomes_common_and_they_split_again() {
    let mut e = Engine::new(registry(), config(2));
    let shared = ("ipv4", "104.21.3.3");
    let mut ids = Vec::new();
    // Four campaigns, each with its own domain, each also seen on one shared address.
    for c in 0..4 {
        let d1 = format!("login.brand{c}-secure.com");
        for k in 0..2 {
            let fx = accepted(e.process(
                &simple(c * 10 + k, c % 6, 0, &[("domain", &d1), shared], &[], &[]),
                ingest(c * 10 + k),
            ));
            ids.push(fx);
        }
    }
    let last = ids.last().unwrap();
    assert!(
        e.common_evidence().contains(&("ipv4", "104.21.3.3".into())),
        "{:?}",
        e.common_evidence()
    );
    let campaigns: BTreeSet<String> = (0..4)
        .flat_map(|c| (0..2).map(move |k| (c, k)))
        .map(|(c, k)| {
            let key = SubmissionKey {
                member: MemberId::parse(&format!("m{}", c % 6)).unwrap(),
                id: SubmissionId::parse(&format!("x{}", c * 10 + k)).unwrap(),
            };
            e.campaign_of_key(&key).unwrap().to_string()
        })
        .collect();
    assert_eq!(
        campaigns.len(),
        4,
        "one campaign per brand again, last effects {:?}",
        last.campaigns
    );
    let info = e
        .observable(
            &Observable::parse(ObservableKind::Ipv4, "104.21.3.3").unwrap(),
            T0,
        )
        .unwrap();
    assert!(info.summary.common_infrastructure);
    assert_eq!(info.campaigns.len(), 4);
    assert_eq!(info.sightings.len(), 8);
}

#[test]
fn links_older_than_the_window_do_not_join() {
    let mut e = Engine::new(registry(), config(3));
    let a = accepted(e.process(
        &simple(1, 0, 0, &[("domain", "x.evilcorp.com")], &[], &[]),
        ingest(1),
    ));
    let b = accepted(e.process(
        &simple(2, 1, 16, &[("domain", "x.evilcorp.com")], &[], &[]),
        ingest(2),
    ));
    assert_ne!(
        a.campaign_id, b.campaign_id,
        "16 days apart with a 15-day window"
    );
    // A sighting in between bridges both.
    let c = accepted(e.process(
        &simple(3, 2, 8, &[("domain", "x.evilcorp.com")], &[], &[]),
        ingest(3),
    ));
    assert_eq!(c.campaign_id, a.campaign_id);
    assert!(c
        .campaigns
        .iter()
        .any(|v| v.merged_into == Some(a.campaign_id.clone())));
}

#[test]
fn weak_evidence_needs_a_second_piece() {
    let mut e = Engine::new(registry(), config(3));
    let a = accepted(e.process(
        &simple(1, 0, 0, &[("ipv4", "45.9.148.1")], &[], &["Carbanak"]),
        ingest(1),
    ));
    let b = accepted(e.process(
        &simple(2, 1, 0, &[("ipv4", "45.9.148.2")], &[], &[]),
        ingest(2),
    ));
    assert_ne!(a.campaign_id, b.campaign_id, "same /24 alone is not enough");
    let c = accepted(e.process(
        &simple(3, 2, 0, &[("ipv4", "45.9.148.3")], &[], &["carbanak"]),
        ingest(3),
    ));
    assert_eq!(
        c.campaign_id, a.campaign_id,
        "same /24 and same family link"
    );
    let why = e
        .explain(
            &SubmissionKey {
                member: MemberId::parse("m0").unwrap(),
                id: SubmissionId::parse("x1").unwrap(),
            },
            &SubmissionKey {
                member: MemberId::parse("m2").unwrap(),
                id: SubmissionId::parse("x3").unwrap(),
            },
        )
        .unwrap();
    assert_eq!(why.len(), 1);
    let kinds: BTreeSet<&str> = why[0].evidence.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, BTreeSet::from(["prefix", "malware"]));
}

/// A commodity family (data/commodity-malware.txt) is context: with the
/// same /24 it is not the second weak piece, so two campaigns that share a
/// loader and a hosting range stay apart (issue 20) — unless the setting
/// says commodity families link.
#[test]
fn a_commodity_family_is_not_a_second_weak_piece() {
    for (links, want_linked) in [(false, false), (true, true)] {
        let mut e = Engine::new(
            registry(),
            EngineConfig {
                commodity_malware_links: links,
                ..config(3)
            },
        );
        let a = accepted(e.process(
            &simple(1, 0, 0, &[("ipv4", "45.9.148.1")], &[], &["Cobalt Strike"]),
            ingest(1),
        ));
        let b = accepted(e.process(
            &simple(2, 1, 0, &[("ipv4", "45.9.148.2")], &[], &["cobalt strike"]),
            ingest(2),
        ));
        assert_eq!(
            a.campaign_id == b.campaign_id,
            want_linked,
            "commodity_malware_links = {links}"
        );
    }
}

#[test]
fn warn_listed_values_are_kept_flagged_and_link_nothing() {
    let mut e = Engine::new(registry(), config(3));
    let obs = [
        ("ipv4", "8.8.8.8"),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
        ("domain", "update.microsoft.com"),
    ];
    let a = accepted(e.process(&simple(1, 0, 0, &obs, &[], &[]), ingest(1)));
    let b = accepted(e.process(&simple(2, 1, 0, &obs, &[], &[]), ingest(2)));
    assert_ne!(a.campaign_id, b.campaign_id);
    assert!(
        b.alerts.is_empty(),
        "no peer sighting through a warn-listed value"
    );
    assert_eq!(
        b.warnlisted,
        vec![
            Some("public-resolvers".to_owned()),
            Some("benign-hashes".into()),
            Some("popular-domains".into())
        ]
    );
    let info = e
        .observable(
            &Observable::parse(ObservableKind::Ipv4, "8.8.8.8").unwrap(),
            T0,
        )
        .unwrap();
    assert_eq!(info.summary.warnlist.as_deref(), Some("public-resolvers"));
    assert_eq!(info.sightings.len(), 2, "stored and shown");
}

#[test]
fn campaigns_are_attributed_from_techniques_and_malware_and_explained() {
    let mut e = Engine::new(registry(), config(3));
    // APT28's (G0007) own tooling and techniques, over three reports.
    let t = [
        "T1566.001",
        "T1059.003",
        "T1071.001",
        "T1003.001",
        "T1547.001",
    ];
    accepted(e.process(
        &simple(
            1,
            0,
            0,
            &[("domain", "upd.apt-like.com")],
            &t[..3],
            &["X-Agent"],
        ),
        ingest(1),
    ));
    accepted(e.process(
        &simple(
            2,
            1,
            1,
            &[("domain", "upd.apt-like.com")],
            &t[2..],
            &["Zebrocy"],
        ),
        ingest(2),
    ));
    let fx = accepted(e.process(
        &simple(3, 2, 2, &[("domain", "upd.apt-like.com")], &t, &["X-Agent"]),
        ingest(3),
    ));
    let view = fx
        .campaigns
        .iter()
        .find(|v| v.id == fx.campaign_id)
        .unwrap();
    let Some(a) = view.attribution.as_ref() else {
        panic!(
            "not attributed; best: {:?}",
            e.campaign(fx.campaign_id.as_str(), T0)
                .map(|d| (d.techniques, d.malware))
        );
    };
    assert_eq!(a.actor_id, "G0007", "{a:?}");
    assert!(a.confidence >= 0.5 && a.confidence <= 1.0);
    assert!(a.evidence.iter().any(|x| x.contains("malware")), "{a:?}");
    let detail = e.campaign(fx.campaign_id.as_str(), T0).unwrap();
    assert_eq!(detail.submissions.len(), 3);
    // The winner, the runner-up and the margin, each with its case.
    let c = &detail.candidates;
    assert!(c.len() >= 2, "{c:?}");
    assert_eq!(c[0].actor_id, "G0007");
    assert!((c[0].confidence - a.confidence).abs() < 1e-12);
    assert_ne!(c[1].actor_id, "G0007");
    assert!(c[0].confidence >= c[1].confidence);
    assert_eq!(detail.margin, Some(c[0].confidence - c[1].confidence));
    assert!(
        c[0].matching
            .iter()
            .any(|x| x == "malware x-agent" || x == "malware chopstick"),
        "{:?}",
        c[0]
    );
    assert!(
        c[1].missing.iter().any(|x| x.starts_with("malware")),
        "the runner-up lacks APT28's own tooling: {:?}",
        c[1]
    );
    assert_eq!(
        detail.evidence.len(),
        2,
        "a spanning tree: one hop per later submission"
    );
    let dot = e.campaign_dot(fx.campaign_id.as_str()).unwrap();
    assert!(
        dot.starts_with("digraph") && dot.contains("attributed-to") && dot.contains("derived-from")
    );
}

#[test]
fn indicator_scores_rise_with_reporters_and_decay_with_age() {
    let mut e = Engine::new(registry(), config(3));
    let o = [(
        "sha256",
        "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
    )];
    let one = accepted(e.process(&simple(1, 0, 0, &o, &[], &[]), ingest(1))).scores[0];
    let two = accepted(e.process(&simple(2, 1, 0, &o, &[], &[]), ingest(2))).scores[0];
    assert!(two > one, "{one} {two}");
    let obs = Observable::parse(ObservableKind::Sha256, o[0].1).unwrap();
    let now = e.observable(&obs, T0).unwrap().summary.score;
    let year = e.observable(&obs, T0 + 365 * DAY).unwrap().summary.score;
    assert!(
        (year - now / 2.0).abs() < 0.01,
        "a hash halves in a year: {now} {year}"
    );
    let fx = accepted(e.process(&simple(3, 2, 0, &o, &[], &[]), ingest(3)));
    let alert = fx
        .alerts
        .iter()
        .find(|a| a.recipient.as_str() == "m2")
        .unwrap();
    assert_eq!(alert.shared_scores.len(), alert.shared.len());
    assert!(alert.shared_scores[0] > 0.0);
}

/// URLs that differ only in the order of their query parameters are two
/// URLs (a deliberate choice, issue 20: servers may read the order, and a
/// phishing kit's per-victim query is not the campaign's identity) — but
/// two reports carrying them still link, through the host both derive.
#[test]
fn query_parameter_order_is_kept_and_the_host_links() {
    let a = Observable::parse(
        ObservableKind::Url,
        "https://secure-kit-login.com/login?a=1&b=2",
    )
    .unwrap();
    let b = Observable::parse(
        ObservableKind::Url,
        "https://secure-kit-login.com/login?b=2&a=1",
    )
    .unwrap();
    assert_ne!(a, b, "parameter order is part of the URL");
    let mut e = Engine::new(registry(), config(3));
    let x = accepted(e.process(&simple(1, 0, 0, &[("url", a.value())], &[], &[]), ingest(1)));
    let y = accepted(e.process(&simple(2, 1, 0, &[("url", b.value())], &[], &[]), ingest(2)));
    assert_eq!(
        x.campaign_id, y.campaign_id,
        "linked through secure-kit-login.com"
    );
}
