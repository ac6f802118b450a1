//! Synthetic member submissions with a fixed seed: a mix of kinds, 1 to
//! `max_observables` observables each, planted campaigns (groups of
//! submissions sharing a few strong indicators), shared-hosting noise (a
//! few values many unrelated submissions carry) and a little malformed
//! input.

use cisp_model::{Attribution, ObservableKind, Scope, SubmissionKind, Tlp};
use cisp_wire::records::{DistributionRecord, ObservableRecord, SubmissionRecord};

/// xorshift64*: deterministic, dependency-free, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A member registry for synthetic runs: the Fusion Cell, then `ids` as
/// members named `"{name} {i}"`, spread round-robin over `sectors`.
pub fn registry_toml(ids: &[String], name: &str, sectors: &[&str]) -> String {
    let mut s = String::from(
        "[[member]]\nid = \"fusion-cell\"\nname = \"Fusion Cell\"\nsector = \"government\"\nrole = \"fusion-cell\"\n",
    );
    for (i, m) in ids.iter().enumerate() {
        s.push_str(&format!(
            "[[member]]\nid = \"{m}\"\nname = \"{name} {i}\"\nsector = \"{}\"\nrole = \"member\"\n",
            sectors[i % sectors.len()]
        ));
    }
    s
}

pub struct Params {
    pub members: Vec<String>,
    pub max_observables: u64,
    /// Percentage of submissions that belong to a planted campaign.
    pub campaign_percent: u64,
    pub campaigns: u64,
    /// Percentage of malformed records.
    pub malformed_percent: u64,
    /// Percentage of submissions carrying one of a few shared-hosting IPs.
    pub shared_hosting_percent: u64,
    /// Percentage of submissions carrying a warn-listed value (a public
    /// resolver or a popular domain): stored, never linking.
    pub warnlisted_percent: u64,
}

/// Warn-listed values the generator mixes in (on `data/warnlists/`).
const WARNLISTED: [(ObservableKind, &str); 4] = [
    (ObservableKind::Ipv4, "8.8.8.8"),
    (ObservableKind::Ipv4, "1.1.1.1"),
    (ObservableKind::Domain, "google.com"),
    (ObservableKind::Domain, "microsoft.com"),
];

pub enum Item {
    Submission {
        member: String,
        record: Box<SubmissionRecord>,
    },
    Malformed {
        member: String,
        bytes: Vec<u8>,
    },
}

fn observable(rng: &mut Rng, unique: u64) -> ObservableRecord {
    match rng.below(6) {
        0 => ObservableRecord::new(
            ObservableKind::Ipv4,
            format!(
                "{}.{}.{}.{}",
                11 + unique % 200,
                (unique >> 8) % 256,
                (unique >> 16) % 256,
                1 + (unique >> 24) % 254
            ),
        ),
        1 => ObservableRecord::new(
            ObservableKind::Domain,
            format!("host{unique}.load-{}.example", unique % 97),
        ),
        2 => ObservableRecord::new(
            ObservableKind::Url,
            format!("hxxp://site{unique}[.]example/p/{}", unique % 13),
        ),
        3 => ObservableRecord::new(ObservableKind::Sha256, format!("{unique:064x}")),
        4 => ObservableRecord::new(
            ObservableKind::Email,
            format!("user{unique}@mail{}.example", unique % 31),
        ),
        _ => ObservableRecord::new(ObservableKind::Md5, format!("{unique:032x}")),
    }
}

