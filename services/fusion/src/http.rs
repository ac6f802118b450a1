//! `/metrics` (Prometheus text format), `/health` (200 once the engine
//! has been rebuilt and the pipeline runs, 503 before), and the Fusion
//! Cell query API under `/api/` (JSON; DOT for graphs):
//!
//! * `GET /api/campaigns` — live campaigns, largest first (`?limit=`);
//! * `GET /api/campaigns/{id}` — a campaign with its submissions,
//!   observables (scores, warn-lists), techniques, malware, actor claims,
//!   attribution, and the evidence that ties each submission in;
//! * `GET /api/campaigns/{id}/graph.dot` — its graph in Graphviz DOT;
//! * `GET /api/observables?type=domain&value=evil.example` — an observable
//!   with its score, every campaign and every sighting;
//! * `GET /api/explain?a=member/id&b=member/id` — why two submissions are in
//!   one campaign: the chain of links and their evidence;
//! * `POST /api/victim-releases` `{"submission": "member/id", "member":
//!   "owner", "reason": "…"}` — release a victim notification to a member
//!   whose own asset is in a report it may not see (the Fusion Cell was
//!   told of the match): the member gets its asset, the kind of report and
//!   a contact, never the report, its submitter or its values; refused
//!   when the member may see the report, none of its assets is in it, or
//!   the report is AMBER+STRICT or RED. Audited in `victim_releases`.
//!
//! The API shows everything (it is the Fusion Cell's view), so it needs
//! `Authorization: Bearer <CISP_API_TOKEN>`; without a configured token it
//! is off (404). Inputs are bounded and normalised like submissions.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing;
use axum::Router;
use cisp_engine::SubmissionKey;
use cisp_model::{MemberId, Observable, ObservableKind, SubmissionId};
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::metrics::{ApiOutcome, Metrics};
use crate::pipeline::{lock, SharedEngine};

/// The engine, once start-up has rebuilt it.
pub type EngineSlot = Arc<OnceLock<SharedEngine>>;

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    stalls: Arc<crate::kafka::StallWatch>,
    engine: EngineSlot,
    token: Option<Arc<str>>,
    releases: Option<Arc<Releases>>,
}

/// What sending a released victim notification needs: a producer for the
/// member's alert topic, the store for the audit, the topic names.
pub struct Releases {
    pub producer: rdkafka::producer::FutureProducer,
    pub store: crate::store::Store,
    pub topics: cisp_platform::Topics,
    pub codec: cisp_wire::Codec,
}

/// Longest value accepted in an API query.
const MAX_QUERY_VALUE: usize = 4096;

