//! The sharing matrix, end to end on the real broker and ClickHouse: one
//! submission for every distribution × TLP × anonymity combination, then
//! probe members who report every one of their observables. Each probe's
//! alert topic must hold exactly the combinations its audience rights allow
//! — written out again here from docs/SHARING.md and `config/members.toml`, not
//! taken from the service — and not one byte of the others.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::collections::BTreeSet;

use cisp_fusion::Topics;
use cisp_model::*;
use cisp_testkit::{community_record, wait_durable, TestEnv};
use cisp_wire::records::*;
use cisp_wire::{Codec, DecodeLimits, RecordType};

const SUBMITTER: &str = "northbank"; // finance, group fin-isac
/// Probes and what the registry says about them.
const PROBES: [&str; 6] = [
    "lakeside-bs",   // finance, fin-isac
    "gridco",        // energy, energy-isac; the named member
    "waterworks",    // water, no groups
    "national-cert", // partner, fin-isac + energy-isac
    "smallbiz",      // retail
    "fusion-cell",
];

#[derive(Clone, Copy, Debug)]
struct Combo {
    scope: Scope,
    tlp: Tlp,
    anonymous: bool,
}

impl Combo {
    fn title(&self) -> String {
        format!(
            "matrix {} {} {}",
            self.scope.name(),
            self.tlp.symbol(),
            if self.anonymous { "anonymous" } else { "named" }
        )
    }

    /// The one observable only this combination carries.
    fn domain(&self, i: usize) -> String {
        format!("mx-{i:02}.example")
    }

    /// docs/SHARING.md, for this registry: may `probe` see it?
    fn visible_to(&self, probe: &str) -> bool {
        if probe == "fusion-cell" {
            return true;
        }
        match self.scope {
            Scope::FusionCellOnly => false,
            Scope::NamedMembers => probe == "gridco",
            Scope::SharingGroups => matches!(probe, "lakeside-bs" | "national-cert"),
            Scope::Sector => probe == "lakeside-bs",
            Scope::Community => true,
        }
    }
}

