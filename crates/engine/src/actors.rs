//! Threat actors: profiles seeded from reference data (a compact extract of
//! MITRE ATT&CK intrusion sets, `data/attack/groups.tsv`, licence in
//! `data/attack/LICENSE-ATTACK.txt`) plus the actors members claim, and the
//! scoring that attributes a campaign to one of them.
//!
//! Attribution is belief over hypotheses, calibrated on planted campaigns
//! (issue 26; `cisp-quality --attribution`, BENCHMARKS.md). Campaign and
//! profiles are sets of features — parent ATT&CK techniques and software —
//! each weighted by its rarity among the profiles, `ln(1 + N / df)`,
//! software ×3, and software that singles out no group (the shipped
//! commodity list, or in [`SHARED_SOFTWARE_GROUPS`] or more profiles)
//! weighs nothing. For each actor `a` sharing weight `w` with a campaign
//! of total weight `W`, whose profile weighs `P`:
//!
//! * log-evidence L(a) = w − missing·(W − w) − unseen·(P − w) −
//!   size·ln(1 + P): what the profile explains, less what the campaign
//!   shows that the profile lacks, less a little for what the profile holds
//!   that the campaign does not show (a campaign is a partial view), less
//!   a prior that spreads a large profile's belief over its many features;
//! * "no known actor" stands at L = `none`, and every reference profile
//!   sharing nothing at its own L;
//! * the actor's technical belief is its share of exp(L / temperature) over
//!   all hypotheses (a posterior): many groups explaining the same common
//!   techniques share the belief, so none of them reaches the threshold;
//! * claims are evidence, not verdicts: a claiming member adds `claim` to
//!   L (two 1.5×, many up to 2×), only for an actor the technical evidence
//!   supports and only when that can tip a close call (the actor is within
//!   the claims' weight of the leader); the confidence is the posterior
//!   with claims.
//!
//! The best actor is attributed when its confidence is above 0 and reaches
//! the threshold; the attribution carries its top contributing evidence.
//! On the calibration scenario a confidence means what it says: of best
//! candidates at 0.6–0.7, 64 % were right; at 0.8–0.9, 82 %.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// The extract shipped with this build.
pub const SHIPPED: &str = include_str!("../../../data/attack/groups.tsv");
/// Other names of the software in it (`x-agent` → `chopstick`).
pub const SHIPPED_SOFTWARE_ALIASES: &str =
    include_str!("../../../data/attack/software-aliases.tsv");

const MALWARE_WEIGHT: f64 = 3.0;
/// Software in this many groups' profiles or more is shared tooling.
pub const SHARED_SOFTWARE_GROUPS: usize = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActorProfile {
    /// ATT&CK group id (`G0007`), or `claim:<name>` for an actor known only
    /// from members' claims.
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub techniques: BTreeSet<String>,
    pub software: BTreeSet<String>,
}

/// A campaign's features, as [`Actors::score`] reads them.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Features {
    /// Parent technique id → submissions naming it.
    pub techniques: BTreeMap<Box<str>, u32>,
    /// Malware family (lower case) → submissions naming it.
    pub malware: BTreeMap<Box<str>, u32>,
    /// Claimed actor (profile index) → distinct claiming members.
    pub claims: BTreeMap<u32, BTreeSet<String>>,
}

