//! From engine outputs to wire records and ClickHouse rows.

use cisp_engine::{Alert, CampaignView};
use cisp_model::{Attribution, Distribution, Observable, Registry, Submission};
use cisp_wire::records::{
    AlertRecord, CampaignUpdateRecord, ObservableRecord, RelatedSubmissionRecord,
};

use crate::store::{datetime, AlertRow, CampaignRow, ObservationRow, SubmissionRow};

fn observable_record(o: &Observable) -> ObservableRecord {
    ObservableRecord::new(o.kind(), o.value())
}

pub fn alert_record(a: &Alert) -> AlertRecord {
    AlertRecord {
        alert_id: a.id.clone(),
        recipient: a.recipient.to_string(),
        created_at: a.created_at_ms,
        trigger_published_at: a.trigger_published_at_ms,
        kind: a.kind,
        severity: a.severity,
        tlp: a.tlp,
        campaign_id: a.campaign_id.as_ref().map(ToString::to_string),
        your_submission_ids: a.your_submissions.iter().map(ToString::to_string).collect(),
        related: a
            .related
            .iter()
            .map(|r| RelatedSubmissionRecord {
                submission_id: r.id.to_string(),
                member_id: r.member.as_ref().map(ToString::to_string),
                member_name: r.member_name.clone(),
                sector: r.sector.as_ref().map(ToString::to_string),
                kind: r.kind,
                tlp: r.tlp,
                title: r.title.clone(),
                submitted_at: r.submitted_at_ms,
            })
            .collect(),
        shared_observables: a.shared.iter().map(observable_record).collect(),
        other_member_count: i32::try_from(a.other_member_count).unwrap_or(i32::MAX),
        summary: a.summary.clone(),
        shared_scores: a.shared_scores.clone(),
        sightings: i32::try_from(a.sightings).unwrap_or(i32::MAX),
        revokes: a.revokes.clone(),
    }
}

