//! `cisp-fusion`: parses flags, sets up logging and the runtime, and hands
//! over to the library.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context as _;
use cisp_fusion::{shutdown_channel, Config, Topics};
use cisp_model::Registry;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cisp-fusion",
    version,
    about = "CiSP fusion service: correlate member submissions, alert, store"
)]
struct Cli {
    /// Configuration file (TOML); CISP_* environment variables override it.
    #[arg(long, env = "CISP_CONFIG", default_value = "config/fusion.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service until SIGINT/SIGTERM (the default).
    Run,
    /// Create the ClickHouse tables (and the Kafka topics where
    /// `kafka.create_topics` is on; with ACLs `acls` provisions them), then exit.
    Setup,
    /// Print the topics the service uses for the registry, one per line.
    Topics,
    /// Print the effective configuration as TOML (file, environment and
    /// defaults; secrets redacted), or with `--get KEY` one value, bare.
    Config {
        /// A dotted key, e.g. `metrics_addr` or `kafka.client.sasl.username`.
        #[arg(long)]
        get: Option<String>,
    },
    /// Print what a broker needs for the registry: SCRAM users, topics and
    /// ACLs, as a shell script with Kafka's tools (production,
    /// docker/README.md) or as a plan for scripts/stack/kafka-admin.sh.
    Acls {
        /// `script` (kafka-acls.sh and friends) or `plan` (the admin tool's input).
        #[arg(long, value_enum, default_value = "script")]
        format: AclFormat,
        /// The service's own SASL user.
        #[arg(long, default_value = "cisp-fusion")]
        service_user: String,
        /// The intake gateway's SASL user (services/intake).
        #[arg(long, default_value = "cisp-intake")]
        intake_user: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AclFormat {
    Script,
    Plan,
}

/// mimalloc instead of glibc's allocator: allocation was about a quarter
/// of the engine's time in `perf` (BENCHMARKS.md, "Profile").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(&cli.config)?;
    let filter = tracing_subscriber::filter::Targets::from_str(&config.log)
        .with_context(|| format!("invalid log filter {:?}", config.log))?;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_target(false))
        .with(filter)
        .init();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => rt.block_on(async {
            let (trigger, shutdown) = shutdown_channel();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutdown requested; finishing the current batch");
                trigger.trigger();
            });
            let outcome = cisp_fusion::run(config, shutdown).await;
            if let Err(e) = &outcome {
                // Where the process must exit, the log says why, at ERROR
                // (the supervisor restarts it; nothing uncommitted is lost).
                tracing::error!(
                    error = %format!("{e:#}"),
                    "fatal: the service stops without committing the batches not yet durable; they are redelivered when it starts again"
                );
            }
            outcome
        }),
        Command::Setup => rt.block_on(async {
            cisp_fusion::setup(&config).await?;
            println!("clickhouse tables and kafka topics are in place");
            Ok(())
        }),
        Command::Topics => {
            let registry = Registry::load(&config.registry_path)?;
            for t in Topics::new(&config.kafka.topic_prefix).all(&registry) {
                println!("{}", t.name);
            }
            Ok(())
        }
        Command::Acls {
            format,
            service_user,
            intake_user,
        } => {
            let registry = Registry::load(&config.registry_path)?;
            let provisioning = cisp_fusion::acl::Provisioning::for_config(
                &config.kafka,
                &registry,
                &service_user,
                &intake_user,
            );
            print!(
                "{}",
                match format {
                    AclFormat::Script => provisioning.script(),
                    AclFormat::Plan => provisioning.plan(true),
                }
            );
            Ok(())
        }
        Command::Config { get: None } => {
            print!("{}", config.effective);
            Ok(())
        }
        Command::Config { get: Some(key) } => match config.get(&key) {
            Some(value) => {
                println!("{value}");
                Ok(())
            }
            None => anyhow::bail!("no setting {key:?}"),
        },
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
