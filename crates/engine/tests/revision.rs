//! Corrections and feedback (issue 22) through the engine's public API,
//! and the property oracle for them: random partnerships, reports,
//! retractions, removals and feedback, checked against a model of what
//! each member may see.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cisp_engine::{
    ActionOutcome, Alert, Audited, Engine, EngineConfig, Ingest, Outcome, Reference,
};
use cisp_model::*;
use proptest::prelude::*;

const INGEST: Ingest = Ingest {
    published_at_ms: 0,
    now_ms: 1_760_000_100_000,
};

/// One member of a random partnership: sector and sharing groups.
#[derive(Clone, Debug)]
struct M {
    sector: u8,
    groups: BTreeSet<u8>,
}

#[derive(Clone, Debug)]
struct S {
    member: usize,
    scope: u8,
    named: BTreeSet<usize>,
    groups: BTreeSet<u8>,
    anonymous: bool,
    obs: BTreeSet<u8>,
}

#[derive(Clone, Debug)]
enum Act {
    Submit(S),
    /// The member of the `n`-th earlier report (mod) withdraws it.
    Retract(usize),
    /// …removes its `k`-th observable (mod).
    Remove(usize, usize),
    /// Member `m` says `kind` (0 sighting, 1 false positive, 2 expired)
    /// about value `v`.
    Say(usize, u8, u8),
    /// The Fusion Cell decides `kind` (0 forbid, 1 force a link between
    /// the `x`-th and `y`-th reports, 2 benign, 3 malicious value `v`,
    /// 4 undo the `x`-th decision).
    Decide(u8, usize, usize, u8),
}

fn registry_toml(members: &[M]) -> String {
    let mut t = String::from(
        "[[member]]\nid = \"fc\"\nname = \"Fusion Cell\"\nsector = \"government\"\nrole = \"fusion-cell\"\n",
    );
    for (i, m) in members.iter().enumerate() {
        let groups: Vec<String> = m.groups.iter().map(|g| format!("\"g{g}\"")).collect();
        t.push_str(&format!(
            "[[member]]\nid = \"m{i}\"\nname = \"Member {i}\"\nsector = \"s{}\"\ngroups = [{}]\nrole = \"member\"\n",
            m.sector,
            groups.join(", ")
        ));
    }
    t
}

fn host(o: u8) -> String {
    format!("o{o}.example")
}

fn members() -> impl Strategy<Value = Vec<M>> {
    prop::collection::vec(
        (0u8..3, prop::collection::btree_set(0u8..3, 0..3))
            .prop_map(|(sector, groups)| M { sector, groups }),
        3..7,
    )
}

fn acts(n: usize) -> impl Strategy<Value = Vec<Act>> {
    let submit = (
        0..n,
        0u8..5,
        prop::collection::btree_set(0..n, 0..3),
        prop::collection::btree_set(0u8..3, 0..2),
        any::<bool>(),
        prop::collection::btree_set(0u8..8, 1..4),
    )
        .prop_map(|(member, scope, named, groups, anonymous, obs)| {
            Act::Submit(S {
                member,
                scope,
                named,
                groups,
                anonymous,
                obs,
            })
        });
    let act = prop_oneof![
        6 => submit,
        1 => any::<usize>().prop_map(Act::Retract),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Act::Remove(a, b)),
        2 => (0..n, 0u8..3, 0u8..9).prop_map(|(m, k, v)| Act::Say(m, k, v)),
        2 => (0u8..5, any::<usize>(), any::<usize>(), 0u8..9).prop_map(|(k, x, y, v)| Act::Decide(k, x, y, v)),
    ];
    prop::collection::vec(act, 1..40)
}

/// What the oracle knows of one accepted report.
struct Known {
    member: usize,
    key: (String, String),
    distribution: Distribution,
    anonymous: bool,
    obs: BTreeSet<u8>,
    /// Every value it ever carried (the engine keeps values it has seen).
    ever: BTreeSet<u8>,
    withdrawn: bool,
}