pub fn generate(p: &Params, n: u64, seed: u64) -> Vec<Item> {
    let mut rng = Rng::new(seed);
    let kinds = SubmissionKind::ALL;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let member = p.members[rng.below(p.members.len() as u64) as usize].clone();
        if rng.chance(p.malformed_percent) {
            out.push(Item::Malformed {
                member,
                bytes: format!("garbage record {i}").into_bytes(),
            });
            continue;
        }
        let count = 1 + rng.below(p.max_observables);
        let mut observables = Vec::with_capacity(count as usize);
        if rng.chance(p.campaign_percent) {
            // Two indicators of one planted campaign.
            let c = rng.below(p.campaigns);
            observables.push(ObservableRecord::new(
                ObservableKind::Domain,
                format!("campaign{c}.bad.example"),
            ));
            observables.push(ObservableRecord::new(
                ObservableKind::Sha256,
                format!("{:064x}", 0x00C0_FFEE_0000 + c),
            ));
        }
        if p.warnlisted_percent > 0 && rng.chance(p.warnlisted_percent) {
            let (kind, value) = WARNLISTED[rng.below(WARNLISTED.len() as u64) as usize];
            observables.push(ObservableRecord::new(kind, value));
        }
        if rng.chance(p.shared_hosting_percent) {
            // Shared-hosting noise: a handful of values many reports carry.
            observables.push(ObservableRecord::new(
                ObservableKind::Ipv4,
                format!("203.0.113.{}", 1 + rng.below(8)),
            ));
        }
        while (observables.len() as u64) < count {
            let unique = seed
                .wrapping_mul(1_000_003)
                .wrapping_add(i * 64 + observables.len() as u64);
            observables.push(observable(&mut rng, unique));
        }
        let scope = if rng.chance(80) {
            Scope::Community
        } else {
            Scope::Sector
        };
        let record = SubmissionRecord {
            submission_id: format!("load-{seed}-{i}"),
            member_id: member.clone(),
            submitted_at: 1_763_546_400_000 + i as i64 * 1000,
            kind: kinds[rng.below(kinds.len() as u64) as usize],
            // AMBER may not go to the community (docs/SHARING.md).
            tlp: if scope == Scope::Community {
                Tlp::Green
            } else {
                Tlp::Amber
            },
            distribution: DistributionRecord {
                scope,
                members: vec![],
                groups: vec![],
            },
            attribution: if rng.chance(90) {
                Attribution::Attributed
            } else {
                Attribution::Anonymous
            },
            title: format!("synthetic report {i}"),
            description: None,
            observables,
            ttps: vec![format!("T{}", 1000 + rng.below(600))],
            malware: vec![],
            actor_claims: vec![],
            targeted_sectors: vec![],
            confidence: rng.below(101) as i32,
        };
        out.push(Item::Submission {
            member,
            record: Box::new(record),
        });
    }
    out
}

/// Two reports of the same new indicators by two different members (the
/// second links to the first and alerts both): the trickle of the latency
/// benchmark, one pair at a time. Ids are `trickle-{seed}-{k}-{a|b}`.
pub fn linked_pair(members: &[String], seed: u64, k: u64) -> [(String, SubmissionRecord); 2] {
    let n = members.len().max(2) as u64;
    let a = members[(k % n) as usize % members.len()].clone();
    let b = members[((k + 1) % n) as usize % members.len()].clone();
    let tag = seed.wrapping_mul(1_000_003).wrapping_add(k);
    let make = |member: &String, side: &str| SubmissionRecord {
        submission_id: format!("trickle-{seed}-{k}-{side}"),
        member_id: member.clone(),
        submitted_at: 1_763_546_400_000 + k as i64 * 1000,
        kind: SubmissionKind::Phishing,
        tlp: Tlp::Green,
        distribution: DistributionRecord {
            scope: Scope::Community,
            members: vec![],
            groups: vec![],
        },
        attribution: Attribution::Attributed,
        title: format!("trickle report {k}{side}"),
        description: None,
        observables: vec![
            ObservableRecord::new(ObservableKind::Domain, format!("trickle{tag}.bad.example")),
            ObservableRecord::new(
                ObservableKind::Sha256,
                format!("{:064x}", 0x7_1C4E_0000_0000 + tag),
            ),
        ],
        ttps: vec![],
        malware: vec![],
        actor_claims: vec![],
        targeted_sectors: vec![],
        confidence: 80,
    };
    [(a.clone(), make(&a, "a")), (b.clone(), make(&b, "b"))]
}
