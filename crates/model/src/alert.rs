//! Alert vocabulary shared by the engine (which decides) and the wire
//! format (which carries).

use serde::{Deserialize, Serialize};

/// Why a member is told something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertKind {
    /// Other members reported an observable you reported.
    PeerSighting,
    CampaignEscalation,
    SectorTargeting,
    ActorAttribution,
    SupplyChain,
    PartnerAdvisory,
    /// The recipient's own domain or address block appears in a report
    /// (to the Fusion Cell: a member's asset in a report that member may
    /// not see).
    VictimNotification,
    /// A report an earlier alert was built on was withdrawn or narrowed
    /// by its submitter; `revokes` names the alerts.
    Revocation,
    /// Members of the partnership dispute a value an earlier alert was
    /// about: it no longer links reports.
    Dispute,
    Other,
}

impl AlertKind {
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::PeerSighting => "peer_sighting",
            AlertKind::CampaignEscalation => "campaign_escalation",
            AlertKind::SectorTargeting => "sector_targeting",
            AlertKind::ActorAttribution => "actor_attribution",
            AlertKind::SupplyChain => "supply_chain",
            AlertKind::PartnerAdvisory => "partner_advisory",
            AlertKind::VictimNotification => "victim_notification",
            AlertKind::Revocation => "revocation",
            AlertKind::Dispute => "dispute",
            AlertKind::Other => "other",
        }
    }
}

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}
