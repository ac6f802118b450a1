//! Intake against tools no one here wrote and against the running stack:
//!
//! * fixtures made at test time by the OASIS `stix2` library, CIRCL's
//!   `pymisp` and Python's `email` package convert to what their producers
//!   put in them, and malformed variants are refused with a reason;
//! * our STIX export passes the OASIS `stix2-validator` (and a broken
//!   bundle does not, so the check is real);
//! * a phishing e-mail submitted through the `cisp-intake` CLI ends as
//!   alerts to the peer it concerns on the running broker, fusion service
//!   and ClickHouse, and nothing of the victim or the body leaves;
//! * the HTTP gateway publishes only to the caller's own topic, refuses bad
//!   input without publishing, and its TAXII collections are read by the
//!   OASIS `taxii2-client`, each member seeing only its own.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cisp_intake::{convert, Envelope, Format, IntakeError};
use cisp_model::{MemberId, ObservableKind, Tlp};
use cisp_testkit::{community_record, wait_until, TestEnv};
use cisp_wire::records::{AlertRecord, ObservableRecord, SubmissionRecord};
use cisp_wire::{Codec, DecodeLimits, RecordType};
use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(cisp_testkit::unique(name));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Fixtures written by the independent producers, and what they put in.
fn fixtures() -> (PathBuf, Value) {
    let dir = temp_dir("intake-fixtures-");
    let out = common::tools(&["fixtures", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "fixtures: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expect: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expect.json")).unwrap()).unwrap();
    (dir, expect)
}

