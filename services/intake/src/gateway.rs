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

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cisp_model::{MemberId, Scope, SubmissionKind, Tlp};
use cisp_wire::records::AlertRecord;
use cisp_wire::{Codec, DecodeLimits, RecordType};
use rdkafka::ClientConfig;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::keys::{Caller, Keys};
use crate::metrics::Metrics;
use crate::publish::Publisher;
use crate::stix::{self, export::stix_id, ExportOptions};
use crate::{max_input_bytes, Envelope, Format, Intake, IntakeError};

pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// STIX objects per TAXII page at most.
const MAX_PAGE: usize = 1000;

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
}

/// TAXII status resources kept for `GET …/status/{id}/`.
const MAX_STATUSES: usize = 1000;

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
        })
    }

    /// Converts, counts and, unless a dry run, publishes one upload.
    async fn take(
        &self,
        who: &Caller,
        format: Format,
        body: &[u8],
        env: &Envelope,
        dry_run: bool,
    ) -> Result<(crate::Converted, Option<crate::publish::Receipt>), IntakeError> {
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
            return Ok((converted, None));
        }
        match self.publisher.publish(&who.member, &converted.record).await {
            Ok(receipt) => {
                count("published");
                tracing::info!(member = %who.member, key = %who.label, format = format.name(), topic = %receipt.topic, offset = receipt.offset, "upload published");
                Ok((converted, Some(receipt)))
            }
            Err(e) => {
                count("failed");
                tracing::warn!(member = %who.member, error = %e, "publishing an upload failed");
                Err(e)
            }
        }
    }
}

type Shared = Arc<Gateway>;

fn problem(status: StatusCode, why: &str) -> Response {
    let body = json!({ "error": why }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn taxii_error(status: StatusCode, title: &str) -> Response {
    let body = json!({ "title": title, "http_status": status.as_u16().to_string() }).to_string();
    (status, [(header::CONTENT_TYPE, TAXII_MEDIA_TYPE)], body).into_response()
}

fn taxii(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, TAXII_MEDIA_TYPE)],
        value.to_string(),
    )
        .into_response()
}

/// The caller, from a bearer token or HTTP Basic (password = key).
fn caller(gw: &Gateway, headers: &HeaderMap) -> Option<Caller> {
    let who = presented_caller(gw, headers);
    if who.is_none() {
        gw.metrics.unauthorised.inc();
    }
    who
}

fn presented_caller(gw: &Gateway, headers: &HeaderMap) -> Option<Caller> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let key = if let Some(k) = auth.strip_prefix("Bearer ") {
        k.trim().to_owned()
    } else if let Some(b) = auth.strip_prefix("Basic ") {
        let decoded = base64_decode(b.trim())?;
        let text = String::from_utf8(decoded).ok()?;
        text.split_once(':')?.1.to_owned()
    } else {
        return None;
    };
    gw.keys.check(&key).cloned()
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() > 1024 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn unauthorised() -> Response {
    let mut r = problem(StatusCode::UNAUTHORIZED, "a valid API key is required");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer, Basic realm=\"cisp\""),
    );
    r
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    pub format: String,
    pub tlp: Option<String>,
    pub scope: Option<String>,
    /// Comma-separated member ids (scope named-members).
    pub members: Option<String>,
    /// Comma-separated group ids (scope sharing-groups).
    pub groups: Option<String>,
    #[serde(default)]
    pub anonymous: bool,
    pub kind: Option<String>,
    pub title: Option<String>,
    pub filename: Option<String>,
    pub id: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// The envelope for `member` from upload parameters (shared with the CLI).
