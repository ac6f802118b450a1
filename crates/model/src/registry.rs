//! The member registry: who is in the partnership, their sector, sharing
//! groups and role. Loaded from a TOML file (`config/members.toml`); it is the
//! only source of audience membership.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::ids::{GroupId, MemberId, SectorId};
use crate::observable::{Observable, ObservableKind};
use crate::sharing::Distribution;

/// What a registered organisation may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// An organisation that publishes and receives alerts.
    Member,
    /// A national or international partner CERT.
    Partner,
    /// The Fusion Cell: sees everything.
    FusionCell,
}

/// One organisation in the registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: MemberId,
    /// Display name; never shown for anonymous submissions.
    pub name: String,
    pub sector: SectorId,
    #[serde(default)]
    pub groups: BTreeSet<GroupId>,
    pub role: Role,
    /// Domains of the organisation's declared suppliers (payroll provider,
    /// managed service provider…). A submission the member may see that
    /// names one of them, or a host under one, raises a supply-chain alert.
    /// Normalised when the registry is loaded.
    #[serde(default)]
    pub suppliers: BTreeSet<String>,
    /// The organisation's own domains (its mail and web). E-mail intake
    /// never publishes an address under one of them as a sender: it is the
    /// member's own staff, not the attacker; and a report the member may
    /// see that names one (or a host, URL or address under it) sends it a
    /// victim notification. Normalised when loaded.
    #[serde(default)]
    pub domains: BTreeSet<String>,
    /// The organisation's own address blocks (CIDR): a report the member
    /// may see that names an address inside one sends it a victim
    /// notification. Normalised when loaded.
    #[serde(default)]
    pub networks: BTreeSet<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default, rename = "member")]
    members: Vec<Member>,
}

/// The validated registry.
#[derive(Clone, Debug)]
pub struct Registry {
    members: BTreeMap<MemberId, Member>,
    /// Organisations (not the Fusion Cell) per sector: the k-anonymity base.
    sector_sizes: BTreeMap<SectorId, usize>,
    /// Supplier domain -> the members that declared it.
    suppliers: BTreeMap<String, Vec<MemberId>>,
    /// Own domain -> the members whose it is.
    own_domains: BTreeMap<String, Vec<MemberId>>,
    /// Own address blocks: (network address, prefix length, as declared,
    /// member).
    own_networks: Vec<(std::net::IpAddr, u8, String, MemberId)>,
}

impl Registry {
    pub const MAX_MEMBERS: usize = 100_000;
    pub const MAX_SUPPLIERS: usize = 1_000;
    const MAX_NAME_LEN: usize = 200;
    /// Member ids may not start with this: it names the services' and the
    /// administrator's broker principals.
    pub const RESERVED_PREFIX: &'static str = "cisp-";

    pub fn new(members: Vec<Member>) -> Result<Registry, ModelError> {
        if members.len() > Self::MAX_MEMBERS {
            return Err(ModelError::Registry(format!(
                "more than {} members",
                Self::MAX_MEMBERS
            )));
        }
        let mut map = BTreeMap::new();
        let mut suppliers: BTreeMap<String, Vec<MemberId>> = BTreeMap::new();
        let mut own_domains: BTreeMap<String, Vec<MemberId>> = BTreeMap::new();
        let mut own_networks = Vec::new();
        for mut m in members {
            m.suppliers = normalised(&m.id, &m.suppliers, ObservableKind::Domain, "supplier")?;
            for d in &m.suppliers {
                suppliers.entry(d.clone()).or_default().push(m.id.clone());
            }
            m.domains = normalised(&m.id, &m.domains, ObservableKind::Domain, "domain")?;
            m.networks = normalised(&m.id, &m.networks, ObservableKind::Cidr, "network")?;
            for d in &m.domains {
                own_domains.entry(d.clone()).or_default().push(m.id.clone());
            }
            for n in &m.networks {
                if let Some((addr, len)) = n
                    .split_once('/')
                    .and_then(|(a, l)| Some((a.parse().ok()?, l.parse().ok()?)))
                {
                    own_networks.push((addr, len, n.clone(), m.id.clone()));
                }
            }
            if m.id.as_str().starts_with(Self::RESERVED_PREFIX) {
                // The broker users of the services and the administrator
                // (cisp-fusion, cisp-intake, cisp-admin) share the member
                // namespace of SASL principals: a member with such an id
                // would hold a service's ACLs, or the super user's.
                return Err(ModelError::Registry(format!(
                    "member {}: ids starting with {:?} are reserved for the services' broker users",
                    m.id,
                    Self::RESERVED_PREFIX
                )));
            }
            if m.name.trim().is_empty() || m.name.len() > Self::MAX_NAME_LEN {
                return Err(ModelError::Registry(format!(
                    "member {} needs a name of 1 to {} bytes",
                    m.id,
                    Self::MAX_NAME_LEN
                )));
            }
            if let Some(prev) = map.insert(m.id.clone(), m) {
                return Err(ModelError::Registry(format!(
                    "member {} is listed twice",
                    prev.id
                )));
            }
        }
        if !map.values().any(|m| m.role == Role::FusionCell) {
            return Err(ModelError::Registry(
                "no member has role fusion-cell".into(),
            ));
        }
        let mut sector_sizes = BTreeMap::new();
        for m in map.values().filter(|m| m.role != Role::FusionCell) {
            *sector_sizes.entry(m.sector.clone()).or_insert(0) += 1;
        }
        Ok(Registry {
            members: map,
            sector_sizes,
            suppliers,
            own_domains,
            own_networks,
        })
    }

