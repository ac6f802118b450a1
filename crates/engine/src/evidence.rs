//! Evidence: what a submission carries that can tie it to others.
//!
//! A submission's reported observables are evidence, and so is what they
//! are *derived from*: a URL's host, an e-mail's domain, a host's
//! registrable domain (public suffix list), an address's /24 or /64. Its
//! ATT&CK techniques, their set, and its malware families are evidence too.
//!
//! Each kind of evidence has a strength (docs/ARCHITECTURE.md, "The correlation engine"):
//! * **strong** links two submissions alone: file hashes, fuzzy hashes,
//!   JA3, full URLs, host names (reported, or a URL's or e-mail's), IP
//!   addresses, e-mail addresses;
//! * **weak** needs a second, different piece shared by the same two
//!   submissions: same /24 or /64, same registrable domain, same technique
//!   set (two or more techniques), same malware family, same file name,
//!   same CVE;
//! * **context** never links: single techniques, ASNs, CIDR ranges.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{Ipv4Addr, Ipv6Addr};

use cisp_model::{Observable, ObservableKind, Submission};
use serde::{Deserialize, Serialize};

use crate::psl::PublicSuffixList;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EvidenceKey {
    /// A normalised observable, reported or derived (a URL's host).
    Observable(Observable),
    /// The /24 (IPv4) or /64 (IPv6) around an address, as a CIDR observable.
    Prefix(Observable),
    /// The registrable domain of a host, as a domain observable.
    Registrable(Observable),
    /// The set of ATT&CK techniques (parents, sorted, `;`-joined) of a
    /// submission with at least two.
    TechniqueSet(Box<str>),
    /// One ATT&CK technique (parent id).
    Technique(Box<str>),
    /// A malware family, lower-cased.
    Malware(Box<str>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Strength {
    Strong,
    Weak,
    Context,
}

/// The shipped list of commodity and dual-use malware families
/// (`data/commodity-malware.txt`).
pub const COMMODITY_MALWARE: &str = include_str!("../../../data/commodity-malware.txt");

/// Whether `family` (lower-cased, as evidence holds it) is on the shipped
/// commodity list.
pub fn is_commodity(family: &str) -> bool {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| commodity_families().collect())
        .contains(family)
}

/// The names on the shipped commodity list.
pub fn commodity_families() -> impl Iterator<Item = &'static str> {
    COMMODITY_MALWARE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

impl EvidenceKey {
    /// How much it says, given whether commodity malware families link
    /// (`EngineConfig::commodity_malware_links`): a family on the shipped
    /// commodity list is context unless they do.
    pub fn strength_with(&self, commodity_links: bool) -> Strength {
        match self {
            EvidenceKey::Malware(m) if !commodity_links && is_commodity(m) => Strength::Context,
            _ => self.strength(),
        }
    }

    pub fn strength(&self) -> Strength {
        match self {
            EvidenceKey::Observable(o) => match o.kind() {
                ObservableKind::Filename | ObservableKind::Cve => Strength::Weak,
                ObservableKind::Asn | ObservableKind::Cidr => Strength::Context,
                _ => Strength::Strong,
            },
            EvidenceKey::Prefix(_)
            | EvidenceKey::Registrable(_)
            | EvidenceKey::TechniqueSet(_)
            | EvidenceKey::Malware(_) => Strength::Weak,
            EvidenceKey::Technique(_) => Strength::Context,
        }
    }

    /// Kind and value, for people and the query API.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            EvidenceKey::Observable(o) => (o.kind().name(), o.value().to_owned()),
            EvidenceKey::Prefix(o) => ("prefix", o.value().to_owned()),
            EvidenceKey::Registrable(o) => ("registrable-domain", o.value().to_owned()),
            EvidenceKey::TechniqueSet(s) => ("technique-set", s.to_string()),
            EvidenceKey::Technique(s) => ("technique", s.to_string()),
            EvidenceKey::Malware(s) => ("malware", s.to_string()),
        }
    }
}

/// How a piece of evidence reached a submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Reported (an observable), or a technique/malware it names.
    Direct,
    /// Derived from the item at this position of the list.
    DerivedFrom(usize),
}