/// The audit row of an alert the broker acknowledged at `acked_at_ms`.
pub fn alert_row(a: &Alert, acked_at_ms: i64) -> AlertRow {
    AlertRow {
        alert_id: a.id.clone(),
        recipient: a.recipient.to_string(),
        created_at: datetime(a.created_at_ms),
        kind: a.kind.name().to_owned(),
        severity: a.severity.name().to_owned(),
        tlp: a.tlp.symbol().to_owned(),
        campaign_id: a.fusion_campaign_id.to_string(),
        view_campaign_id: a
            .campaign_id
            .as_ref()
            .map_or_else(String::new, ToString::to_string),
        trigger_member: a.trigger.member.to_string(),
        trigger_submission: a.trigger.id.to_string(),
        provenance: a.provenance.iter().map(ToString::to_string).collect(),
        related_count: u32::try_from(a.related.len()).unwrap_or(u32::MAX),
        shared_count: u32::try_from(a.shared.len()).unwrap_or(u32::MAX),
        other_member_count: a.other_member_count,
        summary: a.summary.clone(),
        publish_to_alert_ms: acked_at_ms - a.trigger_published_at_ms,
        sightings: a.sightings,
        coalesced: u8::from(a.coalesced),
        revokes: a.revokes.clone(),
    }
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub fn campaign_record(v: &CampaignView) -> CampaignUpdateRecord {
    CampaignUpdateRecord {
        campaign_id: v.id.to_string(),
        version: i64::try_from(v.version).unwrap_or(i64::MAX),
        merged_into: v.merged_into.as_ref().map(ToString::to_string),
        submission_count: to_i32(v.submission_count),
        member_count: to_i32(v.member_count),
        observable_count: to_i32(v.observable_count),
        member_ids: v.members.iter().map(ToString::to_string).collect(),
        sectors: v.sectors.iter().map(ToString::to_string).collect(),
        tlp: v.tlp,
        first_seen: v.first_seen_ms,
        last_seen: v.last_seen_ms,
        updated_at: v.updated_at_ms,
        actor_id: v.attribution.as_ref().map(|a| a.actor_id.clone()),
        actor_name: v.attribution.as_ref().map(|a| a.actor_name.clone()),
        attribution_confidence: attribution_confidence(v),
        attribution_evidence: attribution_evidence(v),
    }
}

#[allow(clippy::cast_possible_truncation)]
fn attribution_confidence(v: &CampaignView) -> f32 {
    v.attribution.as_ref().map_or(0.0, |a| a.confidence as f32)
}

fn attribution_evidence(v: &CampaignView) -> Vec<String> {
    v.attribution
        .as_ref()
        .map(|a| a.evidence.clone())
        .unwrap_or_default()
}

pub fn campaign_row(v: &CampaignView) -> CampaignRow {
    CampaignRow {
        campaign_id: v.id.to_string(),
        version: v.version,
        merged_into: v
            .merged_into
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        submission_count: v.submission_count,
        member_count: v.member_count,
        observable_count: v.observable_count,
        member_ids: v.members.iter().map(ToString::to_string).collect(),
        sectors: v.sectors.iter().map(ToString::to_string).collect(),
        tlp: v.tlp.symbol().to_owned(),
        first_seen: datetime(v.first_seen_ms),
        last_seen: datetime(v.last_seen_ms),
        updated_at: datetime(v.updated_at_ms),
        actor_id: v
            .attribution
            .as_ref()
            .map(|a| a.actor_id.clone())
            .unwrap_or_default(),
        actor_name: v
            .attribution
            .as_ref()
            .map(|a| a.actor_name.clone())
            .unwrap_or_default(),
        attribution_confidence: attribution_confidence(v),
        attribution_evidence: attribution_evidence(v),
    }
}

/// Where a record was read from.
#[derive(Clone, Debug)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

pub struct SubmissionFacts {
    pub submission: SubmissionRow,
    pub observations: Vec<ObservationRow>,
}

/// What the engine said about each reported observable (same order).
pub struct ObservableFacts<'a> {
    pub warnlisted: &'a [Option<String>],
    pub scores: &'a [f32],
}

/// A judgement of the over-correlation guard, made at engine sequence
/// number `seq`.
pub fn common_row(
    j: &cisp_engine::CommonJudgement,
    seq: u64,
    now_ms: i64,
) -> crate::store::CommonRow {
    crate::store::CommonRow {
        detected_at: datetime(now_ms),
        seq,
        obs_type: j.kind.to_owned(),
        value: j.value.clone(),
        reason: j.reason.name().to_owned(),
        submissions: j.submissions,
        groups: j.groups,
    }
}

/// A campaign's attribution change, caused by engine sequence number
/// `version`.
pub fn attribution_change_row(
    c: &cisp_engine::AttributionChange,
    version: u64,
    now_ms: i64,
) -> crate::store::AttributionChangeRow {
    let part = |a: &Option<cisp_engine::ActorAttribution>| {
        a.as_ref().map_or((String::new(), String::new(), 0.0), |a| {
            (
                a.actor_id.clone(),
                a.actor_name.clone(),
                a.confidence as f32,
            )
        })
    };
    let (actor_id, actor_name, confidence) = part(&c.after);
    let (previous_actor_id, previous_actor_name, previous_confidence) = part(&c.before);
    let (runner_up, runner_up_confidence) = c
        .runner_up
        .as_ref()
        .map_or((String::new(), 0.0), |(n, x)| (n.clone(), *x as f32));
    crate::store::AttributionChangeRow {
        campaign_id: c.campaign_id.to_string(),
        version,
        changed_at: datetime(now_ms),
        change: c.change().to_owned(),
        actor_id,
        actor_name,
        confidence,
        previous_actor_id,
        previous_actor_name,
        previous_confidence,
        runner_up,
        runner_up_confidence,
    }
}

