//! The TAXII 2.1 subset: discovery, the API root, two collections per
//! member — **submissions** (write: an envelope of STIX objects, converted
//! like a STIX upload) and **alerts** (read: the member's own alerts as
//! STIX, paged by the time each was added to its topic) — and status
//! resources.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use cisp_model::MemberId;
use cisp_wire::records::AlertRecord;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{caller, unauthorised};
use super::feeds::read_alerts;
use super::upload::now_ms;
use super::{taxii, taxii_error, Shared, MAX_PAGE, MAX_STATUSES, TAXII_MEDIA_TYPE};
use crate::stix::{self, export::stix_id, ExportOptions};
use crate::{max_input_bytes, Envelope, Format};

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

pub(super) async fn discovery(State(gw): State<Shared>, headers: HeaderMap) -> Response {
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

pub(super) async fn api_root(State(gw): State<Shared>, headers: HeaderMap) -> Response {
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

pub(super) async fn list_collections(State(gw): State<Shared>, headers: HeaderMap) -> Response {
    let Some(who) = caller(&gw, &headers) else {
        return unauthorised();
    };
    taxii(
        StatusCode::OK,
        &json!({ "collections": collections(&who.member) }),
    )
}

pub(super) async fn get_collection(
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

pub(super) async fn post_objects(
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
pub(super) async fn get_status(
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

pub(super) async fn get_objects(
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
    // Revocations and dispute notices revoke what earlier alerts carried:
    // those are looked up on the whole topic, not only this page.
    let earlier: std::collections::BTreeMap<String, AlertRecord> = alerts
        .iter()
        .map(|(_, a)| (a.alert_id.clone(), a.clone()))
        .collect();
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
    let bundle = stix::export(
        &records,
        &ExportOptions {
            earlier,
            ..ExportOptions::default()
        },
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_of_a_second() {
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