impl Features {
    /// Distinct techniques, families and (actor, member) claims: grows
    /// exactly when scoring could change.
    pub(crate) fn size(&self) -> (usize, usize, usize) {
        (
            self.techniques.len(),
            self.malware.len(),
            self.claims.values().map(BTreeSet::len).sum(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub actor: u32,
    pub confidence: f64,
    /// Top contributing evidence, most telling first.
    pub evidence: Vec<String>,
}

/// The parameters of attribution scoring, calibrated on planted campaigns
/// (`cisp-quality --attribution`, BENCHMARKS.md "Attribution").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scoring {
    /// Weight against an actor of each unit of the campaign's evidence its
    /// profile lacks (per unit it holds: 1).
    pub missing: f64,
    /// Log-evidence of "no known actor": evidence an actor's profile
    /// explains must exceed it to be believed.
    pub none: f64,
    /// Temperature of the posterior: higher spreads belief over more
    /// actors.
    pub temperature: f64,
    /// Log-evidence one claiming member adds (two add 1.5×, many up to 2×).
    pub claim: f64,
    /// Weight against an actor of each unit of its profile the campaign
    /// does not show (a campaign is a partial view, so well below 1; what
    /// keeps a group that uses everything from matching everything).
    pub unseen: f64,
    /// Weight against an actor per e-fold of its profile's size: a group
    /// that uses many techniques explains any one of them less.
    pub size: f64,
}

impl Default for Scoring {
    fn default() -> Scoring {
        Scoring {
            missing: 1.0,
            none: 2.0,
            temperature: 1.0,
            claim: 2.0,
            unseen: 0.02,
            size: 1.0,
        }
    }
}

/// One actor's standing for a campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub actor: u32,
    pub confidence: f64,
    /// Belief from techniques and software alone.
    pub overlap: f64,
    /// Claiming members whose claims counted (they tip a close call only).
    pub claims_counted: usize,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Actors {
    profiles: Vec<ActorProfile>,
    /// Lower-cased name or alias → profile.
    by_name: HashMap<String, u32>,
    /// Feature → profiles that have it.
    technique_index: HashMap<String, Vec<u32>>,
    software_index: HashMap<String, Vec<u32>>,
    /// Σ feature weights of each profile.
    norm: Vec<f64>,
    /// How many reference profiles there are (weights use it).
    reference: u32,
    /// Other name of a piece of software → the name profiles use.
    software_aliases: HashMap<String, String>,
}

impl Actors {
    /// Parses the TSV extract: id, name, aliases, techniques, software
    /// (lists `;`-separated). Malformed lines are errors.
    pub fn parse(tsv: &str) -> Result<Actors, EngineError> {
        let mut actors = Actors::default();
        for (n, line) in tsv.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let [id, name, aliases, techniques, software] = cols[..] else {
                return Err(EngineError::Reference {
                    file: "groups.tsv".into(),
                    line: n + 1,
                    message: "expected 5 columns".into(),
                });
            };
            let list = |s: &str| -> Vec<String> {
                s.split(';')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            actors.add(ActorProfile {
                id: id.to_owned(),
                name: name.to_owned(),
                aliases: list(aliases),
                techniques: list(techniques)
                    .into_iter()
                    .map(|t| parent(&t).to_owned())
                    .collect(),
                software: list(software)
                    .into_iter()
                    .map(|s| s.to_lowercase())
                    .collect(),
            });
        }
        actors.reference = u32::try_from(actors.profiles.len()).unwrap_or(u32::MAX);
        actors.renorm();
        Ok(actors)
    }

    pub fn shipped() -> Actors {
        let mut a = Actors::parse(SHIPPED).unwrap_or_default();
        a.add_software_aliases(SHIPPED_SOFTWARE_ALIASES);
        a
    }

    /// Reads `alias <TAB> name` lines.
    pub fn add_software_aliases(&mut self, tsv: &str) {
        for line in tsv.lines().filter(|l| !l.starts_with('#')) {
            if let Some((alias, name)) = line.split_once('\t') {
                self.software_aliases
                    .insert(alias.trim().to_lowercase(), name.trim().to_lowercase());
            }
        }
    }

    /// The name profiles use for a piece of software.
    pub fn software_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.software_aliases.get(name).map_or(name, String::as_str)
    }

    fn add(&mut self, p: ActorProfile) -> u32 {
        let i = u32::try_from(self.profiles.len()).unwrap_or(u32::MAX);
        for n in std::iter::once(&p.name).chain(&p.aliases) {
            self.by_name.entry(n.to_lowercase()).or_insert(i);
        }
        for t in &p.techniques {
            self.technique_index.entry(t.clone()).or_default().push(i);
        }
        for s in &p.software {
            self.software_index.entry(s.clone()).or_default().push(i);
        }
        self.profiles.push(p);
        i
    }

    fn weight(&self, df: usize) -> f64 {
        let n = f64::from(self.reference.max(1));
        (1.0 + n / (df.max(1) as f64)).ln()
    }

    fn technique_weight(&self, t: &str) -> f64 {
        self.weight(self.technique_index.get(t).map_or(0, Vec::len))
    }

    /// Software that singles out no group weighs nothing (issue 26): a
    /// family on the shipped commodity list, or one in the profiles of at
    /// least [`SHARED_SOFTWARE_GROUPS`] groups of the reference extract
    /// (Mimikatz 51, PsExec 38, `net` 32, Cobalt Strike 29, Impacket 18…).
    fn malware_weight(&self, m: &str) -> f64 {
        let df = self.software_index.get(m).map_or(0, Vec::len);
        if df >= SHARED_SOFTWARE_GROUPS || crate::evidence::is_commodity(m) {
            return 0.0;
        }
        MALWARE_WEIGHT * self.weight(df)
    }

    fn renorm(&mut self) {
        self.norm = self
            .profiles
            .iter()
            .map(|p| {
                p.techniques
                    .iter()
                    .map(|t| self.technique_weight(t))
                    .chain(p.software.iter().map(|s| self.malware_weight(s)))
                    .sum()
            })
            .collect();
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    pub fn profile(&self, i: u32) -> Option<&ActorProfile> {
        self.profiles.get(i as usize)
    }

    pub fn profiles(&self) -> &[ActorProfile] {
        &self.profiles
    }

    /// The profile a member's claim names (name or alias, any case);
    /// unknown names get a claim-only profile.
    pub fn resolve_claim(&mut self, claim: &str) -> u32 {
        let key = claim.trim().to_lowercase();
        if let Some(&i) = self.by_name.get(&key) {
            return i;
        }
        let i = self.add(ActorProfile {
            id: format!("claim:{key}"),
            name: claim.trim().to_owned(),
            aliases: Vec::new(),
            techniques: BTreeSet::new(),
            software: BTreeSet::new(),
        });
        self.norm.push(0.0);
        i
    }

    /// Every actor sharing a feature with `f` or claimed in it, best
    /// first, scored with the shipped [`Scoring`].
    pub fn ranked(&self, f: &Features) -> Vec<Ranked> {
        self.ranked_with(f, &Scoring::default())
    }

    /// [`Actors::ranked`] with other scoring parameters (calibration).
    pub fn ranked_with(&self, f: &Features, k: &Scoring) -> Vec<Ranked> {
        // Shared weight per actor, and the campaign's total.
        let malware: BTreeSet<&str> = f.malware.keys().map(|m| self.software_name(m)).collect();
        let mut shared: HashMap<u32, f64> = HashMap::new();
        let mut total = 0.0;
        for t in f.techniques.keys() {
            let w = self.technique_weight(t);
            total += w;
            for &a in self.technique_index.get(&**t).into_iter().flatten() {
                *shared.entry(a).or_default() += w;
            }
        }
        for m in &malware {
            let w = self.malware_weight(m);
            if w == 0.0 {
                continue;
            }
            total += w;
            for &a in self.software_index.get(*m).into_iter().flatten() {
                *shared.entry(a).or_default() += w;
            }
        }
        shared.retain(|_, w| *w > 0.0);
        // Log-evidence of each hypothesis "actor a did it": what its profile
        // explains, less what the campaign shows that the profile lacks.
        // The other reference profiles explain none of it; "no known
        // actor" stands at `k.none`.
        let log_evidence = |w: f64, norm: f64| {
            (w - k.missing * (total - w)
                - k.unseen * (norm - w).max(0.0)
                - k.size * (1.0 + norm).ln())
                / k.temperature
        };
        let rest = (self.reference as usize).saturating_sub(shared.len()) as f64;
        let mean_norm = self.norm.iter().take(self.reference as usize).sum::<f64>()
            / f64::from(self.reference.max(1));
        let posterior = |scores: &[(u32, f64)]| -> Vec<f64> {
            let others = log_evidence(0.0, mean_norm);
            let none = k.none / k.temperature;
            let top = scores
                .iter()
                .map(|&(_, l)| l)
                .fold(none.max(others), f64::max);
            let z = (none - top).exp()
                + rest * (others - top).exp()
                + scores.iter().map(|&(_, l)| (l - top).exp()).sum::<f64>();
            scores.iter().map(|&(_, l)| (l - top).exp() / z).collect()
        };
        let mut technical: Vec<(u32, f64)> = shared
            .iter()
            .map(|(&a, &w)| {
                let norm = self.norm.get(a as usize).copied().unwrap_or(0.0);
                (a, log_evidence(w, norm))
            })
            .collect();
        technical.sort_by_key(|&(a, _)| a);
        let overlaps = posterior(&technical);
        // Claims are evidence, not verdicts (issue 26): a member's claim
        // adds `k.claim` (then half as much per further member) to the
        // log-evidence of an actor the technical evidence supports, and only
        // when that can tip a close call — the actor is within the claims'
        // weight of the leader. A claim alone, or against clear evidence,
        // counts nothing.
        let leader = technical
            .iter()
            .map(|&(_, l)| l)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut counted: Vec<usize> = vec![0; technical.len()];
        let mut with_claims = technical.clone();
        for (i, (a, l)) in with_claims.iter_mut().enumerate() {
            let n = f.claims.get(a).map_or(0, BTreeSet::len);
            if n == 0 {
                continue;
            }
            let bonus = k.claim * 2.0 * (1.0 - 0.5f64.powi(i32::try_from(n).unwrap_or(i32::MAX)))
                / k.temperature;
            if leader - *l <= bonus {
                *l += bonus;
                counted[i] = n;
            }
        }
        let confidences = posterior(&with_claims);
        let mut ranked: Vec<Ranked> = technical
            .iter()
            .enumerate()
            .map(|(i, &(actor, _))| Ranked {
                actor,
                confidence: confidences[i],
                overlap: overlaps[i],
                claims_counted: counted[i],
            })
            .collect();
        // Claimed actors the evidence does not support are listed, at 0.
        for &a in f.claims.keys() {
            if !shared.contains_key(&a) {
                ranked.push(Ranked {
                    actor: a,
                    confidence: 0.0,
                    overlap: 0.0,
                    claims_counted: 0,
                });
            }
        }
        // Best first; ties go to the lower index: deterministic.
        ranked.sort_by(|x, y| {
            y.confidence
                .total_cmp(&x.confidence)
                .then_with(|| x.actor.cmp(&y.actor))
        });
        ranked
    }

    /// The best-scoring actor for `f`, if its confidence reaches
    /// `threshold` (and is above 0).
    pub fn score(&self, f: &Features, threshold: f64) -> Option<Attribution> {
        self.score_except(f, threshold, &BTreeSet::new())
    }

    /// The actor a name, alias or ATT&CK id (`G0007`) names.
    pub fn find(&self, name_or_id: &str) -> Option<u32> {
        let key = name_or_id.trim().to_lowercase();
        if let Some(&i) = self.by_name.get(&key) {
            return Some(i);
        }
        self.profiles
            .iter()
            .position(|p| p.id.eq_ignore_ascii_case(name_or_id.trim()))
            .and_then(|i| u32::try_from(i).ok())
    }

    /// The best actor but those in `except` (rejected by the Fusion Cell),
    /// if it reaches `threshold`.
    pub fn score_except(
        &self,
        f: &Features,
        threshold: f64,
        except: &BTreeSet<u32>,
    ) -> Option<Attribution> {
        let best = self
            .ranked(f)
            .into_iter()
            .find(|r| !except.contains(&r.actor))
            .filter(|r| r.confidence > 0.0 && r.confidence >= threshold)?;
        self.attribution_to(f, &best)
    }

    /// `actor` as the campaign's attribution, with its confidence and
    /// evidence, whatever the confidence (an analyst's decision).
    pub fn attribution_of(&self, f: &Features, actor: u32) -> Option<Attribution> {
        let r = self.ranked(f).into_iter().find(|r| r.actor == actor);
        match r {
            Some(r) => self.attribution_to(f, &r),
            None => {
                self.profile(actor)?;
                Some(Attribution {
                    actor,
                    confidence: 0.0,
                    evidence: Vec::new(),
                })
            }
        }
    }

    fn attribution_to(&self, f: &Features, best: &Ranked) -> Option<Attribution> {
        let (actor, confidence) = (best.actor, best.confidence);
        let (mut evidence, _) = self.for_and_against(f, actor);
        evidence.truncate(5);
        if best.claims_counted > 0 {
            evidence.insert(0, format!("claimed by {} member(s)", best.claims_counted));
        }
        Some(Attribution {
            actor,
            confidence,
            evidence,
        })
    }

    /// What speaks for `actor` (the campaign's techniques and software its
    /// profile holds, heaviest first) and against it (those it lacks).
    pub fn for_and_against(&self, f: &Features, actor: u32) -> (Vec<String>, Vec<String>) {
        let Some(p) = self.profile(actor) else {
            return (Vec::new(), Vec::new());
        };
        let malware: BTreeSet<&str> = f.malware.keys().map(|m| self.software_name(m)).collect();
        let mut pro: Vec<(f64, String)> = Vec::new();
        let mut con: Vec<(f64, String)> = Vec::new();
        for t in f.techniques.keys() {
            let item = (self.technique_weight(t), format!("technique {t}"));
            if p.techniques.contains(&**t) {
                pro.push(item)
            } else {
                con.push(item)
            }
        }
        for m in &malware {
            let w = self.malware_weight(m);
            let label = if w == 0.0 {
                format!("malware {m} (shared tooling: no weight)")
            } else {
                format!("malware {m}")
            };
            if p.software.contains(*m) {
                pro.push((w, label))
            } else {
                con.push((w, label))
            }
        }
        let order = |v: &mut Vec<(f64, String)>| {
            v.sort_by(|x, y| y.0.total_cmp(&x.0).then_with(|| x.1.cmp(&y.1)));
            v.drain(..).map(|(_, s)| s).collect::<Vec<String>>()
        };
        (order(&mut pro), order(&mut con))
    }
}

/// `T1566.001` → `T1566`.
pub fn parent(technique: &str) -> &str {
    technique.split('.').next().unwrap_or(technique)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn features(t: &[&str], m: &[&str]) -> Features {
        Features {
            techniques: t.iter().map(|x| (Box::from(*x), 1)).collect(),
            malware: m.iter().map(|x| (Box::from(*x), 1)).collect(),
            claims: BTreeMap::new(),
        }
    }

    #[test]
    fn the_shipped_extract_loads() {
        let a = Actors::shipped();
        assert!(a.len() > 150, "{} profiles", a.len());
        let apt28 = a.by_name["apt28"];
        assert_eq!(a.profile(apt28).unwrap().id, "G0007");
        assert_eq!(a.by_name["fancy bear"], apt28, "aliases resolve");
    }

    #[test]
    fn a_groups_own_techniques_and_software_attribute_to_it() {
        let a = Actors::shipped();
        for name in ["apt28", "lazarus group", "fin7", "apt29"] {
            let i = a.by_name[name];
            let p = a.profile(i).unwrap();
            let t: Vec<&str> = p.techniques.iter().take(12).map(String::as_str).collect();
            let m: Vec<&str> = p.software.iter().take(2).map(String::as_str).collect();
            let got = a.score(&features(&t, &m), 0.3).unwrap();
            assert_eq!(got.actor, i, "{name}: {:?}", a.profile(got.actor));
            assert!(!got.evidence.is_empty());
        }
    }

    #[test]
    fn claims_raise_confidence_and_unknown_actors_get_a_profile() {
        let mut a = Actors::shipped();
        let x = a.resolve_claim("Totally New Crew");
        assert_eq!(a.resolve_claim("totally new crew"), x);
        let mut f = features(&[], &[]);
        f.claims.insert(x, ["m1".to_owned()].into());
        // Claims alone never attribute, at any threshold, however many.
        assert!(
            a.score(&f, 0.0).is_none(),
            "one claim alone attributes nothing"
        );
        f.claims.get_mut(&x).unwrap().insert("m2".into());
        f.claims.get_mut(&x).unwrap().insert("m3".into());
        assert!(
            a.score(&f, 0.0).is_none(),
            "three claims alone attribute nothing"
        );
    }

    #[test]
    fn the_threshold_is_inclusive_and_a_claim_tips_only_a_close_call() {
        let a = Actors::shipped();
        let apt28 = a.by_name["apt28"];
        let p = a.profile(apt28).unwrap();
        let t: Vec<&str> = p.techniques.iter().take(6).map(String::as_str).collect();
        let evidence = features(&t, &[]);
        let got = a.score(&evidence, 0.0).unwrap();
        assert_eq!(got.actor, apt28);
        // At exactly its confidence it attributes; a hair above, not.
        assert!(a.score(&evidence, got.confidence).is_some());
        assert!(a.score(&evidence, got.confidence + 1e-9).is_none());
        // A claim for the evidence's winner raises its confidence…
        let mut claimed = evidence.clone();
        claimed.claims.insert(apt28, ["m1".to_owned()].into());
        let up = a.score(&claimed, 0.0).unwrap();
        assert_eq!(up.actor, apt28);
        assert!(up.confidence > got.confidence);
        // …a claim for a group the evidence does not support changes nothing.
        let lazarus = a.by_name["lazarus group"];
        let mut wrong = evidence.clone();
        wrong
            .claims
            .insert(lazarus, ["m1".to_owned(), "m2".to_owned()].into());
        let kept = a.score(&wrong, 0.0).unwrap();
        assert_eq!(
            kept.actor, apt28,
            "two wrong claims overturned the evidence"
        );
        assert!((kept.confidence - got.confidence).abs() < 1e-12);
    }

    /// A small reference set: A and B share T1001–T1004; A alone has
    /// T1005, B alone T1006; ten other groups use common techniques.
    fn twins() -> Actors {
        let mut tsv = String::from(
            "G9001\tA\t\tT1001;T1002;T1003;T1004;T1005\t\n\
             G9002\tB\t\tT1001;T1002;T1003;T1004;T1006\t\n",
        );
        for i in 0..10 {
            tsv.push_str(&format!(
                "G91{i:02}\tFiller {i}\t\tT1059;T1105;T12{i:02}\t\n"
            ));
        }
        Actors::parse(&tsv).unwrap()
    }

    #[test]
    fn a_claim_tips_a_close_call_and_never_overturns_clear_evidence() {
        let a = twins();
        let (ga, gb) = (a.by_name["a"], a.by_name["b"]);
        // What both profiles hold: a tie, which the lower index wins…
        let tie = features(&["T1001", "T1002", "T1003", "T1004"], &[]);
        let r = a.ranked(&tie);
        assert_eq!((r[0].actor, r[1].actor), (ga, gb));
        assert!((r[0].confidence - r[1].confidence).abs() < 1e-12);
        // …until a member claims B: the claim tips the close call.
        let mut claimed = tie.clone();
        claimed.claims.insert(gb, ["m1".to_owned()].into());
        let r = a.ranked(&claimed);
        assert_eq!(r[0].actor, gb, "{r:?}");
        assert_eq!(r[0].claims_counted, 1);
        assert!(r[0].confidence > r[0].overlap);
        // With A's own technique as well the evidence is clear: the same
        // claim, even from three members, counts nothing.
        let mut clear = features(&["T1001", "T1002", "T1003", "T1004", "T1005"], &[]);
        let before = a.ranked(&clear);
        assert_eq!(before[0].actor, ga);
        clear.claims.insert(
            gb,
            ["m1".to_owned(), "m2".to_owned(), "m3".to_owned()].into(),
        );
        let after = a.ranked(&clear);
        assert_eq!(after[0].actor, ga, "{after:?}");
        assert_eq!(after[0].confidence, before[0].confidence);
        assert_eq!(after.iter().map(|r| r.claims_counted).sum::<usize>(), 0);
    }

    #[test]
    fn common_techniques_and_shared_tools_attribute_to_no_group() {
        // Issue 26's actor-less campaigns: three of the techniques most
        // groups use plus a commodity tool went to APT19, Play, FIN13…
        // Every such combination of the ten most common stays unattributed
        // at the shipped threshold.
        let a = Actors::shipped();
        let mut df: Vec<(usize, &str)> = a
            .technique_index
            .iter()
            .map(|(t, v)| (v.len(), t.as_str()))
            .collect();
        df.sort_by(|x, y| y.cmp(x));
        let common: Vec<&str> = df.iter().take(10).map(|x| x.1).collect();
        let threshold = crate::EngineConfig::default().attribution_threshold;
        let mut tried = 0;
        for i in 0..common.len() {
            for j in i + 1..common.len() {
                for k in j + 1..common.len() {
                    for tool in ["cobalt strike", "psexec", "impacket", "rclone", "mimikatz"] {
                        let f = features(&[common[i], common[j], common[k]], &[tool]);
                        let got = a.score(&f, threshold);
                        assert!(
                            got.is_none(),
                            "{:?} + {tool}: {got:?}",
                            [common[i], common[j], common[k]]
                        );
                        tried += 1;
                    }
                }
            }
        }
        assert_eq!(tried, 600);
    }

    #[test]
    fn a_small_profile_is_no_easier_to_match_than_a_large_one() {
        // With the old p^3/4 r^1/4 overlap, a two-technique profile matched
        // by both its techniques scored r = 1; now belief follows evidence:
        // a few common techniques, all of a small group's profile (APT30's
        // phishing and user execution), are not enough to name it.
        let a = Actors::shipped();
        let threshold = crate::EngineConfig::default().attribution_threshold;
        let mut small = 0;
        for p in a.profiles().iter().filter(|p| p.techniques.len() <= 3) {
            let t: Vec<&str> = p.techniques.iter().map(String::as_str).collect();
            let common = t.iter().all(|t| a.technique_index[*t].len() >= 20);
            if common {
                small += 1;
                assert!(
                    a.score(&features(&t, &[]), threshold).is_none(),
                    "{}",
                    p.name
                );
            }
        }
        assert!(
            small > 0,
            "no small profile of common techniques in the extract"
        );
    }

    #[test]
    fn commodity_tools_count_for_no_group() {
        let a = Actors::shipped();
        // Cobalt Strike and PsExec alone, plus common techniques.
        let f = features(&["T1059", "T1105", "T1071"], &["cobalt strike", "psexec"]);
        let with_tools = a.score(&f, 0.0).map(|x| x.confidence);
        let without = a
            .score(&features(&["T1059", "T1105", "T1071"], &[]), 0.0)
            .map(|x| x.confidence);
        assert_eq!(with_tools, without, "the tools changed the score");
        // Shared beyond the list: Mimikatz is in 51 profiles.
        assert_eq!(a.malware_weight("mimikatz"), 0.0);
        assert!(a.malware_weight("x-agent") > 0.0);
    }

    #[test]
    fn apt28_from_a_few_techniques_and_its_malware() {
        let a = Actors::shipped();
        let f = features(
            &["T1566", "T1059", "T1071", "T1003", "T1547"],
            &["x-agent", "zebrocy"],
        );
        let got = a.score(&f, 0.0).unwrap();
        assert_eq!(a.profile(got.actor).unwrap().id, "G0007", "{got:?}");
        assert!(got.confidence >= 0.5, "{got:?}");
    }

    #[test]
    fn the_demo_campaign_points_at_fin7() {
        // demo/scenario.json: the invoice campaign's techniques and malware.
        let a = Actors::shipped();
        let f = features(
            &["T1566", "T1071", "T1059", "T1105", "T1204"],
            &["griffon", "carbanak", "cobalt strike"],
        );
        let got = a.score(&f, 0.0).unwrap();
        assert_eq!(a.profile(got.actor).unwrap().name, "FIN7", "{got:?}");
        assert!(
            got.confidence >= 0.5,
            "attributed at the default threshold: {got:?}"
        );
    }

    #[test]
    fn nothing_in_common_attributes_nothing() {
        let a = Actors::shipped();
        assert!(a
            .score(&features(&["T9999"], &["no-such-family"]), 0.3)
            .is_none());
        assert!(a.score(&Features::default(), 0.0).is_none());
    }
}