/// Every live report's campaign, by `member/id`.
fn campaigns_of(run: &mut Run) -> BTreeMap<String, String> {
    let keys: Vec<(String, String)> = run
        .known
        .iter()
        .filter(|k| !k.withdrawn)
        .map(|k| k.key.clone())
        .collect();
    keys.into_iter()
        .map(|(m, id)| {
            let key = cisp_engine::SubmissionKey {
                member: MemberId::parse(&m).unwrap(),
                id: SubmissionId::parse(&id).unwrap(),
            };
            (
                format!("{m}/{id}"),
                run.engine.campaign_of(&key).unwrap().to_string(),
            )
        })
        .collect()
}

fn may_see(reg: &Registry, reader: &str, k: &Known) -> bool {
    reg.may_see(
        &MemberId::parse(reader).unwrap(),
        &MemberId::parse(&format!("m{}", k.member)).unwrap(),
        &k.distribution,
    )
}

struct Run {
    engine: Engine,
    known: Vec<Known>,
    /// Every alert built so far: the provenance audit.
    audit: Vec<Alert>,
    /// Every action in order, for the replay.
    log: Vec<Logged>,
}

enum Logged {
    Sub(Submission),
    Correction(Correction),
    Feedback(Feedback),
    Decision(Decision),
}

/// The oracle's model of what stops or forces links.
#[derive(Default)]
struct Model {
    /// value → member → its latest counted word (0 sighting, 1 false
    /// positive, 2 expired).
    words: BTreeMap<u8, BTreeMap<usize, u8>>,
    benign: BTreeSet<u8>,
    malicious: BTreeSet<u8>,
    /// (lower, higher) report indexes.
    forbidden: BTreeSet<(usize, usize)>,
    forced: BTreeSet<(usize, usize)>,
    /// Applied decisions: (id, what, undone).
    decisions: Vec<(String, Decided, bool)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Decided {
    Forbid(usize, usize),
    Force(usize, usize),
    Benign(u8),
    Malicious(u8),
    Undo,
}

impl Model {
    fn stopped(&self, v: u8, dispute_members: u32) -> bool {
        let fp = self
            .words
            .get(&v)
            .map_or(0, |w| w.values().filter(|&&k| k == 1).count());
        self.benign.contains(&v) || (fp >= dispute_members as usize && !self.malicious.contains(&v))
    }
}

fn audited_for(audit: &[Alert], keys: &[(String, String)]) -> Vec<Audited> {
    audit
        .iter()
        .filter(|a| {
            a.provenance
                .iter()
                .any(|p| keys.contains(&(p.member.to_string(), p.id.to_string())))
        })
        .map(|a| Audited {
            alert_id: a.id.clone(),
            recipient: a.recipient.clone(),
        })
        .collect()
}

fn config(dispute_members: u32) -> EngineConfig {
    EngineConfig {
        warnlists_disabled: vec!["documentation".into()],
        common_after_campaigns: u32::MAX,
        dispute_members,
        k_anonymity: 2,
        id_salt: Secret::new("revision"),
        ..EngineConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(250))]
    #[test]
    fn corrections_and_feedback_never_reach_outside_the_audience(
        members in members(),
        acts in acts(6),
        dispute_members in 1u32..4,
    ) {
        let n = members.len();
        let reg = Arc::new(Registry::from_toml_str(&registry_toml(&members)).unwrap());
        let mut run = Run {
            engine: Engine::new(reg.clone(), config(dispute_members)),
            known: Vec::new(),
            audit: Vec::new(),
            log: Vec::new(),
        };
        // value -> members whose false-positive word stands (oracle)
        let mut model = Model::default();
        for (step, act) in acts.iter().enumerate() {
            match act {
                Act::Submit(s) => {
                    if s.member >= n { continue; }
                    let scope = ["fusion-cell-only", "named-members", "sharing-groups", "sector", "community"][s.scope as usize];
                    let draft = SubmissionDraft {
                        submission_id: format!("s{step}"),
                        member_id: format!("m{}", s.member),
                        submitted_at_ms: 1_760_000_000_000 + step as i64,
                        kind: "incident".into(),
                        tlp: "GREEN".into(),
                        scope: scope.into(),
                        distribution_members: s.named.iter().filter(|&&m| m < n).map(|m| format!("m{m}")).collect(),
                        distribution_groups: s.groups.iter().map(|g| format!("g{g}")).collect(),
                        anonymous: s.anonymous,
                        title: format!("title {step}"),
                        observables: s.obs.iter().map(|&o| ObservableDraft { kind: "domain".into(), value: host(o), ..Default::default() }).collect(),
                        confidence: 50,
                        ..Default::default()
                    };
                    let member = MemberId::parse(&format!("m{}", s.member)).unwrap();
                    let Ok(valid) = draft.validate(&member, &reg, &Limits::default()) else { continue };
                    let Outcome::Accepted(fx) = run.engine.process(&valid, INGEST) else {
                        prop_assert!(false, "fresh ids are never duplicates");
                        unreachable!()
                    };
                    run.audit.extend(fx.alerts);
                    run.known.push(Known {
                        member: s.member,
                        key: (member.to_string(), format!("s{step}")),
                        distribution: valid.distribution.clone(),
                        anonymous: s.anonymous,
                        obs: s.obs.clone(),
                        ever: s.obs.clone(),
                        withdrawn: false,
                    });
                    run.log.push(Logged::Sub(valid));
                }
                Act::Retract(i) | Act::Remove(i, _) => {
                    if run.known.is_empty() { continue; }
                    let t = i % run.known.len();
                    let target = &run.known[t];
                    let remove: Option<u8> = match act {
                        Act::Remove(_, k) => target.obs.iter().copied().nth(k % target.obs.len().max(1)),
                        _ => None,
                    };
                    if matches!(act, Act::Remove(..)) && remove.is_none() { continue; }
                    let draft = CorrectionDraft {
                        correction_id: format!("c{step}"),
                        member_id: target.key.0.clone(),
                        submission_id: target.key.1.clone(),
                        corrected_at_ms: 1_760_000_000_000 + step as i64,
                        retract: remove.is_none(),
                        remove_observables: remove.iter().map(|&o| ("domain".to_owned(), host(o))).collect(),
                        reason: "test".into(),
                        ..Default::default()
                    };
                    let member = MemberId::parse(&target.key.0).unwrap();
                    let c = draft.validate(&member, &reg, &Limits::default()).unwrap();
                    let mut audited = audited_for(&run.audit, std::slice::from_ref(&target.key));
                    // A stale or wrong audit row for every member: the
                    // engine still tells only the report's audience.
                    for j in 0..n {
                        audited.push(Audited { alert_id: format!("A-stale-{j}"), recipient: MemberId::parse(&format!("m{j}")).unwrap() });
                    }
                    let outcome = run.engine.correct(&c, &audited, INGEST);
                    let target = &mut run.known[t];
                    match outcome {
                        ActionOutcome::Applied(rev) => {
                            prop_assert!(!target.withdrawn);
                            for alert in &rev.alerts {
                                let r = alert.recipient.as_str();
                                prop_assert_eq!(alert.kind, AlertKind::Revocation);
                                prop_assert!(r != target.key.0, "the submitter is not told of its own correction");
                                prop_assert!(may_see(&reg, r, target), "revocation to {} outside the audience", r);
                                // Only alerts this recipient received, each built on the report.
                                for id in &alert.revokes {
                                    prop_assert!(audited.iter().any(|a| a.alert_id == *id && a.recipient == alert.recipient), "revokes an alert {} did not receive", r);
                                }
                                prop_assert!(!alert.revokes.is_empty());
                                for rel in &alert.related {
                                    if target.anonymous && r != "fc" {
                                        prop_assert!(rel.member.is_none(), "anonymous submitter named in a revocation");
                                        let name = format!("Member {}", target.member);
                                        prop_assert!(!alert.summary.contains(name.as_str()), "anonymous submitter named: {}", alert.summary);
                                    }
                                }
                                for o in &alert.shared {
                                    prop_assert!(target.obs.iter().any(|&v| host(v) == o.value()));
                                }
                            }
                            // Everyone alerted on it (in its audience, not the submitter) is told.
                            let told: BTreeSet<&str> = rev.alerts.iter().map(|a| a.recipient.as_str()).collect();
                            for a in &audited {
                                if a.recipient.as_str() != target.key.0 && may_see(&reg, a.recipient.as_str(), target) {
                                    prop_assert!(told.contains(a.recipient.as_str()), "{} was alerted on it and not told", a.recipient);
                                }
                            }
                            match remove {
                                None => target.withdrawn = true,
                                Some(o) => { target.obs.remove(&o); }
                            }
                            run.audit.extend(rev.alerts);
                            run.log.push(Logged::Correction(c));
                        }
                        ActionOutcome::Refused { code, .. } => {
                            prop_assert!(target.withdrawn, "refused ({code}) a correction of a live report");
                        }
                        ActionOutcome::Duplicate => prop_assert!(false, "fresh correction ids"),
                    }
                }
                Act::Say(m, kind, v) => {
                    if *m >= n { continue; }
                    let kind_name = ["sighting", "false_positive", "expired"][*kind as usize];
                    let member = format!("m{m}");
                    let fb = FeedbackDraft {
                        feedback_id: format!("f{step}"),
                        member_id: member.clone(),
                        kind: kind_name.into(),
                        observable_type: "domain".into(),
                        observable_value: host(*v),
                        count: 2,
                        submitted_at_ms: 1_760_000_000_000 + step as i64,
                        ..Default::default()
                    }
                    .validate(&MemberId::parse(&member).unwrap(), &reg)
                    .unwrap();
                    let sees = run.known.iter().any(|k| !k.withdrawn && k.obs.contains(v) && may_see(&reg, &member, k));
                    let ActionOutcome::Applied(rev) = run.engine.feedback(&fb, INGEST) else {
                        prop_assert!(false, "fresh feedback ids are applied");
                        unreachable!()
                    };
                    prop_assert_eq!(rev.counted, sees, "feedback counts exactly when the member may see the value");
                    let stopped_before = model.stopped(*v, dispute_members);
                    if sees {
                        model.words.entry(*v).or_default().insert(*m, *kind);
                    }
                    let stopped_now = model.stopped(*v, dispute_members);
                    prop_assert_eq!(rev.disputed.is_some(), !stopped_before && stopped_now, "the value stops linking exactly when enough members dispute it");
                    if !sees {
                        prop_assert!(rev.campaigns.is_empty() && rev.disputed.is_none(), "feedback on an unseen value changed something");
                    }
                    if let Some((value, keys)) = &rev.disputed {
                        prop_assert_eq!(value.value(), host(*v));
                        let keys: Vec<(String, String)> = keys.iter().map(|k| (k.member.to_string(), k.id.to_string())).collect();
                        let audited = audited_for(&run.audit, &keys);
                        let notices = run.engine.dispute_notices(value, fb.id.as_str(), &audited, INGEST);
                        for alert in &notices {
                            let r = alert.recipient.as_str();
                            prop_assert_eq!(alert.kind, AlertKind::Dispute);
                            // Built on a report carrying the value that the recipient may see.
                            for p in &alert.provenance {
                                let k = run.known.iter().find(|k| k.key == (p.member.to_string(), p.id.to_string())).unwrap();
                                prop_assert!(may_see(&reg, r, k), "dispute notice to {} built on a report it may not see", r);
                                prop_assert!(k.obs.contains(v));
                            }
                            prop_assert!(!alert.summary.contains("m0") && !alert.summary.contains("Member "), "a disputer named: {}", alert.summary);
                        }
                        run.audit.extend(notices);
                    }
                    // Counts as members may learn them.
                    for reader in (0..n).map(|i| format!("m{i}")) {
                        let counts = run.engine.feedback_counts(&Observable::parse(ObservableKind::Domain, &host(*v)).unwrap(), &MemberId::parse(&reader).unwrap());
                        let reader_sees = run.known.iter().any(|k| !k.withdrawn && k.obs.contains(v) && may_see(&reg, &reader, k));
                        if !reader_sees {
                            prop_assert!(counts.is_none(), "{} learns counts on a value it may not see", reader);
                        }
                        if let Some(c) = counts {
                            prop_assert!(c.who.is_empty(), "a member learns who gave feedback");
                            for x in [c.sighting_members, c.false_positive_members, c.expired_members].into_iter().flatten() {
                                prop_assert!(x >= 2, "a count below k shown");
                            }
                        }
                    }
                    run.log.push(Logged::Feedback(fb));
                }
                Act::Decide(kind, x, y, v) => {
                    let live: Vec<usize> = (0..run.known.len()).filter(|&i| !run.known[i].withdrawn).collect();
                    let reported = |v: u8| run.known.iter().any(|k| k.ever.contains(&v));
                    let mut draft = DecisionDraft {
                        decision_id: format!("d{step}"),
                        analyst: "analyst".into(),
                        made_at_ms: 1_760_000_000_000 + step as i64,
                        reason: "test".into(),
                        ..Default::default()
                    };
                    let expected: Option<Decided> = match kind {
                        0 | 1 => {
                            if live.len() < 2 { continue; }
                            let (a, b) = (live[x % live.len()], live[y % live.len()]);
                            if a == b { continue; }
                            let p = (a.min(b), a.max(b));
                            draft.action = if *kind == 0 { "forbid_link" } else { "force_link" }.into();
                            draft.a = format!("{}/{}", run.known[a].key.0, run.known[a].key.1);
                            draft.b = format!("{}/{}", run.known[b].key.0, run.known[b].key.1);
                            let ok = !model.forbidden.contains(&p) && !model.forced.contains(&p);
                            ok.then_some(if *kind == 0 { Decided::Forbid(p.0, p.1) } else { Decided::Force(p.0, p.1) })
                        }
                        2 | 3 => {
                            draft.action = if *kind == 2 { "declare_benign" } else { "declare_malicious" }.into();
                            draft.observable_type = "domain".into();
                            draft.observable_value = host(*v);
                            let ok = reported(*v) && !model.benign.contains(v) && !model.malicious.contains(v);
                            ok.then_some(if *kind == 2 { Decided::Benign(*v) } else { Decided::Malicious(*v) })
                        }
                        _ => {
                            if model.decisions.is_empty() { continue; }
                            let t = x % model.decisions.len();
                            draft.action = "undo".into();
                            draft.a = model.decisions[t].0.clone();
                            let (_, what, undone) = model.decisions[t];
                            (!undone && what != Decided::Undo).then_some(Decided::Undo)
                        }
                    };
                    let d = draft.validate().unwrap();
                    let before: BTreeMap<String, String> = campaigns_of(&mut run);
                    let outcome = run.engine.decide(&d, &[], INGEST);
                    match (outcome, expected) {
                        (ActionOutcome::Applied(rev), Some(what)) => {
                            match what {
                                Decided::Forbid(a, b) => { model.forbidden.insert((a, b)); }
                                Decided::Force(a, b) => { model.forced.insert((a, b)); }
                                Decided::Benign(v) => {
                                    model.benign.insert(v);
                                    prop_assert!(rev.disputed.is_some(), "members alerted about a benign value are to be told");
                                }
                                Decided::Malicious(v) => { model.malicious.insert(v); }
                                Decided::Undo => {
                                    let t = x % model.decisions.len();
                                    model.decisions[t].2 = true;
                                    match model.decisions[t].1 {
                                        Decided::Forbid(a, b) => { model.forbidden.remove(&(a, b)); }
                                        Decided::Force(a, b) => { model.forced.remove(&(a, b)); }
                                        Decided::Benign(v) => { model.benign.remove(&v); }
                                        Decided::Malicious(v) => { model.malicious.remove(&v); }
                                        Decided::Undo => {}
                                    }
                                }
                            }
                            model.decisions.push((d.id.to_string(), what, false));
                            // Every report whose campaign changed is reported as moved.
                            let after = campaigns_of(&mut run);
                            let moved: BTreeSet<String> = rev.moved.iter().map(|m| format!("{}/{}", m.key.member, m.key.id)).collect();
                            for (k, c) in &after {
                                if before.get(k) != Some(c) {
                                    prop_assert!(moved.contains(k), "{} changed campaign without a move", k);
                                }
                            }
                            prop_assert!(rev.alerts.is_empty(), "a decision alone alerts no member");
                            run.log.push(Logged::Decision(d));
                        }
                        (ActionOutcome::Refused { .. }, None) => {}
                        (o, e) => prop_assert!(false, "decision {:?}: {:?}, expected {}", d.action, o, if e.is_some() { "applied" } else { "refused" }),
                    }
                }
            }
        }
        // Campaigns equal the components of the remaining links.
        let live: Vec<usize> = (0..run.known.len()).filter(|&i| !run.known[i].withdrawn).collect();
        let mut comp: Vec<usize> = (0..run.known.len()).collect();
        fn find(c: &mut [usize], mut x: usize) -> usize { while c[x] != x { c[x] = c[c[x]]; x = c[x]; } x }
        for (ai, &a) in live.iter().enumerate() {
            for &b in &live[ai + 1..] {
                let p = (a.min(b), a.max(b));
                let shared = run.known[a].obs.iter().any(|o| run.known[b].obs.contains(o) && !model.stopped(*o, dispute_members));
                if (shared && !model.forbidden.contains(&p)) || model.forced.contains(&p) {
                    let (x, y) = (find(&mut comp, a), find(&mut comp, b));
                    comp[x] = y;
                }
            }
        }
        let mut ids: HashMap<usize, String> = HashMap::new();
        let mut by_campaign: BTreeMap<String, usize> = BTreeMap::new();
        for &a in &live {
            let key = cisp_engine::SubmissionKey {
                member: MemberId::parse(&run.known[a].key.0).unwrap(),
                id: SubmissionId::parse(&run.known[a].key.1).unwrap(),
            };
            let id = run.engine.campaign_of(&key).unwrap().to_string();
            let root = find(&mut comp, a);
            match ids.get(&root) {
                Some(c) => prop_assert_eq!(c, &id, "one component, two campaigns"),
                None => {
                    prop_assert!(by_campaign.insert(id.clone(), root).is_none(), "two components, one campaign");
                    ids.insert(root, id);
                }
            }
        }
        // A replay (no audit: nobody told twice) and a snapshot give the same campaigns.
        let mut replay = Engine::new(reg.clone(), config(dispute_members));
        for l in &run.log {
            match l {
                Logged::Sub(s) => { replay.process(s, INGEST); }
                Logged::Correction(c) => { replay.correct(c, &[], INGEST); }
                Logged::Feedback(f) => { replay.feedback(f, INGEST); }
                Logged::Decision(d) => { replay.decide(d, &[], INGEST); }
            }
        }
        let bytes = run.engine.snapshot().unwrap();
        let mut restored = Engine::restore(reg.clone(), config(dispute_members), Reference::shipped(&["documentation".into()]).unwrap(), &bytes).unwrap();
        prop_assert_eq!(restored.actions_applied(), run.engine.actions_applied());
        for k in &run.known {
            let key = cisp_engine::SubmissionKey {
                member: MemberId::parse(&k.key.0).unwrap(),
                id: SubmissionId::parse(&k.key.1).unwrap(),
            };
            let live = run.engine.campaign_of(&key);
            prop_assert_eq!(&replay.campaign_of(&key), &live);
            prop_assert_eq!(&restored.campaign_of(&key), &live);
        }
        prop_assert_eq!(replay.memberships(), run.engine.memberships());
    }
}

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
role = "member"
[[member]]
id = "bank-b"
name = "Bank B"
sector = "finance"
role = "member"
[[member]]
id = "grid"
name = "Grid plc"
sector = "energy"
role = "member"
[[member]]
id = "water"
name = "Water plc"
sector = "energy"
role = "member"
"#;

