//! What every section's queries share: the logged query runner and the
//! SQL fragments of the request's periods and reader filter.

use std::collections::BTreeMap;

use anyhow::Context as _;
use clickhouse::{Client, Row, RowOwned, RowRead};
use serde::Deserialize;

use super::{Change, LoggedQuery, Request};
use crate::period::{iso_date, Quarter};

/// Runs the report's queries and logs each for the appendix.
pub(super) struct Ctx<'a> {
    client: &'a Client,
    pub(super) log: Vec<LoggedQuery>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(client: &'a Client) -> Ctx<'a> {
        Ctx {
            client,
            log: Vec::new(),
        }
    }

    pub(super) async fn fetch<T>(
        &mut self,
        id: &'static str,
        purpose: &'static str,
        sql: String,
    ) -> anyhow::Result<Vec<T>>
    where
        T: RowOwned + RowRead,
    {
        let rows = self
            .client
            .query(&sql)
            .fetch_all::<T>()
            .await
            .with_context(|| format!("report query {id} ({purpose})"))?;
        self.log.push(LoggedQuery { id, purpose, sql });
        Ok(rows)
    }
}

/// The request as SQL: the quarter and the previous one as dates (`p`,
/// `s`, `e`: previous start, start, end) and date-times (`pt`, `st`,
/// `et`), the reader's filter `a`, and the two expressions most queries
/// use.
pub(super) struct Scope {
    pub(super) q: Quarter,
    pub(super) prev: Quarter,
    pub(super) a: String,
    pub(super) p: String,
    pub(super) s: String,
    pub(super) e: String,
    pub(super) pt: String,
    pub(super) st: String,
    pub(super) et: String,
    /// `'current'` or `'previous'` by `day`.
    pub(super) period: String,
    /// Both quarters, what the reader may see.
    pub(super) window: String,
    /// A fact row (of `submissions` or `observations`) whose report its
    /// submitter has not withdrawn (issue 22).
    pub(super) live: String,
    /// An `observations` row neither withdrawn with its report nor taken
    /// out of it.
    pub(super) live_obs: String,
}

/// Reports withdrawn by their submitters are left out of every report.
pub(super) const LIVE: &str =
    "(member_id, submission_id) NOT IN (SELECT member_id, submission_id FROM withdrawn_submissions)";

impl Scope {
    pub(super) fn new(req: &Request) -> Scope {
        let q = req.quarter;
        let prev = q.previous();
        let a = req.reader.filter();
        let date = |day: i64| format!("toDate('{}')", iso_date(day));
        let time = |day: i64| format!("toDateTime('{} 00:00:00')", iso_date(day));
        let (p, s, e) = (date(prev.start()), date(q.start()), date(q.end()));
        let period = format!("if(day >= {s}, 'current', 'previous')");
        let window = format!("day >= {p} AND day < {e} AND {a}");
        Scope {
            q,
            prev,
            pt: time(prev.start()),
            st: time(q.start()),
            et: time(q.end()),
            a,
            p,
            s,
            e,
            period,
            window,
            live: LIVE.to_owned(),
            live_obs: format!(
                "{LIVE} AND (member_id, submission_id, obs_type, value) NOT IN \
                 (SELECT member_id, submission_id, obs_type, value FROM withdrawn_observations)"
            ),
        }
    }
}

#[derive(Row, Deserialize)]
pub(super) struct PeriodCounts {
    pub(super) period: String,
    pub(super) a: u64,
    pub(super) b: u64,
}

/// Column `a` or `b` of a `(period)` query as this quarter against the
/// previous one.
pub(super) fn change(rows: &[PeriodCounts], f: fn(&PeriodCounts) -> u64) -> Change {
    let pick = |which: &str| rows.iter().find(|r| r.period == which).map(f).unwrap_or(0);
    Change::new(pick("current"), pick("previous"))
}

#[derive(Row, Deserialize)]
pub(super) struct GroupCounts {
    pub(super) period: String,
    pub(super) label: String,
    pub(super) a: u64,
    pub(super) b: u64,
}

/// Rows of a `(period, label)` query, paired by label.
pub(super) fn grouped(
    rows: &[GroupCounts],
) -> Vec<(String, Option<&GroupCounts>, Option<&GroupCounts>)> {
    let mut by: BTreeMap<&str, (Option<&GroupCounts>, Option<&GroupCounts>)> = BTreeMap::new();
    for r in rows {
        let e = by.entry(r.label.as_str()).or_default();
        if r.period == "current" {
            e.0 = Some(r);
        } else {
            e.1 = Some(r);
        }
    }
    by.into_iter()
        .map(|(l, (c, p))| (l.to_owned(), c, p))
        .collect()
}
