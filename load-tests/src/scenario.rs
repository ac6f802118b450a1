//! A clustering-quality scenario with ground truth: planted campaigns run
//! by real ATT&CK groups (profiles from the engine's shipped extract), each
//! with its own infrastructure (domains under one registrable domain, a
//! /24 of addresses, URLs, payload hashes, sender addresses), techniques
//! and malware, active for a few weeks and reported piecemeal by several
//! members; plus background reports that belong to no campaign, values on
//! shared hosting that many unrelated reports carry, warn-listed values
//! (public resolvers, private addresses, popular sites, the empty file's
//! hash), and some wrong actor claims.
//!
//! [`measure`] runs the engine over it and scores the result: pairwise
//! precision and recall of the clustering, actor top-1 accuracy, and a
//! check that no link in any campaign rests on a warn-listed value.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use cisp_engine::Actors;
use cisp_engine::{Engine, EngineConfig, Ingest, Outcome, SubmissionKey};
use cisp_model::{
    Limits, MemberId, Observable, ObservableDraft, ObservableKind, Registry, Submission,
    SubmissionDraft,
};

use crate::generator::Rng;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01

/// What to generate.
#[derive(Clone, Debug)]
pub struct QualityParams {
    pub seed: u64,
    pub members: usize,
    pub campaigns: usize,
    /// Reports per campaign: uniformly between these.
    pub reports_min: u64,
    pub reports_max: u64,
    /// Background reports that belong to no campaign.
    pub background: usize,
    /// Addresses on shared hosting, reused across campaigns and background.
    pub shared_hosting: u64,
    /// Percent of reports carrying a shared-hosting address.
    pub shared_hosting_percent: u64,
    /// Percent of reports carrying a warn-listed value.
    pub warnlisted_percent: u64,
    /// Percent of campaigns with no known actor behind them.
    pub unattributed_percent: u64,
    /// Days the scenario spans.
    pub days: i64,
    /// Pairs of campaigns that share only a commodity family and one /24
    /// (issue 20's decoys: they must stay apart).
    pub decoy_pairs: usize,
    /// Campaigns whose reports link only through weak pairs (same /24 and
    /// the same rare family: they must be found).
    pub weak_campaigns: usize,
}

impl Default for QualityParams {
    fn default() -> QualityParams {
        QualityParams {
            seed: 7,
            members: 40,
            campaigns: 80,
            reports_min: 4,
            reports_max: 30,
            background: 1500,
            shared_hosting: 12,
            shared_hosting_percent: 25,
            warnlisted_percent: 20,
            unattributed_percent: 20,
            days: 90,
            decoy_pairs: 8,
            weak_campaigns: 6,
        }
    }
}

/// One generated report and its truth.
pub struct Planted {
    pub submission: Submission,
    /// The same report as a member publishes it (Avro record).
    pub record: cisp_wire::records::SubmissionRecord,
    /// Index of the campaign it belongs to; `None` for background.
    pub campaign: Option<usize>,
}

pub struct Scenario {
    pub registry: Arc<Registry>,
    pub reports: Vec<Planted>,
    /// ATT&CK group id behind each campaign, if any.
    pub actors: Vec<Option<String>>,
}

pub fn registry(members: usize) -> Arc<Registry> {
    #[allow(clippy::expect_used)]
    Arc::new(Registry::from_toml_str(&registry_toml(members)).expect("generated registry parses"))
}

/// The scenario's members as `config/members.toml` holds members.
pub fn registry_toml(members: usize) -> String {
    let ids: Vec<String> = (0..members).map(|i| format!("q{i:03}")).collect();
    crate::generator::registry_toml(
        &ids,
        "Quality member",
        &[
            "finance",
            "energy",
            "health",
            "government",
            "retail",
            "telecom",
        ],
    )
}

