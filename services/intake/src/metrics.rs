//! The gateway's Prometheus metrics (`GET /metrics`). Names follow
//! `cisp_intake_<name>_<unit>[_total]`; labels come from fixed sets
//! (format, outcome, reason code), never a member id or a key label.

use cisp_platform::metrics::Registrar;
use prometheus::{exponential_buckets, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

pub struct Metrics {
    registry: Registry,
    /// format × outcome: published | dry_run | refused | failed
    pub uploads: IntCounterVec,
    /// reason: the refusal's reason code
    pub refusals: IntCounterVec,
    /// Requests without a valid API key.
    pub unauthorised: prometheus::IntCounter,
    /// Seconds to convert and validate an upload, by format.
    pub convert_seconds: HistogramVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let r = Registrar::new(&registry);
        Ok(Metrics {
            uploads: r.register(IntCounterVec::new(
                Opts::new(
                    "cisp_intake_uploads_total",
                    "Uploads (HTTP and TAXII), by format and outcome",
                ),
                &["format", "outcome"],
            )?)?,
            refusals: r.counter_vec(
                "cisp_intake_refusals_total",
                "Uploads refused as bad input, by reason",
                "reason",
            )?,
            unauthorised: r.counter(
                "cisp_intake_unauthorised_requests_total",
                "Requests without a valid API key",
            )?,
            convert_seconds: r.register(HistogramVec::new(
                HistogramOpts::new(
                    "cisp_intake_convert_seconds",
                    "Time to convert and validate one upload, by format",
                )
                .buckets(exponential_buckets(0.000_01, 4.0, 12)?),
                &["format"],
            )?)?,
            registry,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        cisp_platform::metrics::render(&self.registry)
    }
}
