//! `cisp-intake`: submit a file as a member, export alerts as STIX, run
//! the HTTP/TAXII gateway, manage gateway API keys.
//!
//! ```text
//! cisp-intake submit --member northbank --format eml suspicious.eml
//! cisp-intake submit --member northbank --format csv --tlp green iocs.csv --dry-run
//! cisp-intake export-stix --member northbank --out alerts.json
//! cisp-intake keys add --member northbank --label soc
//! cisp-intake gateway --listen 127.0.0.1:8088
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use cisp_intake::gateway::{self, Gateway, UploadParams};
use cisp_intake::publish::Publisher;
use cisp_intake::{keys, stix, Format, Intake};
use cisp_model::{MemberId, Registry};
use cisp_platform::{Credentials, SharedConfig as Config};
use clap::{Parser, Subcommand};
use rdkafka::ClientConfig;

#[derive(Parser)]
#[command(
    name = "cisp-intake",
    about = "Turn STIX, MISP, CSV, phishing e-mails and malware samples into CiSP submissions"
)]
struct Cli {
    /// The CiSP configuration (broker, topic prefix, registry, limits).
    #[arg(
        long,
        env = "CISP_CONFIG",
        default_value = "config/fusion.toml",
        global = true
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a file and publish it on the member's own topic, as that
    /// member (its broker user).
    Submit {
        #[arg(long)]
        member: String,
        /// stix, misp, csv, eml or sample.
        #[arg(long)]
        format: String,
        /// The file ("-" for standard input).
        file: PathBuf,
        /// TLP: clear, green, amber, amber+strict, red (the file's own
        /// marking wins when stricter; default amber).
        #[arg(long)]
        tlp: Option<String>,
        /// fusion-cell-only, named-members, sharing-groups, sector, community.
        #[arg(long)]
        scope: Option<String>,
        /// Comma-separated member ids for named-members.
        #[arg(long)]
        members: Option<String>,
        /// Comma-separated sharing groups for sharing-groups.
        #[arg(long)]
        groups: Option<String>,
        #[arg(long)]
        anonymous: bool,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        title: Option<String>,
        /// The submission id (default: derived from the file's bytes).
        #[arg(long)]
        id: Option<String>,
        /// Show the submission that would be published; publish nothing.
        #[arg(long)]
        dry_run: bool,
        /// The member's broker password file (default: the local stack's).
        #[arg(long, env = "CISP_MEMBER_PASSWORD_FILE")]
        password_file: Option<PathBuf>,
    },
    /// Read the member's alert topic and write its alerts as a STIX 2.1
    /// bundle; with --campaigns (Fusion Cell members only), the campaigns
    /// topic instead.
    ExportStix {
        #[arg(long)]
        member: String,
        /// Export the Fusion Cell's campaigns (latest version of each,
        /// with attributions) instead of the member's alerts.
        #[arg(long)]
        campaigns: bool,
        /// Where to write the bundle ("-" for standard output).
        #[arg(long, default_value = "-")]
        out: PathBuf,
        #[arg(long, env = "CISP_MEMBER_PASSWORD_FILE")]
        password_file: Option<PathBuf>,
    },
    /// Print one of the member's feeds (block list, CSV, Suricata rules,
    /// STIX indicators), built from ClickHouse as the gateway serves it at
    /// `/v1/feeds/NAME`.
    Feed {
        #[arg(long)]
        member: String,
        /// ip.txt, domain.txt, url.txt, hash.txt, indicators.csv,
        /// suricata.rules or stix.json.
        name: String,
        #[arg(long)]
        min_score: Option<f64>,
        /// Comma-separated observable types.
        #[arg(long)]
        types: Option<String>,
        #[arg(long)]
        max_tlp: Option<String>,
        /// Last seen at or after (YYYY-MM-DD[THH:MM:SSZ]).
        #[arg(long)]
        since: Option<String>,
    },
    /// Run the HTTP upload and TAXII 2.1 gateway.
    Gateway {
        #[arg(long, env = "CISP_INTAKE_LISTEN", default_value = "127.0.0.1:8088")]
        listen: SocketAddr,
        /// The API key file (hashed keys; `cisp-intake keys add`).
        #[arg(
            long,
            env = "CISP_INTAKE_KEYS",
            default_value = ".stack/intake/keys.toml"
        )]
        keys: PathBuf,
        /// The gateway's own broker user (writes members' submission
        /// topics, reads their alert topics).
        #[arg(long, env = "CISP_INTAKE_KAFKA_USER", default_value = "cisp-intake")]
        kafka_user: String,
        #[arg(long, env = "CISP_INTAKE_KAFKA_PASSWORD_FILE")]
        password_file: Option<PathBuf>,
    },
    /// Manage gateway API keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key for a member; prints it once (only its hash is kept).
    Add {
        #[arg(long)]
        member: String,
        #[arg(long, default_value = "default")]
        label: String,
        #[arg(
            long,
            env = "CISP_INTAKE_KEYS",
            default_value = ".stack/intake/keys.toml"
        )]
        keys: PathBuf,
    },
}

