//! Who is told what when a submission arrives: the peers whose earlier
//! reports it matches (both directions), the members of the campaign as
//! each may see it (escalation), and the supply-chain contacts. Phase one
//! decides the recipients and works out each one's view of the campaign;
//! phase two hands audience-checked inputs to `alerts`, which builds the
//! alert records. Every item a recipient is told about passes
//! [`cisp_model::Registry::may_see`] here.

use std::collections::{BTreeMap, BTreeSet};

use cisp_model::{Member, MemberId, Observable, Role, SectorId, Submission, SubmissionKind};

use crate::alerts::{Alert, Ctx, Draft, What};
use crate::engine::{Engine, Ingest};
use crate::evidence::EvidenceKey;
use crate::graph::SubMeta;
use crate::ids::CampaignId;
use crate::ids::IndexMap;
use crate::views::Tally;

/// One reader's view of a campaign: its label (lowest submission) and the
/// key whose parts hold it (`None`: the whole campaign).
pub(crate) struct Seen {
    label: u32,
    key: Option<Vec<u32>>,
}

impl Engine {
    /// Every alert the arrival of submission `si` causes. Phase one works
    /// out who may be told what and computes each recipient's view of the
    /// campaign (mutable scratch space); phase two builds the alerts from
    /// audience-checked inputs only.
    pub(crate) fn alerts(
        &mut self,
        si: u32,
        sub: &Submission,
        matches: &BTreeMap<u32, Vec<u32>>,
        root: u32,
        ingest: Ingest,
    ) -> (Vec<Alert>, u32) {
        let submitter = sub.member.clone();
        let new_dist = self.subs[si as usize].distribution.clone();

        // Peer sightings, both directions. Matches come by the thousand in
        // a large campaign: the audience checks are made once per group
        // (the submitter reading) and once per owner (an owner reading),
        // and shared values are gathered as evidence numbers.
        let mut for_submitter: Vec<u32> = Vec::new();
        let mut shared_for_submitter: BTreeSet<u32> = BTreeSet::new();
        let mut for_earlier: BTreeMap<&MemberId, (Vec<u32>, BTreeSet<u32>)> = BTreeMap::new();
        let mut submitter_sees: IndexMap<u32, bool> = IndexMap::default();
        let mut owner_sees: BTreeMap<&MemberId, bool> = BTreeMap::new();
        for (&j, shared) in matches {
            let earlier = &self.subs[j as usize];
            let owner = &earlier.key.member;
            if *owner == submitter {
                continue; // a member's own reports matching each other tell it nothing
            }
            let group = self.sub_group[j as usize];
            let sees = *submitter_sees.entry(group).or_insert_with(|| {
                self.registry
                    .may_see(&submitter, owner, &earlier.distribution)
            });
            if sees {
                for_submitter.push(j);
                shared_for_submitter.extend(shared.iter().copied());
            }
            let told = *owner_sees
                .entry(owner)
                .or_insert_with(|| self.registry.may_see(owner, &submitter, &new_dist));
            if told {
                let entry = for_earlier.entry(owner).or_default();
                entry.0.push(j);
                entry.1.extend(shared.iter().copied());
            }
        }
        let observables = |set: &BTreeSet<u32>| -> BTreeSet<Observable> {
            set.iter()
                .filter_map(|&e| match &self.evidence[e as usize].key {
                    EvidenceKey::Observable(o) => Some(o.clone()),
                    _ => None,
                })
                .collect()
        };
        let shared_for_submitter = observables(&shared_for_submitter);
        let for_earlier: BTreeMap<MemberId, (Vec<u32>, BTreeSet<Observable>)> = for_earlier
            .into_iter()
            .map(|(owner, (own, shared))| (owner.clone(), (own, observables(&shared))))
            .collect();

        // Campaign-level alerts: who might cross a threshold or hear of a claim.
        let state = &self.campaigns[&root];
        let may_escalate = state.members.len() >= self.config.escalation_members as usize
            || state.sectors.len() >= self.config.escalation_sectors as usize;
        let fusion_cells: Vec<MemberId> = self
            .registry
            .members()
            .filter(|m| m.role == Role::FusionCell)
            .map(|m| m.id.clone())
            .collect();
        let involved: BTreeSet<MemberId> = state
            .members
            .iter()
            .map(|(m, _)| m)
            .chain(&fusion_cells)
            .filter(|m| self.registry.may_see(m, &submitter, &new_dist))
            .cloned()
            .collect();
        let escalation_candidates: Vec<MemberId> = if may_escalate {
            involved
                .iter()
                .filter(|m| !state.escalated.contains(*m))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let claim_candidates: Vec<MemberId> = if sub.actor_claims.is_empty() {
            Vec::new()
        } else {
            involved
                .iter()
                .filter(|m| **m != submitter)
                .cloned()
                .collect()
        };

        let wanted = std::iter::once(&submitter)
            .filter(|_| !for_submitter.is_empty())
            .chain(for_earlier.keys())
            .chain(&escalation_candidates)
            .chain(&claim_candidates);
        let wanted: BTreeSet<MemberId> = wanted.cloned().collect();
        // Each reader's view of the campaign from the new submission: the
        // whole campaign, or one of the parts its key keeps (`views`).
        let mut views: BTreeMap<MemberId, Option<Seen>> = BTreeMap::new();
        let mut over_budget = 0u32;
        for reader in wanted {
            let seen = self.view_of(root, si, &reader);
            if seen.is_none() {
                over_budget += 1;
            }
            views.insert(reader, seen);
        }
        // Escalations and claims are about the view itself: decided from
        // its tally, and only the views an alert is built about are listed.
        let mut listed: BTreeMap<MemberId, Vec<u32>> = BTreeMap::new();
        let k = self.config.k_anonymity as usize;
        for reader in escalation_candidates.iter().chain(&claim_candidates) {
            let Some(Some(seen)) = views.get(reader) else {
                continue;
            };
            if listed.contains_key(reader) {
                continue;
            }
            let fusion = self.registry.is_fusion_cell(reader);
            let Some((own, members, sectors)) = self.view_counts(root, si, seen, reader, fusion, k)
            else {
                continue;
            };
            if !own && !fusion {
                continue; // the campaign as it may see it does not involve it
            }
            let escalates = escalation_candidates.contains(reader)
                && (members >= self.config.escalation_members
                    || sectors >= self.config.escalation_sectors as usize);
            if escalates || claim_candidates.contains(reader) {
                let list = self.list_view(root, si, seen);
                listed.insert(reader.clone(), list);
            }
        }

        // Phase two: build.
        let ctx = self.ctx(ingest);
        let fusion_campaign = self.campaigns[&root].id.clone();
        let new = &self.subs[si as usize];
        let label = |reader: &MemberId| -> Option<CampaignId> {
            views
                .get(reader)
                .and_then(|v| v.as_ref())
                .map(|v| self.key.campaign(v.label))
        };
        let metas = |ids: &[u32]| -> Vec<&SubMeta> {
            ids.iter().map(|&j| &self.subs[j as usize]).collect()
        };
        let mut alerts = Vec::new();
        if !for_submitter.is_empty() {
            alerts.push(
                Draft {
                    what: What::PeerSighting,
                    recipient: &submitter,
                    trigger: new,
                    own: vec![new],
                    others: metas(&for_submitter),
                    shared: shared_for_submitter,
                    campaign: label(&submitter),
                    fusion_campaign: &fusion_campaign,
                }
                .build(&ctx),
            );
        }
        for (owner, (own, shared)) in &for_earlier {
            alerts.push(
                Draft {
                    what: What::PeerSighting,
                    recipient: owner,
                    trigger: new,
                    own: metas(own),
                    others: vec![new],
                    shared: shared.clone(),
                    campaign: label(owner),
                    fusion_campaign: &fusion_campaign,
                }
                .build(&ctx),
            );
        }

        // Escalation and actor claims, from the recipient's view only.
        let mut escalated = Vec::new();
        let mut told_claims = Vec::new();
        let state = &self.campaigns[&root];
        let readers: BTreeSet<&MemberId> = escalation_candidates
            .iter()
            .chain(&claim_candidates)
            .collect();
        for reader in readers {
            let (Some(list), Some(Some(view))) = (listed.get(reader), views.get(reader)) else {
                continue;
            };
            let fusion = self.registry.is_fusion_cell(reader);
            let (own, mut others): (Vec<&SubMeta>, Vec<&SubMeta>) = list
                .iter()
                .map(|&j| &self.subs[j as usize])
                .partition(|m| m.key.member == *reader);
            if own.is_empty() && !fusion {
                continue; // the campaign as it may see it does not involve it
            }
            others.reverse(); // newest first in the related list
            let campaign = Some(self.key.campaign(view.label));
            let about_view = |what| {
                Draft {
                    what,
                    recipient: reader,
                    trigger: new,
                    own: own.clone(),
                    others: others.clone(),
                    shared: BTreeSet::new(),
                    campaign: campaign.clone(),
                    fusion_campaign: &fusion_campaign,
                }
                .build(&ctx)
            };
            let is_escalation = escalation_candidates.contains(reader);
            if is_escalation && !state.escalated.contains(reader) && !escalated.contains(reader) {
                let members = ctx
                    .member_count(&others, reader)
                    .saturating_add(u32::from(!own.is_empty()));
                let sectors: BTreeSet<SectorId> = own
                    .iter()
                    .chain(&others)
                    .filter_map(|m| ctx.sector_for(m, reader))
                    .collect();
                if members >= self.config.escalation_members
                    || sectors.len() >= self.config.escalation_sectors as usize
                {
                    escalated.push(reader.clone());
                    alerts.push(about_view(What::Escalation {
                        members,
                        sectors: sectors.into_iter().collect(),
                    }));
                }
            }
            if claim_candidates.contains(reader) {
                for actor in &sub.actor_claims {
                    let k = (reader.clone(), actor.clone());
                    if state.actors_told.contains(&k) {
                        continue;
                    }
                    alerts.push(about_view(What::ActorClaim { actor }));
                    told_claims.push(k);
                }
            }
        }

        self.submission_alerts(sub, new, &fusion_campaign, &ctx, &mut alerts);

        let state = self
            .campaigns
            .get_mut(&root)
            .expect("the submission's campaign exists");
        state.escalated.extend(escalated);
        state.actors_told.extend(told_claims);
        (alerts, over_budget)
    }

    /// `reader`'s key in campaign `root` (the restricted groups it may
    /// see, checked once per reader and group) and whether it holds every
    /// group, i.e. the reader sees the whole campaign.
    fn reader_key(&mut self, root: u32, reader: &MemberId) -> Option<(bool, Vec<u32>)> {
        let state = self.campaigns.get_mut(&root)?;
        let groups = state.restricted.len();
        let views = state.views.get_or_insert_with(Box::default);
        let key = views.keys.entry(reader.clone()).or_default();
        while let Some(g) = state.restricted.get(key.checked) {
            if self.registry.may_see(reader, &g.member, &g.distribution) {
                let id = g
                    .subs
                    .first()
                    .map_or(crate::views::COMMUNITY, |&s| self.sub_group[s as usize]);
                if let Err(at) = key.visible.binary_search(&id) {
                    key.visible.insert(at, id);
                }
            }
            key.checked += 1;
        }
        Some((key.visible.len() == groups, key.visible.clone()))
    }

    /// `reader`'s view of campaign `root` from submission `si` (which it
    /// may see): kept, or built once for its key. `None` when building it
    /// went over the view budget.
    fn view_of(&mut self, root: u32, si: u32, reader: &MemberId) -> Option<Seen> {
        let (whole, key) = self.reader_key(root, reader)?;
        if whole {
            let state = self.campaigns.get_mut(&root)?;
            let views = state.views.get_or_insert_with(Box::default);
            if views.whole.is_none() {
                views.whole = Tally::over(&state.subs, &self.subs);
            }
            return Some(Seen {
                label: views.whole.as_ref()?.label,
                key: None,
            });
        }
        if !self
            .campaigns
            .get_mut(&root)?
            .views()
            .parts
            .contains_key(&key)
        {
            let members = self.campaigns.get(&root)?.subs.clone();
            let parts = self.build_parts(&members, &key);
            self.campaigns
                .get_mut(&root)?
                .views()
                .parts
                .insert(key.clone(), parts);
        }
        let at = self.sub_pos[si as usize];
        let parts = self
            .campaigns
            .get_mut(&root)?
            .views()
            .parts
            .get_mut(&key)?
            .as_mut()?;
        let label = parts.tally_of(at)?.label;
        Some(Seen {
            label,
            key: Some(key),
        })
    }

    /// (holds the reader's own reports, members, sectors) of a view as
    /// `reader` counts them.
    fn view_counts(
        &mut self,
        root: u32,
        si: u32,
        seen: &Seen,
        reader: &MemberId,
        fusion: bool,
        k: usize,
    ) -> Option<(bool, u32, usize)> {
        let state = self.campaigns.get_mut(&root)?;
        let tally = match &seen.key {
            None => state.views().whole.as_ref()?,
            Some(key) => state
                .views()
                .parts
                .get_mut(key)?
                .as_mut()?
                .tally_of(self.sub_pos[si as usize])?,
        };
        Some(tally.counts(reader, fusion, &self.registry, k))
    }

    /// The submissions of a view, in engine order.
    fn list_view(&mut self, root: u32, si: u32, seen: &Seen) -> Vec<u32> {
        let Some(state) = self.campaigns.get_mut(&root) else {
            return Vec::new();
        };
        let mut subs = match &seen.key {
            None => state.subs.clone(),
            Some(key) => match state.views.as_mut().and_then(|v| v.parts.get_mut(key)) {
                Some(Some(parts)) => {
                    let part = parts.find(self.sub_pos[si as usize]);
                    (0u32..)
                        .zip(&state.subs)
                        .filter(|&(at, _)| parts.contains(at) && parts.find(at) == part)
                        .map(|(_, &s)| s)
                        .collect()
                }
                _ => Vec::new(),
            },
        };
        subs.sort_unstable();
        subs
    }

    /// Alerts about the new submission itself, not its campaign: sector
    /// targeting, partner advisories, supply chain. Each goes only to
    /// members in the submission's audience.
    /// What every alert of one ingest is built with.
    pub(crate) fn ctx(&self, ingest: Ingest) -> Ctx<'_> {
        Ctx {
            registry: &self.registry,
            key: &self.key,
            limits: &self.limits,
            k_anonymity: self.config.k_anonymity as usize,
            now_ms: ingest.now_ms,
            published_ms: ingest.published_at_ms,
        }
    }

