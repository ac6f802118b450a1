//! The HTTP gateway: uploads in any intake format, and a TAXII 2.1 subset,
//! for members who cannot (or would rather not) run a Kafka producer.
//!
//! Every request names its member by an API key ([`crate::keys`]) as
//! `Authorization: Bearer <key>` or, for TAXII clients, HTTP Basic with
//! the key as password. The key decides the topic; nothing in a request
//! can choose another member's.
//!
//! * `POST /v1/submissions?format=stix|misp|csv|eml|sample` with the file
//!   as the body; optional `tlp`, `scope`, `members`, `groups`,
//!   `anonymous`, `kind`, `title`, `filename`, `id`, `dry_run`. Answers 201
//!   with where the submission went and what was skipped, 200 for a dry
//!   run, 4xx with `{"error": …}` for bad input (nothing published).
//! * TAXII 2.1 (`application/taxii+json;version=2.1`):
//!   `GET /taxii2/` (discovery), `GET /taxii2/cisp/` (API root),
//!   `GET /taxii2/cisp/collections/` and `…/{id}/`, two collections per
//!   member: **submissions** (write: `POST …/objects/` with an envelope of
//!   STIX objects, converted like a STIX upload) and **alerts** (read:
//!   `GET …/objects/?added_after=&limit=`, the member's own alerts as STIX,
//!   paged by the time each alert was added to its topic).
//!
//! Modules: `auth` (who is calling), `upload`, `taxii`, `feeds` (reading
//! a member's topics back from the broker); here the gateway's state, its
//! responses and the router.

mod auth;
mod feeds;
mod member_feeds;
mod taxii;
mod upload;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cisp_model::MemberId;
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::keys::{Caller, Keys};
use crate::metrics::Metrics;
use crate::publish::Publisher;
use crate::{max_input_bytes, Envelope, Format, Intake, IntakeError};

pub use feeds::{read_alerts, read_records};
pub use taxii::ObjectsParams;
use taxii::{
    api_root, discovery, get_collection, get_objects, get_status, list_collections, post_objects,
};
use upload::upload;
pub use upload::{envelope, now_ms, UploadParams};

pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// STIX objects per TAXII page at most.
pub(super) const MAX_PAGE: usize = 1000;

pub struct Gateway {
    intake: Intake,
    keys: Keys,
    publisher: Publisher,
    /// Broker client (the gateway's own user) for reading alert topics.
    reader: ClientConfig,
    topic_prefix: String,
    metrics: Metrics,
    /// The latest TAXII status resources, with the member each belongs to.
    statuses: Mutex<VecDeque<(MemberId, String, Value)>>,
    /// ClickHouse (read-only use) and its database, for the member feeds;
    /// `None`: the feeds answer 503.
    store: Option<(clickhouse::Client, String)>,
}

/// TAXII status resources kept for `GET …/status/{id}/`.
pub(super) const MAX_STATUSES: usize = 1000;

impl Gateway {
    pub fn new(
        intake: Intake,
        keys: Keys,
        publisher: Publisher,
        reader: ClientConfig,
        topic_prefix: &str,
    ) -> anyhow::Result<Gateway> {
        Ok(Gateway {
            intake,
            keys,
            publisher,
            reader,
            topic_prefix: topic_prefix.to_owned(),
            metrics: Metrics::new()?,
            statuses: Mutex::new(VecDeque::new()),
            store: None,
        })
    }

    /// Serves the member feeds from this ClickHouse database.
    pub fn with_store(mut self, client: clickhouse::Client, database: &str) -> Gateway {
        self.store = Some((client, database.to_owned()));
        self
    }

    /// Converts, counts and, unless a dry run, publishes one upload (one
    /// submission or several: a MISP search result, an upload in parts).
    /// A failure part-way leaves the parts before it published; sending
    /// the same upload again publishes the same ids, which the fusion
    /// service takes once.
    async fn take(
        &self,
        who: &Caller,
        format: Format,
        body: &[u8],
        env: &Envelope,
        dry_run: bool,
    ) -> Result<Vec<(crate::Converted, Option<crate::publish::Receipt>)>, IntakeError> {
        let count = |outcome: &str| {
            self.metrics
                .uploads
                .with_label_values(&[format.name(), outcome])
                .inc();
        };
        let started = std::time::Instant::now();
        let prepared = self.intake.prepare(format, body, env);
        self.metrics
            .convert_seconds
            .with_label_values(&[format.name()])
            .observe(started.elapsed().as_secs_f64());
        let converted = match prepared {
            Ok(c) => c,
            Err(e) => {
                count("refused");
                self.metrics
                    .refusals
                    .with_label_values(&[e.reason_code()])
                    .inc();
                tracing::info!(member = %who.member, key = %who.label, format = format.name(), error = %e, "upload refused");
                return Err(e);
            }
        };
        if dry_run {
            count("dry_run");
            return Ok(converted.into_iter().map(|c| (c, None)).collect());
        }
        let mut out = Vec::with_capacity(converted.len());
        for c in converted {
            match self.publisher.publish(&who.member, &c.record).await {
                Ok(receipt) => {
                    tracing::info!(member = %who.member, key = %who.label, format = format.name(), topic = %receipt.topic, offset = receipt.offset, "upload published");
                    out.push((c, Some(receipt)));
                }
                Err(e) => {
                    count("failed");
                    tracing::warn!(member = %who.member, error = %e, published = out.len(), "publishing an upload failed");
                    return Err(e);
                }
            }
        }
        count("published");
        Ok(out)
    }
}

pub(super) type Shared = Arc<Gateway>;

pub(super) fn problem(status: StatusCode, why: &str) -> Response {
    let body = json!({ "error": why }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(super) fn taxii_error(status: StatusCode, title: &str) -> Response {
    let body = json!({ "title": title, "http_status": status.as_u16().to_string() }).to_string();
    (status, [(header::CONTENT_TYPE, TAXII_MEDIA_TYPE)], body).into_response()
}

pub(super) fn taxii(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, TAXII_MEDIA_TYPE)],
        value.to_string(),
    )
        .into_response()
}

async fn metrics_handler(State(gw): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gw.metrics.render(),
    )
        .into_response()
}

pub fn router(gw: Shared) -> Router {
    let max_body = Format::ALL
        .into_iter()
        .map(max_input_bytes)
        .max()
        .unwrap_or(1 << 20);
    Router::new()
        .route("/v1/submissions", post(upload))
        .route("/v1/feeds/{name}", get(member_feeds::feed))
        .route("/v1/feeds/misp/{file}", get(member_feeds::misp_feed))
        .route("/taxii2/", get(discovery))
        .route("/taxii2/cisp/", get(api_root))
        .route("/taxii2/cisp/collections/", get(list_collections))
        .route("/taxii2/cisp/collections/{id}/", get(get_collection))
        .route(
            "/taxii2/cisp/collections/{id}/objects/",
            post(post_objects).get(get_objects),
        )
        .route("/taxii2/cisp/status/{id}/", get(get_status))
        .route("/metrics", get(metrics_handler))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(gw)
}

/// Serves until `shutdown` resolves; returns the bound address through
/// `bound` first (port 0 picks a free one).
pub async fn serve(
    gw: Gateway,
    addr: SocketAddr,
    bound: tokio::sync::oneshot::Sender<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let _ = bound.send(listener.local_addr()?);
    axum::serve(listener, router(Arc::new(gw)))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