const WORDS: [&str; 16] = [
    "secure", "update", "cloud", "portal", "login", "invoice", "cdn", "mail", "sync", "verify",
    "docs", "account", "office", "support", "track", "billing",
];
const TLDS: [&str; 6] = ["com", "net", "org", "info", "co.uk", "xyz"];
const WARNLISTED: [(ObservableKind, &str); 7] = [
    (ObservableKind::Ipv4, "8.8.8.8"),
    (ObservableKind::Ipv4, "1.1.1.1"),
    (ObservableKind::Ipv4, "10.0.0.5"),
    (ObservableKind::Ipv4, "192.168.1.10"),
    (ObservableKind::Domain, "www.google.com"),
    (ObservableKind::Domain, "update.microsoft.com"),
    (ObservableKind::Md5, "d41d8cd98f00b204e9800998ecf8427e"),
];
const COMMODITY: [&str; 5] = [
    "emotet",
    "qakbot",
    "agent tesla",
    "redline stealer",
    "cobalt strike",
];

struct Infra {
    domains: Vec<String>,
    ips: Vec<String>,
    urls: Vec<String>,
    hashes: Vec<String>,
    senders: Vec<String>,
    techniques: Vec<String>,
    malware: Vec<String>,
    actor_name: Option<String>,
    start: i64,
    days: i64,
}

fn hex(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len);
    while s.len() < len {
        s.push_str(&format!("{:016x}", rng.next_u64()));
    }
    s.truncate(len);
    s
}

fn pick<'a, T>(rng: &mut Rng, v: &'a [T]) -> &'a T {
    &v[rng.below(v.len() as u64) as usize]
}

/// A routable-looking address outside every warn-listed range.
fn public_octet(rng: &mut Rng) -> u64 {
    loop {
        let a = 11 + rng.below(212);
        if !matches!(a, 100 | 127 | 169 | 172 | 192 | 198 | 203) {
            return a;
        }
    }
}