/// The `campaign_membership` version of a change caused by the
/// submission with engine sequence number `seq`. Versions are doubled so
/// that a correction or feedback applied between submissions `n - 1` and
/// `n` ([`action_version`]) sits strictly between theirs (issue 22). Rows
/// written before had `version = seq`: every later change still has a
/// version at least as high, so the newest row still wins.
pub fn membership_version(seq: u64) -> u64 {
    seq.saturating_mul(2)
}

/// The `campaign_membership` version of a change made by an action
/// applied after `after_seq` submissions.
pub fn action_version(after_seq: u64) -> u64 {
    after_seq.saturating_mul(2).saturating_sub(1)
}

/// A submission's campaign from version `version` on.
pub fn membership_row(
    member: &str,
    submission: &str,
    campaign: &str,
    version: u64,
    now_ms: i64,
) -> crate::store::MembershipRow {
    crate::store::MembershipRow {
        member_id: member.to_owned(),
        submission_id: submission.to_owned(),
        campaign_id: campaign.to_owned(),
        version,
        changed_at: datetime(now_ms),
    }
}

pub fn submission_facts(
    s: &Submission,
    seq: u64,
    campaign: &str,
    registry: &Registry,
    src: &Source,
    now_ms: i64,
    facts: &ObservableFacts<'_>,
) -> Result<SubmissionFacts, serde_json::Error> {
    let sector = registry
        .member(&s.member)
        .map(|m| m.sector.to_string())
        .unwrap_or_default();
    let anonymous = u8::from(s.attribution == Attribution::Anonymous);
    let observations = s
        .observables
        .iter()
        .enumerate()
        .map(|(i, o)| ObservationRow {
            observed_at: datetime(s.submitted_at_ms),
            ingested_at: datetime(now_ms),
            member_id: s.member.to_string(),
            submission_id: s.id.to_string(),
            seq,
            obs_type: o.observable.kind().name().to_owned(),
            value: o.observable.value().to_owned(),
            role: o.role.map(|r| r.name().to_owned()).unwrap_or_default(),
            campaign_id: campaign.to_owned(),
            kind: s.kind.name().to_owned(),
            tlp: s.tlp.symbol().to_owned(),
            scope: s.distribution.scope().name().to_owned(),
            anonymous,
            sector: sector.clone(),
            confidence: o.confidence.unwrap_or(s.confidence),
            warnlist: facts
                .warnlisted
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_default(),
            score: facts.scores.get(i).copied().unwrap_or(0.0),
        })
        .collect();
    let submission = SubmissionRow {
        member_id: s.member.to_string(),
        submission_id: s.id.to_string(),
        seq,
        submitted_at: datetime(s.submitted_at_ms),
        ingested_at: datetime(now_ms),
        kind: s.kind.name().to_owned(),
        tlp: s.tlp.symbol().to_owned(),
        scope: s.distribution.scope().name().to_owned(),
        anonymous,
        sector,
        title: s.title.clone(),
        observable_count: u32::try_from(s.observables.len()).unwrap_or(u32::MAX),
        ttps: s.ttps.clone(),
        malware: s.malware.clone(),
        actor_claims: s.actor_claims.clone(),
        targeted_sectors: s.targeted_sectors.iter().map(ToString::to_string).collect(),
        confidence: s.confidence,
        campaign_id: campaign.to_owned(),
        source_topic: src.topic.clone(),
        source_partition: src.partition,
        source_offset: src.offset,
        body: serde_json::to_string(s)?,
        audience_members: match &s.distribution {
            Distribution::NamedMembers { members } => {
                members.iter().map(ToString::to_string).collect()
            }
            _ => Vec::new(),
        },
        audience_groups: match &s.distribution {
            Distribution::SharingGroups { groups } => {
                groups.iter().map(ToString::to_string).collect()
            }
            _ => Vec::new(),
        },
    };
    Ok(SubmissionFacts {
        submission,
        observations,
    })
}