    pub fn from_toml_str(text: &str) -> Result<Registry, ModelError> {
        let raw: RawRegistry =
            toml::from_str(text).map_err(|e| ModelError::Registry(e.message().to_owned()))?;
        Registry::new(raw.members)
    }

    pub fn load(path: &Path) -> Result<Registry, ModelError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ModelError::Registry(format!("cannot read {}: {e}", path.display())))?;
        Registry::from_toml_str(&text)
            .map_err(|e| ModelError::Registry(format!("{}: {e}", path.display())))
    }

    pub fn member(&self, id: &MemberId) -> Option<&Member> {
        self.members.get(id)
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn is_fusion_cell(&self, id: &MemberId) -> bool {
        self.member(id).is_some_and(|m| m.role == Role::FusionCell)
    }

    /// How many organisations (the Fusion Cell not counted) are in a sector.
    pub fn sector_size(&self, sector: &SectorId) -> usize {
        self.sector_sizes.get(sector).copied().unwrap_or(0)
    }

    /// Whether naming `sector` as an anonymous submitter's sector keeps it
    /// hidden among at least `k` organisations (docs/SHARING.md).
    pub fn sector_hides_member(&self, sector: &SectorId, k: usize) -> bool {
        self.sector_size(sector) >= k.max(2)
    }

    pub fn members_in_sector<'a>(
        &'a self,
        sector: &'a SectorId,
    ) -> impl Iterator<Item = &'a Member> + 'a {
        self.members.values().filter(move |m| &m.sector == sector)
    }

    /// Members that declared `host` or a parent domain of it as a supplier,
    /// with the declared domain. `host` must be normalised (lower case).
    pub fn supplier_matches<'a>(&'a self, host: &'a str) -> Vec<(&'a str, &'a MemberId)> {
        let mut out = Vec::new();
        if self.suppliers.is_empty() {
            return out;
        }
        let mut rest = host;
        loop {
            if let Some((domain, ms)) = self.suppliers.get_key_value(rest) {
                out.extend(ms.iter().map(|m| (domain.as_str(), m)));
            }
            match rest.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => rest = parent,
                _ => break,
            }
        }
        out
    }

    /// The members whose own assets `o` names, with the asset: a domain
    /// (the value's host or a parent of it: a domain, URL or e-mail
    /// address) or an address block holding the value's address.
    pub fn asset_matches<'a>(&'a self, o: &'a Observable) -> Vec<(&'a str, &'a MemberId)> {
        let mut out = Vec::new();
        if self.own_domains.is_empty() && self.own_networks.is_empty() {
            return out;
        }
        if let Some(host) = o.host().filter(|_| !self.own_domains.is_empty()) {
            let mut rest = host;
            loop {
                if let Some((domain, ms)) = self.own_domains.get_key_value(rest) {
                    out.extend(ms.iter().map(|m| (domain.as_str(), m)));
                }
                match rest.split_once('.') {
                    Some((_, parent)) if !parent.is_empty() => rest = parent,
                    _ => break,
                }
            }
        }
        if !self.own_networks.is_empty()
            && matches!(o.kind(), ObservableKind::Ipv4 | ObservableKind::Ipv6)
        {
            if let Ok(ip) = o.value().parse::<std::net::IpAddr>() {
                for (net, len, declared, m) in &self.own_networks {
                    if in_network(ip, *net, *len) {
                        out.push((declared.as_str(), m));
                    }
                }
            }
        }
        out
    }

    /// Checks that a distribution names only registered members and known
    /// groups, and is not empty.
    pub fn check_distribution(&self, dist: &Distribution) -> Result<(), ModelError> {
        match dist {
            Distribution::NamedMembers { members } => {
                if members.is_empty() {
                    return Err(ModelError::EmptyDistribution {
                        scope: "named-members",
                        what: "member",
                    });
                }
                for m in members {
                    if self.member(m).is_none() {
                        return Err(ModelError::UnknownAudience {
                            what: "member",
                            value: m.to_string(),
                        });
                    }
                }
            }
            Distribution::SharingGroups { groups } => {
                if groups.is_empty() {
                    return Err(ModelError::EmptyDistribution {
                        scope: "sharing-groups",
                        what: "group",
                    });
                }
                for g in groups {
                    if !self.members.values().any(|m| m.groups.contains(g)) {
                        return Err(ModelError::UnknownAudience {
                            what: "group",
                            value: g.to_string(),
                        });
                    }
                }
            }
            Distribution::FusionCellOnly | Distribution::Sector | Distribution::Community => {}
        }
        Ok(())
    }

    /// The audience rule (docs/SHARING.md): may `reader` see a submission by
    /// `submitter` with distribution `dist`, or anything derived from it?
    /// Audience = Fusion Cell ∪ submitter ∪ distribution. An unregistered
    /// reader sees nothing.
    pub fn may_see(&self, reader: &MemberId, submitter: &MemberId, dist: &Distribution) -> bool {
        let Some(r) = self.member(reader) else {
            return false;
        };
        if r.role == Role::FusionCell || reader == submitter {
            return true;
        }
        match dist {
            Distribution::FusionCellOnly => false,
            Distribution::NamedMembers { members } => members.contains(reader),
            Distribution::SharingGroups { groups } => !r.groups.is_disjoint(groups),
            Distribution::Sector => self.member(submitter).is_some_and(|s| s.sector == r.sector),
            Distribution::Community => true,
        }
    }
}

