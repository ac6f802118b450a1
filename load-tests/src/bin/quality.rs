//! `cisp-quality`: how well the correlation engine recovers planted
//! campaigns and their actors (see `cisp_load::scenario`). Runs the engine
//! in-process on one core; prints pairwise precision and recall, actor
//! top-1 accuracy, the warn-list check and the engine's throughput.

use cisp_engine::EngineConfig;
use cisp_load::scenario::{generate, measure, QualityParams};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "cisp-quality",
    about = "Clustering and attribution quality on a planted scenario"
)]
struct Cli {
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 80)]
    campaigns: usize,
    /// Background reports that belong to no campaign.
    #[arg(long, default_value_t = 1500)]
    background: usize,
    #[arg(long, default_value_t = 40)]
    members: usize,
    /// Exit non-zero below this precision or recall (0 = report only).
    #[arg(long, default_value_t = 0.0)]
    require: f64,
    /// Also run the scenario through the local stack (`make stack-up`):
    /// published to the broker, handled by the fusion service configured
    /// by this file, and scored from ClickHouse's current campaign
    /// membership (and, for comparison, from the campaign each submission
    /// was given when processed).
    #[arg(long)]
    through_stack: Option<std::path::PathBuf>,
    /// Instead: fill an engine with this many observables (reports of ten
    /// unique values) and print its resident memory per indexed observable.
    #[arg(long)]
    index_memory: Option<u64>,
    /// Instead: the attribution calibration (planted actor, actor-less,
    /// commodity-only, wrong-claim and lone-claim campaigns) on these
    /// seeds: the precision/coverage curve over thresholds and the figures
    /// at the shipped threshold.
    #[arg(long, value_delimiter = ',')]
    attribution: Option<Vec<u64>>,
    /// With --attribution: write the curve as an SVG chart here.
    #[arg(long)]
    svg: Option<std::path::PathBuf>,
    /// With --attribution: search scoring parameters instead (calibration).
    #[arg(long, hide = true)]
    grid: bool,
}