fn report(reg: &Registry, member: &str, id: &str, hosts: &[&str]) -> Submission {
    SubmissionDraft {
        submission_id: id.into(),
        member_id: member.into(),
        submitted_at_ms: 1_760_000_000_000,
        kind: "incident".into(),
        tlp: "GREEN".into(),
        scope: "community".into(),
        title: format!("report {id}"),
        observables: hosts
            .iter()
            .map(|h| ObservableDraft {
                kind: "domain".into(),
                value: (*h).into(),
                ..Default::default()
            })
            .collect(),
        confidence: 50,
        ..Default::default()
    }
    .validate(&MemberId::parse(member).unwrap(), reg, &Limits::default())
    .unwrap()
}

fn key(m: &str, id: &str) -> cisp_engine::SubmissionKey {
    cisp_engine::SubmissionKey {
        member: MemberId::parse(m).unwrap(),
        id: SubmissionId::parse(id).unwrap(),
    }
}

#[test]
fn a_retraction_splits_the_campaign_it_alone_held_together_and_tells_the_alerted() {
    let reg = Arc::new(Registry::from_toml_str(REGISTRY).unwrap());
    let mut e = Engine::new(reg.clone(), config(3));
    let mut audit = Vec::new();
    for (m, id, hosts) in [
        ("bank-a", "a1", &["c2.example", "drop.example"][..]),
        ("grid", "g1", &["drop.example", "relay.example"][..]),
        ("bank-b", "b1", &["relay.example", "c9.example"][..]),
    ] {
        let Outcome::Accepted(fx) = e.process(&report(&reg, m, id, hosts), INGEST) else {
            panic!()
        };
        audit.extend(fx.alerts);
    }
    let whole = e.campaign_of(&key("bank-a", "a1")).unwrap();
    assert_eq!(e.campaign_of(&key("bank-b", "b1")), Some(whole.clone()));
    // The grid's report alone holds a1 and b1 together; it withdraws it.
    let c = CorrectionDraft {
        correction_id: "fix-1".into(),
        member_id: "grid".into(),
        submission_id: "g1".into(),
        corrected_at_ms: 1_760_000_000_500,
        retract: true,
        reason: "our own relay".into(),
        ..Default::default()
    }
    .validate(&MemberId::parse("grid").unwrap(), &reg, &Limits::default())
    .unwrap();
    let audited = audit_of(&audit, &key("grid", "g1"));
    assert!(!audited.is_empty());
    let ActionOutcome::Applied(rev) = e.correct(&c, &audited, INGEST) else {
        panic!()
    };
    assert_eq!(
        e.campaign_of(&key("bank-a", "a1")),
        Some(whole.clone()),
        "the oldest part keeps the id"
    );
    assert_ne!(e.campaign_of(&key("bank-b", "b1")), Some(whole.clone()));
    assert_ne!(e.campaign_of(&key("grid", "g1")), Some(whole));
    let told: BTreeSet<&str> = rev.alerts.iter().map(|a| a.recipient.as_str()).collect();
    let expected: BTreeSet<&str> = audited
        .iter()
        .map(|a| a.recipient.as_str())
        .filter(|r| *r != "grid")
        .collect();
    assert_eq!(told, expected);
    assert!(told.contains("bank-a") && told.contains("bank-b"));
    for a in &rev.alerts {
        assert!(a.summary.contains("withdrew"), "{}", a.summary);
        assert!(!a.revokes.is_empty());
    }
    // Sent again: nothing happens twice.
    assert!(matches!(
        e.correct(&c, &audited, INGEST),
        ActionOutcome::Duplicate
    ));
    // A later report with the withdrawn values links to nobody through it.
    let Outcome::Accepted(fx) = e.process(&report(&reg, "water", "w1", &["drop.example"]), INGEST)
    else {
        panic!()
    };
    assert_eq!(fx.campaign_id, e.campaign_of(&key("bank-a", "a1")).unwrap());
    assert!(fx
        .alerts
        .iter()
        .all(|a| a.provenance.iter().all(|p| p.id.as_str() != "g1")));
}

