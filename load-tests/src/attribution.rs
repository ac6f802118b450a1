//! Attribution calibration (issue 26): planted campaigns with a known
//! answer, scored by the engine's own attribution code, so that the
//! shipped threshold can be chosen from a measured precision/coverage
//! curve rather than asserted.
//!
//! The shapes, from what an outside analyst tried:
//!
//! * **actor**: a real group of the reference extract, seen partially —
//!   30–60 % of its techniques or 5–10 of them (half each), 0–2 of its
//!   software (commodity tools
//!   included when the group uses them), and 0–2 techniques most groups
//!   use (noise);
//! * **actor, claimed**: the same, one member claiming the right group;
//! * **actor, wrong claim**: the same, one member claiming another group;
//! * **actor-less**: 2–5 common techniques, 0–2 random others, and 0–2
//!   commodity or dual-use tools (Cobalt Strike, Mimikatz, PsExec…);
//! * **commodity-only**: 1–3 commodity tools and at most one common
//!   technique;
//! * **lone claim**: an actor-less campaign that one member attributes.
//!
//! Each campaign's features are spread over 2–4 reports from different
//! members, aggregated as the engine aggregates a campaign's submissions,
//! and ranked by [`Actors::ranked`]: at threshold `t` a campaign is
//! attributed to its best candidate when that confidence is above 0 and at
//! least `t` — exactly [`Actors::score`]. The campaigns are scored apart
//! (not linked by the engine first) so that the figures measure
//! attribution alone; the clustering scenario measures both together.

use std::collections::{BTreeMap, BTreeSet};

use cisp_engine::{Actors, Features, Ranked, Scoring};

use crate::generator::Rng;

/// How many campaigns of each shape.
#[derive(Clone, Debug)]
pub struct CalibrationParams {
    pub seed: u64,
    pub actor: usize,
    pub actor_claimed: usize,
    pub actor_wrong_claim: usize,
    pub actorless: usize,
    pub commodity_only: usize,
    pub lone_claim: usize,
}

