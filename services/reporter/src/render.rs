//! The report as documents: sections built once from [`Report`], written as
//! self-contained HTML (charts inline), Markdown (charts as SVG files next
//! to it) and JSON. Cells hold raw text; each format escapes it.

use std::fmt::Write as _;

use crate::data::{Breakdown, Change, LabelRow, Report};
use crate::escape::{html, markdown};
use crate::svg::{bars, lines, Series};

pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub struct Chart {
    /// File stem, e.g. `kinds`.
    pub name: &'static str,
    pub svg: String,
}

pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub text: Vec<String>,
    pub table: Option<Table>,
    pub charts: Vec<Chart>,
    pub source: String,
}

/// `+12.5 %`, `new`, or `—`.
pub fn change(c: &Change) -> String {
    match c.change_pct {
        Some(p) if p > 0.0 => format!("+{p:.1} %"),
        Some(p) => format!("{p:.1} %"),
        None if c.current > 0 => "new".to_owned(),
        None => "—".to_owned(),
    }
}

fn t(headers: &[&str], rows: Vec<Vec<String>>) -> Option<Table> {
    Some(Table {
        headers: headers.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    })
}

fn label_table(rows: &[LabelRow], what: &str, q: &str, pq: &str) -> Option<Table> {
    t(
        &[
            what,
            &format!("Submissions {q}"),
            &format!("Submissions {pq}"),
            "Change",
            "Members",
        ],
        rows.iter()
            .map(|r| {
                vec![
                    r.label.clone(),
                    r.submissions.current.to_string(),
                    r.submissions.previous.to_string(),
                    change(&r.submissions),
                    r.members.to_string(),
                ]
            })
            .collect(),
    )
}

/// How a quarter-on-quarter breakdown (by sector, kind or observable
/// type) is titled and sourced.
struct Table3<'a> {
    id: &'static str,
    title: &'a str,
    /// The first column's header.
    first: &'a str,
    /// What the counts are, when not submissions ("Observables").
    value: Option<&'a str>,
    /// Whether the rows carry sightings (observable types).
    sightings: bool,
    chart: &'a str,
    source: &'a str,
}

/// A breakdown's section: the table (with sightings when the rows have
/// them) and its bar chart of this and last quarter.
fn breakdown(
    spec: Table3<'_>,
    text: Vec<String>,
    rows: &[Breakdown],
    (q, pq): (&str, &str),
) -> Section {
    let sightings = spec.sightings;
    let label = |quarter: &str| {
        spec.value
            .map_or(quarter.to_owned(), |v| format!("{v} {quarter}"))
    };
    let (vq, vpq) = (label(q), label(pq));
    let mut headers = vec![spec.first, vq.as_str(), vpq.as_str(), "Change"];
    if sightings {
        headers.push("Sightings");
    }
    headers.push("Members");
    let labels: Vec<String> = rows.iter().map(|b| b.label.clone()).collect();
    Section {
        id: spec.id,
        title: spec.title.into(),
        text,
        table: t(
            &headers,
            rows.iter()
                .map(|b| {
                    let mut row = vec![
                        b.label.clone(),
                        b.value.current.to_string(),
                        b.value.previous.to_string(),
                        change(&b.value),
                    ];
                    if sightings {
                        row.push(b.sightings.unwrap_or(0).to_string());
                    }
                    row.push(b.members.to_string());
                    row
                })
                .collect(),
        ),
        charts: vec![Chart {
            name: spec.id,
            svg: bars(
                spec.chart,
                &labels,
                &two(
                    q,
                    pq,
                    rows.iter().map(|b| b.value.current as f64).collect(),
                    rows.iter().map(|b| b.value.previous as f64).collect(),
                ),
            ),
        }],
        source: spec.source.into(),
    }
}

fn two(q: &str, pq: &str, cur: Vec<f64>, prev: Vec<f64>) -> Vec<Series> {
    vec![
        Series {
            name: q.to_owned(),
            values: cur,
        },
        Series {
            name: pq.to_owned(),
            values: prev,
        },
    ]
}

