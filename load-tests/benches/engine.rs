//! Engine and decode benchmarks (criterion; `cargo bench -p cisp-load`):
//!
//! * `engine/process` — the quality scenario (`cisp_load::scenario`, seed 7)
//!   through a fresh engine: normalised submissions in, campaigns, alerts
//!   and per-audience views out; throughput in observables per second on
//!   one core.
//! * `engine/load` — the end-to-end benchmark's default scenario (20 000
//!   records, 50 planted campaigns of ~80 reports, a fifth shared with the
//!   sector only) through a fresh engine: large campaigns, views that differ.
//! * `engine/growth/N` — the cost of 200 new reports (eight new values,
//!   two already known, so each joins an existing campaign) on top of an
//!   engine already indexing N observables (10⁴, 10⁵, 10⁶; 10⁷ with
//!   `CISP_BENCH_LARGE=1`). Resident memory per indexed observable is
//!   measured in a fresh process instead: `cisp-quality --index-memory N`
//!   (in here, memory freed by earlier benchmarks blurs it).
//! * `wire/decode+validate` — one 10-observable submission record from
//!   bytes to a validated `Submission`.
//! * `talkback/retract`, `talkback/sighting`, `talkback/false-positive` —
//!   issue 22's record kinds on an engine holding the quality scenario:
//!   one retraction of a report (its campaign recomputed; no audit rows,
//!   so the revocations built are what the engine's part costs), one
//!   sighting, one false positive (three members' disputes tip a value:
//!   every third one splits), per record.

use std::time::{Duration, Instant};

use cisp_engine::{Engine, EngineConfig, Ingest};
use cisp_load::scenario::{generate, QualityParams};
use cisp_model::{Limits, MemberId, ObservableDraft, Submission, SubmissionDraft};
use cisp_wire::{Codec, DecodeLimits, RecordType};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// The allocator the service runs with (services/fusion/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config() -> EngineConfig {
    EngineConfig {
        id_salt: cisp_model::Secret::new("bench"),
        ..EngineConfig::default()
    }
}

fn at(ms: i64) -> Ingest {
    Ingest {
        published_at_ms: ms,
        now_ms: ms,
    }
}

/// `engine/<name>`: `subs` through a fresh engine, in observables per
/// second (building the engine is not timed).
fn through_fresh_engine(
    c: &mut Criterion,
    name: &str,
    registry: &std::sync::Arc<cisp_model::Registry>,
    subs: &[Submission],
) {
    let observables: u64 = subs.iter().map(|s| s.observables.len() as u64).sum();
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(observables));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut engine = Engine::new(registry.clone(), config());
                let started = Instant::now();
                for s in subs {
                    engine.process(s, at(s.submitted_at_ms));
                }
                total += started.elapsed();
            }
            total
        });
    });
    g.finish();
}

fn process(c: &mut Criterion) {
    let s = generate(&QualityParams::default());
    let subs: Vec<Submission> = s.reports.iter().map(|r| r.submission.clone()).collect();
    through_fresh_engine(c, "process", &s.registry, &subs);
}

const T0: i64 = 1_767_225_600_000;

/// A report of `n` unique observables (hashes and hosts nobody else has).
fn filler(registry: &cisp_model::Registry, i: u64, n: u64) -> Submission {
    let member = format!("q{:03}", i % 40);
    let draft = SubmissionDraft {
        submission_id: format!("fill-{i}"),
        member_id: member.clone(),
        submitted_at_ms: T0 + (i as i64 % 80) * 86_400_000,
        kind: "incident".into(),
        tlp: "GREEN".into(),
        scope: "community".into(),
        title: format!("filler {i}"),
        observables: (0..n)
            .map(|k| {
                let u = i * n + k;
                if k % 2 == 0 {
                    ObservableDraft {
                        kind: "sha256".into(),
                        value: format!("{u:064x}"),
                        ..Default::default()
                    }
                } else {
                    ObservableDraft {
                        kind: "domain".into(),
                        value: format!("h{u}.fill{u}.net"),
                        ..Default::default()
                    }
                }
            })
            .collect(),
        confidence: 50,
        ..Default::default()
    };
    #[allow(clippy::unwrap_used)]
    draft
        .validate(
            &MemberId::parse(&member).unwrap(),
            registry,
            &Limits::default(),
        )
        .unwrap()
}

/// A new report: eight values nobody has reported and the two that filler
/// report `seen` carries (so lookups both miss and hit, and the report
/// joins an existing one-report campaign).
fn probe(registry: &cisp_model::Registry, round: u64, k: u64, seen: u64) -> Submission {
    let mut s = filler(registry, 1_000_000_000 + round * 1000 + k, 8);
    let old = filler(registry, seen, PER);
    s.observables.extend(old.observables);
    s
}

