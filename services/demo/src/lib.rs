//! The bundled demo: publish a scenario as member systems would, then show
//! what each member received and what ClickHouse holds, and check the
//! scenario's stated expectations (who may learn what).
//!
//! Used by `make run` (through the `cisp-demo` binary) and by the
//! end-to-end test, so the demo's promises are tested as they are shown.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cisp_model::{AlertKind, MemberId, Registry};
use cisp_platform::{SharedConfig as Config, Topics};
use cisp_wire::records::{AlertRecord, CorrectionRecord, FeedbackRecord, SubmissionRecord};
use cisp_wire::{Codec, DecodeLimits, RecordType};
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub about: String,
    pub records: Vec<ScenarioRecord>,
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRecord {
    /// Whose topic the record is published on.
    pub topic_member: String,
    #[serde(default)]
    pub framing: Framing,
    /// A submission, encoded with `framing`.
    #[serde(default)]
    pub record: Option<SubmissionRecord>,
    /// Or raw bytes (as text), for malformed input.
    #[serde(default)]
    pub raw_text: Option<String>,
    /// Or a correction of the member's own earlier report (issue 22).
    #[serde(default)]
    pub correction: Option<CorrectionRecord>,
    /// Or the member's feedback on an indicator.
    #[serde(default)]
    pub feedback: Option<FeedbackRecord>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    #[default]
    SingleObject,
    Confluent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Per member: the other members' submission ids it must be told about,
    /// and no others ("anonymous" for each anonymous one).
    pub told_about: BTreeMap<String, BTreeSet<String>>,
    /// Strings that may appear only in the alerts of the listed members.
    pub secrets: Vec<Secret>,
    pub dead_letters: BTreeMap<String, u64>,
    pub campaign_submissions: u64,
    /// Per member: how many revocations (a report it was alerted on was
    /// withdrawn) and dispute notices (a value it was alerted about no
    /// longer links) about the scenario's reports it must receive; a
    /// member not listed must receive none.
    #[serde(default)]
    pub revocations: BTreeMap<String, u64>,
    #[serde(default)]
    pub disputes: BTreeMap<String, u64>,
}

impl Expect {
    /// Whether the scenario is about members talking back.
    pub fn talks_back(&self) -> bool {
        !self.revocations.is_empty() || !self.disputes.is_empty()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub text: String,
    pub may_reach: BTreeSet<String>,
}

impl Scenario {
    /// The submission ids the scenario publishes.
    pub fn submission_ids(&self) -> BTreeSet<String> {
        self.records
            .iter()
            .filter_map(|r| r.record.as_ref().map(|x| x.submission_id.clone()))
            .collect()
    }

    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("invalid scenario {}", path.display()))
    }
}

/// A producer that authenticates as `member` with its own broker password
/// when the stack has one for it (`make stack-up` creates one per member),
/// else with the configured credentials.
fn producer_for(cfg: &Config, member: &MemberId) -> anyhow::Result<FutureProducer> {
    member_client(cfg, member)?
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .with_context(|| format!("creating the producer of {member}"))
}

/// A client that authenticates as `member` when the stack has a password
/// for it, else with the configured credentials.
fn member_client(cfg: &Config, member: &MemberId) -> anyhow::Result<ClientConfig> {
    let file = cisp_platform::credentials::password_file(member.as_str());
    if file.is_file() {
        cfg.kafka
            .client_as_user("cisp-demo", member.as_str(), Some(&file))
    } else {
        Ok(cfg.kafka.client("cisp-demo"))
    }
}

/// Publishes every record of the scenario to its member's topic, as that
/// member (its own broker user), in scenario order, each acknowledged by
/// the broker before the next is sent. Returns how many were published.
pub async fn publish(cfg: &Config, scenario: &Scenario) -> anyhow::Result<usize> {
    let codec = Codec::new(DecodeLimits::default())?;
    let topics = Topics::new(&cfg.kafka.topic_prefix);
    let mut producers: BTreeMap<MemberId, FutureProducer> = BTreeMap::new();
    let mut n = 0;
    for r in &scenario.records {
        let member = MemberId::parse(&r.topic_member)?;
        let (payload, key) = match (&r.record, &r.raw_text, &r.correction, &r.feedback) {
            (Some(rec), None, None, None) => (
                match r.framing {
                    Framing::SingleObject => codec.encode(RecordType::Submission, rec)?,
                    Framing::Confluent => codec.encode_confluent(RecordType::Submission, 1, rec)?,
                },
                rec.submission_id.clone(),
            ),
            (None, Some(text), None, None) => (text.as_bytes().to_vec(), String::new()),
            (None, None, Some(c), None) => (
                codec.encode(RecordType::Correction, c)?,
                c.correction_id.clone(),
            ),
            (None, None, None, Some(f)) => (
                codec.encode(RecordType::Feedback, f)?,
                f.feedback_id.clone(),
            ),
            _ => bail!(
                "a scenario record needs exactly one of record, raw_text, correction or feedback"
            ),
        };
        let topic = topics.submissions(&member);
        if !producers.contains_key(&member) {
            let p = producer_for(cfg, &member)?;
            producers.insert(member.clone(), p);
        }
        let producer = &producers[&member];
        cisp_platform::kafka::deliver(producer, &topic, &key, &payload, 5)
            .await
            .with_context(|| format!("delivery to {topic}"))?;
        n += 1;
    }
    Ok(n)
}