pub fn generate(p: &QualityParams) -> Scenario {
    let mut rng = Rng::new(p.seed);
    let registry = registry(p.members);
    let actors = Actors::shipped();
    let usable: Vec<usize> = (0..actors.len())
        .filter(|&i| {
            actors.profile(i as u32).is_some_and(|a| {
                a.techniques.len() >= 8 && !a.software.is_empty() && a.id.starts_with('G')
            })
        })
        .collect();
    let shared: Vec<String> = (0..p.shared_hosting)
        .map(|i| format!("104.{}.{}.{}", 16 + i % 3, 7 + i % 5, 10 + i))
        .collect();

    let mut truth_actors = Vec::new();
    let mut infra = Vec::new();
    for c in 0..p.campaigns {
        let actor = if rng.chance(p.unattributed_percent) || usable.is_empty() {
            None
        } else {
            actors.profile(*pick(&mut rng, &usable) as u32)
        };
        let word = pick(&mut rng, &WORDS);
        let tld = pick(&mut rng, &TLDS);
        let reg = format!("{word}-{}{c}.{tld}", hex(&mut rng, 4));
        let domains: Vec<String> = (0..2 + rng.below(3))
            .map(|k| format!("{}{k}.{reg}", pick(&mut rng, &WORDS)))
            .collect();
        let net = format!(
            "{}.{}.{}",
            public_octet(&mut rng),
            rng.below(256),
            rng.below(256)
        );
        let ips: Vec<String> = (0..1 + rng.below(3))
            .map(|_| format!("{net}.{}", 1 + rng.below(254)))
            .collect();
        let urls: Vec<String> = (0..2 + rng.below(3))
            .map(|k| {
                format!(
                    "https://{}/{}/{k}.php",
                    pick(&mut rng, &domains),
                    hex(&mut rng, 6)
                )
            })
            .collect();
        let hashes: Vec<String> = (0..2 + rng.below(4)).map(|_| hex(&mut rng, 64)).collect();
        let senders: Vec<String> = (0..1 + rng.below(2))
            .map(|k| format!("{}{k}@{}", pick(&mut rng, &WORDS), domains[0]))
            .collect();
        let (techniques, malware) = match actor {
            Some(a) => {
                let t: Vec<String> = a.techniques.iter().cloned().collect();
                let s: Vec<String> = a.software.iter().cloned().collect();
                let n = (5 + rng.below(6)).min(t.len() as u64);
                let mut chosen: Vec<String> = Vec::new();
                while (chosen.len() as u64) < n {
                    let x = pick(&mut rng, &t).clone();
                    if !chosen.contains(&x) {
                        chosen.push(x);
                    }
                }
                let m = (1 + rng.below(2)).min(s.len() as u64);
                let mut mal: Vec<String> = Vec::new();
                while (mal.len() as u64) < m {
                    let x = pick(&mut rng, &s).clone();
                    if !mal.contains(&x) {
                        mal.push(x);
                    }
                }
                (chosen, mal)
            }
            None => (
                (0..3)
                    .map(|_| format!("T{}", 1000 + rng.below(600)))
                    .collect(),
                vec![pick(&mut rng, &COMMODITY).to_string()],
            ),
        };
        truth_actors.push(actor.map(|a| a.id.clone()));
        infra.push(Infra {
            domains,
            ips,
            urls,
            hashes,
            senders,
            techniques,
            malware,
            actor_name: actor.map(|a| a.name.clone()),
            start: rng.below((p.days - 25).max(1) as u64) as i64,
            days: 5 + rng.below(20) as i64,
        });
    }

    let mut reports = Vec::new();
    let mut n = 0usize;
    let mut add = |rng: &mut Rng,
                   campaign: Option<usize>,
                   day: i64,
                   obs: Vec<(ObservableKind, String)>,
                   ttps: Vec<String>,
                   malware: Vec<String>,
                   claims: Vec<String>| {
        let member = format!("q{:03}", rng.below(p.members as u64));
        let draft = SubmissionDraft {
            submission_id: format!("quality-{n}"),
            member_id: member.clone(),
            submitted_at_ms: T0 + day * DAY + rng.below(DAY as u64) as i64,
            kind: ["incident", "phishing", "malware", "reconnaissance"][rng.below(4) as usize]
                .into(),
            tlp: "GREEN".into(),
            scope: "community".into(),
            title: format!("quality report {n}"),
            observables: obs
                .into_iter()
                .map(|(k, v)| ObservableDraft {
                    kind: k.name().into(),
                    value: v,
                    ..Default::default()
                })
                .collect(),
            ttps,
            malware,
            actor_claims: claims,
            confidence: 30 + rng.below(70) as i32,
            ..Default::default()
        };
        n += 1;
        let record = cisp_wire::records::SubmissionRecord {
            observables: draft
                .observables
                .iter()
                .filter_map(|o| {
                    ObservableKind::parse(&o.kind)
                        .ok()
                        .map(|k| cisp_wire::records::ObservableRecord::new(k, o.value.clone()))
                })
                .collect(),
            ttps: draft.ttps.clone(),
            malware: draft.malware.clone(),
            actor_claims: draft.actor_claims.clone(),
            confidence: draft.confidence,
            submitted_at: draft.submitted_at_ms,
            title: draft.title.clone(),
            ..cisp_testkit::community_record(&member, &draft.submission_id, &[])
        };
        #[allow(clippy::expect_used)]
        let m = MemberId::parse(&member).expect("generated member id");
        match draft.validate(&m, &registry, &Limits::default()) {
            Ok(s) => reports.push(Planted {
                submission: s,
                record,
                campaign,
            }),
            Err(e) => panic!("generated report does not validate: {e}"),
        }
    };

    let noise = |rng: &mut Rng, obs: &mut Vec<(ObservableKind, String)>| {
        if rng.chance(p.shared_hosting_percent) {
            obs.push((ObservableKind::Ipv4, pick(rng, &shared).clone()));
        }
        if rng.chance(p.warnlisted_percent) {
            let (k, v) = pick(rng, &WARNLISTED);
            obs.push((*k, (*v).to_owned()));
        }
        // Victim-specific values nobody else will report.
        for _ in 0..rng.below(3) {
            obs.push((ObservableKind::Sha256, hex(rng, 64)));
        }
    };

    for (c, inf) in infra.iter().enumerate() {
        let count = p.reports_min + rng.below(p.reports_max - p.reports_min + 1);
        for _ in 0..count {
            let mut pool: Vec<(ObservableKind, String)> = Vec::new();
            pool.extend(
                inf.domains
                    .iter()
                    .map(|d| (ObservableKind::Domain, d.clone())),
            );
            pool.extend(inf.ips.iter().map(|d| (ObservableKind::Ipv4, d.clone())));
            pool.extend(inf.urls.iter().map(|d| (ObservableKind::Url, d.clone())));
            pool.extend(
                inf.hashes
                    .iter()
                    .map(|d| (ObservableKind::Sha256, d.clone())),
            );
            pool.extend(
                inf.senders
                    .iter()
                    .map(|d| (ObservableKind::Email, d.clone())),
            );
            let want = 1 + rng.below(4);
            let mut obs: Vec<(ObservableKind, String)> = Vec::new();
            while (obs.len() as u64) < want {
                let x = pick(&mut rng, &pool).clone();
                if !obs.contains(&x) {
                    obs.push(x);
                }
            }
            noise(&mut rng, &mut obs);
            let ttps: Vec<String> = inf
                .techniques
                .iter()
                .filter(|_| rng.chance(60))
                .cloned()
                .collect();
            let malware: Vec<String> = if rng.chance(60) {
                inf.malware.clone()
            } else {
                vec![]
            };
            let claims = match &inf.actor_name {
                Some(name) if rng.chance(10) => {
                    if rng.chance(80) {
                        vec![name.clone()]
                    } else {
                        vec!["APT-Imaginary".into()]
                    }
                }
                _ => vec![],
            };
            let day = inf.start + rng.below(inf.days as u64 + 1) as i64;
            add(&mut rng, Some(c), day, obs, ttps, malware, claims);
        }
    }
    for _ in 0..p.background {
        let mut obs: Vec<(ObservableKind, String)> = Vec::new();
        let k = rng.below(3);
        for _ in 0..1 + rng.below(4) {
            obs.push(match k {
                0 => (ObservableKind::Sha256, hex(&mut rng, 64)),
                1 => (
                    ObservableKind::Ipv4,
                    format!(
                        "{}.{}.{}.{}",
                        public_octet(&mut rng),
                        rng.below(256),
                        rng.below(256),
                        1 + rng.below(254)
                    ),
                ),
                _ => (
                    ObservableKind::Domain,
                    format!(
                        "{}-{}.{}",
                        pick(&mut rng, &WORDS),
                        hex(&mut rng, 8),
                        pick(&mut rng, &TLDS)
                    ),
                ),
            });
        }
        noise(&mut rng, &mut obs);
        let ttps = (0..rng.below(3))
            .map(|_| format!("T{}", 1000 + rng.below(600)))
            .collect();
        let malware = if rng.chance(10) {
            vec![pick(&mut rng, &COMMODITY).to_string()]
        } else {
            vec![]
        };
        let day = rng.below(p.days as u64) as i64;
        add(&mut rng, None, day, obs, ttps, malware, vec![]);
    }
    // Issue 20's shapes (generated last, so the reports above are those of
    // every earlier run of a seed).
    let mut next = p.campaigns;
    let own_net = |rng: &mut Rng| {
        format!(
            "{}.{}.{}",
            public_octet(rng),
            rng.below(256),
            rng.below(256)
        )
    };
    // Decoy pairs: two campaigns of two reports each, held together by
    // their own domain, where one report of each also carries the same
    // commodity loader and an address in one /24 — one weak piece besides
    // the commodity family. They are two campaigns.
    for _ in 0..p.decoy_pairs {
        let family = pick(&mut rng, &COMMODITY).to_string();
        let net = own_net(&mut rng);
        let day = rng.below((p.days - 3).max(1) as u64) as i64;
        for side in 0..2 {
            let domain = format!(
                "{}-{}.{}",
                pick(&mut rng, &WORDS),
                hex(&mut rng, 8),
                pick(&mut rng, &TLDS)
            );
            for k in 0..2 {
                let mut obs = vec![(ObservableKind::Domain, domain.clone())];
                let malware = if k == 0 {
                    obs.push((
                        ObservableKind::Ipv4,
                        format!("{net}.{}", 10 + side * 100 + rng.below(50)),
                    ));
                    vec![family.clone()]
                } else {
                    vec![]
                };
                add(&mut rng, Some(next), day + k, obs, vec![], malware, vec![]);
            }
            truth_actors.push(None);
            next += 1;
        }
    }
    // Weak-only campaigns: three reports that share no strong indicator,
    // each an address of the campaign's own /24 and its own (rare) family:
    // linked only through weak pairs. They are one campaign each.
    for w in 0..p.weak_campaigns {
        let net = own_net(&mut rng);
        let family = format!("weakfamily{w}-{}", hex(&mut rng, 4));
        let day = rng.below((p.days - 5).max(1) as u64) as i64;
        for k in 0..3 {
            let obs = vec![(
                ObservableKind::Ipv4,
                format!("{net}.{}", 20 + k * 30 + rng.below(20)),
            )];
            add(
                &mut rng,
                Some(next),
                day + k as i64,
                obs,
                vec![],
                vec![family.clone()],
                vec![],
            );
        }
        truth_actors.push(None);
        next += 1;
    }
    // Reports arrive in time order, as they would.
    reports.sort_by_key(|r| r.submission.submitted_at_ms);
    Scenario {
        registry,
        reports,
        actors: truth_actors,
    }
}

