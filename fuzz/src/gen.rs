//! Seeds: plausible and borderline values of every field, and whole
//! records built from them.

use cisp_model::*;
use cisp_wire::records::*;

use crate::mutate::{mutate_str, Rng, INTERESTING_LONGS};

/// The registry the service ships with; its members are the ones whose
/// topics exist.
pub(crate) const REGISTRY: &str = include_str!("../../config/members.toml");

/// Tokens that normalisers treat specially, or that have broken parsers
/// elsewhere: defanging, separators, encodings, Unicode that changes under
/// case mapping or IDNA, bidi and zero-width characters, control bytes.
pub(crate) const TOKENS: [&[u8]; 40] = [
    b"[.]",
    b"(.)",
    b"[dot]",
    b"hxxp",
    b"hXXps",
    b"[:]",
    b"[@]",
    b"://",
    b"..",
    b"/",
    b"@",
    b":",
    b"[",
    b"]",
    b"%",
    b"%00",
    b"%2e",
    b"xn--",
    b"xn--bcher-kva",
    b"\0",
    b"\n",
    b"\r\n",
    b"\t",
    b" ",
    "\u{200b}".as_bytes(),
    "\u{202e}".as_bytes(),
    "\u{feff}".as_bytes(),
    "ß".as_bytes(),
    "İ".as_bytes(),
    "ﬀ".as_bytes(),
    "\u{fe0f}".as_bytes(),
    "０".as_bytes(),
    "𝟏".as_bytes(),
    "。".as_bytes(),
    b"\xff\xfe",
    b"\xc0\xae",
    b"::",
    b"/33",
    b"AS",
    b"T1",
];