/// Everything a submission carries, reported first, then derived; each key
/// once. Nothing is derived from a value `listed` says is warn-listed: an
/// open resolver's /24 or a popular site's registrable domain must not
/// link through the back door.
/// Everything derived, with every source it is derived from, is in
/// [`Derived::sources`] as (derived position, source position).
pub(crate) struct Derived {
    pub(crate) items: Vec<(EvidenceKey, Via)>,
    pub(crate) sources: Vec<(usize, usize)>,
}

pub(crate) fn derive(
    sub: &Submission,
    psl: &PublicSuffixList,
    listed: &dyn Fn(&Observable) -> bool,
) -> Derived {
    let mut c = Collector {
        out: Vec::with_capacity(sub.observables.len() * 3),
        seen: HashMap::with_capacity(sub.observables.len() * 3),
        hasher: std::collections::hash_map::RandomState::new(),
        listed,
        sources: Vec::new(),
    };
    for s in &sub.observables {
        c.push(EvidenceKey::Observable(s.observable.clone()), Via::Direct);
    }
    let direct = c.out.len();
    for i in 0..direct {
        if let EvidenceKey::Observable(o) = &c.out[i].0 {
            let o = o.clone();
            c.derive_from(&o, i, psl);
        }
    }
    let mut techniques: Vec<Box<str>> = sub
        .ttps
        .iter()
        .map(|t| t.split('.').next().unwrap_or(t).into())
        .collect();
    techniques.sort();
    techniques.dedup();
    if techniques.len() >= 2 {
        let set = techniques.join(";");
        c.push(EvidenceKey::TechniqueSet(set.into()), Via::Direct);
    }
    for t in techniques {
        c.push(EvidenceKey::Technique(t), Via::Direct);
    }
    for m in &sub.malware {
        let name = m.trim().to_lowercase();
        if !name.is_empty() {
            c.push(EvidenceKey::Malware(name.into()), Via::Direct);
        }
    }
    Derived {
        items: c.out,
        sources: c.sources,
    }
}

struct Collector<'l> {
    out: Vec<(EvidenceKey, Via)>,
    /// Hash of a key → its first position.
    seen: HashMap<u64, usize>,
    hasher: std::collections::hash_map::RandomState,
    listed: &'l dyn Fn(&Observable) -> bool,
    sources: Vec<(usize, usize)>,
}

