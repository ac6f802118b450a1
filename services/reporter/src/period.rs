//! Calendar quarters and the few date computations the report needs
//! (proleptic Gregorian, UTC; ClickHouse `Date` is days since 1970-01-01).

use cisp_model::calendar::{civil_from_days, days_from_civil};
use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context};
use serde::Serialize;

/// A calendar quarter, e.g. `2026Q3` (July to September 2026).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Quarter {
    pub year: i32,
    pub q: u8,
}

impl Quarter {
    /// The quarter a day (days since the epoch) falls in.
    pub fn of_day(day: i64) -> Quarter {
        let (y, m, _) = civil_from_days(day);
        Quarter {
            year: y,
            q: (m - 1) / 3 + 1,
        }
    }

    /// The quarter today (UTC) falls in.
    pub fn current() -> Quarter {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Quarter::of_day(i64::try_from(secs / 86_400).unwrap_or(0))
    }

    pub fn previous(self) -> Quarter {
        if self.q == 1 {
            Quarter {
                year: self.year - 1,
                q: 4,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q - 1,
            }
        }
    }

    /// First day, as days since the epoch.
    pub fn start(self) -> i64 {
        days_from_civil(self.year, (self.q - 1) * 3 + 1, 1)
    }

    /// First day of the next quarter (the end, exclusive).
    pub fn end(self) -> i64 {
        if self.q == 4 {
            days_from_civil(self.year + 1, 1, 1)
        } else {
            days_from_civil(self.year, self.q * 3 + 1, 1)
        }
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Q{}", self.year, self.q)
    }
}

impl FromStr for Quarter {
    type Err = anyhow::Error;

    /// `2026Q3` or `2026-Q3` (case-insensitive), years 1971 to 2105 (what a
    /// ClickHouse `Date` can hold).
    fn from_str(s: &str) -> anyhow::Result<Quarter> {
        let t = s.trim().to_ascii_uppercase().replace('-', "");
        let Some((y, q)) = t.split_once('Q') else {
            bail!("quarter {s:?}: expected YEARQn, e.g. 2026Q3");
        };
        let year: i32 = y
            .parse()
            .with_context(|| format!("quarter {s:?}: bad year"))?;
        let q: u8 = q
            .parse()
            .with_context(|| format!("quarter {s:?}: bad quarter number"))?;
        if !(1..=4).contains(&q) || !(1971..=2105).contains(&year) {
            bail!("quarter {s:?}: quarter 1-4 of a year 1971-2105 expected");
        }
        Ok(Quarter { year, q })
    }
}

/// `YYYY-MM-DD` of a day since the epoch.
pub fn iso_date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn quarters_parse_and_bound() {
        let q: Quarter = "2026q3".parse().unwrap();
        assert_eq!(q, Quarter { year: 2026, q: 3 });
        assert_eq!(iso_date(q.start()), "2026-07-01");
        assert_eq!(iso_date(q.end()), "2026-10-01");
        assert_eq!(q.previous().to_string(), "2026Q2");
        let q4: Quarter = "2025-Q4".parse().unwrap();
        assert_eq!(iso_date(q4.end()), "2026-01-01");
        assert_eq!(
            q4.previous().previous().previous().previous().to_string(),
            "2024Q4"
        );
        assert_eq!(
            Quarter { year: 2026, q: 1 }.previous().to_string(),
            "2025Q4"
        );
        for bad in [
            "2026",
            "2026Q5",
            "2026Q0",
            "Q3",
            "20x6Q1",
            "1900Q1",
            "2026Q3;DROP",
        ] {
            assert!(bad.parse::<Quarter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(iso_date(20_411), "2025-11-19");
        assert_eq!(Quarter::of_day(20_411).to_string(), "2025Q4");
        for day in (-1000..80_000).step_by(7) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(iso_date(days_from_civil(2024, 2, 29) + 1), "2024-03-01");
    }
}
