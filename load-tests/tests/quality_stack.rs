//! The clustering-quality bar read from the outside (issue 20): the
//! planted scenario published to the local broker, handled by the fusion
//! service with the shipped configuration, and scored from ClickHouse's
//! current membership — what the report, the dashboards and any analyst's
//! query see — must clear the same 0.95 as the engine in-process. The
//! campaign at processing time is scored too: the guard splits some
//! campaigns after their first reports were stored, so it must score
//! lower (else this scenario would not show what the membership is for).

#![allow(clippy::unwrap_used)]

use cisp_load::scenario::{generate, QualityParams};
use cisp_load::stack_quality::measure_through_stack;
use cisp_testkit::repo_root;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_holds_the_campaigns_the_engine_found() {
    let params = QualityParams {
        seed: 7,
        ..QualityParams::default()
    };
    let scenario = generate(&params);
    let q = measure_through_stack(
        &scenario,
        params.members,
        &repo_root().join("config/fusion.toml"),
    )
    .await
    .unwrap();
    eprintln!(
        "ClickHouse now: precision {:.4} recall {:.4}; at processing time: precision {:.4} recall {:.4}",
        q.precision, q.recall, q.at_processing_precision, q.at_processing_recall
    );
    assert!(q.precision >= 0.95, "precision {:.4}", q.precision);
    assert!(q.recall >= 0.95, "recall {:.4}", q.recall);
    assert!(
        q.at_processing_precision < q.precision,
        "the guard split nothing after it was stored: {:.4}",
        q.at_processing_precision
    );
}