fn submission(id: String, member: &str, c: Combo, domains: Vec<String>) -> SubmissionRecord {
    let obs: Vec<(ObservableKind, &str)> = domains
        .iter()
        .map(|d| (ObservableKind::Domain, d.as_str()))
        .collect();
    SubmissionRecord {
        kind: SubmissionKind::Phishing,
        tlp: c.tlp,
        distribution: DistributionRecord {
            scope: c.scope,
            members: if c.scope == Scope::NamedMembers {
                vec!["gridco".into()]
            } else {
                vec![]
            },
            groups: if c.scope == Scope::SharingGroups {
                vec!["fin-isac".into()]
            } else {
                vec![]
            },
        },
        attribution: if c.anonymous {
            Attribution::Anonymous
        } else {
            Attribution::Attributed
        },
        title: c.title(),
        ..community_record(member, &id, &obs)
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_sees_exactly_what_each_distribution_tlp_and_anonymity_allows() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let t = Topics::new(env.prefix());
    let codec = Codec::new(DecodeLimits::default()).unwrap();
    let p = env.producer();

    let mut combos = Vec::new();
    for scope in Scope::ALL {
        for tlp in Tlp::ALL {
            for anonymous in [false, true] {
                combos.push(Combo {
                    scope,
                    tlp,
                    anonymous,
                });
            }
        }
    }
    let valid: Vec<usize> = (0..combos.len())
        .filter(|&i| combos[i].tlp.allows(combos[i].scope))
        .collect();
    for (i, c) in combos.iter().enumerate() {
        let r = submission(format!("MX-{i:02}"), SUBMITTER, *c, vec![c.domain(i)]);
        env.submit(&p, &r).await;
    }
    wait_durable(&running, combos.len() as u64).await;

    // Each probe reports every matrix observable, to the Fusion Cell only:
    // the probes must not tell each other about the matrix domains, or a
    // probe's alert would rightly name domains it learnt from another probe.
    let all: Vec<String> = combos
        .iter()
        .enumerate()
        .map(|(i, c)| c.domain(i))
        .collect();
    let open = Combo {
        scope: Scope::FusionCellOnly,
        tlp: Tlp::Green,
        anonymous: false,
    };
    for probe in PROBES {
        let mut r = submission(format!("PROBE-{probe}"), probe, open, all.clone());
        r.title = format!("probe by {probe}");
        env.submit(&p, &r).await;
    }
    wait_durable(&running, (combos.len() + PROBES.len()) as u64).await;

    for probe in PROBES {
        let raw = env.read_all(&t.alerts(&MemberId::parse(probe).unwrap()));
        let alerts: Vec<AlertRecord> = raw
            .iter()
            .map(|b| codec.decode::<AlertRecord>(RecordType::Alert, b).unwrap().0)
            .collect();
        let mut told: BTreeSet<String> = BTreeSet::new();
        for a in &alerts {
            assert_eq!(a.recipient, probe);
            for rel in a.related.iter().filter(|r| r.title.starts_with("matrix ")) {
                told.insert(rel.title.clone());
                let anonymous = rel.title.ends_with(" anonymous");
                if anonymous && probe != "fusion-cell" {
                    assert_eq!(rel.member_id, None, "{probe}: {}", rel.title);
                    assert_eq!(rel.member_name, None);
                    assert!(rel.submission_id.starts_with("anon-"));
                    // finance has 2 organisations, below k = 3
                    assert_eq!(rel.sector, None, "{probe}: sector of an anonymous report");
                } else {
                    assert_eq!(rel.member_id.as_deref(), Some(SUBMITTER));
                    assert!(rel.submission_id.starts_with("MX-"));
                }
            }
            // The alert's TLP is at least that of every matrix entry it names.
            for rel in &a.related {
                assert!(a.tlp >= rel.tlp, "{probe}: alert below an input's TLP");
            }
        }
        let expected: BTreeSet<String> = valid
            .iter()
            .filter(|&&i| combos[i].visible_to(probe))
            .map(|&i| combos[i].title())
            .collect();
        assert_eq!(
            told, expected,
            "{probe} was told about exactly what it may see"
        );
        // Not a byte of what it may not see: neither the title nor the
        // observable (which would reveal that a hidden report matched).
        for &i in &valid {
            if combos[i].visible_to(probe) {
                continue;
            }
            for (n, bytes) in raw.iter().enumerate() {
                for needle in [combos[i].title(), combos[i].domain(i), format!("MX-{i:02}")] {
                    assert!(
                        !contains(bytes, &needle),
                        "LEAK: alert {n} to {probe} contains {needle:?}"
                    );
                }
            }
        }
        // Anonymous submitters stay anonymous in every byte.
        if probe != "fusion-cell" {
            for &i in valid.iter().filter(|&&i| combos[i].anonymous) {
                for bytes in &raw {
                    assert!(
                        !contains(bytes, &format!("MX-{i:02}")),
                        "{probe}: anonymous id"
                    );
                }
            }
        }
    }

    // Inconsistent TLP × distribution pairs are dead letters with a reason.
    let db = &env.config.clickhouse.database;
    let rejected = env
        .count(&format!(
            "SELECT count() FROM {db}.dead_letters FINAL WHERE reason_code = 'tlp_distribution'"
        ))
        .await;
    assert_eq!(rejected as usize, combos.len() - valid.len());

    // The audit: every alert to a probe is in ClickHouse with provenance,
    // and none of them was built from a submission the probe may not see.
    for probe in PROBES {
        for &i in valid.iter().filter(|&&i| !combos[i].visible_to(probe)) {
            let n = env
                .count(&format!(
                    "SELECT count() FROM {db}.alerts FINAL WHERE recipient = '{probe}' \
                     AND has(provenance, '{SUBMITTER}/MX-{i:02}')"
                ))
                .await;
            assert_eq!(n, 0, "audit: {probe} alert built from MX-{i:02}");
        }
    }

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}