fn envelope(member: &str) -> Envelope {
    Envelope::new(MemberId::parse(member).unwrap(), 1_782_900_000_000)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn values(r: &SubmissionRecord) -> BTreeSet<String> {
    r.observables.iter().map(|o| o.value.clone()).collect()
}

fn check_expected(r: &SubmissionRecord, expect: &Value) {
    let got = values(r);
    for want in strings(&expect["observables"]) {
        assert!(got.contains(&want), "{want} missing from {got:?}");
    }
    for (field, list) in [
        ("actor_claims", &r.actor_claims),
        ("ttps", &r.ttps),
        ("malware", &r.malware),
    ] {
        if let Some(want) = expect.get(field) {
            assert_eq!(list, &strings(want), "{field}");
        }
    }
    if let Some(t) = expect.get("tlp") {
        assert_eq!(r.tlp.symbol(), t.as_str().unwrap());
    }
    assert_eq!(r.title, expect["title"].as_str().unwrap());
}

#[test]
fn fixtures_from_independent_tools_convert_as_their_producers_meant() {
    let (dir, expect) = fixtures();
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();

    let stix = convert(Format::Stix, &read("bundle.json"), &envelope("northbank")).unwrap();
    check_expected(&stix.record, &expect["stix"]);
    assert_eq!(
        stix.record.distribution.scope,
        cisp_model::Scope::Sector,
        "AMBER: the sector at most"
    );

    // The event is tagged tlp:green; the uploader chose GREEN too (without
    // a choice the default AMBER holds: a file cannot widen it).
    let mut green = envelope("northbank");
    green.tlp = Some(Tlp::Green);
    let misp = convert(Format::Misp, &read("misp-event.json"), &green).unwrap();
    check_expected(&misp.record, &expect["misp"]);
    let unchosen = convert(
        Format::Misp,
        &read("misp-event.json"),
        &envelope("northbank"),
    )
    .unwrap();
    assert_eq!(unchosen.record.tlp, Tlp::Amber);
    assert!(
        !values(&misp.record).contains("seen by our SOC"),
        "to_ids=false is context"
    );

    for file in ["phish.eml", "forwarded.eml"] {
        let eml = convert(Format::Eml, &read(file), &envelope("northbank")).unwrap();
        check_expected(&eml.record, &expect["eml"]);
        assert_eq!(eml.record.kind, cisp_model::SubmissionKind::Phishing);
        let all = serde_json::to_string(&eml.record).unwrap();
        for never in strings(&expect["eml"]["never"]) {
            assert!(
                !all.contains(&never),
                "{file}: {never:?} must not leave the member"
            );
        }
        let d = eml.record.description.clone().unwrap_or_default();
        assert!(
            d.contains(expect["eml"]["verdicts"].as_str().unwrap()),
            "{file}: {d}"
        );
    }

    // Malformed variants of the same files: a clear error each.
    let bundle = read("bundle.json");
    let cut = &bundle[..bundle.len() / 2];
    let e = convert(Format::Stix, cut, &envelope("northbank")).unwrap_err();
    assert!(matches!(e, IntakeError::Malformed { .. }), "{e}");
    let broken_pattern =
        String::from_utf8(bundle.clone())
            .unwrap()
            .replacen("[url:value = ", "[url:value ~ ", 1);
    // One pattern we cannot read costs that indicator, reported, not the
    // bundle (issue 21: MISP's exports were refused whole).
    let partial = convert(
        Format::Stix,
        broken_pattern.as_bytes(),
        &envelope("northbank"),
    )
    .unwrap();
    assert!(!values(&partial.record).contains("payroll-update.example"));
    assert!(values(&partial.record).contains("198.51.100.23"));
    assert!(
        partial.skipped.iter().any(|s| s.contains("not read")),
        "{:?}",
        partial.skipped
    );
    let misp_text = String::from_utf8(read("misp-event.json")).unwrap();
    let e = convert(
        Format::Misp,
        misp_text
            .replacen("\"Attribute\": [", "\"Attribute\": {\"x\": [", 1)
            .as_bytes(),
        &envelope("northbank"),
    )
    .unwrap_err();
    assert!(matches!(e, IntakeError::Malformed { .. }), "{e}");
    let e = convert(Format::Eml, &read("bundle.json"), &envelope("northbank")).unwrap_err();
    assert!(e.to_string().contains("no RFC 5322 header"), "{e}");
    let too_big = vec![b' '; cisp_intake::max_input_bytes(Format::Csv) + 1];
    let e = convert(Format::Csv, &too_big, &envelope("northbank")).unwrap_err();
    assert!(matches!(e, IntakeError::TooLarge { .. }), "{e}");

    // The standard anti-virus test file, assembled here rather than stored:
    // its published MD5 checks our hashing against the world's.
    let eicar = [
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
        "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    ]
    .concat();
    let triage = convert(Format::Sample, eicar.as_bytes(), &envelope("northbank")).unwrap();
    assert!(
        values(&triage.record).contains("44d88612fea8a8f36de82e1278abb02f"),
        "{:?}",
        values(&triage.record)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn alert(recipient: &str, id: &str, observables: Vec<ObservableRecord>, tlp: Tlp) -> AlertRecord {
    AlertRecord {
        alert_id: id.into(),
        recipient: recipient.into(),
        created_at: 1_782_900_000_123,
        trigger_published_at: 1_782_899_999_000,
        kind: cisp_model::AlertKind::PeerSighting,
        severity: cisp_model::Severity::High,
        tlp,
        campaign_id: Some("V-8f3a".into()),
        your_submission_ids: vec!["s-1".into()],
        related: vec![],
        shared_observables: observables,
        other_member_count: 2,
        summary: "2 other members reported 'payroll' <script>alert(1)</script> \\ too".into(),
        shared_scores: vec![],
        sightings: 1,
        revokes: vec![],
    }
}

#[test]
fn exported_stix_passes_the_oasis_validator() {
    let obs = |k: ObservableKind, v: &str| ObservableRecord::new(k, v);
    let every_kind = vec![
        obs(ObservableKind::Ipv4, "198.51.100.23"),
        obs(ObservableKind::Ipv6, "2001:db8::5"),
        obs(ObservableKind::Cidr, "203.0.113.0/24"),
        obs(ObservableKind::Domain, "payroll-update.example"),
        obs(
            ObservableKind::Url,
            "https://payroll-update.example/it's\\a'trap",
        ),
        obs(ObservableKind::Email, "payroll@payroll-update.example"),
        obs(ObservableKind::Md5, "44d88612fea8a8f36de82e1278abb02f"),
        obs(
            ObservableKind::Sha1,
            "3395856ce81f2b7382dee72602f798b642f14140",
        ),
        obs(
            ObservableKind::Sha256,
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
        ),
        obs(ObservableKind::Filename, "salary 2026 'final'.xlsm"),
        obs(ObservableKind::Asn, "AS64500"),
        obs(ObservableKind::Cve, "CVE-2024-3400"),
        obs(ObservableKind::Ja3, "e7d705a3286e19ea42f587b344ee6865"),
    ];
    let alerts = vec![
        alert("gridco", "A-1", every_kind.clone(), Tlp::AmberStrict),
        alert("gridco", "A-2", every_kind[..2].to_vec(), Tlp::Green),
        AlertRecord {
            campaign_id: None,
            shared_observables: vec![],
            ..alert("gridco", "A-3", vec![], Tlp::Red)
        },
    ];
    let bundle = cisp_intake::stix::export(&alerts, &Default::default());
    let dir = temp_dir("intake-export-");
    let path = dir.join("bundle.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
    let out = common::tools(&["validate", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "stix2-validator rejected our bundle:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The Fusion Cell's campaigns: one merged, one attributed.
    let update = |id: &str, version: i64, merged: Option<&str>, actor: Option<(&str, &str)>| {
        cisp_wire::records::CampaignUpdateRecord {
            campaign_id: id.into(),
            version,
            merged_into: merged.map(Into::into),
            submission_count: 5,
            member_count: 4,
            observable_count: 17,
            member_ids: vec!["northbank".into(), "gridco".into()],
            sectors: vec!["finance".into(), "energy".into()],
            tlp: Tlp::Amber,
            first_seen: 1_782_800_000_000,
            last_seen: 1_782_900_000_000,
            updated_at: 1_782_900_000_500,
            actor_id: actor.map(|a| a.0.into()),
            actor_name: actor.map(|a| a.1.into()),
            attribution_confidence: 0.59,
            attribution_evidence: vec!["malware griffon".into(), "technique T1071".into()],
        }
    };
    let campaigns = cisp_intake::stix::export_campaigns(&[
        update("C-1", 1, None, None),
        update("C-1", 3, None, Some(("G0046", "FIN7"))),
        update("C-2", 2, Some("C-1"), None),
    ]);
    let cpath = dir.join("campaigns.json");
    std::fs::write(&cpath, serde_json::to_vec_pretty(&campaigns).unwrap()).unwrap();
    let out = common::tools(&["validate", cpath.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "stix2-validator rejected our campaigns:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = campaigns.to_string();
    assert!(!text.contains("northbank"), "member ids are not exported");
    let objs = campaigns["objects"].as_array().unwrap();
    let of_type = |t: &str| objs.iter().filter(|o| o["type"] == t).count();
    assert_eq!(
        (
            of_type("campaign"),
            of_type("intrusion-set"),
            of_type("relationship")
        ),
        (2, 1, 1)
    );
    assert!(objs
        .iter()
        .any(|o| o["type"] == "campaign" && o["revoked"] == true));
    assert!(objs
        .iter()
        .any(|o| o["type"] == "relationship" && o["confidence"] == 59));

    // The validator really checks: a report without its required
    // published/object_refs is refused.
    let mut broken = bundle.clone();
    for o in broken["objects"].as_array_mut().unwrap() {
        if o["type"] == "report" {
            o.as_object_mut().unwrap().remove("published");
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&broken).unwrap()).unwrap();
    let out = common::tools(&["validate", path.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "a broken bundle must fail validation"
    );

    // What we export we can import: every patternable value comes back.
    let text = serde_json::to_vec(&bundle).unwrap();
    let back = convert(Format::Stix, &text, &envelope("gridco")).unwrap();
    let got = values(&back.record);
    for o in &every_kind {
        if !matches!(o.kind, ObservableKind::Cve | ObservableKind::Ja3) {
            let norm = cisp_model::Observable::parse(o.kind, &o.value).unwrap();
            assert!(
                got.contains(norm.value()),
                "{} lost in the round trip: {got:?}",
                o.value
            );
        }
    }
    assert_eq!(
        back.record.tlp,
        Tlp::Red,
        "the strictest marking in the bundle"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Alerts on `member`'s alert topic.
fn alerts_of(env: &TestEnv, member: &str) -> Vec<AlertRecord> {
    let codec = Codec::new(DecodeLimits::default()).unwrap();
    let topic = cisp_platform::Topics::new(env.prefix()).alerts(&MemberId::parse(member).unwrap());
    env.read_all(&topic)
        .iter()
        .filter_map(|p| {
            codec
                .decode::<AlertRecord>(RecordType::Alert, p)
                .ok()
                .map(|(a, _)| a)
        })
        .collect()
}

fn records_on(env: &TestEnv, member: &str) -> Vec<SubmissionRecord> {
    let codec = Codec::new(DecodeLimits::default()).unwrap();
    let topic =
        cisp_platform::Topics::new(env.prefix()).submissions(&MemberId::parse(member).unwrap());
    env.read_all(&topic)
        .iter()
        .map(|p| {
            codec
                .decode::<SubmissionRecord>(RecordType::Submission, p)
                .unwrap()
                .0
        })
        .collect()
}

fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cisp-intake"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("cisp-intake runs")
}

/// An HTTP/1.1 exchange with the gateway: (status, body as text).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let (method, path, key, body) = (
        method.to_owned(),
        path.to_owned(),
        key.map(str::to_owned),
        body.to_vec(),
    );
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        cisp_testkit::http_exchange(addr, &method, &path, key.as_deref(), &[], &body)
    })
    .await
    .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phishing_email_reaches_its_peers_and_the_gateway_serves_each_member_alone() {
    let (fixtures_dir, expect) = fixtures();
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let config_dir = temp_dir("intake-config-");
    let config = env.write_config(&config_dir);

    // gridco saw the same landing page and relay last week.
    let producer = env.producer();
    let mut earlier = community_record(
        "gridco",
        "gridco-phish-1",
        &[
            (ObservableKind::Url, "https://payroll-update.example/login"),
            (ObservableKind::Ipv4, "198.51.100.77"),
        ],
    );
    // Within the linking window of the CLI upload, which is stamped now.
    earlier.submitted_at = cisp_intake::gateway::now_ms() - 86_400_000;
    env.submit(&producer, &earlier).await;

    // northbank forwards the e-mail through the CLI, as its broker user.
    let eml = fixtures_dir.join("forwarded.eml");
    let out = cli(
        &config,
        &[
            "submit",
            "--member",
            "northbank",
            "--format",
            "eml",
            "--tlp",
            "green",
            eml.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "cli: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{}.submissions.northbank", env.prefix())),
        "{stdout}"
    );

    // gridco is told about northbank's report; northbank about gridco's.
    let concerns = |a: &AlertRecord| {
        a.shared_observables
            .iter()
            .any(|o| o.value == "https://payroll-update.example/login")
    };
    let told = wait_until(Duration::from_secs(60), || {
        alerts_of(&env, "gridco").iter().any(concerns)
            && alerts_of(&env, "northbank").iter().any(concerns)
    })
    .await;
    if !told {
        let dead = env.read_all(&cisp_platform::Topics::new(env.prefix()).dead_letter());
        panic!(
            "no peer-sighting alerts; alerts in ClickHouse {}, campaigns {}; submissions stored: {}, dead letters: {:?}, on northbank's topic: {:?}, gridco alerts {:?}",
            env.count("SELECT count() FROM alerts").await,
            env.count("SELECT uniqExact(campaign_id) FROM observations").await,
            env.count("SELECT count() FROM submissions").await,
            dead.iter()
                .map(|d| String::from_utf8_lossy(d).chars().take(300).collect::<String>())
                .collect::<Vec<_>>(),
            records_on(&env, "northbank"),
            alerts_of(&env, "gridco"),
        );
    }
    for bystander in ["healthtrust", "smallbiz", "waterworks"] {
        assert!(
            !alerts_of(&env, bystander).iter().any(concerns),
            "{bystander} has nothing to do with it"
        );
    }
    // Nothing of the victim or the body left northbank.
    let published = records_on(&env, "northbank");
    assert_eq!(published.len(), 1);
    let text = serde_json::to_string(&published[0]).unwrap()
        + &serde_json::to_string(&alerts_of(&env, "gridco")).unwrap();
    for never in strings(&expect["eml"]["never"]) {
        assert!(!text.contains(&never), "{never:?} reached the broker");
    }

    // The Fusion Cell exports the campaigns as STIX; a member may not.
    let cpath = config_dir.join("campaigns.json");
    let out = cli(
        &config,
        &[
            "export-stix",
            "--member",
            "fusion-cell",
            "--campaigns",
            "--out",
            cpath.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let campaigns: Value = serde_json::from_slice(&std::fs::read(&cpath).unwrap()).unwrap();
    assert!(
        campaigns["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["type"] == "campaign"
                && o["description"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("2 submissions from 2 members")),
        "{campaigns}"
    );
    let out = common::tools(&["validate", cpath.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &config,
        &["export-stix", "--member", "gridco", "--campaigns"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Fusion Cell's view"));

    // A malformed file through the CLI: a clear error, nothing published.
    let junk = config_dir.join("junk.eml");
    std::fs::write(&junk, b"\x00\x01 not a mail at all").unwrap();
    let out = cli(
        &config,
        &[
            "submit",
            "--member",
            "northbank",
            "--format",
            "eml",
            junk.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("malformed eml input"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        records_on(&env, "northbank").len(),
        1,
        "nothing published for bad input"
    );

    // The gateway, with keys for two members.
    let keys_path = config_dir.join("keys.toml");
    let north_key =
        cisp_intake::keys::add(&keys_path, &MemberId::parse("northbank").unwrap(), "test").unwrap();
    let grid_key =
        cisp_intake::keys::add(&keys_path, &MemberId::parse("gridco").unwrap(), "test").unwrap();
    let gateway = common::RunningGateway::start(&env, &keys_path).await;
    let addr = gateway.addr;

    let csv = b"type,value,role\nurl,https://payroll-update.example/login,payload-delivery\nipv4,198.51.100.99,\n";
    let (status, body) = http(
        addr,
        "POST",
        "/v1/submissions?format=csv&tlp=green",
        None,
        csv,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = http(
        addr,
        "POST",
        "/v1/submissions?format=csv&tlp=green&dry_run=true",
        Some(&north_key),
        csv,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        records_on(&env, "northbank").len(),
        1,
        "a dry run publishes nothing"
    );
    // One upload, several submissions (a MISP search result), and every
    // item left out reported in the answer (issue 21).
    let search = br#"{"response": [
        {"Event": {"info": "one", "uuid": "u-1", "Attribute": [{"type": "domain", "value": "one.example", "to_ids": true}]}},
        {"Event": {"info": "two", "uuid": "u-2", "Attribute": [{"type": "domain", "value": "two.example", "to_ids": true},
                                                               {"type": "text", "value": "hello", "to_ids": false}]}}]}"#;
    let (status, body) = http(
        addr,
        "POST",
        "/v1/submissions?format=misp&dry_run=true",
        Some(&north_key),
        search,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let subs = answer["submissions"].as_array().unwrap();
    assert_eq!(subs.len(), 2, "{body}");
    assert!(
        subs[1]["skipped"]
            .to_string()
            .contains("not flagged to_ids"),
        "{body}"
    );
    assert_eq!(answer["submission_id"], subs[0]["submission_id"]);
    let (status, body) = http(
        addr,
        "POST",
        "/v1/submissions?format=csv&tlp=green",
        Some(&north_key),
        csv,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let receipt: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        receipt["topic"],
        format!("{}.submissions.northbank", env.prefix())
    );
    assert_eq!(records_on(&env, "northbank").len(), 2);
    // A file claiming another member's id still goes to the caller's topic
    // and is refused there, before publishing.
    for (query, bad) in [
        ("format=csv", &b"type,valeu\nipv4,1.2.3.4\n"[..]),
        ("format=stix", &b"{\"type\": \"bundle\", \"objects\": [{\"type\": \"indicator\", \"id\": \"indicator--1\", \"pattern\": \"[\"}]}"[..]),
        ("format=pdf", &b"%PDF"[..]),
        ("format=csv&tlp=purple", &csv[..]),
    ] {
        let (status, body) = http(addr, "POST", &format!("/v1/submissions?{query}"), Some(&north_key), bad).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(body.contains("\"error\""), "{body}");
    }
    assert_eq!(
        records_on(&env, "northbank").len(),
        2,
        "nothing published for bad input"
    );
    assert!(
        records_on(&env, "gridco").len() == 1,
        "no upload lands on another member's topic"
    );

    // TAXII: northbank posts a STIX bundle into its submissions collection.
    let (status, body) = http(
        addr,
        "GET",
        "/taxii2/cisp/collections/",
        Some(&north_key),
        b"",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let colls: Value = serde_json::from_str(&body).unwrap();
    let id_of = |v: &Value, title: &str| {
        v["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["title"] == title)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let north_sub = id_of(&colls, "Your submissions");
    let bundle = std::fs::read(fixtures_dir.join("bundle.json")).unwrap();
    let (status, body) = http(
        addr,
        "POST",
        &format!("/taxii2/cisp/collections/{north_sub}/objects/"),
        Some(&north_key),
        &bundle,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let st: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(st["failure_count"], 0, "{body}");
    assert!(st["success_count"].as_u64().unwrap() > 5, "{body}");
    let status_path = format!("/taxii2/cisp/status/{}/", st["id"].as_str().unwrap());
    let (status, again) = http(addr, "GET", &status_path, Some(&north_key), b"").await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&again).unwrap()),
        (200, st.clone())
    );
    let (status, _) = http(addr, "GET", &status_path, Some(&grid_key), b"").await;
    assert_eq!(status, 404, "another member's status");
    assert_eq!(records_on(&env, "northbank").len(), 3);

    // gridco reads its alerts with the OASIS TAXII client; northbank's key
    // cannot open gridco's collection.
    let (_, body) = http(
        addr,
        "GET",
        "/taxii2/cisp/collections/",
        Some(&grid_key),
        b"",
    )
    .await;
    let grid_alerts = id_of(&serde_json::from_str(&body).unwrap(), "Your alerts");
    let (status, _) = http(
        addr,
        "GET",
        &format!("/taxii2/cisp/collections/{grid_alerts}/objects/"),
        Some(&north_key),
        b"",
    )
    .await;
    assert_eq!(status, 403, "another member's collection");
    let url = format!("http://{addr}/taxii2/");
    let out = common::tools(&["taxii", &url, &grid_key, &grid_alerts, "gridco"]);
    assert!(
        out.status.success(),
        "taxii2-client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected_alerts = alerts_of(&env, "gridco").len() as u64;
    assert_eq!(
        summary["reports"].as_u64(),
        Some(expected_alerts),
        "{summary}"
    );
    assert!(expected_alerts >= 1, "gridco was alerted above");
    if expected_alerts >= 2 {
        assert!(
            summary["pages"].as_u64().unwrap() >= 2,
            "paged with limit=2: {summary}"
        );
    }
    assert_eq!(summary["invalid"], serde_json::json!([]), "{summary}");
    assert_eq!(summary["after_2100"], 0, "{summary}");
    assert_eq!(summary["foreign_collection_status"], 403, "{summary}");
    assert_eq!(summary["bad_key_status"], 401, "{summary}");

    // What the gateway did, counted (no member ids in the labels).
    let (status, metrics) = http(addr, "GET", "/metrics", None, b"").await;
    assert_eq!(status, 200);
    for line in [
        "cisp_intake_uploads_total{format=\"csv\",outcome=\"published\"} 1",
        "cisp_intake_uploads_total{format=\"csv\",outcome=\"dry_run\"} 1",
        "cisp_intake_uploads_total{format=\"stix\",outcome=\"published\"} 1",
        "cisp_intake_uploads_total{format=\"misp\",outcome=\"dry_run\"} 1",
        // The CSV with a misspelt column; the bundle whose only pattern
        // cannot be read has nothing left to submit.
        "cisp_intake_refusals_total{reason=\"malformed\"} 1",
        "cisp_intake_refusals_total{reason=\"empty\"} 1",
        "cisp_intake_refusals_total{reason=\"unknown_format\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert!(!metrics.contains("northbank") && !metrics.contains("gridco"));

    gateway.stop().await;
    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
    let _ = std::fs::remove_dir_all(&fixtures_dir);
    let _ = std::fs::remove_dir_all(&config_dir);
}
