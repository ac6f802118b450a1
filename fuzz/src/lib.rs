//! Time-bounded fuzzing of every path hostile input takes through the
//! fusion service, runnable on the stable toolchain (`cargo-fuzz` needs
//! nightly and a sanitizer runtime that CI machines do not have).
//!
//! Each [`Target`] owns a corpus of valid inputs built from the real
//! encoders, mutates them (bit flips, interesting bytes, Avro varints of
//! extreme values, splices, dictionary tokens of defanging and Unicode
//! tricks, truncation) and runs each case under `catch_unwind`, checking
//! properties as it goes, not only "no panic": errors are short and carry a
//! reason code, what decodes re-encodes to the same record, normal forms
//! are fixed points, and every output the engine derives from accepted
//! input encodes. Inputs that get through validation join the corpus, so
//! the search keeps reaching the engine. There is no coverage feedback.
//!
//! A finding is written to the findings folder; files placed in
//! `fuzz/regressions/<target>/` are replayed before the random cases.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod gen;
mod mutate;
mod targets;

pub use mutate::Rng;

/// The fuzz targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Submission bytes as they arrive on a member topic: framing, Avro
    /// decoding, validation, the engine and every output it derives.
    Submission,
    /// The records the service writes (alerts, dead letters, campaign
    /// updates), decoded as a member's client or the demo decodes them.
    Outputs,
    /// Every observable normaliser, one kind at a time.
    Observables,
    /// Ids and enumerations: member, group, sector and submission ids,
    /// TLP, scope, kinds and roles.
    Ids,
    /// Intake's outside formats: STIX bundles and patterns, MISP events,
    /// CSV, e-mails and malware samples (PE/ELF headers, strings).
    Intake,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Submission,
        Target::Outputs,
        Target::Observables,
        Target::Ids,
        Target::Intake,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Submission => "submission",
            Target::Outputs => "outputs",
            Target::Observables => "observables",
            Target::Ids => "ids",
            Target::Intake => "intake",
        }
    }
}

/// How long and from which seed to fuzz.
#[derive(Clone, Debug)]
pub struct Budget {
    pub duration: Duration,
    pub seed: u64,
    /// Stop after this many cases even if time is left (0 = no limit).
    pub max_cases: u64,
    /// Where findings are written.
    pub findings_dir: PathBuf,
    /// Replayed before the random cases: `<dir>/<target>/*`.
    pub regressions_dir: PathBuf,
}

impl Budget {
    pub fn new(duration: Duration, seed: u64) -> Budget {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Budget {
            duration,
            seed,
            max_cases: 0,
            findings_dir: root.join("../target/fuzz-findings"),
            regressions_dir: root.join("regressions"),
        }
    }
}

/// A property that failed, or a panic.
#[derive(Clone, Debug)]
pub struct Finding {
    pub case: u64,
    pub message: String,
    pub saved_as: Option<PathBuf>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub target: &'static str,
    pub seed: u64,
    pub cases: u64,
    pub elapsed: Duration,
    /// Cases that went all the way through (e.g. accepted by the engine).
    pub accepted: u64,
    /// Cases refused with a clear error, by reason code.
    pub rejected: std::collections::BTreeMap<&'static str, u64>,
    pub findings: Vec<Finding>,
    /// Slowest single case.
    pub slowest: Duration,
    /// Largest input tried, in bytes.
    pub largest_input: usize,
    /// The process's peak resident memory after the run (Linux `VmHWM`).
    pub peak_rss_bytes: Option<u64>,
}

impl Report {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub fn summary(&self) -> String {
        let rate = self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9);
        let mut reasons: Vec<(&&str, &u64)> = self.rejected.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1));
        let top: Vec<String> = reasons
            .iter()
            .take(6)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        format!(
            "{:<12} seed {:#018x}: {} cases in {:.1} s ({:.0}/s), {} accepted, {} rejected [{}], \
             slowest case {:.1} ms, largest input {} B, peak RSS {}, {} finding(s)",
            self.target,
            self.seed,
            self.cases,
            self.elapsed.as_secs_f64(),
            rate,
            self.accepted,
            self.rejected_total(),
            top.join(", "),
            self.slowest.as_secs_f64() * 1e3,
            self.largest_input,
            self.peak_rss_bytes
                .map(|b| format!("{} MiB", b / (1024 * 1024)))
                .unwrap_or_else(|| "n/a".into()),
            self.findings.len()
        )
    }
}

/// What one case came to.
pub(crate) enum Verdict {
    Accepted,
    Rejected(&'static str),
    /// A property failed: the message says which.
    Broken(String),
}

/// A target's state between cases.
pub(crate) trait Harness {
    /// The next input (from the corpus, mutated, or freshly generated).
    fn next_input(&mut self, rng: &mut Rng) -> Vec<u8>;
    /// Runs one case. May panic: the runner catches it.
    fn run(&mut self, input: &[u8], rng: &mut Rng) -> Verdict;
    /// Called after a panic, to rebuild state the panic may have broken.
    fn reset(&mut self);
}

/// Runs `target` within `budget`.
pub fn run(target: Target, budget: &Budget) -> Report {
    let mut harness: Box<dyn Harness> = match target {
        Target::Submission => Box::new(targets::SubmissionTarget::new()),
        Target::Outputs => Box::new(targets::OutputsTarget::new()),
        Target::Observables => Box::new(targets::ObservablesTarget::new()),
        Target::Ids => Box::new(targets::IdsTarget::new()),
        Target::Intake => Box::new(targets::IntakeTarget::new()),
    };
    let mut rng = Rng::new(budget.seed ^ (target as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut report = Report {
        target: target.name(),
        seed: budget.seed,
        ..Report::default()
    };
    let start = Instant::now();

    let replay = regressions(&budget.regressions_dir.join(target.name()));
    let mut replay = replay.into_iter();
    loop {
        let (input, from_file) = match replay.next() {
            Some(bytes) => (bytes, true),
            None => {
                if start.elapsed() >= budget.duration
                    || (budget.max_cases > 0 && report.cases >= budget.max_cases)
                {
                    break;
                }
                (harness.next_input(&mut rng), false)
            }
        };
        let case = report.cases;
        report.cases += 1;
        report.largest_input = report.largest_input.max(input.len());
        let t = Instant::now();
        let verdict = catch_unwind(AssertUnwindSafe(|| harness.run(&input, &mut rng)));
        report.slowest = report.slowest.max(t.elapsed());
        let broken = match verdict {
            Ok(Verdict::Accepted) => {
                report.accepted += 1;
                None
            }
            Ok(Verdict::Rejected(code)) => {
                *report.rejected.entry(code).or_insert(0) += 1;
                None
            }
            Ok(Verdict::Broken(why)) => Some(why),
            Err(panic) => {
                harness.reset();
                Some(format!("panic: {}", panic_message(&*panic)))
            }
        };
        if let Some(message) = broken {
            let saved_as = if from_file {
                None
            } else {
                save(&budget.findings_dir, target.name(), case, &input)
            };
            report.findings.push(Finding {
                case,
                message,
                saved_as,
            });
            if report.findings.len() >= 20 {
                break; // enough to act on; do not flood
            }
        }
    }
    report.elapsed = start.elapsed();
    report.peak_rss_bytes = peak_rss_bytes();
    report
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".into()
    }
}

fn regressions(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "bin"))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn save(dir: &Path, target: &str, case: u64, input: &[u8]) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(format!("{target}-{case}.bin"));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// Peak resident set of this process, from `/proc/self/status`.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
