//! The systemd unit in `docker/systemd/` (issue 19: the production
//! deployment restarts the service after a fatal exit): every `CISP_*`
//! variable it or its environment file sets is one the service reads, the
//! command line it runs parses, and systemd itself accepts the unit
//! (`systemd-analyze verify`, when the machine has it: an unknown key or a
//! bad value is a warning there, so the test wants no output at all).

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::process::Command;

use cisp_platform::settings::{Source, ENV};

fn read(rel: &str) -> String {
    std::fs::read_to_string(cisp_testkit::repo_root().join(rel)).unwrap()
}

/// Every (variable, value) the unit sets for the service: its
/// `Environment=` lines and its environment file's assignments.
fn assignments(unit: &str, env_file: &str) -> Vec<(String, String)> {
    env_file
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .chain(unit.lines().filter_map(|l| l.strip_prefix("Environment=")))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn the_unit_sets_only_variables_the_service_reads_and_secrets_only_from_files() {
    let unit = read("docker/systemd/cisp-fusion.service");
    let env = read("docker/systemd/fusion.env");
    let mut seen = 0;
    for (var, _) in assignments(&unit, &env) {
        seen += 1;
        let (name, from_file) = match var.strip_suffix("_FILE") {
            Some(base) => (base.to_owned(), true),
            None => (var.clone(), false),
        };
        let Some(binding) = ENV.iter().find(|b| b.var == name) else {
            panic!("{var} is not a setting of the service");
        };
        let secret = !matches!(binding.source, Source::FileOrEnv);
        assert!(
            !secret || from_file,
            "{var} is a secret: give it as {name}_FILE from a credential"
        );
    }
    assert!(
        seen >= 10,
        "the unit and its environment file set the service up"
    );
    // Variables are set nowhere else: not in other unit lines, and every
    // line of the environment file is a comment, blank or an assignment.
    for line in unit.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            line.starts_with("Environment=") || !line.contains("CISP_"),
            "a variable outside Environment=: {line}"
        );
    }
    for line in env
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        assert!(
            line.contains('='),
            "not an assignment in fusion.env: {line}"
        );
    }
    // No secret value in the environment file at all.
    for line in env.lines().filter(|l| !l.starts_with('#')) {
        let lower = line.to_ascii_lowercase();
        assert!(
            !lower.contains("password") && !lower.contains("salt") && !lower.contains("token"),
            "a secret in fusion.env: {line}"
        );
    }
    // It restarts after a failure, not after a clean stop.
    assert!(unit.contains("\nRestart=on-failure\n"));
}

#[test]
fn systemd_accepts_the_unit_and_the_service_takes_its_command_line() {
    let bin = env!("CARGO_BIN_EXE_cisp-fusion");
    let unit = read("docker/systemd/cisp-fusion.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_eq!(args.first(), Some(&"--config"));
    assert_eq!(args.last(), Some(&"run"));
    // The repository's configuration under the unit's environment (its
    // file, its own variables, its credentials as files) loads: `config
    // --get` instead of `run`, with the same flags.
    let dir = std::env::temp_dir().join(format!("cisp-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(bin);
    child
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("--config")
        .arg(cisp_testkit::repo_root().join("config/fusion.toml"))
        .args(["config", "--get", "metrics_addr"]);
    for (k, v) in assignments(&unit, &read("docker/systemd/fusion.env")) {
        let v = match v.strip_prefix("%d/") {
            Some(credential) => {
                let f = dir.join(credential);
                std::fs::write(&f, format!("test-{credential}")).unwrap();
                f.display().to_string()
            }
            None => v,
        };
        child.env(k, v);
    }
    let out = child.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "127.0.0.1:9464"
    );
    let help = Command::new(bin).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("\n  run "));

    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        std::fs::remove_dir_all(&dir).ok();
        eprintln!(
            "SKIPPED: systemd-analyze is not installed; the unit was not verified by systemd"
        );
        return;
    };
    assert!(probe.status.success());
    let env_file = cisp_testkit::repo_root()
        .join("docker/systemd/fusion.env")
        .canonicalize()
        .unwrap();
    let local = unit.replace("/usr/local/bin/cisp-fusion", bin).replace(
        "/etc/cisp-fusion/fusion.env",
        &env_file.display().to_string(),
    );
    let path = dir.join("cisp-fusion.service");
    std::fs::write(&path, local).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze: {said}"
    );
}