impl Collector<'_> {
    /// Adds `k` unless present; its position either way. Keys are found
    /// by hash without copying them (a collision falls back to a scan).
    fn push(&mut self, k: EvidenceKey, via: Via) -> usize {
        let h = self.hasher.hash_one(&k);
        let known = match self.seen.get(&h) {
            Some(&i) if self.out[i].0 == k => Some(i),
            Some(_) => self.out.iter().position(|(e, _)| *e == k),
            None => None,
        };
        let i = known.unwrap_or_else(|| {
            self.out.push((k, via));
            self.seen.entry(h).or_insert(self.out.len() - 1);
            self.out.len() - 1
        });
        // Reported items have no sources; derived ones remember them all.
        if let (Via::DerivedFrom(from), (_, Via::DerivedFrom(_))) = (via, &self.out[i]) {
            if !self.sources.contains(&(i, from)) {
                self.sources.push((i, from));
            }
        }
        i
    }

    fn derive_from(&mut self, o: &Observable, at: usize, psl: &PublicSuffixList) {
        if (self.listed)(o) {
            return;
        }
        let via = Via::DerivedFrom(at);
        let host_domain = |host: &str| Observable::derived(ObservableKind::Domain, host).ok();
        match o.kind() {
            ObservableKind::Url => {
                if let Some(ip) = url_ip(o.value()) {
                    let i = self.push(EvidenceKey::Observable(ip.clone()), via);
                    self.derive_from(&ip, i, psl);
                } else if let Some(d) = o.host().and_then(host_domain) {
                    let i = self.push(EvidenceKey::Observable(d.clone()), via);
                    self.derive_from(&d, i, psl);
                }
            }
            ObservableKind::Email => {
                if let Some(d) = o.host().and_then(host_domain) {
                    let i = self.push(EvidenceKey::Observable(d.clone()), via);
                    self.derive_from(&d, i, psl);
                }
            }
            ObservableKind::Domain => {
                if let Some(d) = psl.registrable(o.value()).and_then(host_domain) {
                    self.push(EvidenceKey::Registrable(d), via);
                }
            }
            ObservableKind::Ipv4 => {
                if let Ok(ip) = o.value().parse::<Ipv4Addr>() {
                    let net = Ipv4Addr::from(u32::from(ip) & 0xffff_ff00);
                    if let Ok(p) = Observable::derived(ObservableKind::Cidr, &format!("{net}/24")) {
                        self.push(EvidenceKey::Prefix(p), via);
                    }
                }
            }
            ObservableKind::Ipv6 => {
                if let Ok(ip) = o.value().parse::<Ipv6Addr>() {
                    let net = Ipv6Addr::from(u128::from(ip) & !((1u128 << 64) - 1));
                    if let Ok(p) = Observable::derived(ObservableKind::Cidr, &format!("{net}/64")) {
                        self.push(EvidenceKey::Prefix(p), via);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The address a URL names as its host, if it is an IP literal.
pub(crate) fn url_ip(url: &str) -> Option<Observable> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        let v6 = v6.split_once(']')?.0;
        return Observable::derived(ObservableKind::Ipv6, v6).ok();
    }
    let host = host.split_once(':').map_or(host, |(h, _)| h);
    host.parse::<Ipv4Addr>()
        .ok()
        .and_then(|_| Observable::derived(ObservableKind::Ipv4, host).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cisp_model::{
        Attribution, Distribution, MemberId, SightedObservable, SubmissionId, SubmissionKind, Tlp,
    };

    fn sub(obs: &[(ObservableKind, &str)], ttps: &[&str], malware: &[&str]) -> Submission {
        Submission {
            id: SubmissionId::parse("s1").unwrap(),
            member: MemberId::parse("m1").unwrap(),
            submitted_at_ms: 1_760_000_000_000,
            kind: SubmissionKind::Incident,
            tlp: Tlp::Green,
            distribution: Distribution::Community,
            attribution: Attribution::Attributed,
            title: String::new(),
            description: None,
            observables: obs
                .iter()
                .map(|(k, v)| SightedObservable {
                    observable: Observable::parse(*k, v).unwrap(),
                    role: None,
                    first_seen_ms: None,
                    last_seen_ms: None,
                    confidence: None,
                })
                .collect(),
            ttps: ttps.iter().map(|s| s.to_string()).collect(),
            malware: malware.iter().map(|s| s.to_string()).collect(),
            actor_claims: vec![],
            targeted_sectors: vec![],
            confidence: 50,
        }
    }

    fn keys(s: &Submission) -> Vec<(&'static str, String, Strength)> {
        let psl = PublicSuffixList::shipped();
        derive(s, &psl, &|_| false)
            .items
            .into_iter()
            .map(|(k, _)| {
                let (kind, v) = k.describe();
                (kind, v, k.strength())
            })
            .collect()
    }

    #[test]
    fn urls_emails_and_addresses_derive_hosts_domains_and_prefixes() {
        use ObservableKind::*;
        let s = sub(
            &[
                (Url, "https://login.evil.co.uk/a?b=1"),
                (Email, "billing@pay.evil.co.uk"),
                (Ipv4, "45.9.148.77"),
                (Url, "http://45.9.148.78:8080/x"),
                (Ipv6, "2a00:1450:4009:80b::200e"),
            ],
            &["T1566.001", "T1059", "T1566.002"],
            &["Emotet"],
        );
        let k = keys(&s);
        let has = |kind: &str, v: &str, st: Strength| {
            assert!(
                k.iter().any(|(a, b, c)| *a == kind && b == v && *c == st),
                "{kind} {v} {st:?} missing from {k:?}"
            );
        };
        has("url", "https://login.evil.co.uk/a?b=1", Strength::Strong);
        has("domain", "login.evil.co.uk", Strength::Strong);
        has("domain", "pay.evil.co.uk", Strength::Strong);
        has("registrable-domain", "evil.co.uk", Strength::Weak);
        has("ipv4", "45.9.148.78", Strength::Strong);
        has("prefix", "45.9.148.0/24", Strength::Weak);
        has("prefix", "2a00:1450:4009:80b::/64", Strength::Weak);
        has("technique-set", "T1059;T1566", Strength::Weak);
        has("technique", "T1566", Strength::Context);
        has("malware", "emotet", Strength::Weak);
        // Each key once, however many ways it is reached.
        let mut seen = k.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), k.len());
        // One technique is no set.
        let one = sub(&[], &["T1059"], &[]);
        assert!(!keys(&one).iter().any(|(a, _, _)| *a == "technique-set"));
    }
}