pub fn sections(r: &Report) -> Vec<Section> {
    let (q, pq) = (r.quarter.as_str(), r.previous_quarter.as_str());
    let mut out = Vec::new();

    out.push(Section {
        id: "headline",
        title: "Headline numbers".into(),
        text: vec![format!(
            "What members shared from {} to {} (exclusive), against the previous quarter.",
            r.period_start, r.period_end_exclusive
        )],
        table: t(
            &["Measure", q, pq, "Change", "Source"],
            r.headline
                .iter()
                .map(|h| {
                    vec![
                        h.name.to_owned(),
                        h.value.current.to_string(),
                        h.value.previous.to_string(),
                        change(&h.value),
                        h.query.to_owned(),
                    ]
                })
                .collect(),
        ),
        charts: vec![],
        source: "Q1, Q2, Q9–Q14".into(),
    });

    out.push(breakdown(
        Table3 {
            id: "sectors",
            title: "Trends by sector",
            first: "Sector",
            value: None,
            sightings: false,
            chart: "Submissions by sector",
            source: "Q3",
        },
        vec![format!(
            "Submissions by the submitter's sector. Sectors with fewer than {} contributing members in a quarter are \
             not shown for that quarter ({} sector(s) suppressed this quarter).",
            r.k_anonymity, r.suppressed_sectors
        )],
        &r.by_sector,
        (q, pq),
    ));
    out.push(breakdown(
        Table3 {
            id: "kinds",
            title: "Trends by kind",
            first: "Kind",
            value: None,
            sightings: false,
            chart: "Submissions by kind",
            source: "Q4",
        },
        vec![],
        &r.by_kind,
        (q, pq),
    ));
    out.push(breakdown(
        Table3 {
            id: "observable-types",
            title: "Trends by observable type",
            first: "Type",
            value: Some("Observables"),
            sightings: true,
            chart: "Distinct observables by type",
            source: "Q5, Q6",
        },
        vec![],
        &r.by_observable_type,
        (q, pq),
    ));

    let weeks = &r.weeks;
    let mut week_kinds: Vec<String> = r.weekly.iter().map(|w| w.kind.clone()).collect();
    week_kinds.sort();
    week_kinds.dedup();
    let week_series: Vec<Series> = week_kinds
        .iter()
        .map(|k| Series {
            name: k.clone(),
            values: weeks
                .iter()
                .map(|w| {
                    r.weekly
                        .iter()
                        .filter(|x| &x.week == w && &x.kind == k)
                        .map(|x| x.submissions as f64)
                        .sum()
                })
                .collect(),
        })
        .collect();
    out.push(Section {
        id: "weekly",
        title: "Weekly activity".into(),
        text: vec!["Submissions per week (weeks start on Monday), by kind.".into()],
        table: t(
            &["Week", "Kind", "Submissions"],
            r.weekly
                .iter()
                .map(|w| vec![w.week.clone(), w.kind.clone(), w.submissions.to_string()])
                .collect(),
        ),
        charts: vec![Chart {
            name: "weekly",
            svg: lines("Submissions per week", weeks, &week_series),
        }],
        source: "Q7".into(),
    });

    out.push(Section {
        id: "campaigns",
        title: "Top campaigns".into(),
        text: vec![match r.audience {
            crate::audience::Audience::Community => {
                "Campaigns active this quarter, every submission of which the community may see, by submissions \
                 this quarter. Sectors with fewer contributing members than the threshold are counted, not named."
                    .to_owned()
            }
            crate::audience::Audience::FusionCell => {
                "Campaigns active this quarter (Fusion Cell ids, merges followed), by submissions this quarter."
                    .to_owned()
            }
        }],
        table: t(
            &["Campaign", "First submission", "Submissions", "Members", "Sectors", "First seen", "Last seen", "Actor (confidence)"],
            r.top_campaigns
                .iter()
                .map(|c| {
                    let mut sectors = c.sectors.join(", ");
                    if c.other_sectors > 0 {
                        if !sectors.is_empty() {
                            sectors.push_str(", ");
                        }
                        let _ = write!(sectors, "{} other", c.other_sectors);
                    }
                    vec![
                        c.label.clone(),
                        c.headline.clone(),
                        c.submissions.current.to_string(),
                        c.members.to_string(),
                        sectors,
                        c.first_seen.clone(),
                        c.last_seen.clone(),
                        if c.actor.is_empty() {
                            "—".to_owned()
                        } else {
                            format!("{} ({:.2})", c.actor, c.attribution_confidence)
                        },
                    ]
                })
                .collect(),
        ),
        charts: vec![],
        source: "Q13, Q14".into(),
    });

    let mut actors_text = vec![
        "Claimed: actors members named in their submissions. Attributed: campaigns the fusion engine attributed \
         to an ATT&CK group (count of campaigns active this quarter)."
            .to_owned(),
    ];
    if r.top_actors_attributed.is_empty() {
        actors_text.push("No campaign active this quarter was attributed.".into());
    }
    let mut actor_rows = label_table(&r.top_actors_claimed, "Actor (claimed)", q, pq);
    if let Some(table) = actor_rows.as_mut() {
        for a in &r.top_actors_attributed {
            table.rows.push(vec![
                format!("{} (attributed campaigns)", a.label),
                a.submissions.current.to_string(),
                a.submissions.previous.to_string(),
                change(&a.submissions),
                "—".into(),
            ]);
        }
    }
    out.push(Section {
        id: "actors",
        title: "Threat actors".into(),
        text: actors_text,
        table: actor_rows,
        charts: vec![],
        source: "Q8, Q13, Q14".into(),
    });

    for (id, title, rows, what) in [
        ("malware", "Malware families", &r.top_malware, "Malware"),
        (
            "techniques",
            "ATT&CK techniques",
            &r.top_techniques,
            "Technique",
        ),
    ] {
        out.push(Section {
            id,
            title: title.into(),
            text: vec![],
            table: label_table(rows, what, q, pq),
            charts: vec![Chart {
                name: id,
                svg: bars(
                    &format!("{title}: submissions naming them"),
                    &rows.iter().map(|l| l.label.clone()).collect::<Vec<_>>(),
                    &two(
                        q,
                        pq,
                        rows.iter().map(|l| l.submissions.current as f64).collect(),
                        rows.iter().map(|l| l.submissions.previous as f64).collect(),
                    ),
                ),
            }],
            source: "Q8".into(),
        });
    }

    out.push(Section {
        id: "indicators",
        title: "New versus recurring indicators".into(),
        text: vec![format!(
            "{} indicator(s) seen this quarter for the first time ({} the quarter before); recurring ones were \
             first seen earlier.",
            r.new_indicators.current, r.new_indicators.previous
        )],
        table: t(
            &["Type", "New", "Recurring"],
            r.indicators
                .iter()
                .map(|i| vec![i.obs_type.clone(), i.new.to_string(), i.recurring.to_string()])
                .collect(),
        ),
        charts: vec![Chart {
            name: "indicators",
            svg: bars(
                "Indicators seen this quarter",
                &r.indicators.iter().map(|i| i.obs_type.clone()).collect::<Vec<_>>(),
                &[
                    Series {
                        name: "new".into(),
                        values: r.indicators.iter().map(|i| i.new as f64).collect(),
                    },
                    Series {
                        name: "recurring".into(),
                        values: r.indicators.iter().map(|i| i.recurring as f64).collect(),
                    },
                ],
            ),
        }],
        source: "Q9, Q10".into(),
    });

    let mut alert_rows: Vec<Vec<String>> = r
        .alerts
        .iter()
        .map(|a| {
            vec![
                a.kind.clone(),
                a.severity.clone(),
                a.alerts.current.to_string(),
                a.alerts.previous.to_string(),
                change(&a.alerts),
                a.recipients.to_string(),
            ]
        })
        .collect();
    alert_rows.push(vec![String::new(); 6]);
    alert_rows.push(vec![
        "Notable alerts".into(),
        "Severity".into(),
        "Date".into(),
        "TLP".into(),
        "Campaign".into(),
        "Summary".into(),
    ]);
    for n in &r.notable_alerts {
        alert_rows.push(vec![
            n.kind.clone(),
            n.severity.clone(),
            n.created_at.clone(),
            n.tlp.clone(),
            n.campaign.clone(),
            n.summary.clone().unwrap_or_else(|| "—".into()),
        ]);
    }
    out.push(Section {
        id: "alerts",
        title: "Alerts".into(),
        text: vec![
            "Alerts sent to members, by the quarter of the submission that triggered them. A community report counts \
             only alerts built entirely from submissions the community may see, and shows no summaries (each is \
             written for its recipient)."
                .into(),
        ],
        table: t(
            &["Kind", "Severity", q, pq, "Change", "Recipients"],
            alert_rows,
        ),
        charts: vec![],
        source: "Q11, Q12".into(),
    });
    out
}