fn grid(seeds: &[u64]) {
    use cisp_load::attribution::{at, generate, rerank, CalibrationParams};
    let mut cases = Vec::new();
    for &seed in seeds {
        cases.extend(generate(&CalibrationParams {
            seed,
            ..CalibrationParams::default()
        }));
    }
    let mut best: Vec<(f64, String)> = Vec::new();
    let list = |name: &str, default: &[f64]| -> Vec<f64> {
        std::env::var(name).ok().map_or_else(
            || default.to_vec(),
            |v| v.split(',').filter_map(|x| x.parse().ok()).collect(),
        )
    };
    for missing in list("G_MISSING", &[0.0, 0.25, 0.5, 1.0]) {
        for none in list("G_NONE", &[4.0, 8.0, 12.0, 16.0]) {
            for temperature in list("G_T", &[0.5, 1.0, 2.0, 3.0]) {
                for claim in list("G_CLAIM", &[1.0, 2.0]) {
                    for unseen in list("G_UNSEEN", &[0.0, 0.05, 0.1, 0.2, 0.3]) {
                        for size in list("G_SIZE", &[0.0]) {
                            let k = cisp_engine::Scoring {
                                missing,
                                none,
                                temperature,
                                claim,
                                unseen,
                                size,
                            };
                            rerank(&mut cases, &k);
                            for t in [0.3, 0.4, 0.5, 0.6, 0.7] {
                                let a = at(&cases, t);
                                if a.false_rate <= 0.05
                                    && a.wrong_claim_won == 0
                                    && a.lone_claim_won == 0
                                {
                                    best.push((a.top1, format!("{k:?} t={t}: top-1 {:.3} precision {:.3} false {:.3} (top-1 at 0: {:.3})", a.top1, a.precision, a.false_rate, at(&cases, 1e-9).top1)));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    best.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, line) in best.iter().take(25) {
        println!("{line}");
    }
}

fn attribution(seeds: &[u64], svg: Option<&std::path::Path>) -> anyhow::Result<()> {
    use cisp_load::attribution::{at, by_shape, confidences, curve, generate, CalibrationParams};
    let shipped = EngineConfig::default().attribution_threshold;
    let mut curves = Vec::new();
    let mut all = Vec::new();
    for &seed in seeds {
        let params = CalibrationParams {
            seed,
            ..CalibrationParams::default()
        };
        let cases = generate(&params);
        let a = at(&cases, shipped);
        println!(
            "attribution seed {seed}: {} campaigns ({} groups) — at the shipped threshold {shipped:.2}: top-1 {:.3} (precision {:.3}, coverage {:.3}), actor-less attributed {:.3}, wrong claims won {} of {}, lone claims won {} of {}; claims changed {} outcome(s) to right, {} to wrong",
            cases.len(),
            cisp_load::attribution::groups_used(&cases),
            a.top1,
            a.precision,
            a.coverage,
            a.false_rate,
            a.wrong_claim_won,
            a.wrong_claims,
            a.lone_claim_won,
            a.lone_claims,
            a.claims_made_right,
            a.claims_made_wrong
        );
        let shapes: Vec<String> = by_shape(&cases, shipped)
            .into_iter()
            .map(|(s, ok, n)| format!("{s:?} {ok}/{n}"))
            .collect();
        println!(
            "  right by shape (actor: the group; others: none): {}",
            shapes.join(", ")
        );
        let (right, wrong) = confidences(&cases);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        println!(
            "  best candidate's confidence: right {} (mean {:.2}), wrong {} (mean {:.2}, highest {:.2})",
            right.len(),
            mean(&right),
            wrong.len(),
            mean(&wrong),
            max(&wrong)
        );
        let sizes: Vec<String> = cisp_load::attribution::by_profile_size(&cases, shipped)
            .into_iter()
            .map(|(b, ok, n)| format!("{b}+ techniques {ok}/{n}"))
            .collect();
        println!("  top-1 by the group's profile size: {}", sizes.join(", "));
        curves.push((seed, curve(&cases)));
        all.extend(cases);
    }
    println!("threshold  top-1  precision  coverage  actor-less attributed  (all seeds together)");
    for a in curve(&all) {
        println!(
            "{:>9.2}  {:.3}  {:>9.3}  {:>8.3}  {:>21.3}",
            a.threshold, a.top1, a.precision, a.coverage, a.false_rate
        );
    }
    println!("reliability (all seeds): confidence of the best candidate → right / of");
    for (i, (n, ok)) in cisp_load::attribution::reliability(&all)
        .into_iter()
        .enumerate()
    {
        if n > 0 {
            println!(
                "  {:.1}–{:.1}: {ok} / {n} = {:.2}",
                i as f64 / 10.0,
                (i + 1) as f64 / 10.0,
                ok as f64 / n as f64
            );
        }
    }
    if let Some(path) = svg {
        std::fs::write(path, cisp_load::attribution::svg(&curves, shipped))?;
        println!("curve written to {}", path.display());
    }
    Ok(())
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn index_memory(n: u64) -> anyhow::Result<()> {
    use cisp_model::{Limits, MemberId, ObservableDraft, SubmissionDraft};
    let registry = cisp_load::scenario::registry(40);
    let before = rss_bytes();
    let started = std::time::Instant::now();
    let mut engine = cisp_engine::Engine::new(registry.clone(), EngineConfig::default());
    let base = rss_bytes();
    for i in 0..n / 10 {
        let member = format!("q{:03}", i % 40);
        let draft = SubmissionDraft {
            submission_id: format!("m-{i}"),
            member_id: member.clone(),
            submitted_at_ms: 1_767_225_600_000,
            kind: "incident".into(),
            tlp: "GREEN".into(),
            scope: "community".into(),
            title: format!("memory {i}"),
            observables: (0..10)
                .map(|k| {
                    let u = i * 10 + k;
                    let (kind, value) = match k % 4 {
                        0 => ("sha256", format!("{u:064x}")),
                        1 => ("domain", format!("h{u}.m{u}.net")),
                        2 => (
                            "ipv4",
                            format!(
                                "{}.{}.{}.{}",
                                11 + (u >> 24) % 200,
                                (u >> 16) % 256,
                                (u >> 8) % 256,
                                u % 256
                            ),
                        ),
                        _ => ("url", format!("https://h{u}.m{u}.net/p/{u}")),
                    };
                    ObservableDraft {
                        kind: kind.into(),
                        value,
                        ..Default::default()
                    }
                })
                .collect(),
            confidence: 50,
            ..Default::default()
        };
        let sub = draft
            .validate(&MemberId::parse(&member)?, &registry, &Limits::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        engine.process(
            &sub,
            cisp_engine::Ingest {
                published_at_ms: 0,
                now_ms: 0,
            },
        );
    }
    let after = rss_bytes();
    let s = engine.stats();
    println!(
        "{} reports, {} indexed observables ({} graph nodes, {} edges) in {:.1} s: resident memory {} MiB over an empty engine ({} MiB with the reference data) = {} bytes per indexed observable",
        s.submissions,
        s.observables,
        s.graph_nodes,
        s.graph_edges,
        started.elapsed().as_secs_f64(),
        (after - base) >> 20,
        (after - before) >> 20,
        (after - base) / s.observables.max(1)
    );
    for (what, bytes) in cisp_engine::Engine::layout() {
        println!("  {bytes:>4} bytes  {what}");
    }
    // A snapshot of it: what the fusion service writes every
    // `snapshot_interval` and reads on start.
    let started = std::time::Instant::now();
    let bytes = engine.snapshot().map_err(|e| anyhow::anyhow!("{e}"))?;
    let wrote = started.elapsed();
    let size = bytes.len();
    drop(engine);
    let started = std::time::Instant::now();
    let restored = cisp_engine::Engine::restore(
        registry,
        EngineConfig::default(),
        cisp_engine::Reference::shipped(&[]).map_err(|e| anyhow::anyhow!("{e}"))?,
        &bytes,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "snapshot: {} MiB ({} bytes per indexed observable), encoded in {:.2} s, restored in {:.2} s ({} reports back)",
        size >> 20,
        size as u64 / s.observables.max(1),
        wrote.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        restored.processed()
    );
    Ok(())
}

/// mimalloc instead of glibc's allocator: allocation was about a quarter
/// of the engine's time in `perf` (BENCHMARKS.md, "Profile").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(n) = cli.index_memory {
        return index_memory(n);
    }
    if let Some(seeds) = &cli.attribution {
        if cli.grid {
            grid(seeds);
            return Ok(());
        }
        return attribution(seeds, cli.svg.as_deref());
    }
    let params = QualityParams {
        seed: cli.seed,
        campaigns: cli.campaigns,
        background: cli.background,
        members: cli.members,
        ..QualityParams::default()
    };
    let scenario = generate(&params);
    let q = measure(
        &scenario,
        EngineConfig {
            id_salt: cisp_model::Secret::new("quality"),
            ..EngineConfig::default()
        },
    );
    println!("scenario: seed {} — {} reports ({} observables), {} planted campaigns, {} background reports, {} members",
        params.seed, q.reports, q.observables, q.planted_campaigns, params.background, params.members);
    println!("campaigns found: {}", q.found_campaigns);
    println!("pairwise precision: {:.4}", q.precision);
    println!("pairwise recall:    {:.4}", q.recall);
    println!(
        "actor top-1 accuracy: {:.4} ({} of {} attributed campaigns right; {} wrong, {} not attributed; {} actor-less campaigns attributed anyway)",
        q.actor_top1, q.actor_correct, q.actor_planted, q.actor_wrong, q.actor_missing, q.false_attributions
    );
    println!(
        "warn-listed values linking: {} of {} link evidence items checked",
        q.warnlisted_links, q.links_checked
    );
    println!(
        "links joining different planted campaigns, by evidence: {:?}",
        q.wrong_links
    );
    println!(
        "common infrastructure found: {}",
        q.common_infrastructure.join(", ")
    );
    println!(
        "engine throughput (one core, in-process): {:.0} reports/s, {:.0} observables/s",
        q.reports as f64 / q.seconds,
        q.observables as f64 / q.seconds
    );
    let mut below = cli.require > 0.0
        && (q.precision < cli.require || q.recall < cli.require || q.warnlisted_links > 0);
    if let Some(config) = &cli.through_stack {
        let rt = tokio::runtime::Runtime::new()?;
        let st = rt.block_on(cisp_load::stack_quality::measure_through_stack(
            &scenario,
            params.members,
            config,
        ))?;
        println!(
            "through the stack ({}: broker, fusion service, ClickHouse), {} campaigns in {:.1} s:",
            config.display(),
            st.campaigns,
            st.seconds
        );
        println!(
            "  ClickHouse, each submission's campaign now (submission_campaigns): precision {:.4}, recall {:.4}",
            st.precision, st.recall
        );
        println!(
            "  ClickHouse, the campaign at processing time (submissions.campaign_id): precision {:.4}, recall {:.4}",
            st.at_processing_precision, st.at_processing_recall
        );
        below |= cli.require > 0.0 && (st.precision < cli.require || st.recall < cli.require);
    }
    if below {
        anyhow::bail!("below the required quality {}", cli.require);
    }
    Ok(())
}