/// A member's declared values of `kind` (suppliers, own domains, own
/// networks), normalised; at most [`Registry::MAX_SUPPLIERS`] of each.
fn normalised(
    member: &MemberId,
    declared: &BTreeSet<String>,
    kind: ObservableKind,
    what: &str,
) -> Result<BTreeSet<String>, ModelError> {
    if declared.len() > Registry::MAX_SUPPLIERS {
        return Err(ModelError::Registry(format!(
            "member {member} declares more than {} {what}s",
            Registry::MAX_SUPPLIERS
        )));
    }
    declared
        .iter()
        .map(|d| {
            Observable::parse(kind, d)
                .map(|o| o.value().to_owned())
                .map_err(|e| ModelError::Registry(format!("member {member}: {what} {e}")))
        })
        .collect()
}

/// Whether `ip` is inside `net`/`len` (same family only).
fn in_network(ip: std::net::IpAddr, net: std::net::IpAddr, len: u8) -> bool {
    use std::net::IpAddr::{V4, V6};
    match (ip, net) {
        (V4(a), V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (V6(a), V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const TOML: &str = r#"
[[member]]
id = "fusion-cell"
name = "Fusion Cell"
sector = "government"
role = "fusion-cell"

[[member]]
id = "bank-a"
name = "Bank A"
sector = "finance"
groups = ["fin-isac"]
role = "member"

[[member]]
id = "bank-b"
name = "Bank B"
sector = "finance"
role = "member"

[[member]]
id = "grid"
name = "Grid plc"
sector = "energy"
groups = ["fin-isac"]
role = "member"
"#;

    fn id(s: &str) -> MemberId {
        MemberId::parse(s).unwrap()
    }

    #[test]
    fn audience_rules() {
        let reg = Registry::from_toml_str(TOML).unwrap();
        let (fc, a, b, grid) = (id("fusion-cell"), id("bank-a"), id("bank-b"), id("grid"));
        let only = Distribution::FusionCellOnly;
        assert!(reg.may_see(&fc, &a, &only));
        assert!(reg.may_see(&a, &a, &only));
        assert!(!reg.may_see(&b, &a, &only));

        let sector = Distribution::Sector;
        assert!(reg.may_see(&b, &a, &sector));
        assert!(!reg.may_see(&grid, &a, &sector));

        let groups = Distribution::SharingGroups {
            groups: [GroupId::parse("fin-isac").unwrap()].into(),
        };
        assert!(reg.may_see(&grid, &a, &groups));
        assert!(!reg.may_see(&b, &a, &groups));

        let named = Distribution::NamedMembers {
            members: [b.clone()].into(),
        };
        assert!(reg.may_see(&b, &a, &named));
        assert!(!reg.may_see(&grid, &a, &named));

        assert!(reg.may_see(&grid, &a, &Distribution::Community));
        assert!(!reg.may_see(&id("stranger"), &a, &Distribution::Community));
    }

    #[test]
    fn own_assets_match_hosts_under_a_domain_and_addresses_in_a_block() {
        // The module's registry, Bank A declaring its own assets.
        let r = Registry::from_toml_str(&TOML.replace(
            "id = \"bank-a\"\nname = \"Bank A\"\n",
            "id = \"bank-a\"\nname = \"Bank A\"\ndomains = [\"Bank-A.Example\"]\nnetworks = [\"198.51.100.0/24\", \"2001:db8:a::/48\"]\n",
        ))
        .unwrap();
        let m = |k, v| {
            let o = Observable::parse(k, v).unwrap();
            r.asset_matches(&o)
                .into_iter()
                .map(|(a, m)| format!("{a}>{m}"))
                .collect::<Vec<_>>()
        };
        use ObservableKind::*;
        assert_eq!(m(Domain, "mail.bank-a.example"), ["bank-a.example>bank-a"]);
        assert_eq!(
            m(Url, "https://vpn.bank-a.example/x"),
            ["bank-a.example>bank-a"]
        );
        assert_eq!(m(Email, "ceo@bank-a.example"), ["bank-a.example>bank-a"]);
        assert!(m(Domain, "bank-a.example.evil.example").is_empty());
        assert!(m(Domain, "notbank-a.example").is_empty());
        assert_eq!(m(Ipv4, "198.51.100.77"), ["198.51.100.0/24>bank-a"]);
        assert!(m(Ipv4, "198.51.101.1").is_empty());
        assert_eq!(m(Ipv6, "2001:db8:a:1::5"), ["2001:db8:a::/48>bank-a"]);
        assert!(m(Ipv6, "2001:db8:b::5").is_empty());
    }

    #[test]
    fn registry_rejects_duplicates_unknown_fields_and_no_fusion_cell() {
        let dup = format!("{TOML}\n[[member]]\nid = \"grid\"\nname = \"x\"\nsector = \"energy\"\nrole = \"member\"\n");
        assert!(Registry::from_toml_str(&dup)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let unknown = "[[member]]\nid = \"a\"\nname = \"A\"\nsector = \"s\"\nrole = \"fusion-cell\"\ncolour = \"red\"\n";
        assert!(Registry::from_toml_str(unknown).is_err());
        let service = format!("{TOML}\n[[member]]\nid = \"cisp-admin\"\nname = \"x\"\nsector = \"energy\"\nrole = \"member\"\n");
        assert!(Registry::from_toml_str(&service)
            .unwrap_err()
            .to_string()
            .contains("reserved"));
        let none = "[[member]]\nid = \"a\"\nname = \"A\"\nsector = \"s\"\nrole = \"member\"\n";
        assert!(Registry::from_toml_str(none)
            .unwrap_err()
            .to_string()
            .contains("fusion-cell"));
    }

    #[test]
    fn sector_sizes_and_supplier_lookup() {
        let toml = format!(
            "{TOML}\n[[member]]\nid = \"shop\"\nname = \"Shop\"\nsector = \"retail\"\nrole = \"member\"\nsuppliers = [\"Payroll-Cloud.Example\", \"msp.example\"]\n"
        );
        let reg = Registry::from_toml_str(&toml).unwrap();
        let finance = SectorId::parse("finance").unwrap();
        let government = SectorId::parse("government").unwrap();
        assert_eq!(reg.sector_size(&finance), 2);
        assert_eq!(
            reg.sector_size(&government),
            0,
            "the Fusion Cell is not counted"
        );
        assert!(reg.sector_hides_member(&finance, 2));
        assert!(!reg.sector_hides_member(&finance, 3));
        let hits = reg.supplier_matches("login.payroll-cloud.example");
        assert_eq!(hits, vec![("payroll-cloud.example", &id("shop"))]);
        assert!(reg
            .supplier_matches("payroll-cloud.example.evil")
            .is_empty());
        assert!(reg.supplier_matches("xmsp.example").is_empty());
        let bad = format!("{TOML}\n[[member]]\nid = \"x\"\nname = \"X\"\nsector = \"s\"\nrole = \"member\"\nsuppliers = [\"not a domain\"]\n");
        assert!(Registry::from_toml_str(&bad).is_err());
    }

    #[test]
    fn distribution_must_name_known_audiences() {
        let reg = Registry::from_toml_str(TOML).unwrap();
        let bad = Distribution::NamedMembers {
            members: [id("nobody")].into(),
        };
        assert!(reg.check_distribution(&bad).is_err());
        let empty = Distribution::SharingGroups {
            groups: BTreeSet::new(),
        };
        assert!(reg.check_distribution(&empty).is_err());
        let unknown_group = Distribution::SharingGroups {
            groups: [GroupId::parse("nope").unwrap()].into(),
        };
        assert!(reg.check_distribution(&unknown_group).is_err());
    }
}
