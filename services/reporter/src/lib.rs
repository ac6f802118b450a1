//! `cisp-report`: the quarterly threat-trend report (docs/ARCHITECTURE.md, "Outputs for people"), read from
//! the ClickHouse facts and the aggregates of `schemas/clickhouse/004_trends.sql`,
//! written as HTML, Markdown (with SVG charts) and JSON.

pub mod audience;
pub mod data;
pub mod escape;
pub mod period;
pub mod render;
pub mod svg;

use std::path::{Path, PathBuf};

use anyhow::Context;
use cisp_platform::ClickHouseConfig;

pub use audience::{Audience, Reader};
pub use data::{build, Report, Request};
pub use period::Quarter;

/// A ClickHouse client for the configured database (the platform's one
/// builder, as the fusion service uses).
pub fn client(config: &ClickHouseConfig) -> clickhouse::Client {
    config.client()
}

/// The files a report was written to.
#[derive(Debug)]
pub struct Written {
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub json: PathBuf,
    pub charts: Vec<PathBuf>,
}

/// Writes `report-<quarter>-<audience>.{html,md,json}` and the Markdown's
/// charts (`report-<quarter>-<audience>-charts/*.svg`) into `dir`.
pub fn write(report: &Report, dir: &Path) -> anyhow::Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!("report-{}-{}", report.quarter, report.audience);
    let chart_dir_name = format!("{stem}-charts");
    let chart_dir = dir.join(&chart_dir_name);
    std::fs::create_dir_all(&chart_dir)
        .with_context(|| format!("creating {}", chart_dir.display()))?;
    let mut charts = Vec::new();
    for s in render::sections(report) {
        for c in s.charts {
            let p = chart_dir.join(format!("{}.svg", c.name));
            std::fs::write(&p, c.svg).with_context(|| format!("writing {}", p.display()))?;
            charts.push(p);
        }
    }
    let out = Written {
        html: dir.join(format!("{stem}.html")),
        markdown: dir.join(format!("{stem}.md")),
        json: dir.join(format!("{stem}.json")),
        charts,
    };
    std::fs::write(&out.html, render::html_doc(report))
        .with_context(|| format!("writing {}", out.html.display()))?;
    std::fs::write(
        &out.markdown,
        render::markdown_doc(report, &format!("{chart_dir_name}/")),
    )
    .with_context(|| format!("writing {}", out.markdown.display()))?;
    std::fs::write(&out.json, serde_json::to_vec_pretty(report)?)
        .with_context(|| format!("writing {}", out.json.display()))?;
    Ok(out)
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn timestamp(secs: u64) -> String {
    let day = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    format!(
        "{} {:02}:{:02} UTC",
        period::iso_date(day),
        rem / 3600,
        rem % 3600 / 60
    )
}
