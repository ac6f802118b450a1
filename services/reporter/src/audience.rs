//! Who a report is for, and the SQL filter that keeps it to what they may
//! see (docs/SHARING.md). The filter is built only from fixed enum values, never
//! from user text.

use std::fmt;
use std::str::FromStr;

use anyhow::bail;
use cisp_model::Tlp;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Audience {
    /// Every member: only submissions distributed to the whole community
    /// (which TLP 2.0 allows for CLEAR and GREEN only).
    Community,
    /// The Fusion Cell: everything, down to TLP:RED.
    FusionCell,
}

impl FromStr for Audience {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Audience> {
        match s {
            "community" => Ok(Audience::Community),
            "fusion-cell" => Ok(Audience::FusionCell),
            _ => bail!("audience {s:?}: expected community or fusion-cell"),
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Audience::Community => "community",
            Audience::FusionCell => "fusion-cell",
        })
    }
}

/// An audience and the most restrictive marking the report may carry.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Reader {
    pub audience: Audience,
    pub max_tlp: Tlp,
}

impl Reader {
    /// The default ceiling: GREEN for the community (what it may receive at
    /// all), RED for the Fusion Cell.
    pub fn new(audience: Audience, max_tlp: Option<Tlp>) -> anyhow::Result<Reader> {
        let ceiling = match audience {
            Audience::Community => Tlp::Green,
            Audience::FusionCell => Tlp::Red,
        };
        let max_tlp = max_tlp.unwrap_or(ceiling);
        if max_tlp > ceiling {
            bail!("a {audience} report cannot carry {max_tlp} data (at most {ceiling})");
        }
        Ok(Reader { audience, max_tlp })
    }

    /// The TLP symbols (as stored) this reader may see.
    pub fn tlps(&self) -> Vec<&'static str> {
        Tlp::ALL
            .iter()
            .filter(|t| **t <= self.max_tlp)
            .map(|t| t.symbol())
            .collect()
    }

    /// A boolean SQL expression over a row's `tlp` and `scope` columns.
    pub fn filter(&self) -> String {
        let tlps = self
            .tlps()
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        match self.audience {
            Audience::Community => format!("(scope = 'community' AND tlp IN ({tlps}))"),
            Audience::FusionCell => format!("(tlp IN ({tlps}))"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn filters_follow_the_audience() {
        let c = Reader::new(Audience::Community, None).unwrap();
        assert_eq!(
            c.filter(),
            "(scope = 'community' AND tlp IN ('CLEAR', 'GREEN'))"
        );
        let c = Reader::new(Audience::Community, Some(Tlp::Clear)).unwrap();
        assert_eq!(c.filter(), "(scope = 'community' AND tlp IN ('CLEAR'))");
        assert!(Reader::new(Audience::Community, Some(Tlp::Amber)).is_err());
        let f = Reader::new(Audience::FusionCell, None).unwrap();
        assert_eq!(f.tlps().len(), 5);
        assert!(!f.filter().contains("scope"));
        assert!("everyone".parse::<Audience>().is_err());
    }
}
