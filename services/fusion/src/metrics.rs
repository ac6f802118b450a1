//! The service's Prometheus metrics, registered once on a registry of our
//! own. Names follow `cisp_fusion_<name>_<unit>[_total]`; label values come
//! from fixed sets (never a member id or an indicator).

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
};

pub struct Metrics {
    pub registry: Registry,
    /// outcome: accepted | duplicate | dead_letter
    pub records: IntCounterVec,
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
    pub batch_records: Histogram,
    pub batch_flush: Histogram,
    pub clickhouse_insert: Histogram,
    pub clickhouse_retries: IntCounter,
    pub kafka_errors: IntCounter,
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
    pub api_requests: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let secs = |name: &str, help: &str, start: f64| -> Result<Histogram, prometheus::Error> {
            Histogram::with_opts(
                HistogramOpts::new(name, help).buckets(exponential_buckets(start, 2.0, 16)?),
            )
        };
        let m = Metrics {
            records: IntCounterVec::new(
                Opts::new("cisp_fusion_records_total", "Submission records consumed, by outcome"),
                &["outcome"],
            )?,
            dead_letters: IntCounterVec::new(
                Opts::new("cisp_fusion_dead_letters_total", "Records sent to the dead-letter topic, by reason"),
                &["reason"],
            )?,
            records_committed: IntCounter::new(
                "cisp_fusion_records_committed_total",
                "Records whose derived alerts and facts are durable and whose offsets are committed",
            )?,
            alerts: IntCounter::new("cisp_fusion_alerts_total", "Alerts acknowledged by the broker")?,
            campaign_updates: IntCounter::new("cisp_fusion_campaign_updates_total", "Campaign updates published")?,
            hot_observables: IntCounter::new(
                "cisp_fusion_hot_observables_total",
                "Observable sightings too common to link (over the hot-observable limit)",
            )?,
            views_over_budget: IntCounter::new(
                "cisp_fusion_views_over_budget_total",
                "Alert recipients whose view of a campaign exceeded engine.view_budget (alert sent without a campaign id)",
            )?,
            view_walks: IntCounter::new(
                "cisp_fusion_view_walks_total",
                "Graph walks done to work out alert recipients' views of campaigns",
            )?,
            view_edges: IntCounter::new(
                "cisp_fusion_view_edges_total",
                "Graph edges followed by those walks (the cost of per-audience views)",
            )?,
            publish_to_alert: secs(
                "cisp_fusion_publish_to_alert_seconds",
                "From the triggering record's broker timestamp to the alert's broker acknowledgement",
                0.0005,
            )?,
            batch_records: Histogram::with_opts(
                HistogramOpts::new("cisp_fusion_batch_records", "Records per processed batch")
                    .buckets(exponential_buckets(1.0, 2.0, 16)?),
            )?,
            batch_flush: secs(
                "cisp_fusion_batch_flush_seconds",
                "Time to make a batch durable (alerts acknowledged, ClickHouse written, offsets committed)",
                0.0005,
            )?,
            clickhouse_insert: secs("cisp_fusion_clickhouse_insert_seconds", "Time to insert one batch into ClickHouse", 0.0005)?,
            clickhouse_retries: IntCounter::new("cisp_fusion_clickhouse_retries_total", "ClickHouse insert retries")?,
            kafka_errors: IntCounter::new("cisp_fusion_kafka_errors_total", "Errors reported by the Kafka consumer")?,
            graph_nodes: IntGauge::new("cisp_fusion_graph_nodes", "Nodes in the correlation graph")?,
            graph_edges: IntGauge::new("cisp_fusion_graph_edges", "Edges in the correlation graph")?,
            indexed_submissions: IntGauge::new("cisp_fusion_indexed_submissions", "Submissions held by the engine")?,
            indexed_observables: IntGauge::new("cisp_fusion_indexed_observables", "Distinct observables indexed")?,
            campaigns: IntGauge::new("cisp_fusion_campaigns", "Live campaigns")?,
            replayed_submissions: IntGauge::new(
                "cisp_fusion_replayed_submissions",
                "Submissions replayed from ClickHouse at start-up (those after the snapshot)",
            )?,
            snapshot_restored_submissions: IntGauge::new(
                "cisp_fusion_snapshot_restored_submissions",
                "Submissions the engine snapshot loaded at start-up held",
            )?,
            snapshot_seconds: secs("cisp_fusion_snapshot_seconds", "Time to write one engine snapshot", 0.001)?,
            snapshot_bytes: IntGauge::new("cisp_fusion_snapshot_bytes", "Size of the last engine snapshot")?,
            snapshot_failures: IntCounter::new("cisp_fusion_snapshot_failures_total", "Engine snapshots that could not be written")?,
            common_infrastructure: IntCounter::new(
                "cisp_fusion_common_infrastructure_total",
                "Values the over-correlation guard found to be common infrastructure",
            )?,
            warnlisted: IntCounter::new(
                "cisp_fusion_warnlisted_observables_total",
                "Reported observables on a warn-list (likely false positives; they link nothing)",
            )?,
            common_values: IntGauge::new("cisp_fusion_common_values", "Evidence values that are common infrastructure")?,
            consumer_lag: IntGauge::new(
                "cisp_fusion_consumer_lag",
                "Records on the member topics not yet committed by the service (end offset minus committed offset, asked of the broker every 5 s)",
            )?,
            consumer_stalled_partitions: IntGauge::new(
                "cisp_fusion_consumer_stalled_partitions",
                "Assigned partitions with records waiting and no committed progress for kafka.stall_after_secs",
            )?,
            attributed_campaigns: IntGauge::new("cisp_fusion_attributed_campaigns", "Live campaigns attributed to an actor")?,
            api_requests: IntCounterVec::new(
                Opts::new("cisp_fusion_api_requests_total", "Query API requests by outcome"),
                &["outcome"],
            )?,
            registry,
        };
        m.registry.register(Box::new(m.records.clone()))?;
        m.registry.register(Box::new(m.dead_letters.clone()))?;
        m.registry.register(Box::new(m.records_committed.clone()))?;
        m.registry.register(Box::new(m.alerts.clone()))?;
        m.registry.register(Box::new(m.campaign_updates.clone()))?;
        m.registry.register(Box::new(m.hot_observables.clone()))?;
        m.registry.register(Box::new(m.views_over_budget.clone()))?;
        m.registry.register(Box::new(m.view_walks.clone()))?;
        m.registry.register(Box::new(m.view_edges.clone()))?;
        m.registry.register(Box::new(m.publish_to_alert.clone()))?;
        m.registry.register(Box::new(m.batch_records.clone()))?;
        m.registry.register(Box::new(m.batch_flush.clone()))?;
        m.registry.register(Box::new(m.clickhouse_insert.clone()))?;
        m.registry
            .register(Box::new(m.clickhouse_retries.clone()))?;
        m.registry.register(Box::new(m.kafka_errors.clone()))?;
        m.registry.register(Box::new(m.graph_nodes.clone()))?;
        m.registry.register(Box::new(m.graph_edges.clone()))?;
        m.registry
            .register(Box::new(m.indexed_submissions.clone()))?;
        m.registry
            .register(Box::new(m.indexed_observables.clone()))?;
        m.registry.register(Box::new(m.campaigns.clone()))?;
        m.registry
            .register(Box::new(m.replayed_submissions.clone()))?;
        m.registry
            .register(Box::new(m.snapshot_restored_submissions.clone()))?;
        m.registry.register(Box::new(m.snapshot_seconds.clone()))?;
        m.registry.register(Box::new(m.snapshot_bytes.clone()))?;
        m.registry.register(Box::new(m.snapshot_failures.clone()))?;
        m.registry
            .register(Box::new(m.common_infrastructure.clone()))?;
        m.registry.register(Box::new(m.warnlisted.clone()))?;
        m.registry.register(Box::new(m.common_values.clone()))?;
        m.registry
            .register(Box::new(m.attributed_campaigns.clone()))?;
        m.registry.register(Box::new(m.consumer_lag.clone()))?;
        m.registry
            .register(Box::new(m.consumer_stalled_partitions.clone()))?;
        m.registry.register(Box::new(m.api_requests.clone()))?;
        // Pre-create the outcome series so dashboards see zeros, not gaps.
        for o in ["accepted", "duplicate", "dead_letter"] {
            m.records.with_label_values(&[o]);
        }
        Ok(m)
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
        use prometheus::Encoder;
        let mut buf = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
