//! ClickHouse: schema migration, batched idempotent inserts, and the replay
//! query that rebuilds the engine at start-up.
//!
//! A batch is written with `submissions` last: a submission row exists only
//! once everything derived from it is stored (and its alerts acknowledged),
//! so the replay (which reads `submissions`) never sees a half-handled
//! submission.

use std::time::{Duration, Instant};

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::config::ClickHouseConfig;
use crate::error::FusionError;
use crate::metrics::Metrics;

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "001_tables.sql",
        include_str!("../../../schemas/clickhouse/001_tables.sql"),
    ),
    (
        "002_alert_views.sql",
        include_str!("../../../schemas/clickhouse/002_alert_views.sql"),
    ),
    (
        "003_correlation.sql",
        include_str!("../../../schemas/clickhouse/003_correlation.sql"),
    ),
    (
        "004_trends.sql",
        include_str!("../../../schemas/clickhouse/004_trends.sql"),
    ),
    (
        "005_coalesced_alerts.sql",
        include_str!("../../../schemas/clickhouse/005_coalesced_alerts.sql"),
    ),
    (
        "006_membership.sql",
        include_str!("../../../schemas/clickhouse/006_membership.sql"),
    ),
    (
        "007_attribution.sql",
        include_str!("../../../schemas/clickhouse/007_attribution.sql"),
    ),
    (
        "008_audience.sql",
        include_str!("../../../schemas/clickhouse/008_audience.sql"),
    ),
    (
        "009_victim_releases.sql",
        include_str!("../../../schemas/clickhouse/009_victim_releases.sql"),
    ),
    (
        "010_corrections.sql",
        include_str!("../../../schemas/clickhouse/010_corrections.sql"),
    ),
    (
        "011_decisions.sql",
        include_str!("../../../schemas/clickhouse/011_decisions.sql"),
    ),
];

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct SubmissionRow {
    pub member_id: String,
    pub submission_id: String,
    pub seq: u64,
    pub submitted_at: u32,
    pub ingested_at: u32,
    pub kind: String,
    pub tlp: String,
    pub scope: String,
    pub anonymous: u8,
    pub sector: String,
    pub title: String,
    pub observable_count: u32,
    pub ttps: Vec<String>,
    pub malware: Vec<String>,
    pub actor_claims: Vec<String>,
    pub targeted_sectors: Vec<String>,
    pub confidence: u8,
    pub campaign_id: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    /// The validated submission as JSON: what the replay feeds the engine.
    pub body: String,
    /// Its distribution's named members and sharing groups (008).
    pub audience_members: Vec<String>,
    pub audience_groups: Vec<String>,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct ObservationRow {
    pub observed_at: u32,
    pub ingested_at: u32,
    pub member_id: String,
    pub submission_id: String,
    pub seq: u64,
    pub obs_type: String,
    pub value: String,
    pub role: String,
    pub campaign_id: String,
    pub kind: String,
    pub tlp: String,
    pub scope: String,
    pub anonymous: u8,
    pub sector: String,
    pub confidence: u8,
    pub warnlist: String,
    pub score: f32,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct AlertRow {
    pub alert_id: String,
    pub recipient: String,
    pub created_at: u32,
    pub kind: String,
    pub severity: String,
    pub tlp: String,
    /// The Fusion Cell's id of the whole campaign.
    pub campaign_id: String,
    /// The id the recipient was given (its view of the campaign); empty
    /// when the alert carried none.
    pub view_campaign_id: String,
    pub trigger_member: String,
    pub trigger_submission: String,
    pub provenance: Vec<String>,
    pub related_count: u32,
    pub shared_count: u32,
    pub other_member_count: u32,
    pub summary: String,
    pub publish_to_alert_ms: i64,
    /// How many peer sightings the alert stands for (an update: more than 1).
    pub sightings: u32,
    /// 1 for a coalesced update (sent when its window closed).
    pub coalesced: u8,
    /// For a revocation or a dispute notice: the alerts it revokes.
    pub revokes: Vec<String>,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct CampaignRow {
    pub campaign_id: String,
    pub version: u64,
    pub merged_into: String,
    pub submission_count: u32,
    pub member_count: u32,
    pub observable_count: u32,
    pub member_ids: Vec<String>,
    pub sectors: Vec<String>,
    pub tlp: String,
    pub first_seen: u32,
    pub last_seen: u32,
    pub updated_at: u32,
    pub actor_id: String,
    pub actor_name: String,
    pub attribution_confidence: f32,
    pub attribution_evidence: Vec<String>,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct DeadLetterRow {
    pub received_at: u32,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub member_id: String,
    pub reason_code: String,
    pub reason: String,
    pub payload_size: u64,
    /// Hex of the first 4 KiB of the original bytes (the full payload, up to
    /// 64 KiB, is on the dead-letter topic).
    pub payload_hex: String,
}

/// Rows derived from one batch of records.
#[derive(Debug, Default)]
pub struct Rows {
    pub submissions: Vec<SubmissionRow>,
    pub observations: Vec<ObservationRow>,
    pub alerts: Vec<AlertRow>,
    pub campaigns: Vec<CampaignRow>,
    pub dead_letters: Vec<DeadLetterRow>,
    pub common_infrastructure: Vec<CommonRow>,
    pub membership: Vec<MembershipRow>,
    pub attribution_changes: Vec<AttributionChangeRow>,
    /// Applied corrections and feedback (issue 22): written with the
    /// submissions, since the replay reads them too.
    pub corrections: Vec<CorrectionRow>,
    pub feedback: Vec<FeedbackRow>,
    pub decisions: Vec<DecisionRow>,
}

/// An applied Fusion Cell decision (`decisions`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct DecisionRow {
    pub decision_id: String,
    pub analyst: String,
    pub made_at: u32,
    pub applied_at: u32,
    pub action: String,
    pub a: String,
    pub b: String,
    pub obs_type: String,
    pub value: String,
    pub actor: String,
    pub reason: String,
    pub ordinal: u64,
    pub after_seq: u64,
    pub campaigns_changed: u32,
    pub moved: u32,
    pub attribution_changes: u32,
    pub told: u32,
    pub body: String,
}

/// An applied correction (`corrections`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct CorrectionRow {
    pub member_id: String,
    pub correction_id: String,
    pub submission_id: String,
    pub ordinal: u64,
    pub after_seq: u64,
    pub corrected_at: u32,
    pub applied_at: u32,
    pub retract: u8,
    pub removed_types: Vec<String>,
    pub removed_values: Vec<String>,
    pub reason: String,
    pub revocations: u32,
    pub body: String,
}

/// An applied feedback record (`feedback`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct FeedbackRow {
    pub member_id: String,
    pub feedback_id: String,
    pub ordinal: u64,
    pub after_seq: u64,
    pub kind: String,
    pub obs_type: String,
    pub value: String,
    pub count: u32,
    pub seen_at: u32,
    pub confidence: u8,
    pub comment: String,
    pub counted: u8,
    pub disputed: u8,
    pub submitted_at: u32,
    pub applied_at: u32,
    pub body: String,
}

/// A stored correction or feedback record, for the replay.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct StoredAction {
    pub ordinal: u64,
    pub after_seq: u64,
    /// `correction` or `feedback`.
    pub kind: String,
    pub body: String,
}

