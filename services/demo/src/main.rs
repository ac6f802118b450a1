//! `cisp-demo`: publish the bundled scenario and show what each member got.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use cisp_demo::{
    check, clickhouse_summary, collect_alerts, publish, records_committed, render_alerts,
    wait_committed, Scenario,
};
use cisp_model::Registry;
use cisp_platform::{Credentials, SharedConfig as Config};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cisp-demo",
    about = "Publish the demo scenario and show what each member received"
)]
struct Cli {
    #[arg(long, env = "CISP_CONFIG", default_value = "config/fusion.toml")]
    config: PathBuf,
    #[arg(long, default_value = "demo/scenario.json")]
    scenario: PathBuf,
    /// The running fusion service's /metrics address (default: from the config).
    #[arg(long)]
    metrics: Option<SocketAddr>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Publish, wait for the service, show and check (the default).
    Run,
    /// Only publish the scenario.
    Publish,
    /// Only show what each member has received so far, and ClickHouse.
    Show,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = Config::load(&cli.config, Credentials::Optional)?;
    let registry = Registry::load(&cfg.registry_path)?;
    let scenario = Scenario::load(&cli.scenario)?;
    let metrics = cli.metrics.unwrap_or(cfg.metrics_addr);
    match cli.command.unwrap_or(Command::Run) {
        Command::Publish => {
            let n = publish(&cfg, &scenario).await?;
            println!("published {n} records");
        }
        Command::Show => {
            show(&cfg, &registry, &scenario).await?;
        }
        Command::Run => {
            println!("Scenario: {}\n{}\n", scenario.name, scenario.about);
            let before = records_committed(metrics)
                .context("is the fusion service running? (make run starts it)")?;
            let n = publish(&cfg, &scenario).await?;
            println!(
                "published {n} records, each on its member's topic as that member's broker user; waiting for the fusion service…"
            );
            wait_committed(metrics, before + n as u64, Duration::from_secs(60))?;
            let ok = show(&cfg, &registry, &scenario).await?;
            if !ok {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

async fn show(cfg: &Config, registry: &Registry, scenario: &Scenario) -> anyhow::Result<bool> {
    // A CLI on a current-thread runtime: blocking here stalls nothing else.
    let received = collect_alerts(cfg, registry)?;
    if scenario.expect.talks_back() {
        // Only what talking back caused: revocations and dispute notices.
        let told: std::collections::BTreeMap<String, Vec<cisp_demo::Received>> = received
            .by_member
            .iter()
            .map(|(m, list)| {
                let kept = list
                    .iter()
                    .filter(|a| {
                        matches!(
                            a.record.kind,
                            cisp_model::AlertKind::Revocation | cisp_model::AlertKind::Dispute
                        )
                    })
                    .cloned()
                    .collect();
                (m.clone(), kept)
            })
            .collect();
        println!("Revocations and dispute notices each member received:");
        print!("{}", render_alerts(registry, &told));
    } else {
        println!("What each member received on its own alert topic:");
        print!("{}", render_alerts(registry, &received.by_member));
    }
    print!("{}", clickhouse_summary(cfg).await?);
    let problems = check(&scenario.expect, &scenario.submission_ids(), &received);
    if problems.is_empty() {
        println!("\nChecked: every member was told exactly what its audience rights allow; no restricted or anonymous detail leaked.");
        Ok(true)
    } else {
        println!("\nPROBLEMS:");
        for p in &problems {
            println!("  {p}");
        }
        Ok(false)
    }
}