/// Records the running service has made durable and committed
/// (`cisp_fusion_records_committed_total`).
pub fn records_committed(metrics_addr: SocketAddr) -> anyhow::Result<u64> {
    let text = cisp_platform::probe::get(metrics_addr, "/metrics")?;
    Ok(text
        .lines()
        .find_map(|l| {
            l.strip_prefix("cisp_fusion_records_committed_total ")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0) as u64)
}

/// Waits until the service has made `target` records durable in total.
pub fn wait_committed(
    metrics_addr: SocketAddr,
    target: u64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let n = records_committed(metrics_addr)?;
        if n >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the fusion service made {n} of {target} records durable within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One alert as received, with its raw bytes (for the secrecy check).
#[derive(Clone)]
pub struct Received {
    pub record: AlertRecord,
    pub raw: Vec<u8>,
}

/// What the members' alert topics hold.
#[derive(Default)]
pub struct Collected {
    pub by_member: BTreeMap<String, Vec<Received>>,
    /// Alerts that did not decode (e.g. written by an older schema), with why.
    pub undecodable: Vec<String>,
}

/// Reads every member's alert topic from the beginning to its current end,
/// as that member (the broker lets nobody else read it).
pub fn collect_alerts(cfg: &Config, registry: &Registry) -> anyhow::Result<Collected> {
    let codec = Codec::new(DecodeLimits::default())?;
    let topics = Topics::new(&cfg.kafka.topic_prefix);
    let mut out = Collected::default();
    for m in registry.members() {
        let topic = topics.alerts(&m.id);
        let mut list = Vec::new();
        let client = member_client(cfg, &m.id)?;
        let group = cisp_platform::acl::member_group(m.id.as_str(), "demo-reader");
        let records =
            cisp_platform::kafka::read_topic(client, &group, &topic, Duration::from_secs(30))
                .with_context(|| format!("reading {topic} as {}", m.id))?;
        for (_, raw) in records {
            match codec.decode::<AlertRecord>(RecordType::Alert, &raw) {
                Ok((record, _)) => list.push(Received { record, raw }),
                Err(e) => out.undecodable.push(format!("{topic}: {e}")),
            }
        }
        out.by_member.insert(m.id.to_string(), list);
    }
    Ok(out)
}

/// Checks the scenario's expectations against what members received.
/// Returns one line per problem; empty means every promise held.
///
/// `scenario_ids` are the submission ids the scenario publishes; alerts
/// about other submissions (what `make run` adds through intake, or an
/// earlier run left on the shared stack) are not the scenario's business.
/// Empty means no filter. Secrets are checked in every alert regardless.
pub fn check(
    expect: &Expect,
    scenario_ids: &BTreeSet<String>,
    collected: &Collected,
) -> Vec<String> {
    let received = &collected.by_member;
    // An alert we cannot read could hold anything: it fails the check.
    let mut problems: Vec<String> = collected
        .undecodable
        .iter()
        .map(|e| {
            format!("undecodable alert (left by an older version? `make clean-stack` resets): {e}")
        })
        .collect();
    for (member, want) in &expect.told_about {
        let got: BTreeSet<String> = received
            .get(member)
            .into_iter()
            .flatten()
            .flat_map(|r| r.record.related.iter().map(|x| told_as(&x.submission_id)))
            .filter(|id| scenario_ids.is_empty() || id == "anonymous" || scenario_ids.contains(id))
            .collect();
        if &got != want {
            problems.push(format!(
                "{member} was told about {got:?}, expected {want:?}"
            ));
        }
    }
    for s in &expect.secrets {
        for (member, alerts) in received {
            if s.may_reach.contains(member) {
                continue;
            }
            if alerts.iter().any(|a| contains(&a.raw, s.text.as_bytes())) {
                problems.push(format!("LEAK: {:?} reached {member}", s.text));
            }
        }
    }
    for (kind, want) in [
        (AlertKind::Revocation, &expect.revocations),
        (AlertKind::Dispute, &expect.disputes),
    ] {
        for (member, alerts) in received {
            let got = alerts
                .iter()
                .filter(|a| a.record.kind == kind)
                .filter(|a| {
                    scenario_ids.is_empty()
                        || a.record
                            .related
                            .iter()
                            .map(|x| &x.submission_id)
                            .chain(&a.record.your_submission_ids)
                            .any(|id| scenario_ids.contains(id))
                })
                .count() as u64;
            let wanted = want.get(member).copied().unwrap_or(0);
            if got != wanted {
                problems.push(format!(
                    "{member} received {got} {} alert(s), expected {wanted}",
                    kind.name()
                ));
            }
        }
    }
    problems
}

/// An anonymous submission reaches members under a keyed stand-in id
/// (`anon-…`) that no scenario can predict: it is expected as "anonymous".
fn told_as(id: &str) -> String {
    if id.starts_with("anon-") {
        "anonymous".to_owned()
    } else {
        id.to_owned()
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Member-supplied text, made safe for a terminal: control and
/// non-printing characters are escaped.
pub fn safe(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Prints what each member received.
pub fn render_alerts(registry: &Registry, received: &BTreeMap<String, Vec<Received>>) -> String {
    let mut out = String::new();
    for m in registry.members() {
        let alerts = received
            .get(m.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        out.push_str(&format!(
            "\n{} ({}, {}) — {} alert(s)\n",
            m.id,
            safe(&m.name),
            m.sector,
            alerts.len()
        ));
        for a in alerts {
            let r = &a.record;
            out.push_str(&format!(
                "  [{}] {} {}: {}\n",
                r.tlp.label(),
                r.severity.name().to_uppercase(),
                r.kind.name().replace('_', " "),
                safe(&r.summary)
            ));
            if !r.your_submission_ids.is_empty() {
                out.push_str(&format!(
                    "      about your: {}\n",
                    safe(&r.your_submission_ids.join(", "))
                ));
            }
            for rel in &r.related {
                let who = match (&rel.member_id, &rel.member_name, &rel.sector) {
                    (Some(id), Some(name), Some(sector)) => {
                        format!("{id} ({}, {sector})", safe(name))
                    }
                    (None, None, Some(sector)) => format!("an anonymous {sector} member"),
                    _ => "an anonymous member".to_owned(),
                };
                out.push_str(&format!(
                    "      related: {} from {who}: \"{}\" [{}, {}]\n",
                    safe(&rel.submission_id),
                    safe(&rel.title),
                    rel.kind.name(),
                    rel.tlp.label()
                ));
            }
            if !r.revokes.is_empty() {
                out.push_str(&format!(
                    "      revokes your earlier alert(s): {}\n",
                    safe(&r.revokes.join(", "))
                ));
            }
        }
    }
    out
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct CountRow {
    label: String,
    n: u64,
}

/// A short summary of what ClickHouse holds.
pub async fn clickhouse_summary(cfg: &Config) -> anyhow::Result<String> {
    let client = cfg.clickhouse.client();
    let c = &client;
    let q =
        |sql: &'static str| async move { c.query(sql).fetch_all::<CountRow>().await.context(sql) };
    let mut out = format!(
        "\nClickHouse database `{}` (Fusion Cell view: every submission):\n",
        cfg.clickhouse.database
    );
    let sections: [(&str, &'static str); 5] = [
        ("submissions by kind", "SELECT kind AS label, count() AS n FROM submissions FINAL GROUP BY kind ORDER BY kind"),
        ("submissions by sector", "SELECT sector AS label, count() AS n FROM submissions FINAL GROUP BY sector ORDER BY sector"),
        ("observations by type", "SELECT obs_type AS label, count() AS n FROM observations FINAL GROUP BY obs_type ORDER BY obs_type"),
        ("alerts by recipient", "SELECT recipient AS label, count() AS n FROM alerts FINAL GROUP BY recipient ORDER BY recipient"),
        ("dead letters by reason", "SELECT reason_code AS label, count() AS n FROM dead_letters FINAL GROUP BY reason_code ORDER BY reason_code"),
    ];
    for (title, sql) in sections {
        let rows = q(sql).await?;
        let items: Vec<String> = rows
            .iter()
            .map(|r| format!("{} {}", safe(&r.label), r.n))
            .collect();
        out.push_str(&format!(
            "  {title:<24} {}\n",
            if items.is_empty() {
                "-".into()
            } else {
                items.join(", ")
            }
        ));
    }
    let campaigns = q("SELECT concat(campaign_id, ': ', toString(submission_count), ' submissions from ', toString(member_count), ' members (', arrayStringConcat(sectors, ', '), '), ', tlp) AS label, toUInt64(submission_count) AS n FROM campaigns FINAL WHERE merged_into = '' AND submission_count > 1 ORDER BY submission_count DESC LIMIT 5").await?;
    out.push_str("  multi-submission campaigns:\n");
    for r in &campaigns {
        out.push_str(&format!("    {}\n", safe(&r.label)));
    }
    Ok(out)
}

/// The size of the largest live campaign, for the expectation check.
pub async fn largest_campaign(cfg: &Config) -> anyhow::Result<u64> {
    let rows = cfg
        .clickhouse
        .client()
        .query("SELECT campaign_id AS label, toUInt64(submission_count) AS n FROM campaigns FINAL WHERE merged_into = '' ORDER BY n DESC LIMIT 1")
        .fetch_all::<CountRow>()
        .await?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// Dead letters by reason code.
pub async fn dead_letters(cfg: &Config) -> anyhow::Result<BTreeMap<String, u64>> {
    let rows = cfg
        .clickhouse
        .client()
        .query("SELECT reason_code AS label, count() AS n FROM dead_letters FINAL GROUP BY reason_code")
        .fetch_all::<CountRow>()
        .await?;
    Ok(rows.into_iter().map(|r| (r.label, r.n)).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use cisp_model::{AlertKind, Severity, SubmissionKind, Tlp};
    use cisp_wire::records::RelatedSubmissionRecord;

    fn alert(recipient: &str, related: &str, summary: &str) -> Received {
        let record = AlertRecord {
            alert_id: "a".into(),
            recipient: recipient.into(),
            created_at: 0,
            trigger_published_at: 0,
            kind: AlertKind::PeerSighting,
            severity: Severity::Low,
            tlp: Tlp::Green,
            campaign_id: Some("c".into()),
            your_submission_ids: vec![],
            related: vec![RelatedSubmissionRecord {
                submission_id: related.into(),
                member_id: None,
                member_name: None,
                sector: None,
                kind: SubmissionKind::Incident,
                tlp: Tlp::Green,
                title: "t".into(),
                submitted_at: 0,
            }],
            shared_observables: vec![],
            other_member_count: 1,
            summary: summary.into(),
            shared_scores: vec![],
            sightings: 1,
            revokes: vec![],
        };
        let raw = Codec::new(DecodeLimits::default())
            .unwrap()
            .encode(RecordType::Alert, &record)
            .unwrap();
        Received { record, raw }
    }

    fn expect() -> Expect {
        Expect {
            told_about: [("a".to_owned(), ["X".to_owned()].into())].into(),
            secrets: vec![Secret {
                text: "SECRET".into(),
                may_reach: ["b".to_owned()].into(),
            }],
            dead_letters: BTreeMap::new(),
            campaign_submissions: 0,
            revocations: BTreeMap::new(),
            disputes: BTreeMap::new(),
        }
    }

    #[test]
    fn the_check_catches_leaks_and_missing_alerts() {
        let of = |alerts: Vec<Received>| Collected {
            by_member: [("a".to_owned(), alerts)].into(),
            undecodable: vec![],
        };
        assert!(check(
            &expect(),
            &BTreeSet::new(),
            &of(vec![alert("a", "X", "fine")])
        )
        .is_empty());
        let leak = check(
            &expect(),
            &BTreeSet::new(),
            &of(vec![alert("a", "X", "has SECRET in it")]),
        );
        assert!(leak.iter().any(|p| p.starts_with("LEAK")));
        let extra = check(
            &expect(),
            &BTreeSet::new(),
            &of(vec![alert("a", "X", ""), alert("a", "Y", "")]),
        );
        assert_eq!(extra.len(), 1);
        // Y is the scenario's: being told about it is a problem. Z is not
        // (another producer on the shared stack): not the scenario's business.
        let ids: BTreeSet<String> = ["X".to_owned(), "Y".to_owned()].into();
        let told_y = check(
            &expect(),
            &ids,
            &of(vec![alert("a", "X", ""), alert("a", "Y", "")]),
        );
        assert_eq!(told_y.len(), 1);
        let told_z = check(
            &expect(),
            &ids,
            &of(vec![alert("a", "X", ""), alert("a", "Z", "")]),
        );
        assert!(told_z.is_empty(), "{told_z:?}");
        assert_eq!(
            check(&expect(), &BTreeSet::new(), &Collected::default()).len(),
            1,
            "no alerts at all is a failure too"
        );
        let mut unreadable = of(vec![alert("a", "X", "fine")]);
        unreadable.undecodable.push("t: bad".into());
        assert_eq!(
            check(&expect(), &BTreeSet::new(), &unreadable).len(),
            1,
            "an unreadable alert fails the check"
        );
    }

    #[test]
    fn terminal_output_escapes_member_text() {
        assert_eq!(safe("ok\u{1b}[31mred"), "ok\\u{1b}[31mred");
    }
}
