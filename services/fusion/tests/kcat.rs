//! Interop with a Kafka client no one here wrote: Debian's `kcat`, run the
//! way a member's team would (scripts/kcat.sh: the member's own SCRAM user),
//! publishes a member's submission and reads that member's alerts, which
//! our codec decodes; reading another member's alerts is refused.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::process::{Command, Output};

use cisp_fusion::Topics;
use cisp_model::{MemberId, ObservableKind};
use cisp_testkit::{community_record, repo_root, wait_durable, TestEnv};
use cisp_wire::records::AlertRecord;
use cisp_wire::{Codec, DecodeLimits, RecordType};

fn kcat(user: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/kcat.sh"))
        .arg(user)
        .args(args)
        .output()
        .expect("bash runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_publishes_a_members_submission_and_reads_only_its_alerts() {
    let env = TestEnv::new();
    let (trigger, running) = env.start().await;
    let t = Topics::new(env.prefix());
    let codec = Codec::new(DecodeLimits::default()).unwrap();

    // gridco reports a domain through our client...
    let p = env.producer();
    let theirs = community_record(
        "gridco",
        "GRID-K1",
        &[(ObservableKind::Domain, "kcat-interop.example")],
    );
    env.submit(&p, &theirs).await;
    wait_durable(&running, 1).await;

    // ...and northbank the same domain through kcat, from a file holding
    // one single-object-encoded submission.
    let ours = community_record(
        "northbank",
        "KCAT-1",
        &[(ObservableKind::Domain, "KCAT-INTEROP[.]example")],
    );
    let dir = std::env::temp_dir().join(env.prefix());
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("submission.avro");
    std::fs::write(&file, codec.encode(RecordType::Submission, &ours).unwrap()).unwrap();
    let nb_sub = t.submissions(&MemberId::parse("northbank").unwrap());
    let out = tokio::task::spawn_blocking({
        let (nb_sub, file) = (nb_sub.clone(), file.clone());
        move || {
            kcat(
                "northbank",
                &["-P", "-t", &nb_sub, "-k", "KCAT-1", file.to_str().unwrap()],
            )
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "kcat -P failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_durable(&running, 2).await;

    // kcat reads northbank's alert (one message, its raw bytes) and our
    // codec decodes it: northbank hears of gridco's report.
    let nb_alerts = t.alerts(&MemberId::parse("northbank").unwrap());
    let out = tokio::task::spawn_blocking({
        let nb_alerts = nb_alerts.clone();
        move || {
            kcat(
                "northbank",
                &[
                    "-C",
                    "-t",
                    &nb_alerts,
                    "-o",
                    "beginning",
                    "-c",
                    "1",
                    "-e",
                    "-f",
                    "%s",
                    "-q",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "kcat -C failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (alert, _) = codec
        .decode::<AlertRecord>(RecordType::Alert, &out.stdout)
        .unwrap_or_else(|e| {
            panic!(
                "kcat's bytes are not our alert ({} bytes): {e}",
                out.stdout.len()
            )
        });
    assert_eq!(alert.recipient, "northbank");
    assert!(
        alert.related.iter().any(|r| r.submission_id == "GRID-K1"),
        "{alert:?}"
    );

    // The same kcat, as northbank, is refused gridco's alerts.
    let gc_alerts = t.alerts(&MemberId::parse("gridco").unwrap());
    let out = tokio::task::spawn_blocking(move || {
        kcat(
            "northbank",
            &[
                "-C",
                "-t",
                &gc_alerts,
                "-o",
                "beginning",
                "-c",
                "1",
                "-e",
                "-q",
            ],
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("authorization failed"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    std::fs::remove_dir_all(&dir).ok();
    trigger.trigger();
    running.join().await.unwrap();
    env.drop_database().await;
}