pub fn envelope(member: MemberId, p: &UploadParams, now_ms: i64) -> Result<Envelope, IntakeError> {
    let invalid = IntakeError::Invalid;
    let list = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .map(|v| {
                v.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut e = Envelope::new(member, now_ms);
    e.tlp = p
        .tlp
        .as_deref()
        .map(Tlp::parse)
        .transpose()
        .map_err(invalid)?;
    e.scope = p
        .scope
        .as_deref()
        .map(Scope::parse)
        .transpose()
        .map_err(invalid)?;
    e.kind = p
        .kind
        .as_deref()
        .map(SubmissionKind::parse)
        .transpose()
        .map_err(invalid)?;
    e.members = list(&p.members);
    e.groups = list(&p.groups);
    e.anonymous = p.anonymous;
    e.title = p.title.clone();
    e.file_name = p.filename.clone();
    e.submission_id = p.id.clone();
    Ok(e)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn intake_error(e: &IntakeError) -> Response {
    let status = match e {
        IntakeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        IntakeError::Publish(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    problem(status, &e.to_string())
}

async fn upload(
    State(gw): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<UploadParams>,
    body: Bytes,
) -> Response {
    let Some(who) = caller(&gw, &headers) else {
        return unauthorised();
    };
    let refused = |e: IntakeError| {
        gw.metrics
            .refusals
            .with_label_values(&[e.reason_code()])
            .inc();
        intake_error(&e)
    };
    let format = match Format::parse(&params.format) {
        Ok(f) => f,
        Err(e) => return refused(e),
    };
    let env = match envelope(who.member.clone(), &params, now_ms()) {
        Ok(e) => e,
        Err(e) => return refused(e),
    };
    let (converted, receipt) = match gw.take(&who, format, &body, &env, params.dry_run).await {
        Ok(done) => done,
        Err(e) => return intake_error(&e),
    };
    let mut out = json!({
        "submission_id": converted.record.submission_id,
        "kind": converted.record.kind.name(),
        "tlp": converted.record.tlp.label(),
        "scope": converted.record.distribution.scope.name(),
        "observables": converted.record.observables.len(),
        "skipped": converted.skipped,
    });
    let status = match receipt {
        None => {
            out["record"] = serde_json::to_value(&converted.record).unwrap_or(Value::Null);
            StatusCode::OK
        }
        Some(receipt) => {
            out["topic"] = Value::from(receipt.topic);
            out["partition"] = Value::from(receipt.partition);
            out["offset"] = Value::from(receipt.offset);
            StatusCode::CREATED
        }
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        out.to_string(),
    )
        .into_response()
}

fn collection_id(member: &MemberId, which: &str) -> String {
    stix_id("collection", &format!("{member}/{which}"))
        .trim_start_matches("collection--")
        .to_owned()
}

fn collections(member: &MemberId) -> [Value; 2] {
    [
        json!({
            "id": collection_id(member, "submissions"),
            "title": "Your submissions",
            "description": "POST STIX objects here: each envelope becomes one submission on your topic.",
            "can_read": false,
            "can_write": true,
            "media_types": [TAXII_MEDIA_TYPE]
        }),
        json!({
            "id": collection_id(member, "alerts"),
            "title": "Your alerts",
            "description": "The alerts CiSP sent you, as STIX 2.1 reports with indicators.",
            "can_read": true,
            "can_write": false,
            "media_types": [TAXII_MEDIA_TYPE]
        }),
    ]
}

async fn discovery(State(gw): State<Shared>, headers: HeaderMap) -> Response {
    if caller(&gw, &headers).is_none() {
        return unauthorised();
    }
    taxii(
        StatusCode::OK,
        &json!({
            "title": "CiSP Fusion TAXII",
            "description": "Submit STIX to the partnership and read your alerts.",
            "default": "/taxii2/cisp/",
            "api_roots": ["/taxii2/cisp/"]
        }),
    )
}

async fn api_root(State(gw): State<Shared>, headers: HeaderMap) -> Response {
    if caller(&gw, &headers).is_none() {
        return unauthorised();
    }
    taxii(
        StatusCode::OK,
        &json!({
            "title": "CiSP",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": max_input_bytes(Format::Stix)
        }),
    )
}

async fn list_collections(State(gw): State<Shared>, headers: HeaderMap) -> Response {
    let Some(who) = caller(&gw, &headers) else {
        return unauthorised();
    };
    taxii(
        StatusCode::OK,
        &json!({ "collections": collections(&who.member) }),
    )
}

async fn get_collection(
    State(gw): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(who) = caller(&gw, &headers) else {
        return unauthorised();
    };
    match collections(&who.member)
        .into_iter()
        .find(|c| c["id"] == id.as_str())
    {
        Some(c) => taxii(StatusCode::OK, &c),
        None => taxii_error(StatusCode::NOT_FOUND, "no such collection"),
    }
}

async fn post_objects(
    State(gw): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(who) = caller(&gw, &headers) else {
        return unauthorised();
    };
    if id != collection_id(&who.member, "submissions") {
        return taxii_error(StatusCode::FORBIDDEN, "this collection cannot be written");
    }
    let ids: Vec<Value> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("objects").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o.get("id").cloned())
        .collect();
    let env = Envelope::new(who.member.clone(), now_ms());
    let outcome = gw.take(&who, Format::Stix, &body, &env, false).await;
    let status_id = stix_id(
        "status",
        &format!("{}/{}/{}", who.member, now_ms(), ids.len()),
    )
    .trim_start_matches("status--")
    .to_owned();
    // One envelope is one submission: every object succeeds or fails with it.
    let (published, successes, failures) = match outcome {
        Ok(_) => (
            true,
            ids.iter().map(|i| json!({ "id": i })).collect(),
            vec![],
        ),
        Err(e) if e.is_input_error() => (
            false,
            vec![],
            ids.iter()
                .map(|i| json!({ "id": i, "message": e.to_string() }))
                .collect::<Vec<_>>(),
        ),
        Err(e) => return taxii_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let mut status = json!({
        "id": status_id,
        "status": "complete",
        "request_timestamp": stix::export::timestamp(now_ms()),
        "total_count": ids.len(),
        "success_count": successes.len(),
        "failure_count": failures.len(),
        "pending_count": 0,
    });
    if published {
        status["successes"] = Value::Array(successes);
    } else {
        status["failures"] = Value::Array(failures);
    }
    if let Ok(mut kept) = gw.statuses.lock() {
        if kept.len() >= MAX_STATUSES {
            kept.pop_front();
        }
        kept.push_back((who.member.clone(), status_id, status.clone()));
    }
    taxii(StatusCode::ACCEPTED, &status)
}

/// `GET /taxii2/cisp/status/{id}/`: a status resource this member's POST
/// created (the latest 1000 are kept; others, or another member's, 404).
async fn get_status(
    State(gw): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(who) = caller(&gw, &headers) else {
        return unauthorised();
    };
    let found = gw.statuses.lock().ok().and_then(|kept| {
        kept.iter()
            .find(|(m, i, _)| *m == who.member && *i == id)
            .map(|(_, _, s)| s.clone())
    });
    match found {
        Some(s) => taxii(StatusCode::OK, &s),
        None => taxii_error(StatusCode::NOT_FOUND, "no such status"),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ObjectsParams {
    pub added_after: Option<String>,
    pub limit: Option<usize>,
    pub next: Option<String>,
}

/// Every alert on `topic` with the broker's timestamp, oldest first.
pub fn read_alerts(
    client: &ClientConfig,
    group: &str,
    topic: &str,
) -> anyhow::Result<Vec<(i64, AlertRecord)>> {
    read_records(client, group, topic, RecordType::Alert)
}

/// Every record of type `rt` on `topic`, from the beginning to its end
/// when called, with the broker's timestamp, oldest first. Records that do
/// not decode are skipped (only the fusion service writes these topics).
pub fn read_records<T: serde::de::DeserializeOwned>(
    client: &ClientConfig,
    group: &str,
    topic: &str,
    rt: RecordType,
) -> anyhow::Result<Vec<(i64, T)>> {
    let raw =
        cisp_platform::kafka::read_topic(client.clone(), group, topic, Duration::from_secs(30))?;
    let codec = Codec::new(DecodeLimits::default())?;
    let mut out: Vec<(i64, T)> = raw
        .iter()
        .filter_map(|(ts, payload)| codec.decode::<T>(rt, payload).ok().map(|(r, _)| (*ts, r)))
        .collect();
    out.sort_by_key(|(ts, _)| *ts);
    Ok(out)
}

async fn get_objects(
    State(gw): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<ObjectsParams>,
) -> Response {
    let Some(who) = caller(&gw, &headers) else {
        return unauthorised();
    };
    if id != collection_id(&who.member, "alerts") {
        return taxii_error(StatusCode::FORBIDDEN, "this collection cannot be read");
    }
    let after = match params.added_after.as_deref() {
        None => i64::MIN,
        Some(t) => match crate::text::timestamp_ms(t) {
            Some(ms) => ms + frac_ms(t),
            None => return taxii_error(StatusCode::BAD_REQUEST, "added_after is not a timestamp"),
        },
    };
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let topic = cisp_platform::Topics::new(&gw.topic_prefix).alerts(&who.member);
    let client = gw.reader.clone();
    let read = tokio::task::spawn_blocking(move || {
        read_alerts(&client, cisp_platform::acl::INTAKE_GROUP, &topic)
    })
    .await;
    let alerts = match read {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            tracing::warn!(member = %who.member, error = %e, "reading alerts failed");
            return taxii_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "alerts are unavailable right now",
            );
        }
        Err(_) => return taxii_error(StatusCode::INTERNAL_SERVER_ERROR, "reading alerts failed"),
    };
    // Alerts added after `added_after`, oldest first; `next` is the index
    // of the first alert of the following page in that list (the topic
    // only grows, so an index stays valid). `limit` counts STIX objects,
    // as TAXII says, but a page never splits an alert's objects.
    let listed: Vec<(i64, AlertRecord)> =
        alerts.into_iter().filter(|(ts, _)| *ts > after).collect();
    let start = match params.next.as_deref() {
        None => 0,
        Some(n) => match n.strip_prefix('i').and_then(|i| i.parse::<usize>().ok()) {
            Some(i) if i <= listed.len() => i,
            _ => {
                return taxii_error(
                    StatusCode::BAD_REQUEST,
                    "next is not a value this server gave",
                )
            }
        },
    };
    let mut end = start;
    let mut objects_in_page = 2; // the producer identity and a marking
    while end < listed.len() {
        let alone = stix::export(
            std::slice::from_ref(&listed[end].1),
            &ExportOptions::default(),
        );
        let own = alone["objects"]
            .as_array()
            .map_or(0, Vec::len)
            .saturating_sub(2);
        if end > start && objects_in_page + own > limit {
            break;
        }
        objects_in_page += own;
        end += 1;
    }
    let page = &listed[start..end];
    let more = end < listed.len();
    let records: Vec<AlertRecord> = page.iter().map(|(_, a)| a.clone()).collect();
    let bundle = stix::export(&records, &ExportOptions::default());
    let objects = if records.is_empty() {
        vec![]
    } else {
        bundle["objects"].as_array().cloned().unwrap_or_default()
    };
    let mut envelope = json!({ "more": more, "objects": objects });
    if more {
        envelope["next"] = Value::from(format!("i{end}"));
    }
    let mut resp = taxii(StatusCode::OK, &envelope);
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        for (name, ts) in [
            ("x-taxii-date-added-first", first.0),
            ("x-taxii-date-added-last", last.0),
        ] {
            if let Ok(v) = header::HeaderValue::from_str(&stix::export::timestamp(ts)) {
                resp.headers_mut().insert(name, v);
            }
        }
    }
    resp
}

/// The milliseconds of an RFC 3339 timestamp's fraction (`.123Z` → 123).
fn frac_ms(t: &str) -> i64 {
    let Some((_, frac)) = t.split_once('.') else {
        return 0;
    };
    let digits: String = frac
        .chars()
        .take_while(char::is_ascii_digit)
        .take(3)
        .collect();
    format!("{digits:0<3}").parse().unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_decoding_and_fractions() {
        assert_eq!(
            base64_decode("dXNlcjpjaXNwX2FiYw==").as_deref(),
            Some(&b"user:cisp_abc"[..])
        );
        assert!(base64_decode("***").is_none());
        assert_eq!(frac_ms("2026-01-01T00:00:00.5Z"), 500);
        assert_eq!(frac_ms("2026-01-01T00:00:00.123456Z"), 123);
        assert_eq!(frac_ms("2026-01-01T00:00:00Z"), 0);
    }

    #[test]
    fn collections_are_per_member() {
        let a = MemberId::parse("northbank").expect("id");
        let b = MemberId::parse("gridco").expect("id");
        assert_ne!(collection_id(&a, "alerts"), collection_id(&b, "alerts"));
        assert_eq!(collection_id(&a, "alerts").len(), 36);
    }
}
