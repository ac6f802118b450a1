//! Member feeds as a SOC uses them (issue 23), on the real stack: reports
//! of every audience go through the broker and the fusion service into
//! ClickHouse; two members poll their feeds through the gateway with their
//! own keys, and each sees exactly its audience's values; no block list
//! holds a warn-listed value; a poll with the last ETag answers 304; the
//! Suricata rules parse with `suricataparser` and the STIX bundle passes
//! the OASIS validator (tools no one here wrote). What submitters withdrew
//! and values members disputed are not listed; members' sightings show as
//! anonymous counts from the k-anonymity threshold on (issue 22).

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use cisp_model::{MemberId, ObservableKind, Scope, Tlp};
use cisp_testkit::{community_record, python, wait_durable, TestEnv};
use cisp_wire::records::SubmissionRecord;

/// An HTTP/1.1 GET with extra headers, without a key if `None`:
/// (status, headers, body bytes).
async fn get_raw(
    addr: std::net::SocketAddr,
    path: &str,
    key: Option<&str>,
    extra: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    let (path, key) = (path.to_owned(), key.map(str::to_owned));
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = extra
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        cisp_testkit::http_exchange(addr, "GET", &path, key.as_deref(), &headers, b"")
    })
    .await
    .unwrap()
}

/// [`get_raw`] with the body as text.
async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    key: Option<&str>,
    extra: &[(&str, &str)],
) -> (u16, String, String) {
    let (status, head, body) = get_raw(addr, path, key, extra).await;
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// A feed that must be served (200): (headers, body).
async fn feed(addr: std::net::SocketAddr, key: &str, name: &str) -> (String, String) {
    let (status, headers, body) = get(addr, &format!("/v1/feeds/{name}"), Some(key), &[]).await;
    assert_eq!(status, 200, "{name}: {body}");
    (headers, body)
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn report(
    member: &str,
    id: &str,
    tlp: Tlp,
    scope: Scope,
    list: &[&str],
    obs: &[(ObservableKind, &str)],
) -> SubmissionRecord {
    let mut r = community_record(member, id, obs);
    r.submitted_at = cisp_intake::gateway::now_ms();
    r.tlp = tlp;
    r.distribution.scope = scope;
    match scope {
        Scope::NamedMembers => r.distribution.members = list.iter().map(|s| (*s).into()).collect(),
        Scope::SharingGroups => r.distribution.groups = list.iter().map(|s| (*s).into()).collect(),
        _ => {}
    }
    r.confidence = 80;
    r
}

fn lines(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_member_polls_exactly_its_audience_and_outside_parsers_accept_the_feeds() {
    use ObservableKind::*;
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let p = env.producer();
    let u = env.prefix().replace('_', "-");
    let community = format!("community-{u}.example");
    let finance = format!("finance-only-{u}.example");
    let energy_url = format!("https://energy-{u}.example/x;y");
    let red = format!("red-only-{u}.example");
    let disputed = format!("disputed-{u}.example");
    let records: Vec<SubmissionRecord> = vec![
        report(
            "smallbiz",
            "F-1",
            Tlp::Green,
            Scope::Community,
            &[],
            &[(Domain, community.as_str()), (Ipv4, "198.51.100.10")],
        ),
        report(
            "lakeside-bs",
            "F-2",
            Tlp::Amber,
            Scope::Sector,
            &[],
            &[(Domain, finance.as_str())],
        ),
        report(
            "healthtrust",
            "F-3",
            Tlp::Amber,
            Scope::NamedMembers,
            &["gridco"],
            &[(Ipv4, "198.51.100.30")],
        ),
        report(
            "waterworks",
            "F-4",
            Tlp::Amber,
            Scope::SharingGroups,
            &["energy-isac"],
            &[(Url, energy_url.as_str())],
        ),
        // Warn-listed: a public resolver and a private address.
        report(
            "smallbiz",
            "F-5",
            Tlp::Green,
            Scope::Community,
            &[],
            &[
                (Ipv4, "8.8.8.8"),
                (Ipv4, "10.0.0.5"),
                (Ipv4, "198.51.100.11"),
            ],
        ),
        report(
            "smallbiz",
            "F-6",
            Tlp::Red,
            Scope::NamedMembers,
            &["northbank"],
            &[(Domain, red.as_str())],
        ),
        report(
            "smallbiz",
            "F-7",
            Tlp::Green,
            Scope::Community,
            &[],
            &[(Ipv4, "198.51.100.12"), (Ipv4, "198.51.100.13")],
        ),
        report(
            "smallbiz",
            "F-8",
            Tlp::Green,
            Scope::Community,
            &[],
            &[(Domain, disputed.as_str())],
        ),
    ];
    env.submit_all(&p, &records).await;
    wait_durable(&running, records.len() as u64).await;
    // Talking back: smallbiz takes 198.51.100.12 out of F-7; three members
    // saw 198.51.100.10 too; three dispute F-8's domain, two the
    // community one (below k = 3: no count shown).
    let codec = cisp_wire::Codec::new(cisp_wire::DecodeLimits::default()).unwrap();
    let topics = cisp_platform::Topics::new(env.prefix());
    let fix = cisp_wire::records::CorrectionRecord {
        correction_id: "F-7-FIX".into(),
        member_id: "smallbiz".into(),
        submission_id: "F-7".into(),
        corrected_at: 1_763_546_500_000,
        retract: false,
        remove_observables: vec![cisp_wire::records::ObservableRecord::new(
            Ipv4,
            "198.51.100.12",
        )],
        tlp: None,
        distribution: None,
        reason: "our own NAT address".into(),
    };
    let topic = topics.submissions(&MemberId::parse("smallbiz").unwrap());
    env.produce(
        &p,
        &topic,
        "F-7-FIX",
        &codec
            .encode(cisp_wire::RecordType::Correction, &fix)
            .unwrap(),
    )
    .await;
    let mut said = 1u64;
    for (m, kind, kind_name, value, o) in [
        (
            "northbank",
            cisp_wire::records::FeedbackKindRecord::Sighting,
            "s",
            "198.51.100.10",
            Ipv4,
        ),
        (
            "gridco",
            cisp_wire::records::FeedbackKindRecord::Sighting,
            "s",
            "198.51.100.10",
            Ipv4,
        ),
        (
            "waterworks",
            cisp_wire::records::FeedbackKindRecord::Sighting,
            "s",
            "198.51.100.10",
            Ipv4,
        ),
        (
            "northbank",
            cisp_wire::records::FeedbackKindRecord::FalsePositive,
            "d",
            disputed.as_str(),
            Domain,
        ),
        (
            "gridco",
            cisp_wire::records::FeedbackKindRecord::FalsePositive,
            "d",
            disputed.as_str(),
            Domain,
        ),
        (
            "lakeside-bs",
            cisp_wire::records::FeedbackKindRecord::FalsePositive,
            "d",
            disputed.as_str(),
            Domain,
        ),
        (
            "northbank",
            cisp_wire::records::FeedbackKindRecord::FalsePositive,
            "c",
            community.as_str(),
            Domain,
        ),
        (
            "gridco",
            cisp_wire::records::FeedbackKindRecord::FalsePositive,
            "c",
            community.as_str(),
            Domain,
        ),
    ] {
        let id = format!("FB-{m}-{kind_name}");
        let fb = cisp_wire::records::FeedbackRecord {
            feedback_id: id.clone(),
            member_id: m.into(),
            kind,
            observable: cisp_wire::records::ObservableRecord::new(o, value),
            count: 5,
            seen_at: None,
            confidence: None,
            comment: String::new(),
            submitted_at: 1_763_546_600_000,
        };
        let topic = topics.submissions(&MemberId::parse(m).unwrap());
        env.produce(
            &p,
            &topic,
            &id,
            &codec.encode(cisp_wire::RecordType::Feedback, &fb).unwrap(),
        )
        .await;
        said += 1;
    }
    wait_durable(&running, records.len() as u64 + said).await;

    let dir = std::env::temp_dir().join(cisp_testkit::unique("feeds-"));
    std::fs::create_dir_all(&dir).unwrap();
    let keys_path = dir.join("keys.toml");
    let north =
        cisp_intake::keys::add(&keys_path, &MemberId::parse("northbank").unwrap(), "soc").unwrap();
    let grid =
        cisp_intake::keys::add(&keys_path, &MemberId::parse("gridco").unwrap(), "soc").unwrap();
    let gateway = common::RunningGateway::start(&env, &keys_path).await;
    let addr = gateway.addr;

    // Each member: exactly its audience.
    let (north, grid) = (north.as_str(), grid.as_str());
    let nd = lines(&feed(addr, north, "domain.txt").await.1);
    let gd = lines(&feed(addr, grid, "domain.txt").await.1);
    let ni = lines(&feed(addr, north, "ip.txt").await.1);
    let gi = lines(&feed(addr, grid, "ip.txt").await.1);
    let gu = lines(&feed(addr, grid, "url.txt").await.1);
    let nu = lines(&feed(addr, north, "url.txt").await.1);
    eprintln!("northbank: {nd:?} {ni:?} {nu:?}\ngridco: {gd:?} {gi:?} {gu:?}");
    assert!(nd.contains(&community) && nd.contains(&finance), "{nd:?}");
    assert!(
        !nd.contains(&red),
        "RED is above the default max_tlp (AMBER)"
    );
    assert!(gd.contains(&community) && !gd.contains(&finance), "{gd:?}");
    assert!(
        ni.contains("198.51.100.10") && ni.contains("198.51.100.11"),
        "{ni:?}"
    );
    assert!(
        !ni.contains("198.51.100.30"),
        "named for gridco only: {ni:?}"
    );
    assert!(gi.contains("198.51.100.30"), "{gi:?}");
    assert!(
        !ni.contains("198.51.100.12") && ni.contains("198.51.100.13"),
        "a value its submitter took out is not listed: {ni:?}"
    );
    assert!(
        !nd.contains(&disputed) && nd.contains(&community),
        "three members disputed it (two: still listed): {nd:?}"
    );
    for list in [&ni, &gi] {
        assert!(
            !list.contains("8.8.8.8") && !list.contains("10.0.0.5"),
            "warn-listed values in a block list: {list:?}"
        );
    }
    assert!(
        gu.iter()
            .any(|l| l.starts_with(&format!("https://energy-{u}.example/"))),
        "{gu:?}"
    );
    assert!(
        nu.iter().all(|l| !l.contains("energy-")),
        "a group northbank is not in: {nu:?}"
    );
    let (_, red_body) = {
        let (status, h, b) = get(addr, "/v1/feeds/domain.txt?max_tlp=red", Some(north), &[]).await;
        assert_eq!(status, 200);
        (h, b)
    };
    assert!(
        lines(&red_body).contains(&red),
        "named for northbank, asked for up to RED"
    );
    let (_, _, grid_red) = get(addr, "/v1/feeds/domain.txt?max_tlp=red", Some(grid), &[]).await;
    assert!(
        !lines(&grid_red).contains(&red),
        "never another member's RED"
    );

    // Conditional GET: the same ETag answers 304 with no body.
    let (headers, _) = feed(addr, grid, "ip.txt").await;
    let etag = header(&headers, "etag").unwrap().to_owned();
    let (status, _, body) = get(
        addr,
        "/v1/feeds/ip.txt",
        Some(grid),
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(status, 304, "{body}");
    assert!(body.is_empty());
    let lm = header(&headers, "last-modified").unwrap().to_owned();
    let (status, _, _) = get(
        addr,
        "/v1/feeds/ip.txt",
        Some(grid),
        &[("If-Modified-Since", &lm)],
    )
    .await;
    assert_eq!(status, 304);
    let (status, _, _) = get(
        addr,
        "/v1/feeds/ip.txt",
        Some(grid),
        &[("If-None-Match", "\"something-else\"")],
    )
    .await;
    assert_eq!(status, 200);

    // Compressed for a client that accepts gzip: Python's gzip module (an
    // implementation no one here wrote) gives back the plain feed.
    let plain = feed(addr, grid, "indicators.csv").await.1;
    let (status, headers, zipped) = get_raw(
        addr,
        "/v1/feeds/indicators.csv",
        Some(grid),
        &[("Accept-Encoding", "br, gzip;q=0.8")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-encoding"),
        Some("gzip"),
        "{headers}"
    );
    let gz_path = dir.join("grid.csv.gz");
    std::fs::write(&gz_path, &zipped).unwrap();
    let out = Command::new(python())
        .args(["-c", "import gzip, sys; sys.stdout.buffer.write(gzip.decompress(open(sys.argv[1], 'rb').read()))"])
        .arg(&gz_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), plain);
    let (status, _, _) = get_raw(
        addr,
        "/v1/feeds/indicators.csv",
        Some(grid),
        &[("Accept-Encoding", "gzip;q=0")],
    )
    .await;
    assert_eq!(status, 200);

    // Outside parsers: Suricata rules and the STIX bundle.
    let rules = feed(addr, grid, "suricata.rules").await.1;
    let rules_path = dir.join("grid.rules");
    std::fs::write(&rules_path, &rules).unwrap();
    let out = common::tools(&["suricata", rules_path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "suricataparser refused: {}\n{rules}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sids: BTreeSet<String> = parsed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sid"].to_string())
        .collect();
    let network = gd.len() + gi.len() + gu.len();
    assert_eq!(
        parsed.as_array().unwrap().len(),
        network,
        "one rule per network value:\n{rules}"
    );
    assert_eq!(sids.len(), network, "distinct sids");
    let stix = feed(addr, grid, "stix.json").await.1;
    let stix_path = dir.join("grid.json");
    std::fs::write(&stix_path, &stix).unwrap();
    let out = common::tools(&["validate", stix_path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "stix2-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The MISP feed: its manifest and events, loaded by CIRCL's pymisp.
    let misp_dir = dir.join("misp");
    std::fs::create_dir_all(&misp_dir).unwrap();
    let manifest = feed(addr, north, "misp/manifest.json").await.1;
    std::fs::write(misp_dir.join("manifest.json"), &manifest).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    for uuid in manifest.as_object().unwrap().keys() {
        let event = feed(addr, north, &format!("misp/{uuid}.json")).await.1;
        std::fs::write(misp_dir.join(format!("{uuid}.json")), event).unwrap();
    }
    let out = common::tools(&["misp-feed", misp_dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "pymisp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let loaded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let misp_values: BTreeSet<String> = loaded["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(
        misp_values.contains(&finance) && misp_values.contains("198.51.100.10"),
        "{loaded}"
    );
    assert!(
        !misp_values.contains("198.51.100.30"),
        "named for gridco only"
    );
    assert!(!misp_values.contains("8.8.8.8"));
    assert_eq!(
        get(
            addr,
            "/v1/feeds/misp/00000000-0000-4000-8000-000000000000.json",
            Some(north),
            &[]
        )
        .await
        .0,
        404
    );
    let csv = feed(addr, north, "indicators.csv").await.1;
    assert!(
        csv.starts_with(
            "type,value,score,tlp,first_seen,last_seen,sightings,sighting_members,false_positive_members\n"
        ),
        "{csv}"
    );
    // Python's csv module reads it back: every row, every column.
    let csv_path = dir.join("north.csv");
    std::fs::write(&csv_path, &csv).unwrap();
    let out = Command::new(python())
        .args([
            "-c",
            "import csv, json, sys; rows = list(csv.DictReader(open(sys.argv[1], newline=''))); \
             assert all(len(r) == 9 and float(r['score']) >= 0 for r in rows); \
             print(json.dumps(sorted(r['value'] for r in rows)))",
        ])
        .arg(&csv_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv_values: BTreeSet<String> = serde_json::from_slice(&out.stdout).unwrap();
    // Sightings of three members: shown, anonymously; two disputes: not.
    let row = |v: &str| {
        csv.lines()
            .find(|l| l.split(',').nth(1) == Some(v))
            .unwrap_or_else(|| panic!("{v} not in {csv}"))
            .split(',')
            .skip(6)
            .map(str::to_owned)
            .collect::<Vec<String>>()
    };
    assert_eq!(row("198.51.100.10"), ["15", "3", ""], "{csv}");
    assert_eq!(row(&community), ["", "", ""], "{csv}");
    for never in ["northbank", "gridco", "waterworks"] {
        assert!(!csv.contains(never), "a member named in the feed: {csv}");
    }
    assert!(
        csv_values.contains(&finance) && csv_values.contains("198.51.100.10"),
        "{csv_values:?}"
    );
    assert!(!csv_values.contains("198.51.100.30") && !csv_values.contains("8.8.8.8"));

    // Without a key, nothing; an unknown feed, 404.
    assert_eq!(get(addr, "/v1/feeds/ip.txt", None, &[]).await.0, 401);
    assert_eq!(
        get(addr, "/v1/feeds/everything.txt", Some(north), &[])
            .await
            .0,
        404
    );
    assert_eq!(
        get(addr, "/v1/feeds/ip.txt?min_score=7", Some(north), &[])
            .await
            .0,
        400
    );

    gateway.stop().await;
    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}

/// The feeds' audience rule in SQL is the engine's `Registry::may_see`:
/// for hundreds of random distributions over the partnership's registry,
/// ClickHouse selects for each member exactly the submissions `may_see`
/// lets it see (the property oracle of the alerts, applied to the SQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_audience_in_sql_is_the_engines_rule_for_every_member() {
    use cisp_model::{Distribution, GroupId};
    let env = TestEnv::new();
    env.store().migrate().await.unwrap();
    let db = &env.config.clickhouse.database;
    let registry = cisp_model::Registry::load(&env.config.registry_path).unwrap();
    let members: Vec<&cisp_model::Member> = registry.members().collect();
    let groups: Vec<GroupId> = members
        .iter()
        .flat_map(|m| m.groups.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // A small deterministic generator (no dependency for one test).
    let mut state: u64 = 0x5eed_cafe;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut rows = Vec::new();
    let mut dists = Vec::new();
    for i in 0..400 {
        let submitter = members[next(members.len())];
        let dist = match next(5) {
            0 => Distribution::FusionCellOnly,
            1 => Distribution::NamedMembers {
                members: (0..1 + next(3))
                    .map(|_| members[next(members.len())].id.clone())
                    .collect(),
            },
            2 => Distribution::SharingGroups {
                groups: (0..1 + next(2))
                    .map(|_| groups[next(groups.len())].clone())
                    .collect(),
            },
            3 => Distribution::Sector,
            _ => Distribution::Community,
        };
        let list = |v: Vec<String>| {
            format!(
                "[{}]",
                v.iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let (named, grouped) = match &dist {
            Distribution::NamedMembers { members } => {
                (members.iter().map(ToString::to_string).collect(), vec![])
            }
            Distribution::SharingGroups { groups } => {
                (vec![], groups.iter().map(ToString::to_string).collect())
            }
            _ => (vec![], vec![]),
        };
        rows.push(format!(
            "('{}', 's{i}', '{}', '{}', {}, {})",
            submitter.id,
            dist.scope().name(),
            submitter.sector,
            list(named),
            list(grouped)
        ));
        dists.push((submitter.id.clone(), dist));
    }
    let client = env.config.clickhouse.client();
    client
        .query(&format!(
            "INSERT INTO {db}.submissions (member_id, submission_id, scope, sector, audience_members, audience_groups) VALUES {}",
            rows.join(", ")
        ))
        .execute()
        .await
        .unwrap();
    let mut checked = 0;
    for reader in &members {
        let sql = format!(
            "SELECT submission_id FROM {db}.submissions WHERE {}",
            cisp_intake::feed::visible_sql(reader)
        );
        let got: BTreeSet<String> = client
            .query(&sql)
            .fetch_all::<String>()
            .await
            .unwrap()
            .into_iter()
            .collect();
        let want: BTreeSet<String> = dists
            .iter()
            .enumerate()
            .filter(|(_, (submitter, dist))| registry.may_see(&reader.id, submitter, dist))
            .map(|(i, _)| format!("s{i}"))
            .collect();
        assert_eq!(
            got, want,
            "{} sees other submissions in SQL than may_see says",
            reader.id
        );
        checked += want.len();
    }
    assert!(checked > 400, "the check saw {checked} visible pairs");
    env.drop_database().await;
}

/// What a feed of 100 000 indicators costs: `cargo test --release -p
/// cisp-intake --test feeds -- --ignored --nocapture` (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run by hand"]
async fn a_feed_of_100000_indicators_timed() {
    let env = TestEnv::new();
    env.store().migrate().await.unwrap();
    let db = &env.config.clickhouse.database;
    let client = env.config.clickhouse.client();
    for sql in [
        format!("INSERT INTO {db}.submissions (member_id, submission_id, scope, sector, tlp) SELECT 'smallbiz', concat('b', toString(number)), 'community', 'retail', 'GREEN' FROM numbers(100)"),
        format!("INSERT INTO {db}.observations (observed_at, member_id, submission_id, obs_type, value, tlp, scope, sector, confidence) \
                 SELECT now(), 'smallbiz', concat('b', toString(number % 100)), if(number % 2 = 0, 'ipv4', 'domain'), \
                 if(number % 2 = 0, concat('11.', toString(intDiv(number, 65536) % 256), '.', toString(intDiv(number, 256) % 256), '.', toString(number % 256)), \
                    concat('h', toString(number), '.feed-test.example')), 'GREEN', 'community', 'retail', 80 FROM numbers(100000)"),
    ] {
        client.query(&sql).execute().await.unwrap();
    }
    let registry = cisp_model::Registry::load(&env.config.registry_path).unwrap();
    let gridco = MemberId::parse("gridco").unwrap();
    let f = cisp_intake::feed::FeedParams::default()
        .filters(&[ObservableKind::Ipv4, ObservableKind::Domain])
        .unwrap();
    let now = cisp_intake::gateway::now_ms();
    for round in 0..3 {
        let t = std::time::Instant::now();
        let items = cisp_intake::feed::indicators(&client, db, &registry, &gridco, &f, now)
            .await
            .unwrap();
        let query = t.elapsed();
        let t = std::time::Instant::now();
        let list = cisp_intake::feed::render_list("gridco", "ip", &items, now);
        let csv = cisp_intake::feed::render_csv(&items);
        let rules = cisp_intake::feed::render_suricata("gridco", &items, now);
        let stix = cisp_intake::feed::render_stix("gridco", &items, f.min_score, now).to_string();
        let render = t.elapsed();
        println!(
            "round {round}: {} indicators; query {:.2} s; rendering all four formats {:.2} s; bytes: list {}, csv {}, suricata {}, stix {}",
            items.len(),
            query.as_secs_f64(),
            render.as_secs_f64(),
            list.len(),
            csv.len(),
            rules.len(),
            stix.len()
        );
        assert_eq!(items.len(), 100_000);
    }
    env.drop_database().await;
}