/// What [`measure`] found.
#[derive(Debug, Clone)]
pub struct Quality {
    pub reports: usize,
    pub observables: u64,
    pub planted_campaigns: usize,
    pub found_campaigns: usize,
    pub precision: f64,
    pub recall: f64,
    /// Planted campaigns with an actor whose (majority) found campaign is
    /// attributed to that actor, out of those with an actor.
    pub actor_top1: f64,
    pub actor_planted: usize,
    pub actor_correct: usize,
    pub actor_wrong: usize,
    pub actor_missing: usize,
    /// Found campaigns of actor-less planted ones that were attributed anyway.
    pub false_attributions: usize,
    pub common_infrastructure: Vec<String>,
    /// Links (in the campaigns' explanations) that rest on a warn-listed value.
    pub warnlisted_links: usize,
    pub links_checked: usize,
    /// Links in the campaigns' explanations joining reports of different
    /// planted campaigns (or background), by the kinds of evidence used.
    pub wrong_links: BTreeMap<String, usize>,
    pub seconds: f64,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Each report's planted campaign (`c{n}`), or a group of its own
/// (`bg{i}`) for background.
pub fn truth(s: &Scenario) -> Vec<String> {
    s.reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.campaign
                .map_or_else(|| format!("bg{i}"), |c| format!("c{c}"))
        })
        .collect()
}