fn json_response(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn problem(status: StatusCode, why: &str) -> Response {
    let body = serde_json::json!({ "error": why }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Equal in time whatever the inputs' common prefix.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AppState {
    /// The engine, if the caller may ask it: the API is configured, the
    /// bearer token matches, and start-up is done.
    #[allow(clippy::result_large_err)] // the error is the response itself, built once
    fn authorise(&self, headers: &HeaderMap) -> Result<SharedEngine, Response> {
        let outcome = |o| self.metrics.api_requests.inc(o);
        let Some(token) = &self.token else {
            outcome(ApiOutcome::Disabled);
            return Err(problem(
                StatusCode::NOT_FOUND,
                "the query API is off: set CISP_API_TOKEN",
            ));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same_secret(given.as_bytes(), token.as_bytes()) {
            outcome(ApiOutcome::Unauthorized);
            return Err(problem(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token",
            ));
        }
        let Some(engine) = self.engine.get() else {
            outcome(ApiOutcome::Starting);
            return Err(problem(StatusCode::SERVICE_UNAVAILABLE, "starting"));
        };
        outcome(ApiOutcome::Ok);
        Ok(engine.clone())
    }
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

/// Every judgement of the over-correlation guard: what no longer links
/// (observables, /24s, registrable domains, malware families, techniques,
/// technique sets), why, and how many submissions carry it.
async fn api_common(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, Response> {
    let engine = s.authorise(&headers)?;
    let (judged, commodity) = {
        let e = lock(&engine);
        (e.common_judgements(), e.commodity_families())
    };
    let list: Vec<serde_json::Value> = judged
        .iter()
        .map(|j| {
            serde_json::json!({
                "kind": j.kind,
                "value": j.value,
                "reason": j.reason.name(),
                "submissions": j.submissions,
            })
        })
        .collect();
    // Families that never link by rule (empty when
    // `engine.commodity_malware_links` is on).
    Ok(json_response(
        &serde_json::json!({ "common": list, "commodity_families": commodity }),
    ))
}

async fn api_campaigns(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    let engine = s.authorise(&headers)?;
    let limit = q.limit.unwrap_or(100).min(10_000);
    let views = lock(&engine).campaign_views(crate::pipeline::now_ms(), limit);
    Ok(json_response(&serde_json::json!({ "campaigns": views })))
}

impl AppState {
    /// [`AppState::authorise`] for a request about campaign `id`.
    #[allow(clippy::result_large_err)]
    fn campaign_request(&self, headers: &HeaderMap, id: &str) -> Result<SharedEngine, Response> {
        let engine = self.authorise(headers)?;
        if id.len() > 64 {
            return Err(problem(StatusCode::BAD_REQUEST, "campaign id too long"));
        }
        Ok(engine)
    }
}

async fn api_campaign(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let engine = s.campaign_request(&headers, &id)?;
    let detail = lock(&engine).campaign(&id, crate::pipeline::now_ms());
    detail.map(|d| json_response(&d)).ok_or_else(|| {
        problem(
            StatusCode::NOT_FOUND,
            "no live campaign with that id (merged ones point to their survivor on cisp.campaigns)",
        )
    })
}

async fn api_campaign_dot(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let engine = s.campaign_request(&headers, &id)?;
    let dot = lock(&engine).campaign_dot(&id);
    dot.map(|d| ([(header::CONTENT_TYPE, "text/vnd.graphviz")], d).into_response())
        .ok_or_else(|| problem(StatusCode::NOT_FOUND, "no live campaign with that id"))
}

#[derive(Deserialize)]
struct ObservableQuery {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

async fn api_observable(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ObservableQuery>,
) -> Result<Response, Response> {
    let engine = s.authorise(&headers)?;
    if q.value.len() > MAX_QUERY_VALUE {
        return Err(problem(StatusCode::BAD_REQUEST, "value too long"));
    }
    let parsed = ObservableKind::parse(&q.kind).and_then(|k| Observable::parse(k, &q.value));
    let o = parsed.map_err(|e| problem(StatusCode::BAD_REQUEST, &e.to_string()))?;
    let detail = lock(&engine).observable(&o, crate::pipeline::now_ms());
    detail
        .map(|d| json_response(&d))
        .ok_or_else(|| problem(StatusCode::NOT_FOUND, "never reported"))
}

#[derive(Deserialize)]
struct ExplainQuery {
    a: String,
    b: String,
}

fn submission_key(s: &str) -> Option<SubmissionKey> {
    let (m, id) = s.split_once('/')?;
    Some(SubmissionKey {
        member: MemberId::parse(m).ok()?,
        id: SubmissionId::parse(id).ok()?,
    })
}

async fn api_explain(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ExplainQuery>,
) -> Result<Response, Response> {
    let engine = s.authorise(&headers)?;
    let (Some(a), Some(b)) = (submission_key(&q.a), submission_key(&q.b)) else {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "a and b must be member/submission-id",
        ));
    };
    let hops = lock(&engine).explain(&a, &b);
    match hops {
        Some(h) => Ok(json_response(
            &serde_json::json!({ "linked": true, "hops": h }),
        )),
        None => Ok(json_response(
            &serde_json::json!({ "linked": false, "hops": [] }),
        )),
    }
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

/// 200 `ok` while the pipeline runs and every assigned partition makes
/// progress; 503 while starting, while it holds no partition and records
/// wait, while ClickHouse is away, while the broker does not acknowledge
/// output records, or with the partitions that have
/// records waiting and no durable progress (`kafka.stall_after_secs`).
async fn health(State(s): State<AppState>) -> impl IntoResponse {
    if !s.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n".to_owned());
    }
    let stalled = s.stalls.stalled();
    let store_away = s.metrics.clickhouse_unavailable.get() == 1;
    let unacknowledged = s.metrics.deliveries_unacknowledged.get();
    // One instance per group (issue 25 brings more): holding no partition
    // while records wait means nothing is being processed.
    let waiting = s.metrics.consumer_lag.get();
    let idle = s.metrics.assigned_partitions.get() == 0 && waiting > 0;
    if stalled.is_empty() && !store_away && !idle && unacknowledged == 0 {
        return (StatusCode::OK, "ok\n".to_owned());
    }
    let mut body = String::new();
    if idle {
        body.push_str(&format!(
            "no partitions assigned while {waiting} record(s) wait: the group is rebalancing or another member holds them\n"
        ));
    }
    if store_away {
        body.push_str(
            "clickhouse unavailable: writes failing, nothing committed until it is back\n",
        );
    }
    if unacknowledged > 0 {
        body.push_str(&format!(
            "broker not acknowledging: {unacknowledged} record(s) being sent again, nothing committed until they are acknowledged\n"
        ));
    }
    if !stalled.is_empty() {
        body.push_str("stalled\n");
    }
    for p in stalled {
        body.push_str(&format!(
            "{} partition {}: offset {} with {} record(s) waiting, no progress for {} s\n",
            p.topic,
            p.partition,
            p.committed,
            p.lag,
            p.stalled_for.as_secs()
        ));
    }
    (StatusCode::SERVICE_UNAVAILABLE, body)
}

/// What the HTTP endpoint serves.
pub struct Serve {
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    /// Which assigned partitions make no progress (`/health`).
    pub stalls: Arc<crate::kafka::StallWatch>,
    pub engine: EngineSlot,
    pub api_token: Option<cisp_model::Secret>,
    /// For `POST /api/victim-releases`; `None`: refused (503).
    pub releases: Option<Releases>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseRequest {
    submission: String,
    member: String,
    #[serde(default)]
    reason: String,
}

/// `POST /api/victim-releases` (see the module docs).
async fn api_victim_release(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let engine = s.authorise(&headers)?;
    let bad = |why: &str| problem(StatusCode::BAD_REQUEST, why);
    let req: ReleaseRequest = serde_json::from_slice(&body)
        .map_err(|e| bad(&format!("expected {{\"submission\": \"member/id\", \"member\": \"id\", \"reason\": \"…\"}}: {e}")))?;
    let key = submission_key(&req.submission)
        .ok_or_else(|| bad("submission must be member/submission-id"))?;
    let owner = MemberId::parse(&req.member).map_err(|e| bad(&e.to_string()))?;
    if req.reason.len() > 1000 || req.reason.chars().any(char::is_control) {
        return Err(bad(
            "reason: at most 1000 characters, no control characters",
        ));
    }
    let Some(releases) = &s.releases else {
        return Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "releases are not configured",
        ));
    };
    let release = lock(&engine)
        .victim_release(&key, &owner)
        .map_err(|why| problem(StatusCode::CONFLICT, why))?;
    let now = crate::pipeline::now_ms();
    let alert = cisp_wire::records::AlertRecord {
        alert_id: release.alert_id.clone(),
        recipient: owner.to_string(),
        created_at: now,
        trigger_published_at: now,
        kind: cisp_model::AlertKind::VictimNotification,
        severity: cisp_model::Severity::High,
        tlp: cisp_model::Tlp::Amber,
        campaign_id: None,
        your_submission_ids: vec![],
        related: vec![],
        shared_observables: vec![],
        other_member_count: 0,
        summary: format!(
            "your own asset {} appears in {} report shared with the partnership that you may not see; contact the CiSP Fusion Cell for what may be shared",
            release.asset,
            release.kind.with_article()
        ),
        shared_scores: vec![],
        sightings: 1,
        revokes: vec![],
    };
    let payload = releases
        .codec
        .encode(cisp_wire::RecordType::Alert, &alert)
        .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    let topic = releases.topics.alerts(&owner);
    let unavailable = |what: &str, e: String| {
        tracing::warn!(error = %e, "victim release: {what}");
        problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{what} failed; try again (the release is idempotent)"),
        )
    };
    cisp_platform::kafka::enqueue(&releases.producer, &topic, &release.alert_id, &payload)
        .map_err(|e| unavailable("sending the alert", e.to_string()))?
        .await
        .map_err(|_| unavailable("sending the alert", "the producer went away".into()))?
        .map_err(|(e, _)| unavailable("sending the alert", e.to_string()))?;
    let row = crate::store::VictimReleaseRow {
        released_at: crate::store::datetime(now),
        member_id: owner.to_string(),
        asset: release.asset.clone(),
        submission_member: key.member.to_string(),
        submission_id: key.id.to_string(),
        submission_kind: release.kind.name().to_owned(),
        alert_id: release.alert_id.clone(),
        reason: req.reason,
    };
    releases
        .store
        .write_now("victim_releases", &[row])
        .await
        .map_err(|e| unavailable("the audit", e.to_string()))?;
    tracing::info!(member = %owner, submission = %req.submission, alert = %release.alert_id, "victim notification released");
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({
            "alert_id": release.alert_id,
            "recipient": owner.to_string(),
            "asset": release.asset,
            "topic": topic,
        })
        .to_string(),
    )
        .into_response())
}

