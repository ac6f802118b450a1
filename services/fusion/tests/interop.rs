//! Interop with implementations no one here wrote: Python fastavro encodes
//! a Submission from schemas/*.avsc and confluent-kafka publishes it; the
//! service must accept it, link it, and send an alert that fastavro decodes
//! with a single-object header fastavro computes the same way; then
//! fastavro withdraws its submission with a Correction (issue 22) and the
//! member it alerted receives the revocation.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::process::Command;

use cisp_model::*;
use cisp_testkit::{community_record, python, repo_root, wait_durable, TestEnv};
use cisp_wire::records::*;
use cisp_wire::{Codec, DecodeLimits, RecordType};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastavro_and_confluent_kafka_interoperate_with_the_service() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let codec = Codec::new(DecodeLimits::default()).unwrap();

    let ours = SubmissionRecord {
        kind: SubmissionKind::Phishing,
        title: "Lure from the Rust side".into(),
        ..community_record(
            "northbank",
            "RUST-1",
            &[(ObservableKind::Domain, "interop.example")],
        )
    };
    let p = env.producer();
    env.submit(&p, &ours).await;
    wait_durable(&running, 1).await;

    let brokers = env.config.kafka.brokers.clone();
    let prefix = env.prefix().to_owned();
    let gridco_password = cisp_testkit::password_file("gridco");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(repo_root().join("tests/interop/fastavro_roundtrip.py"))
            .args(["--brokers", &brokers, "--prefix", &prefix])
            // As the member itself, with its own broker credentials.
            .args(["--sasl-username", "gridco", "--sasl-password-file"])
            .arg(&gridco_password)
            .arg("--schemas")
            .arg(repo_root().join("schemas"))
            .args([
                "--member",
                "gridco",
                "--submission-id",
                "PY-1",
                "--domain",
                "interop.example",
                // An hour after the Rust side's record: inside the link window.
                "--submitted-at",
                "1763550000000",
                "--timeout",
                "60",
                "--retract",
            ])
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "python side failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("json from the python side");

    // Both sides compute the same single-object fingerprints.
    assert_eq!(
        v["submission_fingerprint"],
        hex(&codec.fingerprint(RecordType::Submission))
    );
    assert_eq!(
        v["alert_fingerprint"],
        hex(&codec.fingerprint(RecordType::Alert))
    );
    assert_eq!(
        v["correction_fingerprint"],
        hex(&codec.fingerprint(RecordType::Correction))
    );
    // fastavro decoded our alert, which points at our submission.
    let alert = &v["alert"];
    assert_eq!(alert["recipient"], "gridco");
    assert_eq!(alert["kind"], "PEER_SIGHTING");
    assert_eq!(alert["related"][0]["submission_id"], "RUST-1");
    assert_eq!(alert["related"][0]["member_id"], "northbank");
    assert_eq!(alert["shared_observables"][0]["value"], "interop.example");

    // The fastavro-encoded, defanged, upper-cased domain was normalised.
    // (The alert leaves before the facts are durable: wait for them.)
    wait_durable(&running, 2).await;
    let db = &env.config.clickhouse.database;
    let n = env.count(&format!("SELECT count() FROM {db}.observations FINAL WHERE submission_id = 'PY-1' AND value = 'interop.example'")).await;
    assert_eq!(n, 1);

    // fastavro's retraction of PY-1 was applied: northbank, alerted on
    // PY-1, receives a revocation naming that alert.
    wait_durable(&running, 3).await;
    let alerts = env.alerts_of("northbank");
    let peer = alerts
        .iter()
        .find(|a| a.kind == AlertKind::PeerSighting)
        .expect("northbank was alerted on PY-1");
    let revocation = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Revocation)
        .expect("northbank received the revocation");
    assert_eq!(revocation.revokes, vec![peer.alert_id.clone()]);
    assert_eq!(revocation.related[0].submission_id, "PY-1");

    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}