/// Pairwise precision and recall of the campaigns `found` (one label per
/// report) against `truth`, from the contingency table.
pub fn pairwise(found: &[String], truth: &[String]) -> (f64, f64) {
    let mut both: HashMap<(&str, &str), u64> = HashMap::new();
    let mut by_found: HashMap<&str, u64> = HashMap::new();
    let mut by_truth: HashMap<&str, u64> = HashMap::new();
    for (f, t) in found.iter().zip(truth) {
        *both.entry((f, t)).or_default() += 1;
        *by_found.entry(f).or_default() += 1;
        *by_truth.entry(t).or_default() += 1;
    }
    let tp: u64 = both.values().map(|&n| pairs(n)).sum();
    let fp_tp: u64 = by_found.values().map(|&n| pairs(n)).sum();
    let fn_tp: u64 = by_truth.values().map(|&n| pairs(n)).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    (ratio(tp, fp_tp), ratio(tp, fn_tp))
}

/// Runs the engine over the scenario in time order and scores it.
pub fn measure(s: &Scenario, config: EngineConfig) -> Quality {
    let mut engine = Engine::new(s.registry.clone(), config);
    let observables: u64 = s
        .reports
        .iter()
        .map(|r| r.submission.observables.len() as u64)
        .sum();
    let started = Instant::now();
    for r in &s.reports {
        let at = Ingest {
            published_at_ms: r.submission.submitted_at_ms,
            now_ms: r.submission.submitted_at_ms,
        };
        if let Outcome::Duplicate { .. } = engine.process(&r.submission, at) {
            panic!("generated ids are unique");
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    // Pairwise precision / recall from the contingency table.
    let found: Vec<String> = s
        .reports
        .iter()
        .map(|r| {
            let key = SubmissionKey {
                member: r.submission.member.clone(),
                id: r.submission.id.clone(),
            };
            engine
                .campaign_of_key(&key)
                .map(|c| c.to_string())
                .unwrap_or_default()
        })
        .collect();
    let truth = truth(s);
    let (precision, recall) = pairwise(&found, &truth);

    // Actor top-1: the found campaign holding most of a planted one's reports.
    let mut majority: BTreeMap<usize, HashMap<&str, u64>> = BTreeMap::new();
    for (r, f) in s.reports.iter().zip(&found) {
        if let Some(c) = r.campaign {
            *majority.entry(c).or_default().entry(f).or_default() += 1;
        }
    }
    let now = s
        .reports
        .last()
        .map_or(T0, |r| r.submission.submitted_at_ms);
    let (mut correct, mut wrong, mut missing, mut false_attr, mut planted) = (0, 0, 0, 0, 0);
    for (c, counts) in &majority {
        let Some((best, _)) = counts
            .iter()
            .max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id)))
        else {
            continue;
        };
        let attributed = engine
            .campaign(best, now)
            .and_then(|d| d.campaign.attribution)
            .map(|a| a.actor_id);
        match (&s.actors[*c], attributed) {
            (Some(want), Some(got)) if *want == got => {
                planted += 1;
                correct += 1;
            }
            (Some(_), Some(_)) => {
                planted += 1;
                wrong += 1;
            }
            (Some(_), None) => {
                planted += 1;
                missing += 1;
            }
            (None, Some(_)) => false_attr += 1,
            (None, None) => {}
        }
    }

    // No link in any campaign rests on a warn-listed value.
    let warn = engine.warnlists();
    let truth_of: HashMap<SubmissionKey, &str> = s
        .reports
        .iter()
        .zip(&truth)
        .map(|(r, t)| {
            (
                SubmissionKey {
                    member: r.submission.member.clone(),
                    id: r.submission.id.clone(),
                },
                t.as_str(),
            )
        })
        .collect();
    let mut wrong_links: BTreeMap<String, usize> = BTreeMap::new();
    let (mut bad, mut checked) = (0, 0);
    for id in engine.campaign_ids() {
        let Some(detail) = engine.campaign(id.as_str(), now) else {
            continue;
        };
        for hop in &detail.evidence {
            if truth_of.get(&hop.from) != truth_of.get(&hop.to) {
                let kinds: Vec<&str> = hop.evidence.iter().map(|(k, _)| *k).collect();
                *wrong_links.entry(kinds.join("+")).or_default() += 1;
            }
            for (kind, value) in &hop.evidence {
                checked += 1;
                let as_obs = match *kind {
                    "prefix" => Observable::parse(ObservableKind::Cidr, value).ok(),
                    "registrable-domain" => Observable::parse(ObservableKind::Domain, value).ok(),
                    k => ObservableKind::parse(k)
                        .ok()
                        .and_then(|k| Observable::parse(k, value).ok()),
                };
                if as_obs.is_some_and(|o| warn.check(&o).is_some()) {
                    bad += 1;
                }
            }
        }
    }
    let planted_campaigns = s.actors.len();
    Quality {
        reports: s.reports.len(),
        observables,
        planted_campaigns,
        found_campaigns: engine.campaign_ids().len(),
        precision,
        recall,
        actor_top1: if planted == 0 {
            1.0
        } else {
            f64::from(correct) / f64::from(planted)
        },
        actor_planted: planted as usize,
        actor_correct: correct as usize,
        actor_wrong: wrong,
        actor_missing: missing,
        false_attributions: false_attr,
        common_infrastructure: engine
            .common_evidence()
            .into_iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect(),
        warnlisted_links: bad,
        links_checked: checked,
        wrong_links,
        seconds,
    }
}
