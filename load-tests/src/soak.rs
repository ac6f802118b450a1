//! The soak: a long run at a fixed share of the measured maximum, and the
//! chart of its latency and memory over time (an SVG for BENCHMARKS.md).

use std::fmt::Write as _;

/// One interval of the soak.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Minutes since the soak began (the interval's end).
    pub minute: f64,
    /// publish→alert of the alerts sent at once in the interval.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub alerts: u64,
    /// Mean wait of a record before the service took it up.
    pub wait_ms: f64,
    /// Resident memory of the process (service and load generator).
    pub rss_mib: f64,
}

/// Resident set size of this process, in MiB (Linux `/proc/self/status`).
pub fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The samples as CSV (one line per interval).
pub fn csv(samples: &[Sample]) -> String {
    let mut out = String::from("minute,p50_ms,p99_ms,alerts,wait_ms,rss_mib\n");
    for s in samples {
        let _ = writeln!(
            out,
            "{:.2},{:.0},{:.0},{},{:.0},{:.1}",
            s.minute, s.p50_ms, s.p99_ms, s.alerts, s.wait_ms, s.rss_mib
        );
    }
    out
}

/// Two stacked panels sharing the time axis: latency (p50, p99 and the
/// records' wait, log scale) and resident memory. `title` is escaped.
pub fn svg(title: &str, samples: &[Sample]) -> String {
    const W: f64 = 760.0;
    const PANEL: f64 = 200.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 40.0;
    const GAP: f64 = 50.0;
    let h = TOP + 2.0 * PANEL + GAP + 50.0;
    let max_min = samples.iter().map(|s| s.minute).fold(1.0_f64, f64::max);
    let x = |m: f64| LEFT + (W - LEFT - RIGHT) * m / max_min;
    let finite = |v: f64| v.is_finite().then_some(v);
    // Latency panel: log10 scale from 1 ms to the largest value.
    let lat_max = samples
        .iter()
        .flat_map(|s| [s.p99_ms, s.wait_ms, s.p50_ms])
        .filter_map(finite)
        .fold(10.0_f64, f64::max);
    let decades = lat_max.log10().ceil().max(1.0);
    let y_lat = |v: f64| TOP + PANEL - PANEL * (v.max(1.0).log10() / decades);
    let rss_max = samples
        .iter()
        .filter_map(|s| finite(s.rss_mib))
        .fold(1.0_f64, f64::max)
        * 1.1;
    let top2 = TOP + PANEL + GAP;
    let y_rss = |v: f64| top2 + PANEL - PANEL * (v / rss_max);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        s,
        r#"<rect width="{W}" height="{h}" fill="white"/><text x="{LEFT}" y="22" font-size="14">{}</text>"#,
        escape(title)
    );
    // Axes and grid.
    for (top, label) in [(TOP, "latency, ms (log)"), (top2, "resident memory, MiB")] {
        let _ = write!(
            s,
            r##"<rect x="{LEFT}" y="{top}" width="{}" height="{PANEL}" fill="none" stroke="#999"/><text x="8" y="{}" transform="rotate(-90 8 {})" text-anchor="middle">{label}</text>"##,
            W - LEFT - RIGHT,
            top + PANEL / 2.0,
            top + PANEL / 2.0
        );
    }
    // Horizontal grid lines with their values: decades of latency, quarters
    // of memory.
    let grid: Vec<(f64, String)> = (0..=decades as u32)
        .map(|d| {
            let v = 10f64.powi(d as i32);
            (y_lat(v), format!("{v}"))
        })
        .chain((0..=4).map(|i| {
            let v = rss_max * f64::from(i) / 4.0;
            (y_rss(v), format!("{v:.0}"))
        }))
        .collect();
    for (y, label) in grid {
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0
        );
    }
    let ticks = max_min.ceil() as u32;
    let step = (ticks / 10).max(1);
    for m in (0..=ticks).step_by(step as usize) {
        let xm = x(f64::from(m));
        let _ = write!(
            s,
            r#"<text x="{xm:.1}" y="{:.1}" text-anchor="middle">{m}</text>"#,
            top2 + PANEL + 16.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{:.1}" text-anchor="middle">minutes</text>"#,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        top2 + PANEL + 34.0
    );
    let line = |s: &mut String, colour: &str, points: Vec<(f64, f64)>| {
        if points.is_empty() {
            return;
        }
        let pts: Vec<String> = points
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            pts.join(" ")
        );
    };
    let series = |f: &dyn Fn(&Sample) -> f64, y: &dyn Fn(f64) -> f64| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter_map(|smp| finite(f(smp)).map(|v| (x(smp.minute), y(v))))
            .collect()
    };
    line(&mut s, "#1f77b4", series(&|p| p.p50_ms, &y_lat));
    line(&mut s, "#d62728", series(&|p| p.p99_ms, &y_lat));
    line(&mut s, "#7f7f7f", series(&|p| p.wait_ms, &y_lat));
    line(&mut s, "#2ca02c", series(&|p| p.rss_mib, &y_rss));
    for (i, (colour, name)) in [
        ("#1f77b4", "p50 publish→alert"),
        ("#d62728", "p99 publish→alert"),
        ("#7f7f7f", "mean wait before processing"),
    ]
    .iter()
    .enumerate()
    {
        let lx = LEFT + 10.0 + 190.0 * i as f64;
        let _ = write!(
            s,
            r#"<line x1="{lx}" x2="{}" y1="{}" y2="{}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            lx + 20.0,
            TOP + 12.0,
            TOP + 12.0,
            lx + 24.0,
            TOP + 16.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_holds_every_series_and_escapes_its_title() {
        let samples: Vec<Sample> = (1..=4)
            .map(|i| Sample {
                minute: f64::from(i) * 0.5,
                p50_ms: 10.0 * f64::from(i),
                p99_ms: 100.0 * f64::from(i),
                alerts: 5,
                wait_ms: 1.0,
                rss_mib: 300.0 + f64::from(i),
            })
            .collect();
        let svg = svg("soak <50 %>", &samples);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains("soak &lt;50 %&gt;"));
        assert!(!svg.contains("NaN"));
        assert_eq!(csv(&samples).lines().count(), 5);
        assert!(rss_mib() > 0.0);
    }
}