/// Observables per filler report: small, so even 10⁴ indexed observables
/// give enough fillers for every probe to meet a fresh one.
const PER: u64 = 2;

fn growth(c: &mut Criterion) {
    let registry = cisp_load::scenario::registry(40);
    let mut sizes = vec![10_000u64, 100_000, 1_000_000];
    if std::env::var("CISP_BENCH_LARGE").is_ok_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    const PROBES: u64 = 200;
    let mut g = c.benchmark_group("engine/growth");
    g.sample_size(10);
    g.throughput(Throughput::Elements(PROBES));
    for n in sizes {
        let fillers = n / PER;
        // Filled on first use, so a filter that skips this size skips the fill.
        let mut filled: Option<Engine> = None;
        let mut round = 0u64;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            let engine = filled.get_or_insert_with(|| {
                let mut engine = Engine::new(registry.clone(), config());
                for i in 0..fillers {
                    engine.process(&filler(&registry, i, PER), at(T0));
                }
                engine
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    let fresh: Vec<Submission> = (0..PROBES)
                        // Each probe meets a filler no probe met before
                        // (until they run out: 25 rounds at 10⁴).
                        .map(|k| {
                            probe(
                                &registry,
                                round,
                                k,
                                fillers - 1 - ((round - 1) * PROBES + k) % fillers,
                            )
                        })
                        .collect();
                    let started = Instant::now();
                    for s in &fresh {
                        engine.process(s, at(s.submitted_at_ms));
                    }
                    total += started.elapsed();
                }
                total
            });
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let codec = match Codec::new(DecodeLimits::default()) {
        Ok(c) => c,
        Err(e) => panic!("codec: {e}"),
    };
    let registry = cisp_load::scenario::registry(40);
    let obs: Vec<(cisp_model::ObservableKind, String)> = (0..10)
        .map(|k| {
            if k % 2 == 0 {
                (
                    cisp_model::ObservableKind::Domain,
                    format!("c2-{k}.evil-bench.com"),
                )
            } else {
                (
                    cisp_model::ObservableKind::Url,
                    format!("hxxps://c2-{k}.evil-bench[.]com/gate.php?id={k}"),
                )
            }
        })
        .collect();
    let refs: Vec<(cisp_model::ObservableKind, &str)> =
        obs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let record = cisp_testkit::community_record("q001", "BENCH-1", &refs);
    let bytes = match codec.encode(RecordType::Submission, &record) {
        Ok(b) => b,
        Err(e) => panic!("encode: {e}"),
    };
    let member = match MemberId::parse("q001") {
        Ok(m) => m,
        Err(e) => panic!("member: {e}"),
    };
    let limits = Limits::default();
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode+validate", |b| {
        b.iter(|| {
            let Ok((r, _)) = codec
                .decode::<cisp_wire::records::SubmissionRecord>(RecordType::Submission, &bytes)
            else {
                panic!("decodes")
            };
            let draft: SubmissionDraft = r.into();
            draft.validate(&member, &registry, &limits).is_ok()
        });
    });
    g.finish();
}

/// Intake conversions per upload: the demo phishing e-mail, a STIX bundle
/// of 100 indicators (our own export), and triage of a 1 MiB sample.
fn intake(c: &mut Criterion) {
    use cisp_intake::{convert, Envelope, Format};
    use cisp_wire::records::{AlertRecord, ObservableRecord};
    let Ok(member) = MemberId::parse("northbank") else {
        panic!("member id")
    };
    let envelope = Envelope::new(member, 1_782_900_000_000);
    let root = cisp_testkit::repo_root();
    let eml = match std::fs::read(root.join("demo/intake/phish.eml")) {
        Ok(b) => b,
        Err(e) => panic!("demo e-mail: {e}"),
    };
    let alert = AlertRecord {
        alert_id: "A-1".into(),
        recipient: "northbank".into(),
        created_at: 1_782_900_000_000,
        trigger_published_at: 1_782_900_000_000,
        kind: cisp_model::AlertKind::PeerSighting,
        severity: cisp_model::Severity::High,
        tlp: cisp_model::Tlp::Amber,
        campaign_id: Some("V-1".into()),
        your_submission_ids: vec![],
        related: vec![],
        shared_observables: (0..100)
            .map(|i| {
                ObservableRecord::new(
                    cisp_model::ObservableKind::Url,
                    format!("https://c2-{i}.evil-bench.com/gate.php?id={i}"),
                )
            })
            .collect(),
        other_member_count: 3,
        summary: "bench".into(),
        shared_scores: vec![],
        sightings: 1,
        revokes: vec![],
    };
    let stix = cisp_intake::stix::export(&[alert], &Default::default()).to_string();
    let mut sample: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    sample[4096..4096 + 28].copy_from_slice(b"http://c2.evil-bench.com/x\0\0");
    let mut g = c.benchmark_group("intake");
    g.throughput(Throughput::Elements(1));
    for (name, format, bytes) in [
        ("eml", Format::Eml, &eml),
        ("stix-100-indicators", Format::Stix, &stix.into_bytes()),
        ("sample-1MiB", Format::Sample, &sample),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| convert(format, bytes, &envelope).is_ok());
        });
    }
    g.finish();
}