/// A broker client as `user`, with the password from `file` or else the
/// local stack's password file for that user.
fn client_as(cfg: &Config, user: &str, file: Option<&Path>) -> anyhow::Result<ClientConfig> {
    cfg.kafka.client_as_user("cisp-intake", user, file)
}

fn intake(cfg: &Config) -> anyhow::Result<Intake> {
    let registry = Registry::load(&cfg.registry_path)
        .with_context(|| format!("loading the registry {}", cfg.registry_path.display()))?;
    Ok(Intake {
        registry: Arc::new(registry),
        limits: cfg.limits.clone(),
    })
}

fn read_input(path: &Path, max: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    let reader: Box<dyn std::io::Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?)
    };
    // One byte over the limit is enough to know it is too large.
    reader.take(max as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let cfg = Config::load(&cli.config, Credentials::Optional)?;
    match cli.command {
        Command::Submit {
            member,
            format,
            file,
            tlp,
            scope,
            members,
            groups,
            anonymous,
            kind,
            title,
            id,
            dry_run,
            password_file,
        } => {
            let member = MemberId::parse(&member)?;
            let format = Format::parse(&format)?;
            let bytes = read_input(&file, cisp_intake::max_input_bytes(format))?;
            let params = UploadParams {
                format: format.name().to_owned(),
                tlp,
                scope,
                members,
                groups,
                anonymous,
                kind,
                title,
                filename: file
                    .file_name()
                    .filter(|_| file != Path::new("-"))
                    .map(|n| n.to_string_lossy().into_owned()),
                id,
                dry_run,
            };
            let env = gateway::envelope(member.clone(), &params, gateway::now_ms())?;
            let all = intake(&cfg)?.prepare(format, &bytes, &env)?;
            // What was left out, and what each submission holds: every
            // skipped item is reported (the count, then the notes).
            for converted in &all {
                let r = &converted.record;
                eprintln!(
                    "{} submission {:?}: {} observables, {} techniques, {} malware, {} actor claims; {} to {}; {} item(s) skipped",
                    r.kind.name(),
                    r.submission_id,
                    r.observables.len(),
                    r.ttps.len(),
                    r.malware.len(),
                    r.actor_claims.len(),
                    r.tlp.label(),
                    r.distribution.scope.name(),
                    converted.skipped.len()
                );
                for s in &converted.skipped {
                    eprintln!("  skipped: {s}");
                }
            }
            if dry_run {
                // One submission: the record itself (as ever); several:
                // a JSON array of them.
                let records: Vec<_> = all.iter().map(|c| &c.record).collect();
                match records.as_slice() {
                    [one] => println!("{}", serde_json::to_string_pretty(one)?),
                    many => println!("{}", serde_json::to_string_pretty(many)?),
                }
                return Ok(());
            }
            let publisher = Publisher::new(
                client_as(&cfg, member.as_str(), password_file.as_deref())?,
                &cfg.kafka.topic_prefix,
            )?;
            for converted in &all {
                let r = &converted.record;
                let receipt = publisher.publish(&member, r).await?;
                println!(
                    "published {} to {} (partition {}, offset {})",
                    r.submission_id, receipt.topic, receipt.partition, receipt.offset
                );
            }
        }
        Command::ExportStix {
            member,
            campaigns,
            out,
            password_file,
        } => {
            let member = MemberId::parse(&member)?;
            let client = client_as(&cfg, member.as_str(), password_file.as_deref())?;
            let topics = cisp_platform::Topics::new(&cfg.kafka.topic_prefix);
            // A group in the member's own namespace (its ACLs allow `<id>.…`).
            let group = cisp_platform::acl::member_group(member.as_str(), "export-stix");
            let (bundle, what) = if campaigns {
                let registry = intake(&cfg)?.registry;
                if !registry.is_fusion_cell(&member) {
                    bail!("campaigns are the Fusion Cell's view: {member} is not a fusion-cell member");
                }
                let topic = topics.campaigns();
                let updates = tokio::task::spawn_blocking(move || {
                    gateway::read_records::<cisp_wire::records::CampaignUpdateRecord>(
                        &client,
                        &group,
                        &topic,
                        cisp_wire::RecordType::CampaignUpdate,
                    )
                })
                .await??;
                let records: Vec<_> = updates.into_iter().map(|(_, c)| c).collect();
                (
                    stix::export_campaigns(&records),
                    format!("{} campaign updates", records.len()),
                )
            } else {
                let topic = topics.alerts(&member);
                let alerts = tokio::task::spawn_blocking(move || {
                    gateway::read_alerts(&client, &group, &topic)
                })
                .await??;
                let records: Vec<_> = alerts.into_iter().map(|(_, a)| a).collect();
                (
                    stix::export(&records, &stix::ExportOptions::default()),
                    format!("{} alerts", records.len()),
                )
            };
            let text = serde_json::to_string_pretty(&bundle)?;
            if out == Path::new("-") {
                println!("{text}");
            } else {
                std::fs::write(&out, text)?;
                eprintln!("wrote {what} as STIX to {}", out.display());
            }
        }
        Command::Feed {
            member,
            name,
            min_score,
            types,
            max_tlp,
            since,
        } => {
            let member = MemberId::parse(&member)?;
            let registry = intake(&cfg)?.registry;
            let params = cisp_intake::feed::FeedParams {
                min_score,
                types,
                max_tlp,
                since,
            };
            let body = cisp_intake::feed::build(
                &cfg.clickhouse.client(),
                &cfg.clickhouse.database,
                &registry,
                &member,
                &name,
                &params,
                gateway::now_ms(),
            )
            .await?;
            print!("{}", body.text);
            eprintln!("{} values in {name} for {member}", body.count);
        }
        Command::Gateway {
            listen,
            keys,
            kafka_user,
            password_file,
        } => {
            let keys_store = keys::Keys::load(&keys)?;
            if keys_store.is_empty() {
                bail!(
                    "no API keys in {}: create one with `cisp-intake keys add --member …`",
                    keys.display()
                );
            }
            let client = client_as(&cfg, &kafka_user, password_file.as_deref())?;
            let gw = Gateway::new(
                intake(&cfg)?,
                keys_store,
                Publisher::new(client.clone(), &cfg.kafka.topic_prefix)?,
                client,
                &cfg.kafka.topic_prefix,
            )?
            // The member feeds read ClickHouse (what the fusion service wrote).
            .with_store(cfg.clickhouse.client(), &cfg.clickhouse.database);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let server = tokio::spawn(gateway::serve(gw, listen, tx, async {
                let _ = tokio::signal::ctrl_c().await;
            }));
            if let Ok(addr) = rx.await {
                eprintln!(
                    "intake gateway listening on http://{addr} ({} API keys)",
                    keys::Keys::load(&keys)?.len()
                );
            }
            server.await??;
        }
        Command::Keys {
            action:
                KeysAction::Add {
                    member,
                    label,
                    keys,
                },
        } => {
            let member = MemberId::parse(&member)?;
            let registry = intake(&cfg)?.registry;
            if registry.member(&member).is_none() {
                bail!("{member} is not in the registry");
            }
            let key = keys::add(&keys, &member, &label)?;
            eprintln!(
                "API key for {member} ({label}); shown once, only its hash is kept in {}:",
                keys.display()
            );
            println!("{key}");
        }
    }
    Ok(())
}
