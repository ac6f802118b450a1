//! The real-world corpus (issue 21): files as MISP's STIX exporter, CIRCL's
//! `pymisp`, OASIS `stix2`, a vendor's CSV and Python's `email` package
//! write them (`tests/interop/realworld.py`, made at test time), each run
//! through `cisp-intake submit --dry-run` as a member would. Per file: what
//! must be taken, what must never be published (a recipient, the member's
//! own staff, mangled values), the roles, the marking and audience, how
//! many submissions, and what must be reported as skipped. The table it
//! prints — observables taken and items held back per file — is the
//! regression number.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use cisp_testkit::{python, repo_root};
use serde_json::Value;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn real_world_files_convert_as_their_producers_meant_and_nothing_is_lost_quietly() {
    let dir = std::env::temp_dir().join(cisp_testkit::unique("intake-corpus-"));
    let out = Command::new(python())
        .arg(repo_root().join("tests/interop/realworld.py"))
        .arg("corpus")
        .arg(&dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "corpus: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let corpus: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("corpus.json")).unwrap()).unwrap();
    assert!(corpus.len() >= 15, "{} files", corpus.len());
    let config: PathBuf = repo_root().join("config/fusion.toml");
    let mut failures = Vec::new();
    let mut table = Vec::new();
    for e in &corpus {
        let file = e["file"].as_str().unwrap();
        let format = e["format"].as_str().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cisp-intake"));
        cmd.arg("--config")
            .arg(&config)
            .args(["submit", "--member", "northbank", "--format", format])
            .args(strings(&e["args"]))
            .arg("--dry-run")
            .arg(dir.join(file));
        let run = cmd.output().expect("cisp-intake runs");
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        let mut fail = |why: String| failures.push(format!("{file}: {why}"));
        if !run.status.success() {
            fail(format!("refused: {stderr}"));
            continue;
        }
        let printed: Value = serde_json::from_slice(&run.stdout).unwrap();
        let records: Vec<Value> = match printed {
            Value::Array(a) => a,
            one => vec![one],
        };
        let want_subs = e["submissions"].as_u64().unwrap_or(1) as usize;
        if records.len() != want_subs {
            fail(format!("{} submissions, want {want_subs}", records.len()));
        }
        let observables: Vec<&Value> = records
            .iter()
            .flat_map(|r| r["observables"].as_array().unwrap())
            .collect();
        let values: BTreeSet<&str> = observables
            .iter()
            .map(|o| o["value"].as_str().unwrap())
            .collect();
        if let Some(n) = e["observables"].as_u64() {
            if observables.len() as u64 != n {
                fail(format!("{} observables, want {n}", observables.len()));
            }
        }
        for want in strings(&e["taken"]) {
            if !values.contains(want.as_str()) {
                fail(format!("{want} not taken (took {values:?})"));
            }
        }
        for never in strings(&e["never"]) {
            let lower = never.to_ascii_lowercase();
            let published = records
                .iter()
                .any(|r| r.to_string().to_ascii_lowercase().contains(&lower));
            if published {
                fail(format!("{never} was published"));
            }
        }
        for bad in strings(&e["never_substr"]) {
            if let Some(v) = values.iter().find(|v| v.contains(bad.as_str())) {
                fail(format!("{v} holds {bad:?} (mangled)"));
            }
        }
        for kind in strings(&e["no_kinds"]) {
            if observables
                .iter()
                .any(|o| o["type"] == kind.to_ascii_uppercase())
            {
                fail(format!(
                    "a {kind} observable (a body part hashed as an attachment)"
                ));
            }
        }
        if let Some(roles) = e["roles"].as_object() {
            for (value, want) in roles {
                let got = observables
                    .iter()
                    .find(|o| o["value"] == value.as_str())
                    .map(|o| o["role"].clone());
                if got.as_ref() != Some(want) {
                    fail(format!("{value}: role {got:?}, want {want}"));
                }
            }
        }
        for (key, field) in [("tlp", "tlp"), ("scope", "scope")] {
            if let Some(want) = e[key].as_str() {
                for r in &records {
                    let got = if field == "scope" {
                        r["distribution"]["scope"].as_str().unwrap_or("").to_owned()
                    } else {
                        r["tlp"].as_str().unwrap_or("").to_owned()
                    };
                    let want_symbol = want
                        .trim_start_matches("TLP:")
                        .replace(['+', '-'], "_")
                        .to_ascii_uppercase();
                    if got.to_ascii_uppercase() != want_symbol {
                        fail(format!("{key} {got}, want {want}"));
                    }
                }
            }
        }
        for (key, field) in [("malware", "malware"), ("ttps", "ttps")] {
            let have: BTreeSet<String> = records.iter().flat_map(|r| strings(&r[field])).collect();
            for want in strings(&e[key]) {
                if !have.contains(&want) {
                    fail(format!("{key}: {want} missing from {have:?}"));
                }
            }
        }
        let ttps: BTreeSet<String> = records.iter().flat_map(|r| strings(&r["ttps"])).collect();
        for gone in strings(&e["no_ttps"]) {
            if ttps.contains(&gone) {
                fail(format!("{gone} (deprecated or revoked) was kept"));
            }
        }
        for note in strings(&e["notes"]) {
            if !stderr.contains(&note) {
                fail(format!("no note saying {note:?}: {stderr}"));
            }
        }
        let held = stderr
            .lines()
            .filter(|l| l.trim_start().starts_with("skipped:"))
            .count();
        table.push(format!(
            "{file:<34} {format:<5} {:>2} submission(s) {:>5} observables taken {:>3} items held back",
            records.len(),
            observables.len(),
            held
        ));
    }
    eprintln!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