/// The end-to-end benchmark's default scenario (`load-tests/scenarios/default`:
/// 20 000 records of 1–20 observables, 40 members, 20 % in 50 planted
/// campaigns that grow to ~80 reports, a fifth of reports shared with the
/// sector only) through a fresh engine: the regime where campaigns are
/// large and readers' views differ, which the quality scenario hardly
/// reaches.
fn load(c: &mut Criterion) {
    use cisp_load::generator::{generate, registry_toml, Item, Params};
    let members: Vec<String> = (0..40).map(|i| format!("m{i:04}")).collect();
    let toml = registry_toml(
        &members,
        "Load member",
        &["finance", "energy", "health", "government", "retail"],
    );
    let registry = match cisp_model::Registry::from_toml_str(&toml) {
        Ok(r) => std::sync::Arc::new(r),
        Err(e) => panic!("registry: {e}"),
    };
    let params = Params {
        members,
        max_observables: 20,
        campaign_percent: 20,
        campaigns: 50,
        malformed_percent: 0,
        shared_hosting_percent: 5,
        warnlisted_percent: 2,
    };
    let limits = Limits::default();
    let subs: Vec<Submission> = generate(&params, 20_000, 1)
        .into_iter()
        .filter_map(|item| match item {
            Item::Submission { member, record } => {
                let member = MemberId::parse(&member).ok()?;
                SubmissionDraft::from(*record)
                    .validate(&member, &registry, &limits)
                    .ok()
            }
            Item::Malformed { .. } => None,
        })
        .collect();
    through_fresh_engine(c, "load", &registry, &subs);
}

/// Issue 22's record kinds, per record, on an engine already holding the
/// quality scenario (building it is not timed).
fn talk_back(c: &mut Criterion) {
    use cisp_engine::ActionOutcome;
    use cisp_model::{CorrectionDraft, FeedbackDraft};
    let s = generate(&QualityParams::default());
    let subs: Vec<Submission> = s.reports.iter().map(|r| r.submission.clone()).collect();
    let registry = s.registry.clone();
    let members: Vec<MemberId> = registry.members().map(|m| m.id.clone()).collect();
    let fresh = || {
        let mut engine = Engine::new(registry.clone(), config());
        for sub in &subs {
            engine.process(sub, at(sub.submitted_at_ms));
        }
        engine
    };
    let mut g = c.benchmark_group("talkback");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("retract", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut engine = fresh();
            for i in 0..iters {
                let sub = &subs[(i as usize * 7919) % subs.len()];
                let Ok(c) = (CorrectionDraft {
                    correction_id: format!("fix-{i}"),
                    member_id: sub.member.to_string(),
                    submission_id: sub.id.to_string(),
                    corrected_at_ms: T0,
                    retract: true,
                    reason: "bench".into(),
                    ..CorrectionDraft::default()
                })
                .validate(&sub.member, &registry, &Limits::default()) else {
                    continue;
                };
                let started = Instant::now();
                let outcome = engine.correct(&c, &[], at(T0));
                total += started.elapsed();
                if matches!(outcome, ActionOutcome::Refused { .. }) {
                    // Already withdrawn (the sample wrapped): start over.
                    engine = fresh();
                }
            }
            total
        });
    });
    for (name, kind) in [
        ("sighting", "sighting"),
        ("false-positive", "false_positive"),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut engine = fresh();
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let sub = &subs[(i as usize / 3 * 7919) % subs.len()];
                    let Some(o) = sub.observables.first() else {
                        continue;
                    };
                    let member = &members[i as usize % members.len()];
                    let Ok(f) = (FeedbackDraft {
                        feedback_id: format!("fb-{i}"),
                        member_id: member.to_string(),
                        kind: kind.into(),
                        observable_type: o.observable.kind().name().into(),
                        observable_value: o.observable.value().into(),
                        count: 3,
                        submitted_at_ms: T0,
                        ..FeedbackDraft::default()
                    })
                    .validate(member, &registry) else {
                        continue;
                    };
                    let started = Instant::now();
                    engine.feedback(&f, at(T0));
                    total += started.elapsed();
                }
                total
            });
        });
    }
    g.finish();
}

criterion_group!(benches, process, load, growth, decode, intake, talk_back);
criterion_main!(benches);