/// `POST /api/decisions`: a Fusion Cell decision (issue 22), checked and
/// published on the decisions topic; the pipeline applies it in order with
/// every member record. Answers 202 with the decision id: whether it was
/// applied shows in `GET /api/decisions` (and a refusal in the dead
/// letters). `decision_id` and `made_at_ms` may be left out.
async fn api_decide(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    s.authorise(&headers)?;
    let Some(releases) = s.releases.clone() else {
        return Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "decisions are not configured",
        ));
    };
    if body.len() > 16 * 1024 {
        return Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "a decision is at most 16 KiB",
        ));
    }
    let mut draft: cisp_model::DecisionDraft = serde_json::from_slice(&body)
        .map_err(|e| problem(StatusCode::BAD_REQUEST, &format!("not a decision: {e}")))?;
    let now = crate::pipeline::now_ms();
    if draft.made_at_ms == 0 {
        draft.made_at_ms = now;
    }
    if draft.decision_id.is_empty() {
        draft.decision_id = format!("D-{now}-{:08x}", rand_u32());
    }
    draft
        .clone()
        .validate()
        .map_err(|e| problem(StatusCode::BAD_REQUEST, &e.to_string()))?;
    let record = cisp_wire::records::DecisionRecord::of(&draft)
        .ok_or_else(|| problem(StatusCode::BAD_REQUEST, "unknown observable type"))?;
    let payload = releases
        .codec
        .encode(cisp_wire::RecordType::Decision, &record)
        .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    let topic = releases.topics.decisions();
    // One key: every decision in one partition, applied in the order made.
    cisp_platform::kafka::enqueue(&releases.producer, &topic, "decisions", &payload)
        .map_err(|e| problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))?
        .await
        .map_err(|_| problem(StatusCode::SERVICE_UNAVAILABLE, "the producer went away"))?
        .map_err(|(e, _)| problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))?;
    tracing::info!(decision = %draft.decision_id, action = %draft.action, analyst = %draft.analyst, "decision published");
    Ok((
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "decision_id": draft.decision_id, "topic": topic }).to_string(),
    )
        .into_response())
}