/// Borderline and normal examples of each observable kind.
pub(crate) fn observable_seeds(kind: ObservableKind) -> &'static [&'static str] {
    use ObservableKind::*;
    match kind {
        Ipv4 => &[
            "192.0.2.1",
            "10.0.0.1",
            "1[.]2[.]3[.]4",
            "192.168.001.001",
            "255.255.255.255",
            "0x7f.0.0.1",
            "1.2.3",
            " 203.0.113.9 ",
        ],
        Ipv6 => &[
            "2001:db8::1",
            "::1",
            "fe80::1%eth0",
            "::ffff:192.0.2.1",
            "2001:DB8:0:0:0:0:0:1",
            "[2001:db8::1]",
            "2001:db8:::1",
        ],
        Cidr => &[
            "192.0.2.0/24",
            "10.0.0.0/8",
            "2001:db8::/32",
            "192.0.2.1/33",
            "::/0",
            "192.0.2.7/24",
        ],
        Domain => &[
            "evil.example",
            "EVIL[.]Example.",
            "xn--bcher-kva.example",
            "bücher.example",
            "a..b",
            "*.evil.example",
            "-x.example",
            "localhost",
        ],
        Url => &[
            "hxxp://evil[.]example/x?a=1#f",
            "https://user:pass@evil.example:8443/p",
            "http://[2001:db8::1]/",
            "HTTPS://EVIL.EXAMPLE",
            "http://192.0.2.1/%2e%2e/a",
            "ftp://files.example/x",
            "javascript:alert(1)",
            "http://bücher.example/ü",
        ],
        Email => &[
            "Bob@Evil.Example",
            "bob[@]evil[.]example",
            "\"a b\"@x.example",
            "a@b@c",
            "<bob@x.example>",
            "bob@[192.0.2.1]",
        ],
        Md5 => &[
            "d41d8cd98f00b204e9800998ecf8427e",
            "D41D8CD98F00B204E9800998ECF8427E",
        ],
        Sha1 => &["da39a3ee5e6b4b0d3255bfef95601890afd80709"],
        Sha256 => &["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
        Ssdeep => &[
            "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C",
            "96:abc:def",
            "3::",
        ],
        Tlsh => &[
            "T18e01b2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2",
            "8e01b2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2",
        ],
        Filename => &[
            "invoice.pdf.exe",
            "../../etc/passwd",
            "a\u{202e}txt.exe",
            "CON",
            " report .docx ",
        ],
        Asn => &["AS64500", "as13335", "64500", "AS4294967296", "AS-1"],
        Cve => &[
            "CVE-2021-44228",
            "cve-2024-0001",
            "CVE-99-1",
            "CVE-2024-12345678",
        ],
        Ja3 => &[
            "e7d705a3286e19ea42f587b344ee6865",
            "E7D705A3286E19EA42F587B344EE686",
        ],
    }
}

/// A value for `kind`: a seed, usually mutated, now and then a seed of
/// another kind or a very long string.
pub(crate) fn observable_value(rng: &mut Rng, kind: ObservableKind) -> String {
    let seeds = if rng.chance(10) {
        observable_seeds(*rng.pick(&ObservableKind::ALL))
    } else {
        observable_seeds(kind)
    };
    let seed = *rng.pick(seeds);
    match rng.below(10) {
        0..=3 => seed.to_owned(),
        4 => seed.repeat(1 + rng.below(300)),
        _ => mutate_str(rng, seed, &TOKENS, 8192),
    }
}

/// A free-text field: ordinary, hostile markup, control characters, or
/// far too long.
fn text(rng: &mut Rng) -> String {
    const TEXTS: [&str; 6] = [
        "Invoice lure",
        "<script>alert(1)</script>",
        "'; DROP TABLE alerts; --",
        "line\nbreak\u{0}nul",
        "{{ template }} ${jndi:ldap://x}",
        "Ünïcödé \u{202e}reversed",
    ];
    let base = *rng.pick(&TEXTS);
    match rng.below(8) {
        0 => base.repeat(1 + rng.below(2000)),
        1..=2 => mutate_str(rng, base, &TOKENS, 4096),
        _ => base.to_owned(),
    }
}

fn some_of(rng: &mut Rng, items: &[&str], max: usize) -> Vec<String> {
    let n = rng.below(max + 1);
    (0..n).map(|_| (*rng.pick(items)).to_owned()).collect()
}

/// A submission record, valid more often than not, from `member`.
pub(crate) fn submission(rng: &mut Rng, member: &str, n: u64) -> SubmissionRecord {
    const MEMBERS: [&str; 6] = [
        "northbank",
        "gridco",
        "lakeside-bs",
        "nobody",
        "Fusion-Cell",
        "",
    ];
    const GROUPS: [&str; 4] = ["fin-isac", "energy-isac", "no-such-group", "FIN ISAC"];
    const SECTORS: [&str; 5] = ["finance", "energy", "water", "moon", ""];
    const TTPS: [&str; 6] = ["T1566", "T1566.001", "t1059", "X1", "T1", "T1566.0001"];
    const NAMES: [&str; 4] = ["FIN7", "Emotet", "", "APT-\u{202e}x"];

    let scope = *rng.pick(&Scope::ALL);
    let many = if rng.chance(2) { 1200 } else { 12 };
    let obs_count = rng.below(many);
    let observables = (0..obs_count)
        .map(|_| {
            let kind = *rng.pick(&ObservableKind::ALL);
            ObservableRecord {
                kind,
                value: observable_value(rng, kind),
                role: rng.chance(30).then(|| *rng.pick(&ObservableRole::ALL)),
                first_seen: rng.chance(20).then(|| *rng.pick(&INTERESTING_LONGS)),
                last_seen: rng.chance(20).then(|| *rng.pick(&INTERESTING_LONGS)),
                confidence: rng
                    .chance(30)
                    .then(|| *rng.pick(&[0, 50, 100, 101, -1, i32::MAX])),
            }
        })
        .collect();
    SubmissionRecord {
        submission_id: if rng.chance(90) {
            format!("F-{n}")
        } else {
            mutate_str(rng, "F-1", &TOKENS, 400)
        },
        member_id: member.to_owned(),
        submitted_at: if rng.chance(80) {
            1_763_546_400_000 + rng.below(1 << 30) as i64
        } else {
            *rng.pick(&INTERESTING_LONGS)
        },
        kind: *rng.pick(&SubmissionKind::ALL),
        tlp: *rng.pick(&Tlp::ALL),
        distribution: DistributionRecord {
            scope,
            members: some_of(rng, &MEMBERS, 3),
            groups: some_of(rng, &GROUPS, 2),
        },
        attribution: if rng.chance(30) {
            Attribution::Anonymous
        } else {
            Attribution::Attributed
        },
        title: text(rng),
        description: rng.chance(50).then(|| text(rng)),
        observables,
        ttps: some_of(rng, &TTPS, 4),
        malware: some_of(rng, &NAMES, 2),
        actor_claims: some_of(rng, &NAMES, 2),
        targeted_sectors: some_of(rng, &SECTORS, 3),
        confidence: *rng.pick(&[50, 0, 100, 101, -1, i32::MIN]),
    }
}