/// A campaign's attributed actor set, changed or withdrawn
/// (`attribution_changes`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct AttributionChangeRow {
    pub campaign_id: String,
    pub version: u64,
    pub changed_at: u32,
    /// `attributed`, `changed` or `withdrawn`.
    pub change: String,
    pub actor_id: String,
    pub actor_name: String,
    pub confidence: f32,
    pub previous_actor_id: String,
    pub previous_actor_name: String,
    pub previous_confidence: f32,
    pub runner_up: String,
    pub runner_up_confidence: f32,
}

/// A victim notification the Fusion Cell released (`victim_releases`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct VictimReleaseRow {
    pub released_at: u32,
    pub member_id: String,
    pub asset: String,
    pub submission_member: String,
    pub submission_id: String,
    pub submission_kind: String,
    pub alert_id: String,
    pub reason: String,
}

/// A submission's campaign from `version` on (`campaign_membership`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct MembershipRow {
    pub member_id: String,
    pub submission_id: String,
    pub campaign_id: String,
    pub version: u64,
    pub changed_at: u32,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct CommonRow {
    pub detected_at: u32,
    pub seq: u64,
    /// The kind of evidence: an observable type, `prefix`,
    /// `registrable-domain`, `malware`, `technique`, `technique-set`.
    pub obs_type: String,
    pub value: String,
    /// `hot` or `shared` (`cisp_engine::CommonReason`).
    pub reason: String,
    pub submissions: u32,
    pub groups: u32,
}