/// `GET /api/decisions`: every decision applied, in order, with what
/// undid it.
async fn api_decisions(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let engine = s.authorise(&headers)?;
    let list = lock(&engine).decisions();
    Ok(json_response(&serde_json::json!({ "decisions": list })))
}

/// A few random bits for generated ids (not a secret).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::pipeline::now_ms().unsigned_abs());
    (h.finish() & 0xffff_ffff) as u32
}

/// Binds `addr` and serves until `stop` resolves. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    what: Serve,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", routing::get(metrics_handler))
        .route("/health", routing::get(health))
        .route("/api/campaigns", routing::get(api_campaigns))
        .route("/api/campaigns/{id}", routing::get(api_campaign))
        .route(
            "/api/campaigns/{id}/graph.dot",
            routing::get(api_campaign_dot),
        )
        .route("/api/observables", routing::get(api_observable))
        .route("/api/explain", routing::get(api_explain))
        .route("/api/common", routing::get(api_common))
        .route("/api/victim-releases", routing::post(api_victim_release))
        .route(
            "/api/decisions",
            routing::post(api_decide).get(api_decisions),
        )
        .with_state(AppState {
            metrics: what.metrics,
            ready: what.ready,
            stalls: what.stalls,
            engine: what.engine,
            token: what.api_token.map(|t| Arc::from(t.expose())),
            releases: what.releases.map(Arc::new),
        });
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok((bound, handle))
}

pub use cisp_platform::probe::{get, get_with};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn health_of(assigned: i64, lag: i64) -> (StatusCode, String) {
        let metrics = Arc::new(Metrics::new().unwrap());
        metrics.assigned_partitions.set(assigned);
        metrics.consumer_lag.set(lag);
        let stalls = Arc::new(crate::kafka::StallWatch::new(
            std::time::Duration::from_secs(60),
            metrics.consumer_stalled_partitions.clone(),
        ));
        let state = AppState {
            metrics,
            ready: Arc::new(AtomicBool::new(true)),
            stalls,
            engine: EngineSlot::default(),
            token: None,
            releases: None,
        };
        let response = health(State(state)).await.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn health_fails_while_the_instance_holds_no_partition_and_records_wait() {
        let (status, body) = health_of(0, 250).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body.contains("no partitions assigned while 250 record(s) wait"),
            "{body}"
        );
        // Nothing waiting, or partitions held: healthy.
        assert_eq!(health_of(0, 0).await.0, StatusCode::OK);
        assert_eq!(health_of(4, 250).await, (StatusCode::OK, "ok\n".to_owned()));
    }
}