    /// One alert per Fusion Cell member for each attribution change
    /// (issue 26): attribution is computed from the whole campaign, which
    /// only the Fusion Cell sees, so members hear of actors through their
    /// own claim alerts only. Marked with the campaign's TLP.
    pub(crate) fn attribution_alerts(
        &self,
        si: u32,
        changes: &[crate::AttributionChange],
        views: &[crate::CampaignView],
        ingest: Ingest,
    ) -> Vec<Alert> {
        if changes.is_empty() {
            return Vec::new();
        }
        let ctx = self.ctx(ingest);
        let trigger = &self.subs[si as usize];
        let mut alerts = Vec::new();
        for change in changes {
            let tlp = views
                .iter()
                .filter(|v| v.id == change.campaign_id)
                .map(|v| v.tlp)
                .max();
            for m in self
                .registry
                .members()
                .filter(|m| m.role == Role::FusionCell)
            {
                let mut alert = Draft {
                    what: What::AttributionChange(change),
                    recipient: &m.id,
                    trigger,
                    own: Vec::new(),
                    others: Vec::new(),
                    shared: BTreeSet::new(),
                    campaign: Some(change.campaign_id.clone()),
                    fusion_campaign: &change.campaign_id,
                }
                .build(&ctx);
                if let Some(tlp) = tlp {
                    alert.tlp = alert.tlp.max(tlp);
                }
                alerts.push(alert);
            }
        }
        alerts
    }