impl Rows {
    pub fn is_empty(&self) -> bool {
        self.submissions.is_empty()
            && self.observations.is_empty()
            && self.alerts.is_empty()
            && self.campaigns.is_empty()
            && self.dead_letters.is_empty()
            && self.common_infrastructure.is_empty()
            && self.membership.is_empty()
            && self.attribution_changes.is_empty()
    }
}

/// Milliseconds since the epoch to a ClickHouse `DateTime` (seconds, u32).
pub fn datetime(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(1000)).unwrap_or(if ms < 0 { 0 } else { u32::MAX })
}

/// What to do about a failed ClickHouse call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Transient (network, overload, timeouts): try again after a pause.
    Retry,
    /// Our own bug or a broken server (syntax, unknown table, type
    /// mismatch): stop without committing offsets, so nothing is lost.
    Fatal,
}

/// Server error codes that are worth retrying (ClickHouse `ErrorCodes.cpp`).
const RETRYABLE_CODES: &[(u32, &str)] = &[
    (159, "TIMEOUT_EXCEEDED"),
    (164, "READONLY"),
    (202, "TOO_MANY_SIMULTANEOUS_QUERIES"),
    (203, "NO_FREE_CONNECTION"),
    (209, "SOCKET_TIMEOUT"),
    (210, "NETWORK_ERROR"),
    (241, "MEMORY_LIMIT_EXCEEDED"),
    (242, "TABLE_IS_READ_ONLY"),
    (252, "TOO_MANY_PARTS"),
    (319, "UNKNOWN_STATUS_OF_INSERT"),
    (425, "SYSTEM_ERROR"),
    (999, "KEEPER_EXCEPTION"),
];

/// The one place that decides retry versus stop for ClickHouse errors.
pub fn classify(err: &clickhouse::error::Error) -> Disposition {
    use clickhouse::error::Error as E;
    match err {
        E::Network(_) | E::TimedOut => Disposition::Retry,
        E::BadResponse(msg) => match server_code(msg) {
            Some(code) if RETRYABLE_CODES.iter().any(|(c, _)| *c == code) => Disposition::Retry,
            Some(_) => Disposition::Fatal,
            // No code: a proxy or a dying server answered; worth another try.
            None => Disposition::Retry,
        },
        _ => Disposition::Fatal,
    }
}

