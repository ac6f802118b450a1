//! The fuzz targets, for a bounded time, in `make test` (and so in CI).
//! `CISP_FUZZ_SECONDS` sets the time per target (default 8) and
//! `CISP_FUZZ_SEED` the seed (default: from the clock, printed).

use std::time::Duration;

use cisp_fuzz::{run, Budget, Target};

/// The fuzzer's process, engine included, must stay small: Avro's
/// allocation limit and our size limits bound what one input can cost.
const MAX_PEAK_RSS: u64 = 1024 * 1024 * 1024;

#[test]
fn every_target_runs_its_budget_without_a_finding() {
    let seconds: u64 = std::env::var("CISP_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("CISP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
    println!("fuzz seed {seed} ({seconds} s per target); repeat with CISP_FUZZ_SEED={seed}");
    let budget = Budget::new(Duration::from_secs(seconds), seed);
    let mut problems = Vec::new();
    for t in Target::ALL {
        let r = run(t, &budget);
        println!("{}", r.summary());
        for f in &r.findings {
            problems.push(format!(
                "{} case {}: {} ({:?})",
                r.target, f.case, f.message, f.saved_as
            ));
        }
        // The search must reach both sides of every target, or it is not
        // exercising what it claims to.
        assert!(r.cases >= 200, "{}: only {} cases ran", r.target, r.cases);
        assert!(r.accepted > 0, "{}: nothing got through", r.target);
        assert!(r.rejected_total() > 0, "{}: nothing was refused", r.target);
        if let Some(peak) = r.peak_rss_bytes {
            assert!(peak < MAX_PEAK_RSS, "{}: peak RSS {peak} bytes", r.target);
        }
    }
    assert!(problems.is_empty(), "findings:\n{}", problems.join("\n"));
}