    fn submission_alerts(
        &self,
        sub: &Submission,
        new: &SubMeta,
        fusion_campaign: &CampaignId,
        ctx: &Ctx<'_>,
        alerts: &mut Vec<Alert>,
    ) {
        let submitter = &sub.member;
        let reg = &*self.registry;
        let audience = |m: &Member| {
            m.id != *submitter
                && m.role != Role::FusionCell
                && reg.may_see(&m.id, submitter, &new.distribution)
        };
        let single = |what, recipient, shared| Draft {
            what,
            recipient,
            trigger: new,
            own: Vec::new(),
            others: vec![new],
            shared,
            campaign: None,
            fusion_campaign,
        };
        let targeted: BTreeSet<&SectorId> = sub.targeted_sectors.iter().collect();
        for sector in targeted {
            for m in reg.members_in_sector(sector).filter(|m| audience(m)) {
                let what = What::SectorTargeting { sector };
                alerts.push(single(what, &m.id, BTreeSet::new()).build(ctx));
            }
        }
        let from_partner = reg
            .member(submitter)
            .is_some_and(|m| matches!(m.role, Role::Partner | Role::FusionCell));
        if sub.kind == SubmissionKind::Advisory && from_partner {
            for m in reg.members().filter(|m| audience(m)) {
                alerts.push(single(What::PartnerAdvisory, &m.id, BTreeSet::new()).build(ctx));
            }
        }
        let mut supplied: BTreeMap<&MemberId, (&str, BTreeSet<Observable>)> = BTreeMap::new();
        for o in &sub.observables {
            let Some(host) = o.observable.host() else {
                continue;
            };
            for (domain, member) in reg.supplier_matches(host) {
                supplied
                    .entry(member)
                    .or_insert_with(|| (domain, BTreeSet::new()))
                    .1
                    .insert(o.observable.clone());
            }
        }
        for (member, (supplier, shared)) in supplied {
            if reg.member(member).is_some_and(&audience) {
                let what = What::SupplyChain { supplier };
                alerts.push(single(what, member, shared).build(ctx));
            }
        }
        // Victim notifications (issue 23): a member's own domain or address
        // block in a report. Inside the report's audience the member is
        // told at once; outside it, nothing reaches the member — the Fusion
        // Cell, which sees every report, is told of the match instead and
        // decides what may be released.
        let mut owned: BTreeMap<&MemberId, (&str, BTreeSet<Observable>)> = BTreeMap::new();
        for o in &sub.observables {
            for (asset, member) in reg.asset_matches(&o.observable) {
                if member == submitter {
                    continue; // a member's report of its own assets
                }
                owned
                    .entry(member)
                    .or_insert_with(|| (asset, BTreeSet::new()))
                    .1
                    .insert(o.observable.clone());
            }
        }
        if owned.is_empty() {
            return;
        }
        // (A Fusion Cell member that made the report knows what it holds.)
        let fusion_cells: Vec<&MemberId> = reg
            .members()
            .filter(|m| m.role == Role::FusionCell && m.id != *submitter)
            .map(|m| &m.id)
            .collect();
        for (member, (asset, shared)) in owned {
            let Some(m) = reg.member(member) else {
                continue;
            };
            if m.role == Role::FusionCell {
                continue;
            }
            if audience(m) {
                let what = What::VictimNotification { asset, owner: None };
                alerts.push(single(what, member, shared).build(ctx));
            } else {
                for fc in &fusion_cells {
                    let what = What::VictimNotification {
                        asset,
                        owner: Some(member),
                    };
                    alerts.push(single(what, fc, shared.clone()).build(ctx));
                }
            }
        }
    }
}