fn audit_of(audit: &[Alert], k: &cisp_engine::SubmissionKey) -> Vec<Audited> {
    audit
        .iter()
        .filter(|a| a.provenance.contains(k))
        .map(|a| Audited {
            alert_id: a.id.clone(),
            recipient: a.recipient.clone(),
        })
        .collect()
}

#[test]
fn three_members_disputing_a_value_stop_it_linking() {
    let reg = Arc::new(Registry::from_toml_str(REGISTRY).unwrap());
    let mut e = Engine::new(reg.clone(), config(3));
    let mut audit = Vec::new();
    for (m, id) in [("bank-a", "a1"), ("grid", "g1")] {
        let Outcome::Accepted(fx) = e.process(&report(&reg, m, id, &["cdn.example"]), INGEST)
        else {
            panic!()
        };
        audit.extend(fx.alerts);
    }
    assert_eq!(
        e.campaign_of(&key("bank-a", "a1")),
        e.campaign_of(&key("grid", "g1"))
    );
    let value = Observable::parse(ObservableKind::Domain, "cdn.example").unwrap();
    let score_before = e.observable(&value, INGEST.now_ms).unwrap().summary.score;
    let say = |m: &str, id: &str, kind: &str| {
        FeedbackDraft {
            feedback_id: id.into(),
            member_id: m.into(),
            kind: kind.into(),
            observable_type: "domain".into(),
            observable_value: "cdn.example".into(),
            count: 1,
            submitted_at_ms: 1_760_000_000_100,
            ..Default::default()
        }
        .validate(&MemberId::parse(m).unwrap(), &reg)
        .unwrap()
    };
    for (m, id) in [("bank-a", "f1"), ("bank-b", "f2")] {
        let ActionOutcome::Applied(rev) = e.feedback(&say(m, id, "false_positive"), INGEST) else {
            panic!()
        };
        assert!(rev.counted && rev.disputed.is_none());
    }
    let score_after = e.observable(&value, INGEST.now_ms).unwrap().summary.score;
    assert!(score_after < score_before, "{score_after} < {score_before}");
    // Two of three: members see the count (k = 2), not who.
    let counts = e
        .feedback_counts(&value, &MemberId::parse("water").unwrap())
        .unwrap();
    assert_eq!(counts.false_positive_members, Some(2));
    assert!(counts.who.is_empty());
    let fc = e
        .feedback_counts(&value, &MemberId::parse("fusion-cell").unwrap())
        .unwrap();
    assert_eq!(fc.who.len(), 2);
    let ActionOutcome::Applied(rev) = e.feedback(&say("water", "f3", "false_positive"), INGEST)
    else {
        panic!()
    };
    let (v, keys) = rev.disputed.expect("the third dispute stops it");
    assert_eq!(v, value);
    assert_ne!(
        e.campaign_of(&key("bank-a", "a1")),
        e.campaign_of(&key("grid", "g1"))
    );
    let audited: Vec<Audited> = keys.iter().flat_map(|k| audit_of(&audit, k)).collect();
    let notices = e.dispute_notices(&v, "f3", &audited, INGEST);
    let told: BTreeSet<&str> = notices.iter().map(|a| a.recipient.as_str()).collect();
    assert!(told.contains("bank-a") && told.contains("grid"), "{told:?}");
    for n in &notices {
        assert!(n.summary.contains("3 members"), "{}", n.summary);
        assert!(!n.summary.contains("Water") && !n.summary.contains("Bank B"));
    }
    // A fourth report with it links to nobody.
    let Outcome::Accepted(fx) = e.process(&report(&reg, "bank-b", "b9", &["cdn.example"]), INGEST)
    else {
        panic!()
    };
    assert!(fx.alerts.iter().all(|a| a.kind != AlertKind::PeerSighting));
}
