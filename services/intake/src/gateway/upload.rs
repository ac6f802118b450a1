//! `POST /v1/submissions`: one file in any intake format, converted,
//! validated and (unless a dry run) published on the caller's topic; and
//! the envelope the CLI builds the same way.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cisp_model::{MemberId, Scope, SubmissionKind, Tlp};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{caller, unauthorised};
use super::{problem, Shared};
use crate::{Envelope, Format, IntakeError};

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

pub(super) fn intake_error(e: &IntakeError) -> Response {
    let status = match e {
        IntakeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        IntakeError::Publish(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    problem(status, &e.to_string())
}

pub(super) async fn upload(
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
    let done = match gw.take(&who, format, &body, &env, params.dry_run).await {
        Ok(done) => done,
        Err(e) => return intake_error(&e),
    };
    // Each submission the upload became, with what was left out of it;
    // the first one's fields also at the top level (one upload, one
    // submission: the shape clients have always read).
    let mut status = StatusCode::OK;
    let items: Vec<Value> = done
        .into_iter()
        .map(|(converted, receipt)| {
            let mut item = json!({
                "submission_id": converted.record.submission_id,
                "kind": converted.record.kind.name(),
                "tlp": converted.record.tlp.label(),
                "scope": converted.record.distribution.scope.name(),
                "observables": converted.record.observables.len(),
                "techniques": converted.record.ttps.len(),
                "malware": converted.record.malware.len(),
                "actor_claims": converted.record.actor_claims.len(),
                "skipped": converted.skipped,
            });
            match receipt {
                None => {
                    item["record"] = serde_json::to_value(&converted.record).unwrap_or(Value::Null);
                }
                Some(receipt) => {
                    status = StatusCode::CREATED;
                    item["topic"] = Value::from(receipt.topic);
                    item["partition"] = Value::from(receipt.partition);
                    item["offset"] = Value::from(receipt.offset);
                }
            }
            item
        })
        .collect();
    let mut out = items.first().cloned().unwrap_or_else(|| json!({}));
    out["submissions"] = Value::from(items);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        out.to_string(),
    )
        .into_response()
}