impl Default for CalibrationParams {
    fn default() -> CalibrationParams {
        CalibrationParams {
            seed: 7,
            actor: 150,
            actor_claimed: 30,
            actor_wrong_claim: 40,
            actorless: 80,
            commodity_only: 30,
            lone_claim: 30,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shape {
    Actor,
    ActorClaimed,
    ActorWrongClaim,
    Actorless,
    CommodityOnly,
    LoneClaim,
}

impl Shape {
    pub fn has_actor(self) -> bool {
        matches!(
            self,
            Shape::Actor | Shape::ActorClaimed | Shape::ActorWrongClaim
        )
    }
}

/// One planted campaign and how the engine ranks its candidates.
pub struct Case {
    pub shape: Shape,
    /// The group behind it (profile index), if any.
    pub truth: Option<u32>,
    /// The group a member claimed wrongly (or, for a lone claim, at all).
    pub claimed: Option<u32>,
    pub features: Features,
    pub ranked: Vec<Ranked>,
    /// The ranking without the claims (what the claims changed).
    pub unclaimed: Vec<Ranked>,
}

/// Ranks every case again with other scoring parameters.
pub fn rerank(cases: &mut [Case], scoring: &Scoring) {
    let actors = Actors::shipped();
    for c in cases {
        c.ranked = actors.ranked_with(&c.features, scoring);
        let mut bare = c.features.clone();
        bare.claims.clear();
        c.unclaimed = actors.ranked_with(&bare, scoring);
    }
}

/// Software listed by this many profiles or more, and the shipped
/// commodity list, is what actor-less campaigns carry.
const DUAL_USE: [&str; 12] = [
    "cobalt strike",
    "mimikatz",
    "psexec",
    "impacket",
    "rclone",
    "adfind",
    "nltest",
    "bloodhound",
    "ngrok",
    "lazagne",
    "empire",
    "emotet",
];

fn pick<T: Copy>(rng: &mut Rng, v: &[T]) -> T {
    v[rng.below(v.len() as u64) as usize]
}

/// `min` plus up to `extra` distinct items of `v`.
fn sample<T: Clone + PartialEq>(rng: &mut Rng, v: &[T], min: usize, extra: u64) -> Vec<T> {
    let n = (min + rng.below(extra + 1) as usize).min(v.len());
    let mut out: Vec<T> = Vec::with_capacity(n);
    while out.len() < n {
        let x = v[rng.below(v.len() as u64) as usize].clone();
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// Spreads techniques and software over 2–4 reports and aggregates them as
/// a campaign does: a feature counts the reports naming it.
fn features(
    rng: &mut Rng,
    techniques: &[String],
    software: &[String],
    claims: &[(u32, &str)],
) -> Features {
    let reports = 2 + rng.below(3) as u32;
    let mut f = Features::default();
    for t in techniques {
        let n = 1 + rng.below(u64::from(reports)) as u32;
        *f.techniques.entry(t.as_str().into()).or_default() += n;
    }
    for s in software {
        let n = 1 + rng.below(u64::from(reports)) as u32;
        *f.malware.entry(s.to_lowercase().into()).or_default() += n;
    }
    for (actor, member) in claims {
        f.claims
            .entry(*actor)
            .or_default()
            .insert((*member).to_owned());
    }
    f
}

/// Generates the planted campaigns and ranks each.
pub fn generate(p: &CalibrationParams) -> Vec<Case> {
    let mut rng = Rng::new(p.seed);
    let actors = Actors::shipped();
    let profiles = actors.profiles();
    // Groups with a profile worth the name (ATT&CK group ids, four
    // techniques or more).
    let groups: Vec<u32> = (0..profiles.len() as u32)
        .filter(|&i| {
            let a = &profiles[i as usize];
            a.id.starts_with('G') && a.techniques.len() >= 4
        })
        .collect();
    // The techniques most groups use: the noise in every campaign.
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for a in profiles {
        for t in &a.techniques {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let mut by_df: Vec<(&str, usize)> = df.iter().map(|(t, n)| (*t, *n)).collect();
    by_df.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let common: Vec<String> = by_df.iter().take(20).map(|(t, _)| t.to_string()).collect();
    let all: Vec<String> = by_df.iter().map(|(t, _)| t.to_string()).collect();

    let mut cases = Vec::new();
    let shapes = [
        (Shape::Actor, p.actor),
        (Shape::ActorClaimed, p.actor_claimed),
        (Shape::ActorWrongClaim, p.actor_wrong_claim),
        (Shape::Actorless, p.actorless),
        (Shape::CommodityOnly, p.commodity_only),
        (Shape::LoneClaim, p.lone_claim),
    ];
    for (shape, count) in shapes {
        for _ in 0..count {
            let mut claims: Vec<(u32, &str)> = Vec::new();
            let (truth, claimed, techniques, software) = if shape.has_actor() {
                let g = pick(&mut rng, &groups);
                let a = &profiles[g as usize];
                let own: Vec<String> = a.techniques.iter().cloned().collect();
                // Half the campaigns show a share of the profile (30–60 %),
                // half the 5–10 techniques a report series typically names.
                let n = if rng.chance(50) {
                    let share = 30 + rng.below(31);
                    ((own.len() as u64 * share).div_ceil(100)).max(2) as usize
                } else {
                    5 + rng.below(6) as usize
                };
                let mut techniques = sample(&mut rng, &own, n, 0);
                for t in sample(&mut rng, &common, 0, 2) {
                    if !techniques.contains(&t) {
                        techniques.push(t);
                    }
                }
                let sw: Vec<String> = a.software.iter().cloned().collect();
                let software = sample(&mut rng, &sw, 0, 2);
                let claimed = match shape {
                    Shape::ActorClaimed => {
                        claims.push((g, "m-right"));
                        None
                    }
                    Shape::ActorWrongClaim => {
                        let mut other = pick(&mut rng, &groups);
                        while other == g {
                            other = pick(&mut rng, &groups);
                        }
                        claims.push((other, "m-wrong"));
                        Some(other)
                    }
                    _ => None,
                };
                (Some(g), claimed, techniques, software)
            } else {
                let (mut techniques, software) = if shape == Shape::CommodityOnly {
                    let t = sample(&mut rng, &common, 0, 1);
                    let s = sample(&mut rng, &DUAL_USE, 1, 2);
                    (t, s)
                } else {
                    let t = sample(&mut rng, &common, 2, 3);
                    let s = sample(&mut rng, &DUAL_USE, 0, 2);
                    (t, s)
                };
                if shape != Shape::CommodityOnly {
                    for t in sample(&mut rng, &all, 0, 2) {
                        if !techniques.contains(&t) {
                            techniques.push(t);
                        }
                    }
                }
                let claimed = (shape == Shape::LoneClaim).then(|| {
                    let g = pick(&mut rng, &groups);
                    claims.push((g, "m-lone"));
                    g
                });
                let software = software.into_iter().map(str::to_owned).collect();
                (None, claimed, techniques, software)
            };
            let f = features(&mut rng, &techniques, &software, &claims);
            let mut bare = f.clone();
            bare.claims.clear();
            cases.push(Case {
                unclaimed: actors.ranked(&bare),
                shape,
                truth,
                claimed,
                ranked: actors.ranked(&f),
                features: f,
            });
        }
    }
    cases
}

/// The figures at one threshold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AtThreshold {
    pub threshold: f64,
    /// Actor campaigns attributed to the right group, of all actor
    /// campaigns (unattributed ones count as misses).
    pub top1: f64,
    /// Right attributions of all attributions made (actor-less ones count
    /// as wrong).
    pub precision: f64,
    /// Actor campaigns attributed at all.
    pub coverage: f64,
    /// Actor-less campaigns (actor-less, commodity-only, lone claim)
    /// attributed anyway.
    pub false_rate: f64,
    /// Wrong-claim campaigns attributed to the claimed group.
    pub wrong_claim_won: usize,
    pub wrong_claims: usize,
    /// Lone claims that attributed.
    pub lone_claim_won: usize,
    pub lone_claims: usize,
    /// Campaigns with a claim whose outcome (attributed actor or none)
    /// the claim changed: to right, and to wrong.
    pub claims_made_right: usize,
    pub claims_made_wrong: usize,
}

fn attributed(c: &Case, t: f64) -> Option<u32> {
    best(&c.ranked, t)
}

fn best(ranked: &[Ranked], t: f64) -> Option<u32> {
    ranked
        .first()
        .filter(|r| r.confidence > 0.0 && r.confidence >= t)
        .map(|r| r.actor)
}

/// The figures of `cases` at threshold `t`.
pub fn at(cases: &[Case], t: f64) -> AtThreshold {
    let (mut actor, mut right, mut covered, mut made) = (0usize, 0usize, 0usize, 0usize);
    let (mut none, mut false_attr) = (0usize, 0usize);
    let mut out = AtThreshold {
        threshold: t,
        ..AtThreshold::default()
    };
    for c in cases {
        let got = attributed(c, t);
        made += usize::from(got.is_some());
        if c.shape.has_actor() {
            actor += 1;
            covered += usize::from(got.is_some());
            right += usize::from(got.is_some() && got == c.truth);
        } else {
            none += 1;
            false_attr += usize::from(got.is_some());
        }
        let bare = best(&c.unclaimed, t);
        if got != bare {
            if got == c.truth {
                out.claims_made_right += 1;
            } else {
                out.claims_made_wrong += 1;
            }
        }
        match c.shape {
            Shape::ActorWrongClaim => {
                out.wrong_claims += 1;
                out.wrong_claim_won += usize::from(got.is_some() && got == c.claimed);
            }
            Shape::LoneClaim => {
                out.lone_claims += 1;
                out.lone_claim_won += usize::from(got.is_some() && got == c.claimed);
            }
            _ => {}
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    out.top1 = ratio(right, actor);
    out.precision = ratio(right, made);
    out.coverage = ratio(covered, actor);
    out.false_rate = ratio(false_attr, none);
    out
}

/// The curve over thresholds 0.05, 0.10, … 0.95.
pub fn curve(cases: &[Case]) -> Vec<AtThreshold> {
    (1..20).map(|i| at(cases, f64::from(i) * 0.05)).collect()
}

/// Top-1 by shape at `t`: (shape, right, of).
pub fn by_shape(cases: &[Case], t: f64) -> Vec<(Shape, usize, usize)> {
    let mut m: BTreeMap<Shape, (usize, usize)> = BTreeMap::new();
    for c in cases {
        let e = m.entry(c.shape).or_default();
        e.1 += 1;
        let got = attributed(c, t);
        let ok = if c.shape.has_actor() {
            got.is_some() && got == c.truth
        } else {
            got.is_none()
        };
        e.0 += usize::from(ok);
    }
    m.into_iter().map(|(s, (a, b))| (s, a, b)).collect()
}

/// Confidence of the best candidate for right and wrong attributions (the
/// separation the threshold relies on).
pub fn confidences(cases: &[Case]) -> (Vec<f64>, Vec<f64>) {
    let (mut right, mut wrong) = (Vec::new(), Vec::new());
    for c in cases {
        if let Some(r) = c.ranked.first().filter(|r| r.confidence > 0.0) {
            if c.truth == Some(r.actor) {
                right.push(r.confidence);
            } else {
                wrong.push(r.confidence);
            }
        }
    }
    (right, wrong)
}

/// A curve's name, colour and value.
type Series = (&'static str, &'static str, fn(&AtThreshold) -> f64);

/// The precision/coverage curve of several seeds as an SVG line chart:
/// top-1, precision and the false-attribution rate against the threshold,
/// with the shipped threshold marked.
pub fn svg(curves: &[(u64, Vec<AtThreshold>)], shipped: f64) -> String {
    let (w, h, left, top, pw, ph) = (640.0, 400.0, 60.0, 30.0, 540.0, 300.0);
    let x = |t: f64| left + t * pw;
    let y = |v: f64| top + (1.0 - v) * ph;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">Attribution against the threshold (seeds {})</text>\n",
        curves
            .iter()
            .map(|(seed, _)| seed.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for i in 0..=10 {
        let v = f64::from(i) / 10.0;
        s.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v:.1}</text>\n",
            x(0.0),
            y(v),
            x(1.0),
            y(v),
            x(0.0) - 6.0,
            y(v) + 4.0,
            x(v),
            y(0.0) + 16.0,
        ));
    }
    s.push_str(&format!(
        "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{3:.1}\" y=\"{4:.1}\">shipped {shipped:.2}</text>\n\
         <text x=\"{5:.1}\" y=\"{6:.1}\" text-anchor=\"middle\">threshold</text>\n",
        x(shipped),
        y(0.0),
        y(1.0),
        x(shipped) + 4.0,
        y(1.0) + 12.0,
        x(0.5),
        h - 10.0,
    ));
    let series: [Series; 3] = [
        ("top-1 (actor campaigns)", "#1f77b4", |a| a.top1),
        ("precision (attributions made)", "#2ca02c", |a| a.precision),
        ("false attributions (actor-less)", "#d62728", |a| {
            a.false_rate
        }),
    ];
    for (k, (name, colour, f)) in series.iter().enumerate() {
        for (_, curve) in curves {
            let points: Vec<String> = curve
                .iter()
                .map(|a| format!("{:.1},{:.1}", x(a.threshold), y(f(a))))
                .collect();
            s.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-opacity=\"0.7\" points=\"{}\"/>\n",
                points.join(" ")
            ));
        }
        // The legend sits where no curve goes: mid-height, mid-threshold.
        let ly = y(0.6) + 16.0 * k as f64;
        s.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{name}</text>\n",
            x(0.35),
            x(0.40),
            x(0.41),
            ly + 4.0
        ));
    }
    s.push_str("</svg>\n");
    s
}

/// Distinct groups the cases were drawn from (for the report).
pub fn groups_used(cases: &[Case]) -> usize {
    cases
        .iter()
        .filter_map(|c| c.truth)
        .collect::<BTreeSet<u32>>()
        .len()
}

/// Reliability: for the best candidates with confidence in each tenth
/// (0.0–0.1, … 0.9–1.0), how many there are and how many are right (the
/// group behind an actor campaign; for an actor-less one, none is).
pub fn reliability(cases: &[Case]) -> Vec<(usize, usize)> {
    let mut bins = vec![(0usize, 0usize); 10];
    for c in cases {
        if let Some(r) = c.ranked.first().filter(|r| r.confidence > 0.0) {
            let b = ((r.confidence * 10.0) as usize).min(9);
            bins[b].0 += 1;
            bins[b].1 += usize::from(c.truth == Some(r.actor));
        }
    }
    bins
}

/// Top-1 at `t` on actor campaigns by the size of the group's profile
/// (techniques): (lower bound of the bucket, right, of).
pub fn by_profile_size(cases: &[Case], t: f64) -> Vec<(usize, usize, usize)> {
    let actors = Actors::shipped();
    let mut m: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for c in cases.iter().filter(|c| c.shape.has_actor()) {
        let Some(size) = c
            .truth
            .and_then(|g| actors.profile(g))
            .map(|p| p.techniques.len())
        else {
            continue;
        };
        let bucket = match size {
            0..=7 => 4,
            8..=15 => 8,
            16..=31 => 16,
            _ => 32,
        };
        let e = m.entry(bucket).or_default();
        e.1 += 1;
        let got = attributed(c, t);
        e.0 += usize::from(got.is_some() && got == c.truth);
    }
    m.into_iter().map(|(b, (a, n))| (b, a, n)).collect()
}