/// Extracts `N` from "Code: N. DB::Exception: …".
fn server_code(msg: &str) -> Option<u32> {
    let rest = &msg[msg.find("Code: ")? + 6..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    config: ClickHouseConfig,
}

#[derive(Debug, Row, Deserialize)]
struct BodyRow {
    body: String,
}

impl Store {
    pub fn new(config: &ClickHouseConfig) -> Store {
        Store {
            client: config.client(),
            config: config.clone(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the database and tables if they are missing (idempotent).
    pub async fn migrate(&self) -> Result<(), FusionError> {
        let db = &self.config.database; // validated identifier
        self.config
            .server_client()
            .query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
            .execute()
            .await
            .map_err(|e| FusionError::clickhouse("create database", e))?;
        for (file, sql) in MIGRATIONS {
            for stmt in statements(sql) {
                if let Some((table, column)) = added_column(&stmt) {
                    if self.has_column(table, column).await? {
                        continue;
                    }
                }
                self.client
                    .query(&stmt)
                    .execute()
                    .await
                    .map_err(|e| FusionError::clickhouse(file, e))?;
            }
        }
        Ok(())
    }

    async fn has_column(&self, table: &str, column: &str) -> Result<bool, FusionError> {
        let n = self
            .client
            .query(
                "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?",
            )
            .bind(&self.config.database)
            .bind(table)
            .bind(column)
            .fetch_one::<u64>()
            .await
            .map_err(|e| FusionError::clickhouse("system.columns", e))?;
        Ok(n > 0)
    }

    /// Whether `campaign_membership` holds nothing yet (a store written
    /// before it existed: the service fills it from the engine at start).
    pub async fn membership_is_empty(&self) -> Result<bool, FusionError> {
        let n = self
            .client
            .query("SELECT count() FROM campaign_membership")
            .fetch_one::<u64>()
            .await
            .map_err(|e| FusionError::clickhouse("campaign_membership", e))?;
        Ok(n == 0)
    }

    /// The guard's judgements stored so far, as `(kind, value)`.
    pub async fn common_keys(&self) -> Result<Vec<(String, String)>, FusionError> {
        self.client
            .query("SELECT obs_type, value FROM common_infrastructure GROUP BY obs_type, value")
            .fetch_all::<(String, String)>()
            .await
            .map_err(|e| FusionError::clickhouse("common_infrastructure", e))
    }

    /// Writes rows to `table` outside a batch, without retries (the
    /// one-off fills at start: a failure stops the start).
    pub async fn write_now<T>(&self, table: &'static str, rows: &[T]) -> Result<(), FusionError>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        self.insert(table, rows)
            .await
            .map_err(|(table, e)| FusionError::clickhouse(table, e))
    }

    /// How many submissions are stored (fully handled).
    pub async fn count_submissions(&self) -> Result<u64, FusionError> {
        self.client
            .query("SELECT count() FROM submissions FINAL")
            .fetch_one::<u64>()
            .await
            .map_err(|e| FusionError::clickhouse("count submissions", e))
    }

    /// Every stored submission body from sequence number `from` on, in
    /// processing order, for the replay.
    pub async fn load_submission_bodies(&self, from: u64) -> Result<Vec<String>, FusionError> {
        let mut cursor = self
            .client
            .query("SELECT body FROM submissions FINAL WHERE seq >= ? ORDER BY seq")
            .bind(from)
            .fetch::<BodyRow>()
            .map_err(|e| FusionError::clickhouse("replay query", e))?;
        let mut out = Vec::new();
        while let Some(row) = cursor
            .next()
            .await
            .map_err(|e| FusionError::clickhouse("replay fetch", e))?
        {
            out.push(row.body);
        }
        Ok(out)
    }

    /// How many corrections and feedback records are stored.
    pub async fn count_actions(&self) -> Result<u64, FusionError> {
        self.client
            .query(
                "SELECT (SELECT count() FROM corrections FINAL) + (SELECT count() FROM feedback FINAL) \
                 + (SELECT count() FROM decisions FINAL)",
            )
            .fetch_one::<u64>()
            .await
            .map_err(|e| FusionError::clickhouse("count actions", e))
    }

    /// Every stored correction and feedback record from `ordinal` on, in
    /// the order the engine applied them.
    pub async fn load_actions(&self, from: u64) -> Result<Vec<StoredAction>, FusionError> {
        let mut out = self
            .client
            .query(
                "SELECT ordinal, after_seq, 'correction' AS kind, body FROM corrections FINAL WHERE ordinal >= ? \
                 UNION ALL SELECT ordinal, after_seq, 'feedback' AS kind, body FROM feedback FINAL WHERE ordinal >= ? \
                 UNION ALL SELECT ordinal, after_seq, 'decision' AS kind, body FROM decisions FINAL WHERE ordinal >= ?",
            )
            .bind(from)
            .bind(from)
            .bind(from)
            .fetch_all::<StoredAction>()
            .await
            .map_err(|e| FusionError::clickhouse("actions replay", e))?;
        out.sort_by_key(|a| a.ordinal);
        Ok(out)
    }

    /// The alerts (id, recipient) whose provenance holds any of `keys`
    /// (`member/submission`): who was told something built on them.
    /// Outages are waited out like writes.
    pub async fn alerts_citing(
        &self,
        keys: &[String],
        metrics: &Metrics,
    ) -> Result<Vec<(String, String)>, FusionError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT DISTINCT alert_id, recipient FROM alerts ARRAY JOIN provenance AS p WHERE p IN ({marks})"
            );
            let rows = self
                .with_retry(metrics, || async {
                    let mut q = self.client.query(&sql);
                    for k in chunk {
                        q = q.bind(k.as_str());
                    }
                    q.fetch_all::<(String, String)>()
                        .await
                        .map_err(|e| ("alerts", e))
                })
                .await?;
            out.extend(rows);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Writes the tables the replay does not read (dead letters,
    /// observations, campaigns), concurrently. Safe to run while the
    /// batch's alerts are still being acknowledged.
    pub async fn write_derived(&self, rows: &Rows, metrics: &Metrics) -> Result<(), FusionError> {
        self.with_retry(metrics, || async {
            tokio::try_join!(
                self.insert("dead_letters", &rows.dead_letters),
                self.insert("observations", &rows.observations),
                self.insert("campaigns", &rows.campaigns),
                self.insert("common_infrastructure", &rows.common_infrastructure),
                self.insert("campaign_membership", &rows.membership),
                self.insert("attribution_changes", &rows.attribution_changes),
            )
            .map(|_| ())
        })
        .await
    }

    /// Writes the alert audit, then the submissions. Call only once every
    /// alert of the batch is acknowledged: a `submissions` row is what the
    /// replay trusts to mean "fully handled".
    pub async fn write_final(&self, rows: &Rows, metrics: &Metrics) -> Result<(), FusionError> {
        self.with_retry(metrics, || async {
            self.insert("alerts", &rows.alerts).await?;
            tokio::try_join!(
                self.insert("corrections", &rows.corrections),
                self.insert("feedback", &rows.feedback),
                self.insert("decisions", &rows.decisions),
            )?;
            self.insert("submissions", &rows.submissions).await
        })
        .await
    }

    /// Writes a whole batch in the same order (for tools and tests).
    pub async fn write(&self, rows: &Rows, metrics: &Metrics) -> Result<(), FusionError> {
        self.write_derived(rows, metrics).await?;
        self.write_final(rows, metrics).await
    }

    /// Runs `op`, retrying transient errors with exponential backoff
    /// (capped at 30 s) for as long as they last: an outage is waited out,
    /// not turned into an exit. After `clickhouse.max_retries` attempts the
    /// outage is reported once at ERROR and `cisp_fusion_clickhouse_unavailable`
    /// is 1 until a write succeeds. Inserts are idempotent (ReplacingMergeTree
    /// keys), so a retry after a half-known outcome is safe. A fatal error
    /// (our bug, a broken schema) returns at once.
    async fn with_retry<T, F, Fut>(&self, metrics: &Metrics, op: F) -> Result<T, FusionError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, (&'static str, clickhouse::error::Error)>>,
    {
        let mut attempt = 0u32;
        let first_failure = Instant::now();
        loop {
            let started = Instant::now();
            match op().await {
                Ok(value) => {
                    metrics
                        .clickhouse_insert
                        .observe(started.elapsed().as_secs_f64());
                    if attempt > self.config.max_retries {
                        metrics.clickhouse_unavailable.set(0);
                        tracing::info!(
                            after_s = first_failure.elapsed().as_secs(),
                            "clickhouse writes succeed again"
                        );
                    }
                    return Ok(value);
                }
                Err((table, e)) => {
                    if classify(&e) == Disposition::Fatal {
                        return Err(FusionError::clickhouse(table, e));
                    }
                    let pause = (self.config.retry_backoff * (1u32 << attempt.min(6)))
                        .min(Duration::from_secs(30));
                    if attempt == self.config.max_retries {
                        metrics.clickhouse_unavailable.set(1);
                        tracing::error!(table, attempts = attempt + 1, error = %e, "clickhouse is unavailable; waiting for it (nothing is committed meanwhile)");
                    } else if attempt < self.config.max_retries {
                        warn!(table, attempt, error = %e, pause_ms = pause.as_millis() as u64, "clickhouse insert failed, retrying");
                    }
                    metrics.clickhouse_retries.inc();
                    attempt = attempt.saturating_add(1);
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    async fn insert<T>(
        &self,
        table: &'static str,
        rows: &[T],
    ) -> Result<(), (&'static str, clickhouse::error::Error)>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self
            .client
            .insert::<T>(table)
            .await
            .map_err(|e| (table, e))?;
        for r in rows {
            insert.write(r).await.map_err(|e| (table, e))?;
        }
        insert.end().await.map_err(|e| (table, e))
    }
}

/// `(table, column)` of an `ALTER TABLE t ADD COLUMN c …` statement: the
/// runner skips it when the column exists (18.16 lacks `IF NOT EXISTS`).
fn added_column(stmt: &str) -> Option<(&str, &str)> {
    let words: Vec<&str> = stmt.split_whitespace().take(6).collect();
    match words.as_slice() {
        [a, t, table, add, c, column, ..]
            if a.eq_ignore_ascii_case("alter")
                && t.eq_ignore_ascii_case("table")
                && add.eq_ignore_ascii_case("add")
                && c.eq_ignore_ascii_case("column") =>
        {
            Some((table, column))
        }
        _ => None,
    }
}

/// Splits a migration file into statements (`;` at end of line), dropping
/// comment lines.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        let t = line.trim();
        if t.starts_with("--") || t.is_empty() {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            out.push(cur.trim().trim_end_matches(';').to_owned());
            cur.clear();
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn server_errors_are_classified_by_code() {
        let e = |m: &str| clickhouse::error::Error::BadResponse(m.to_owned());
        assert_eq!(
            classify(&e("Code: 252. DB::Exception: Too many parts (300)")),
            Disposition::Retry
        );
        assert_eq!(
            classify(&e("Code: 62. DB::Exception: Syntax error")),
            Disposition::Fatal
        );
        assert_eq!(
            classify(&e("Code: 60. DB::Exception: Table cisp.x doesn't exist")),
            Disposition::Fatal
        );
        assert_eq!(classify(&e("502 Bad Gateway")), Disposition::Retry);
        assert_eq!(
            classify(&clickhouse::error::Error::TimedOut),
            Disposition::Retry
        );
        assert_eq!(
            classify(&clickhouse::error::Error::NotEnoughData),
            Disposition::Fatal
        );
    }

    #[test]
    fn migrations_split_into_statements() {
        let s = statements(MIGRATIONS[0].1);
        assert_eq!(s.len(), 5);
        assert!(s
            .iter()
            .all(|x| x.starts_with("CREATE TABLE IF NOT EXISTS")));
    }

    #[test]
    fn later_migrations_add_columns_the_runner_can_skip() {
        // Every later statement can run again: an ADD COLUMN the runner
        // skips, or an idempotent CREATE.
        for (_, sql) in &MIGRATIONS[1..] {
            for stmt in statements(sql) {
                assert!(
                    added_column(&stmt).is_some()
                        || stmt.starts_with("CREATE TABLE IF NOT EXISTS")
                        || stmt.starts_with("CREATE MATERIALIZED VIEW IF NOT EXISTS")
                        || stmt.starts_with("CREATE VIEW IF NOT EXISTS")
                        || stmt.starts_with("DROP TABLE IF EXISTS"),
                    "{stmt}"
                );
            }
        }
        assert_eq!(
            added_column("alter table alerts add column x String"),
            Some(("alerts", "x"))
        );
        assert_eq!(added_column("CREATE TABLE x (a String)"), None);
    }

    #[test]
    fn datetimes_clamp() {
        assert_eq!(datetime(1_760_000_000_999), 1_760_000_000);
        assert_eq!(datetime(-5), 0);
        assert_eq!(datetime(i64::MAX), u32::MAX);
    }
}
