//! The service's Prometheus metrics, each registered where it is made on a
//! registry of our own. Names follow `cisp_fusion_<name>_<unit>[_total]`;
//! label values come from fixed sets ([`RecordOutcome`], [`ApiOutcome`],
//! the model's dead-letter reason codes), never a member id or an
//! indicator.

use cisp_platform::metrics::{Label, LabelledCounter, Registrar};
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};

/// What became of a consumed submission record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    Accepted,
    Duplicate,
    DeadLetter,
}

impl Label for RecordOutcome {
    const NAME: &'static str = "outcome";
    const ALL: &'static [RecordOutcome] = &[
        RecordOutcome::Accepted,
        RecordOutcome::Duplicate,
        RecordOutcome::DeadLetter,
    ];
    fn as_str(self) -> &'static str {
        match self {
            RecordOutcome::Accepted => "accepted",
            RecordOutcome::Duplicate => "duplicate",
            RecordOutcome::DeadLetter => "dead_letter",
        }
    }
}

/// How a query API request was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiOutcome {
    Ok,
    Disabled,
    Unauthorized,
    Starting,
}

impl Label for ApiOutcome {
    const NAME: &'static str = "outcome";
    const ALL: &'static [ApiOutcome] = &[
        ApiOutcome::Ok,
        ApiOutcome::Disabled,
        ApiOutcome::Unauthorized,
        ApiOutcome::Starting,
    ];
    fn as_str(self) -> &'static str {
        match self {
            ApiOutcome::Ok => "ok",
            ApiOutcome::Disabled => "disabled",
            ApiOutcome::Unauthorized => "unauthorized",
            ApiOutcome::Starting => "starting",
        }
    }
}

