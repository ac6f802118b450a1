//! `cisp-fuzz`: runs the fuzz targets for a bounded time and exits non-zero
//! on any finding. `make fuzz FUZZ_SECONDS=300` runs every target.

use std::process::ExitCode;
use std::time::Duration;

use cisp_fuzz::{run, Budget, Target};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Fuzz the hostile-input paths of CiSP Fusion for a bounded time")]
struct Args {
    /// Targets to run (default: all).
    #[arg(long, value_enum)]
    target: Vec<Target>,
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seed (default: from the clock; printed, so a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Stop each target after this many cases (0 = only the time limit).
    #[arg(long, default_value_t = 0)]
    max_cases: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(clock_seed);
    let mut budget = Budget::new(Duration::from_secs(args.seconds), seed);
    budget.max_cases = args.max_cases;
    let targets = if args.target.is_empty() {
        Target::ALL.to_vec()
    } else {
        args.target
    };
    let mut found = 0;
    for t in targets {
        let report = run(t, &budget);
        println!("{}", report.summary());
        for f in &report.findings {
            found += 1;
            let saved = f
                .saved_as
                .as_ref()
                .map(|p| format!(" (input saved as {})", p.display()))
                .unwrap_or_default();
            println!("  FINDING case {}: {}{saved}", f.case, f.message);
        }
    }
    if found > 0 {
        println!("{found} finding(s); repeat with --seed {seed}");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
