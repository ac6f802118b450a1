//! Who is told what when a submission arrives: the peers whose earlier
//! reports it matches (both directions), the members of the campaign as
//! each may see it (escalation), and the supply-chain contacts. Phase one
//! decides the recipients and works out each one's view of the campaign;
//! phase two hands audience-checked inputs to `alerts`, which builds the
//! alert records. Every item a recipient is told about passes
//! [`cisp_model::Registry::may_see`] here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use cisp_model::{Member, MemberId, Observable, Role, SectorId, Submission, SubmissionKind};

use crate::alerts::{Alert, Ctx, Draft, What};
use crate::engine::{Engine, Ingest};
use crate::graph::{SubMeta, View};
use crate::ids::CampaignId;

impl Engine {
    /// Every alert the arrival of submission `si` causes. Phase one works
    /// out who may be told what and computes each recipient's view of the
    /// campaign (mutable scratch space); phase two builds the alerts from
    /// audience-checked inputs only.
    pub(crate) fn alerts(
        &mut self,
        si: u32,
        sub: &Submission,
        matches: &BTreeMap<u32, BTreeSet<Observable>>,
        root: u32,
        ingest: Ingest,
    ) -> (Vec<Alert>, u32) {
        let submitter = sub.member.clone();
        let new_dist = self.subs[si as usize].distribution.clone();

        // Peer sightings, both directions.
        let mut for_submitter: Vec<u32> = Vec::new();
        let mut shared_for_submitter = BTreeSet::new();
        let mut for_earlier: BTreeMap<MemberId, (Vec<u32>, BTreeSet<Observable>)> = BTreeMap::new();
        for (&j, shared) in matches {
            let earlier = &self.subs[j as usize];
            let owner = &earlier.key.member;
            if *owner == submitter {
                continue; // a member's own reports matching each other tell it nothing
            }
            if self
                .registry
                .may_see(&submitter, owner, &earlier.distribution)
            {
                for_submitter.push(j);
                shared_for_submitter.extend(shared.iter().cloned());
            }
            if self.registry.may_see(owner, &submitter, &new_dist) {
                let entry = for_earlier.entry(owner.clone()).or_default();
                entry.0.push(j);
                entry.1.extend(shared.iter().cloned());
            }
        }

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
            .keys()
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

        let mut views: BTreeMap<MemberId, Option<Rc<View>>> = BTreeMap::new();
        let mut over_budget = 0u32;
        let wanted = std::iter::once(&submitter)
            .filter(|_| !for_submitter.is_empty())
            .chain(for_earlier.keys())
            .chain(&escalation_candidates)
            .chain(&claim_candidates);
        let wanted: BTreeSet<MemberId> = wanted.cloned().collect();
        // A reader's view depends only on which of the campaign's restricted
        // (not community-wide) submissions it may see: readers with the same
        // set share one walk, and one who sees them all sees the campaign.
        let state = &self.campaigns[&root];
        let whole = || {
            let mut subs = state.subs.clone();
            subs.sort_unstable();
            let label = subs.first().copied().unwrap_or(si);
            Rc::new(View { label, subs })
        };
        let mut whole_view: Option<Rc<View>> = None;
        let mut signatures: Vec<(MemberId, Vec<bool>)> = Vec::with_capacity(wanted.len());
        for reader in wanted {
            let sees: Vec<bool> = state
                .restricted
                .iter()
                .map(|g| self.registry.may_see(&reader, &g.member, &g.distribution))
                .collect();
            if sees.iter().all(|&b| b) {
                let v = whole_view.get_or_insert_with(whole).clone();
                views.insert(reader, Some(v));
            } else {
                signatures.push((reader, sees));
            }
        }
        let mut walked: HashMap<Vec<bool>, Option<Rc<View>>> = HashMap::new();
        for (reader, sees) in signatures {
            let v = match walked.get(&sees) {
                Some(v) => v.clone(),
                None => {
                    let state = &self.campaigns[&root];
                    let visible: Vec<u32> = state
                        .restricted
                        .iter()
                        .zip(&sees)
                        .filter(|(_, &b)| b)
                        .flat_map(|(g, _)| g.subs.iter().copied())
                        .collect();
                    let v = self.view(&visible, si).map(Rc::new);
                    walked.insert(sees, v.clone());
                    v
                }
            };
            if v.is_none() {
                over_budget += 1;
            }
            views.insert(reader, v);
        }

        // Phase two: build.
        let ctx = Ctx {
            registry: &self.registry,
            key: &self.key,
            limits: &self.limits,
            k_anonymity: self.config.k_anonymity as usize,
            now_ms: ingest.now_ms,
            published_ms: ingest.published_at_ms,
        };
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
            let Some(Some(view)) = views.get(reader) else {
                continue;
            };
            let fusion = self.registry.is_fusion_cell(reader);
            let (own, mut others): (Vec<&SubMeta>, Vec<&SubMeta>) = view
                .subs
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

    /// Alerts about the new submission itself, not its campaign: sector
    /// targeting, partner advisories, supply chain. Each goes only to
    /// members in the submission's audience.
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
    }
}
