//! Two small SVG chart kinds, enough for a printed report: horizontal bars
//! (categories, one or two series: this quarter and the previous one) and
//! lines over time. Every label is escaped; sizes are fixed so the charts
//! look alike in HTML and in a Markdown viewer.

use std::fmt::Write as _;

use crate::escape::{clip, html};

const COLOURS: [&str; 6] = [
    "#1f5fa8", "#a0a7b4", "#d1495b", "#edae49", "#00798c", "#66a182",
];
const FONT: &str = "font-family=\"Helvetica,Arial,sans-serif\" font-size=\"12\"";

/// One named series of values.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// Horizontal grouped bars: one row per category, one bar per series.
pub fn bars(title: &str, categories: &[String], series: &[Series]) -> String {
    let label_w = 190.0;
    let width = 640.0;
    let plot_w = width - label_w - 70.0;
    let bar_h = 12.0;
    let group_h = bar_h * series.len().max(1) as f64 + 8.0;
    let top = 44.0;
    let height = top + group_h * categories.len().max(1) as f64 + 20.0;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let mut out = header(width, height, title);
    legend(&mut out, series, label_w);
    if categories.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{label_w}\" y=\"{}\" {FONT} fill=\"#555\">no data</text>",
            top + 14.0
        );
    }
    for (i, cat) in categories.iter().enumerate() {
        let y0 = top + group_h * i as f64;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" {FONT} text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y0 + group_h / 2.0,
            html(&clip(cat, 30))
        );
        for (j, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            let w = (v / max * plot_w).max(0.0);
            let y = y0 + bar_h * j as f64;
            let _ = write!(
                out,
                "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect>\
                 <text x=\"{:.1}\" y=\"{}\" {FONT} fill=\"#333\">{}</text>",
                bar_h - 2.0,
                COLOURS[j % COLOURS.len()],
                html(&s.name),
                number(v),
                label_w + w + 4.0,
                y + bar_h - 3.0,
                number(v)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// Lines over labelled x positions (e.g. weeks), one per series.
pub fn lines(title: &str, x_labels: &[String], series: &[Series]) -> String {
    let width = 640.0;
    let height = 300.0;
    let (left, right, top, bottom) = (80.0, 20.0, 56.0, 70.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = x_labels.len().max(2) - 1;
    let x = |i: usize| left + plot_w * i as f64 / n as f64;
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let mut out = header(width, height, title);
    legend(&mut out, series, left);
    // Axes and a few gridlines with their values.
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" {FONT} text-anchor=\"end\">{}</text>",
            width - right,
            y(v),
            y(v),
            left - 4.0,
            y(v) + 4.0,
            number(v)
        );
    }
    for (i, l) in x_labels.iter().enumerate() {
        let _ = write!(
            out,
            "<text transform=\"translate({:.1},{}) rotate(-45)\" {FONT} text-anchor=\"end\">{}</text>",
            x(i),
            height - bottom + 14.0,
            html(&clip(l, 12))
        );
    }
    for (j, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let colour = COLOURS[j % COLOURS.len()];
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            html(&s.name)
        );
        // A dot on every non-zero point, so a single busy week shows.
        for (i, v) in s.values.iter().enumerate().filter(|(_, v)| **v > 0.0) {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{}: {}</title></circle>",
                x(i),
                y(*v),
                html(&s.name),
                number(*v)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn header(width: f64, height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{t}\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <text x=\"8\" y=\"18\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"14\" font-weight=\"bold\">{t}</text>",
        t = html(title)
    )
}

fn legend(out: &mut String, series: &[Series], x0: f64) {
    let mut x = x0;
    for (j, s) in series.iter().enumerate() {
        let name = clip(&s.name, 24);
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"26\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"35\" {FONT}>{}</text>",
            COLOURS[j % COLOURS.len()],
            x + 14.0,
            html(&name)
        );
        x += 24.0 + 7.0 * name.chars().count() as f64;
    }
}

fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_draw_every_value() {
        let cats = vec!["<b>evil</b>".to_owned(), "phishing".to_owned()];
        let s = vec![
            Series {
                name: "2026Q3".into(),
                values: vec![3.0, 7.0],
            },
            Series {
                name: "2026Q2".into(),
                values: vec![1.0, 0.0],
            },
        ];
        let svg = bars("Kinds & <more>", &cats, &s);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("<b>") && svg.contains("&lt;b&gt;evil"));
        assert!(svg.contains("Kinds &amp; &lt;more&gt;"));
        assert_eq!(svg.matches("</rect>").count(), 4, "one bar per value");
        let l = lines("Weekly", &["2026-07-06".into(), "2026-07-13".into()], &s);
        assert_eq!(l.matches("<polyline").count(), 2);
        assert!(bars("empty", &[], &[]).contains("no data"));
    }
}