fn header_line(r: &Report) -> String {
    format!(
        "{} · audience: {} · {} to {} (exclusive) · compared with {} · generated {}",
        r.tlp,
        r.audience,
        r.period_start,
        r.period_end_exclusive,
        r.previous_quarter,
        r.generated_at
    )
}

/// Markdown; charts are referenced as `<chart_prefix><name>.svg`.
pub fn markdown_doc(r: &Report, chart_prefix: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", markdown(&r.title));
    let _ = writeln!(out, "**{}**\n", markdown(&header_line(r)));
    let _ = writeln!(
        out,
        "Every number below comes from the ClickHouse query named in its section (appendix). \
         Sectors with fewer than {} contributing members are suppressed.\n",
        r.k_anonymity
    );
    for (i, s) in sections(r).iter().enumerate() {
        let _ = writeln!(out, "## {}. {}\n", i + 1, markdown(&s.title));
        for p in &s.text {
            let _ = writeln!(out, "{}\n", markdown(p));
        }
        if let Some(t) = &s.table {
            if t.rows.is_empty() {
                out.push_str("_No data._\n\n");
            } else {
                let _ = writeln!(
                    out,
                    "| {} |",
                    t.headers
                        .iter()
                        .map(|h| markdown(h))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
                let _ = writeln!(out, "|{}", " --- |".repeat(t.headers.len()));
                for row in &t.rows {
                    let _ = writeln!(
                        out,
                        "| {} |",
                        row.iter()
                            .map(|c| markdown(c))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    );
                }
                out.push('\n');
            }
        }
        for c in &s.charts {
            let _ = writeln!(
                out,
                "![{}]({}{}.svg)\n",
                markdown(&s.title),
                chart_prefix,
                c.name
            );
        }
        let _ = writeln!(out, "_Source: {}_\n", markdown(&s.source));
    }
    out.push_str("## Appendix: queries\n\n");
    for q in &r.queries {
        let _ = writeln!(out, "**{}**: {}\n", q.id, markdown(q.purpose));
        let _ = writeln!(out, "```sql\n{}\n```\n", q.sql.replace("```", "` ` `"));
    }
    out
}

/// Self-contained HTML: inline CSS and SVG, no scripts, no external links.
pub fn html_doc(r: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <title>{}</title><style>\
         body{{font-family:Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         table{{border-collapse:collapse;margin:.5rem 0 1rem}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}}\
         th{{background:#f0f3f7}}.tlp{{font-weight:bold;background:#000;color:#33ff00;padding:.1rem .4rem}}\
         pre{{background:#f6f6f6;padding:.5rem;white-space:pre-wrap}}.src{{color:#666;font-size:.9em}}\
         </style></head><body>\n",
        html(&r.title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", html(&r.title));
    let _ = writeln!(
        out,
        "<p><span class=\"tlp\">{}</span> {}</p>",
        html(&r.tlp),
        html(&header_line(r).replacen(&r.tlp, "", 1))
    );
    let _ = writeln!(
        out,
        "<p>Every number below comes from the ClickHouse query named in its section (appendix). \
         Sectors with fewer than {} contributing members are suppressed.</p>",
        r.k_anonymity
    );
    for (i, s) in sections(r).iter().enumerate() {
        let _ = writeln!(
            out,
            "<section id=\"{}\"><h2>{}. {}</h2>",
            s.id,
            i + 1,
            html(&s.title)
        );
        for p in &s.text {
            let _ = writeln!(out, "<p>{}</p>", html(p));
        }
        if let Some(t) = &s.table {
            if t.rows.is_empty() {
                out.push_str("<p><em>No data.</em></p>\n");
            } else {
                out.push_str("<table><thead><tr>");
                for h in &t.headers {
                    let _ = write!(out, "<th>{}</th>", html(h));
                }
                out.push_str("</tr></thead><tbody>\n");
                for row in &t.rows {
                    out.push_str("<tr>");
                    for c in row {
                        let _ = write!(out, "<td>{}</td>", html(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody></table>\n");
            }
        }
        for c in &s.charts {
            let _ = writeln!(out, "<figure>{}</figure>", c.svg);
        }
        let _ = writeln!(
            out,
            "<p class=\"src\">Source: {}</p></section>",
            html(&s.source)
        );
    }
    out.push_str("<section id=\"appendix\"><h2>Appendix: queries</h2>\n");
    for q in &r.queries {
        let _ = writeln!(
            out,
            "<h3 id=\"{}\">{}</h3><p>{}</p><pre>{}</pre>",
            html(q.id),
            html(q.id),
            html(q.purpose),
            html(&q.sql)
        );
    }
    out.push_str("</section></body></html>\n");
    out
}