pub struct Metrics {
    pub registry: Registry,
    pub records: LabelledCounter<RecordOutcome>,
    /// reason: the dead-letter reason code
    pub dead_letters: IntCounterVec,
    /// Records whose batch is durable and whose offsets are committed.
    pub records_committed: IntCounter,
    pub alerts: IntCounter,
    pub campaign_updates: IntCounter,
    pub hot_observables: IntCounter,
    pub views_over_budget: IntCounter,
    pub view_walks: IntCounter,
    pub view_edges: IntCounter,
    pub publish_to_alert: Histogram,
    pub alert_sightings_held: IntCounter,
    pub alert_updates: IntCounter,
    pub publish_to_update: Histogram,
    pub coalescing_windows: IntGauge,
    pub publish_to_process: Histogram,
    pub batch_records: Histogram,
    pub batches_in_flight: IntGauge,
    pub batch_flush: Histogram,
    pub clickhouse_insert: Histogram,
    pub clickhouse_retries: IntCounter,
    pub clickhouse_unavailable: IntGauge,
    pub kafka_errors: IntCounter,
    /// Earlier submissions whose campaign changed (merge or split).
    pub moved_submissions: IntCounter,
    /// Issue 22: corrections applied (by kind), revocations sent,
    /// feedback applied (by kind) and how much of it could not count,
    /// values that stopped linking because members disputed them, and
    /// the waits for durability they needed.
    pub corrections: IntCounterVec,
    pub revocations: IntCounter,
    pub feedback: IntCounterVec,
    pub feedback_not_counted: IntCounter,
    pub disputed_values: IntCounter,
    pub barriers: IntCounter,
    /// Fusion Cell decisions applied, by action.
    pub decisions: IntCounterVec,
    /// Output records being sent again because the broker did not
    /// acknowledge them (away longer than `message.timeout.ms`).
    pub deliveries_unacknowledged: IntGauge,
    pub delivery_retries: IntCounter,
    pub graph_nodes: IntGauge,
    pub graph_edges: IntGauge,
    pub indexed_submissions: IntGauge,
    pub indexed_observables: IntGauge,
    pub campaigns: IntGauge,
    pub replayed_submissions: IntGauge,
    pub snapshot_restored_submissions: IntGauge,
    pub snapshot_seconds: Histogram,
    pub snapshot_bytes: IntGauge,
    pub snapshot_failures: IntCounter,
    pub common_infrastructure: IntCounter,
    pub warnlisted: IntCounter,
    pub common_values: IntGauge,
    pub attributed_campaigns: IntGauge,
    pub consumer_lag: IntGauge,
    pub consumer_stalled_partitions: IntGauge,
    pub assigned_partitions: IntGauge,
    /// Unix time of the last successful offset commit (0: none yet).
    pub last_commit: IntGauge,
    pub api_requests: LabelledCounter<ApiOutcome>,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let r = Registrar::new(&registry);
        Ok(Metrics {
            records: r.labelled("cisp_fusion_records_total", "Submission records consumed, by outcome")?,
            dead_letters: r.counter_vec("cisp_fusion_dead_letters_total", "Records sent to the dead-letter topic, by reason", "reason")?,
            records_committed: r.counter(
                "cisp_fusion_records_committed_total",
                "Records whose derived alerts and facts are durable and whose offsets are committed",
            )?,
            alerts: r.counter("cisp_fusion_alerts_total", "Alerts acknowledged by the broker")?,
            campaign_updates: r.counter("cisp_fusion_campaign_updates_total", "Campaign updates published")?,
            hot_observables: r.counter(
                "cisp_fusion_hot_observables_total",
                "Observable sightings too common to link (over the hot-observable limit)",
            )?,
            views_over_budget: r.counter(
                "cisp_fusion_views_over_budget_total",
                "Alert recipients whose view of a campaign exceeded engine.view_budget (alert sent without a campaign id)",
            )?,
            view_walks: r.counter(
                "cisp_fusion_view_walks_total",
                "Walks that built the kept views of a campaign for one kind of alert recipient (once per campaign and visibility key, again after a split or merge)",
            )?,
            view_edges: r.counter(
                "cisp_fusion_view_edges_total",
                "Posting-list entries those walks looked at (the cost of per-audience views)",
            )?,
            publish_to_alert: r.histogram(
                "cisp_fusion_publish_to_alert_seconds",
                "From the triggering record's broker timestamp to the alert's broker acknowledgement (alerts sent at once; coalesced updates have their own histogram)",
                0.0005,
            )?,
            alert_sightings_held: r.counter(
                "cisp_fusion_alert_sightings_held_total",
                "Peer sightings held for a coalesced update instead of sent at once (alerts.coalesce_window_s)",
            )?,
            alert_updates: r.counter(
                "cisp_fusion_alert_updates_total",
                "Coalesced updates acknowledged by the broker (each stands for one or more held sightings)",
            )?,
            publish_to_update: r.histogram(
                "cisp_fusion_publish_to_update_seconds",
                "From the broker timestamp of an update's first held sighting to the update's acknowledgement (about the coalescing window)",
                0.0005,
            )?,
            coalescing_windows: r.gauge(
                "cisp_fusion_coalescing_windows",
                "(member, campaign) coalescing windows open",
            )?,
            publish_to_process: r.histogram(
                "cisp_fusion_publish_to_process_seconds",
                "From a record's broker timestamp to the moment the service starts handling it (time spent waiting in the topic and the consumer)",
                0.0005,
            )?,
            batch_records: r.histogram("cisp_fusion_batch_records", "Records per processed batch", 1.0)?,
            batches_in_flight: r.gauge(
                "cisp_fusion_batches_in_flight",
                "Batches whose alerts are sent but which are not yet durable and committed",
            )?,
            batch_flush: r.histogram(
                "cisp_fusion_batch_flush_seconds",
                "From a batch's close to its commit: alerts acknowledged, ClickHouse written, offsets committed (overlaps later batches)",
                0.0005,
            )?,
            clickhouse_insert: r.histogram("cisp_fusion_clickhouse_insert_seconds", "Time to insert one batch into ClickHouse", 0.0005)?,
            clickhouse_retries: r.counter("cisp_fusion_clickhouse_retries_total", "ClickHouse insert retries")?,
            clickhouse_unavailable: r.gauge(
                "cisp_fusion_clickhouse_unavailable",
                "1 while ClickHouse writes have failed more than clickhouse.max_retries times in a row (the service waits for it)",
            )?,
            kafka_errors: r.counter("cisp_fusion_kafka_errors_total", "Errors reported by the Kafka consumer")?,
            corrections: r.counter_vec(
                "cisp_fusion_corrections_total",
                "Corrections of members' own reports applied, by kind (retract, remove)",
                "kind",
            )?,
            revocations: r.counter(
                "cisp_fusion_revocations_total",
                "Revocation alerts built for members alerted on a withdrawn or narrowed report",
            )?,
            feedback: r.counter_vec(
                "cisp_fusion_feedback_total",
                "Feedback records applied, by kind (sighting, false_positive, expired)",
                "kind",
            )?,
            feedback_not_counted: r.counter(
                "cisp_fusion_feedback_not_counted_total",
                "Feedback on a value its member may not see (recorded for the Fusion Cell, changes nothing)",
            )?,
            disputed_values: r.counter(
                "cisp_fusion_disputed_values_total",
                "Values that stopped linking because engine.dispute_members members reported them as false positives",
            )?,
            decisions: r.counter_vec(
                "cisp_fusion_decisions_total",
                "Fusion Cell decisions applied, by action (refused ones are dead letters)",
                "action",
            )?,
            barriers: r.counter(
                "cisp_fusion_barriers_total",
                "Waits for every batch in hand to be durable before a correction or a tipping dispute (each is a batch of its own)",
            )?,
            moved_submissions: r.counter(
                "cisp_fusion_moved_submissions_total",
                "Earlier submissions whose campaign changed (absorbed by a merge or split off by the guard): rows of campaign_membership beyond one per submission",
            )?,
            deliveries_unacknowledged: r.gauge(
                "cisp_fusion_deliveries_unacknowledged",
                "Output records the broker has not acknowledged within message.timeout.ms and that are being sent again (the service waits for the broker; nothing is committed meanwhile)",
            )?,
            delivery_retries: r.counter(
                "cisp_fusion_delivery_retries_total",
                "Output records sent again after the broker did not acknowledge them",
            )?,
            graph_nodes: r.gauge("cisp_fusion_graph_nodes", "Nodes in the correlation graph")?,
            graph_edges: r.gauge("cisp_fusion_graph_edges", "Edges in the correlation graph")?,
            indexed_submissions: r.gauge("cisp_fusion_indexed_submissions", "Submissions held by the engine")?,
            indexed_observables: r.gauge("cisp_fusion_indexed_observables", "Distinct observables indexed")?,
            campaigns: r.gauge("cisp_fusion_campaigns", "Live campaigns")?,
            replayed_submissions: r.gauge(
                "cisp_fusion_replayed_submissions",
                "Submissions replayed from ClickHouse at start-up (those after the snapshot)",
            )?,
            snapshot_restored_submissions: r.gauge(
                "cisp_fusion_snapshot_restored_submissions",
                "Submissions the engine snapshot loaded at start-up held",
            )?,
            snapshot_seconds: r.histogram("cisp_fusion_snapshot_seconds", "Time to write one engine snapshot", 0.001)?,
            snapshot_bytes: r.gauge("cisp_fusion_snapshot_bytes", "Size of the last engine snapshot")?,
            snapshot_failures: r.counter("cisp_fusion_snapshot_failures_total", "Engine snapshots that could not be written")?,
            common_infrastructure: r.counter(
                "cisp_fusion_common_infrastructure_total",
                "Values the over-correlation guard found to be common infrastructure",
            )?,
            warnlisted: r.counter(
                "cisp_fusion_warnlisted_observables_total",
                "Reported observables on a warn-list (likely false positives; they link nothing)",
            )?,
            common_values: r.gauge("cisp_fusion_common_values", "Evidence values that are common infrastructure")?,
            consumer_lag: r.gauge(
                "cisp_fusion_consumer_lag",
                "Records on the member topics not yet committed by the service (end offset minus committed offset, asked of the broker every 5 s)",
            )?,
            consumer_stalled_partitions: r.gauge(
                "cisp_fusion_consumer_stalled_partitions",
                "Assigned partitions with records waiting and no committed progress for kafka.stall_after_secs",
            )?,
            last_commit: r.gauge(
                "cisp_fusion_last_commit_timestamp_seconds",
                "Unix time of this instance's last successful offset commit (0 before the first); time() minus it is the time since durable progress",
            )?,
            assigned_partitions: r.gauge(
                "cisp_fusion_assigned_partitions",
                "Member-topic partitions the group currently assigns to this instance",
            )?,
            attributed_campaigns: r.gauge("cisp_fusion_attributed_campaigns", "Live campaigns attributed to an actor")?,
            api_requests: r.labelled("cisp_fusion_api_requests_total", "Query API requests by outcome")?,
            registry,
        })
    }

    pub fn set_engine(&self, s: cisp_engine::EngineStats) {
        let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.graph_nodes.set(g(s.graph_nodes));
        self.graph_edges.set(g(s.graph_edges));
        self.indexed_submissions.set(g(s.submissions));
        self.indexed_observables.set(g(s.observables));
        self.campaigns.set(g(s.campaigns));
        self.common_values.set(g(s.common_infrastructure));
        self.attributed_campaigns.set(g(s.attributed_campaigns));
    }

    pub fn render(&self) -> String {
        cisp_platform::metrics::render(&self.registry)
    }
}
