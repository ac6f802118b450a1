//! How widely a submission may travel: its TLP marking, its distribution and
//! whether its submitter is named. The audience decision itself lives in
//! [`crate::Registry::may_see`], because it needs the registry.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{excerpt, ModelError};
use crate::ids::{GroupId, MemberId};

/// Where a sector is named only when it has at least this many member
/// organisations (an anonymous submitter's sector, a report's sector
/// rows): the engine's and the report's default `k`.
pub const DEFAULT_K_ANONYMITY: u32 = 3;

/// Traffic Light Protocol 2.0. Ordered from least to most restrictive, so
/// `max` of several markings is the most restrictive one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Tlp {
    #[serde(rename = "CLEAR")]
    Clear,
    #[serde(rename = "GREEN")]
    Green,
    #[serde(rename = "AMBER")]
    Amber,
    #[serde(rename = "AMBER_STRICT")]
    AmberStrict,
    #[serde(rename = "RED")]
    Red,
}

impl Tlp {
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// Parses the forms TLP arrives in: our Avro symbols (`AMBER_STRICT`),
    /// TLP 2.0 labels (`TLP:AMBER+STRICT`, `amber+strict`) and TLP 1.0's
    /// `WHITE` (= CLEAR). Unknown markings are an error here; intake code
    /// that must accept them maps them to [`Tlp::Red`] deliberately.
    pub fn parse(value: &str) -> Result<Tlp, ModelError> {
        let v = value.trim();
        let v = v
            .strip_prefix("TLP:")
            .or_else(|| v.strip_prefix("tlp:"))
            .unwrap_or(v);
        match v.to_ascii_uppercase().as_str() {
            "CLEAR" | "WHITE" => Ok(Tlp::Clear),
            "GREEN" => Ok(Tlp::Green),
            "AMBER" => Ok(Tlp::Amber),
            "AMBER_STRICT" | "AMBER+STRICT" => Ok(Tlp::AmberStrict),
            "RED" => Ok(Tlp::Red),
            _ => Err(ModelError::UnknownSymbol {
                what: "tlp",
                value: excerpt(value),
            }),
        }
    }

    /// The TLP 2.0 label, e.g. `TLP:AMBER+STRICT`.
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// The Avro enum symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Tlp::Clear => "CLEAR",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::AmberStrict => "AMBER_STRICT",
            Tlp::Red => "RED",
        }
    }

    /// Which distribution scopes a marking allows (docs/SHARING.md):
    /// RED only to the Fusion Cell or named members; AMBER+STRICT also to
    /// sharing groups; AMBER also to the submitter's sector; CLEAR and GREEN
    /// to the whole community.
    pub fn allows(self, scope: Scope) -> bool {
        match self {
            Tlp::Red => matches!(scope, Scope::FusionCellOnly | Scope::NamedMembers),
            Tlp::AmberStrict => {
                matches!(
                    scope,
                    Scope::FusionCellOnly | Scope::NamedMembers | Scope::SharingGroups
                )
            }
            Tlp::Amber => scope != Scope::Community,
            Tlp::Green | Tlp::Clear => true,
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The kind of audience a member chose, without its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "FUSION_CELL_ONLY")]
    FusionCellOnly,
    #[serde(rename = "NAMED_MEMBERS")]
    NamedMembers,
    #[serde(rename = "SHARING_GROUPS")]
    SharingGroups,
    #[serde(rename = "SECTOR")]
    Sector,
    #[serde(rename = "COMMUNITY")]
    Community,
}

impl Scope {
    /// Every scope, from the most to the least restrictive.
    pub const ALL: [Scope; 5] = [
        Scope::FusionCellOnly,
        Scope::NamedMembers,
        Scope::SharingGroups,
        Scope::Sector,
        Scope::Community,
    ];

    pub fn parse(value: &str) -> Result<Scope, ModelError> {
        match value.to_ascii_uppercase().replace('-', "_").as_str() {
            "FUSION_CELL_ONLY" => Ok(Scope::FusionCellOnly),
            "NAMED_MEMBERS" => Ok(Scope::NamedMembers),
            "SHARING_GROUPS" => Ok(Scope::SharingGroups),
            "SECTOR" => Ok(Scope::Sector),
            "COMMUNITY" => Ok(Scope::Community),
            _ => Err(ModelError::UnknownSymbol {
                what: "distribution scope",
                value: excerpt(value),
            }),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Scope::FusionCellOnly => "fusion-cell-only",
            Scope::NamedMembers => "named-members",
            Scope::SharingGroups => "sharing-groups",
            Scope::Sector => "sector",
            Scope::Community => "community",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who, besides the Fusion Cell and the submitter, may see a submission and
/// anything derived from it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "kebab-case")]
pub enum Distribution {
    FusionCellOnly,
    NamedMembers {
        members: BTreeSet<MemberId>,
    },
    SharingGroups {
        groups: BTreeSet<GroupId>,
    },
    /// Members of the submitter's own sector.
    Sector,
    Community,
}

impl Distribution {
    pub fn scope(&self) -> Scope {
        match self {
            Distribution::FusionCellOnly => Scope::FusionCellOnly,
            Distribution::NamedMembers { .. } => Scope::NamedMembers,
            Distribution::SharingGroups { .. } => Scope::SharingGroups,
            Distribution::Sector => Scope::Sector,
            Distribution::Community => Scope::Community,
        }
    }
}

/// Whether the submitter may be named to anyone but the Fusion Cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Attribution {
    #[serde(rename = "ATTRIBUTED")]
    Attributed,
    #[serde(rename = "ANONYMOUS")]
    Anonymous,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tlp_parses_every_spelling() {
        assert_eq!(Tlp::parse("TLP:AMBER+STRICT"), Ok(Tlp::AmberStrict));
        assert_eq!(Tlp::parse("amber_strict"), Ok(Tlp::AmberStrict));
        assert_eq!(Tlp::parse("tlp:white"), Ok(Tlp::Clear));
        assert_eq!(Tlp::parse(" RED "), Ok(Tlp::Red));
        assert!(Tlp::parse("PURPLE").is_err());
    }

    #[test]
    fn tlp_is_ordered_by_restriction() {
        assert!(Tlp::Red > Tlp::AmberStrict && Tlp::AmberStrict > Tlp::Amber);
        assert!(Tlp::Amber > Tlp::Green && Tlp::Green > Tlp::Clear);
        assert_eq!(
            [Tlp::Green, Tlp::Red, Tlp::Clear].into_iter().max(),
            Some(Tlp::Red)
        );
    }

    #[test]
    fn red_never_reaches_beyond_named_members() {
        assert!(Tlp::Red.allows(Scope::NamedMembers));
        assert!(Tlp::Red.allows(Scope::FusionCellOnly));
        assert!(!Tlp::Red.allows(Scope::SharingGroups));
        assert!(!Tlp::Red.allows(Scope::Sector));
        assert!(!Tlp::Red.allows(Scope::Community));
        assert!(!Tlp::Amber.allows(Scope::Community));
        assert!(Tlp::Green.allows(Scope::Community));
        assert!(Tlp::Clear.allows(Scope::Community));
    }
}