/// The `corrections` row of an applied correction.
pub fn correction_row(
    c: &cisp_model::Correction,
    rev: &cisp_engine::Revision,
    now_ms: i64,
) -> crate::store::CorrectionRow {
    crate::store::CorrectionRow {
        member_id: c.member.to_string(),
        correction_id: c.id.to_string(),
        submission_id: c.submission.to_string(),
        ordinal: rev.ordinal,
        after_seq: rev.after_seq,
        corrected_at: datetime(c.corrected_at_ms),
        applied_at: datetime(now_ms),
        retract: u8::from(c.is_retraction()),
        removed_types: rev
            .removed
            .iter()
            .map(|o| o.kind().name().to_owned())
            .collect(),
        removed_values: rev.removed.iter().map(|o| o.value().to_owned()).collect(),
        reason: c.reason.clone(),
        revocations: u32::try_from(rev.alerts.len()).unwrap_or(u32::MAX),
        body: serde_json::to_string(c).unwrap_or_default(),
    }
}

/// The `feedback` row of an applied feedback record.
pub fn feedback_row(
    f: &cisp_model::Feedback,
    rev: &cisp_engine::Revision,
    now_ms: i64,
) -> crate::store::FeedbackRow {
    crate::store::FeedbackRow {
        member_id: f.member.to_string(),
        feedback_id: f.id.to_string(),
        ordinal: rev.ordinal,
        after_seq: rev.after_seq,
        kind: f.kind.name().to_owned(),
        obs_type: f.observable.kind().name().to_owned(),
        value: f.observable.value().to_owned(),
        count: f.count,
        seen_at: f.seen_at_ms.map_or(0, datetime),
        confidence: f.confidence.unwrap_or(0),
        comment: f.comment.clone(),
        counted: u8::from(rev.counted),
        disputed: u8::from(rev.disputed.is_some()),
        submitted_at: datetime(f.submitted_at_ms),
        applied_at: datetime(now_ms),
        body: serde_json::to_string(f).unwrap_or_default(),
    }
}

/// The `decisions` row of an applied Fusion Cell decision.
pub fn decision_row(
    d: &cisp_model::Decision,
    rev: &cisp_engine::Revision,
    now_ms: i64,
) -> crate::store::DecisionRow {
    use cisp_model::DecisionAction as A;
    let (a, b, value, actor) = match &d.action {
        A::ForbidLink { a, b } | A::ForceLink { a, b } => {
            (a.to_string(), b.to_string(), None, String::new())
        }
        A::DeclareBenign(o) | A::DeclareMalicious(o) => {
            (String::new(), String::new(), Some(o), String::new())
        }
        A::SetAttribution { campaign, actor }
        | A::ConfirmAttribution { campaign, actor }
        | A::RejectAttribution { campaign, actor } => {
            (campaign.clone(), String::new(), None, actor.clone())
        }
        A::Withdraw(r) => (r.to_string(), String::new(), None, String::new()),
        A::Undo { decision } => (decision.to_string(), String::new(), None, String::new()),
    };
    crate::store::DecisionRow {
        decision_id: d.id.to_string(),
        analyst: d.analyst.clone(),
        made_at: datetime(d.made_at_ms),
        applied_at: datetime(now_ms),
        action: d.action.name().to_owned(),
        a,
        b,
        obs_type: value.map_or_else(String::new, |o| o.kind().name().to_owned()),
        value: value.map_or_else(String::new, |o| o.value().to_owned()),
        actor,
        reason: d.reason.clone(),
        ordinal: rev.ordinal,
        after_seq: rev.after_seq,
        campaigns_changed: u32::try_from(rev.campaigns.len()).unwrap_or(u32::MAX),
        moved: u32::try_from(rev.moved.len()).unwrap_or(u32::MAX),
        attribution_changes: u32::try_from(rev.attribution_changes.len()).unwrap_or(u32::MAX),
        told: u32::try_from(rev.alerts.len()).unwrap_or(u32::MAX),
        body: serde_json::to_string(d).unwrap_or_default(),
    }
}
