//! `cisp-report --quarter 2026Q3`: renders the quarterly threat-trend report
//! from ClickHouse (the fusion service's configuration says where).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use cisp_model::Tlp;
use cisp_platform::{Credentials, SharedConfig};
use cisp_reporter::{build, client, timestamp, write, Audience, Quarter, Reader, Request};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Quarterly threat-trend report (HTML, Markdown, JSON, SVG charts) from ClickHouse"
)]
struct Args {
    /// The fusion service's configuration (ClickHouse location, k-anonymity).
    #[arg(long, env = "CISP_CONFIG", default_value = "config/fusion.toml")]
    config: PathBuf,
    /// The quarter, e.g. 2026Q3; `latest` for the quarter of the newest
    /// submission stored (default: the current quarter).
    #[arg(long)]
    quarter: Option<String>,
    /// Who the report is for: community (what every member may see) or
    /// fusion-cell (everything).
    #[arg(long, default_value = "community")]
    audience: Audience,
    /// The most restrictive marking the report may include (default GREEN
    /// for the community, RED for the Fusion Cell), e.g. CLEAR for a
    /// public release.
    #[arg(long, value_parser = parse_tlp)]
    max_tlp: Option<Tlp>,
    /// Sectors with fewer contributing members are suppressed (default: the
    /// engine's k_anonymity).
    #[arg(long)]
    k: Option<u64>,
    /// Where the files go.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
}

fn parse_tlp(s: &str) -> Result<Tlp, String> {
    Tlp::parse(s).map_err(|e| e.to_string())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cisp-report: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cisp-report: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = SharedConfig::load(&args.config, Credentials::Optional)?;
    let k = match (args.k, config.setting("engine.k_anonymity")) {
        (Some(k), _) => k,
        (None, None) => u64::from(cisp_model::DEFAULT_K_ANONYMITY),
        (None, Some(v)) => v
            .as_integer()
            .and_then(|k| u64::try_from(k).ok())
            .context("engine.k_anonymity must be a whole number")?,
    }
    .max(1);
    let reader = Reader::new(args.audience, args.max_tlp)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let ch = client(&config.clickhouse);
    let quarter = match args.quarter.as_deref() {
        None => Quarter::current(),
        Some("latest") => latest_quarter(&ch).await?,
        Some(q) => q.parse()?,
    };
    let req = Request {
        quarter,
        reader,
        k,
        generated_at: timestamp(now),
    };
    let report = build(&ch, &req)
        .await
        .with_context(|| format!("building the {} report", req.quarter))?;
    let written = write(&report, &args.out)?;
    println!(
        "{} report for {} ({}): {} submissions, {} sector(s) suppressed below k = {}",
        report.quarter,
        report.audience,
        report.tlp,
        report.headline.first().map_or(0, |h| h.value.current),
        report.suppressed_sectors,
        report.k_anonymity
    );
    println!("  html      {}", written.html.display());
    println!("  markdown  {}", written.markdown.display());
    println!("  json      {}", written.json.display());
    Ok(())
}

/// The quarter of the newest submission stored.
async fn latest_quarter(ch: &clickhouse::Client) -> anyhow::Result<Quarter> {
    let day: u16 = ch
        .query("SELECT toDate(max(submitted_at)) FROM submissions")
        .fetch_one()
        .await
        .context("finding the newest submission")?;
    if day == 0 {
        anyhow::bail!("no submissions stored yet: nothing to report");
    }
    Ok(Quarter::of_day(i64::from(day)))
}
