//! The indicator section (Q9, Q10): indicators seen in each quarter, new
//! (first sighting, among what the reader may see, in the quarter) or
//! recurring.

use clickhouse::Row;
use serde::Deserialize;

use super::query::{Ctx, Scope};
use super::{Change, IndicatorAge};

#[derive(Row, Deserialize)]
struct Age {
    obs_type: String,
    new: u64,
    recurring: u64,
}

pub(super) struct Rows {
    current: Vec<Age>,
    previous: Vec<Age>,
}

pub(super) async fn fetch(ctx: &mut Ctx<'_>, sc: &Scope) -> anyhow::Result<Rows> {
    let (a, live) = (&sc.a, &sc.live_obs);
    let ages_sql = |from: &str, from_t: &str, to_t: &str| {
        format!(
            "SELECT obs_type, countIf(first >= {from}) AS new, countIf(first < {from}) AS recurring FROM \
             (SELECT obs_type, value, toDate(min(observed_at)) AS first, \
             max(observed_at >= {from_t}) AS seen FROM observations \
             WHERE observed_at < {to_t} AND {a} AND {live} GROUP BY obs_type, value HAVING seen = 1) \
             GROUP BY obs_type ORDER BY obs_type"
        )
    };
    Ok(Rows {
        current: ctx
            .fetch(
                "Q9",
                "indicators seen this quarter: new (first sighting, among what the reader may see, in the quarter) or recurring",
                ages_sql(&sc.s, &sc.st, &sc.et),
            )
            .await?,
        previous: ctx
            .fetch(
                "Q10",
                "the same for the previous quarter",
                ages_sql(&sc.p, &sc.pt, &sc.st),
            )
            .await?,
    })
}

impl Rows {
    pub(super) fn new_indicators(&self) -> Change {
        Change::new(
            self.current.iter().map(|x| x.new).sum(),
            self.previous.iter().map(|x| x.new).sum(),
        )
    }

    pub(super) fn by_type(self) -> Vec<IndicatorAge> {
        self.current
            .into_iter()
            .map(|x| IndicatorAge {
                obs_type: x.obs_type,
                new: x.new,
                recurring: x.recurring,
            })
            .collect()
    }
}
