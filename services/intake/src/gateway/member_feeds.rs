//! `GET /v1/feeds/{name}`: the caller's feeds (see [`crate::feed`]), with
//! conditional GET: an `ETag` (a digest of what the feed holds) answered
//! by `If-None-Match`, and `Last-Modified` (the newest sighting in the
//! feed) answered by `If-Modified-Since` — firewalls poll; and gzip when
//! the client accepts it (`Accept-Encoding`; its own `ETag`, `Vary`).
//!
//! | name | content type | values |
//! |---|---|---|
//! | `ip.txt` | text/plain | IPv4, IPv6, CIDR |
//! | `domain.txt` | text/plain | domains |
//! | `url.txt` | text/plain | URLs |
//! | `hash.txt` | text/plain | MD5, SHA-1, SHA-256 |
//! | `indicators.csv` | text/csv | every type |
//! | `suricata.rules` | text/plain | addresses, domains, URLs |
//! | `stix.json` | application/stix+json | every type STIX has a pattern for (not CVE, JA3) |
//! | `misp/manifest.json`, `misp/<uuid>.json` | application/json | a MISP feed: one event per TLP |

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::{caller, unauthorised};
use super::{now_ms, problem, Shared};
use crate::feed::{self, FeedError, FeedParams};

/// `GET /v1/feeds/misp/{file}`: the MISP feed's manifest and events.
pub(super) async fn misp_feed(
    state: State<Shared>,
    headers: HeaderMap,
    Path(file): Path<String>,
    params: Query<FeedParams>,
) -> Response {
    feed(state, headers, Path(format!("misp/{file}")), params).await
}

pub(super) async fn feed(
    State(gw): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<FeedParams>,
) -> Response {
    let Some(who) = caller(&gw, &headers) else {
        return unauthorised();
    };
    let Some((client, db)) = &gw.store else {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "feeds are not configured");
    };
    let built = match feed::build(
        client,
        db,
        &gw.intake.registry,
        &who.member,
        &name,
        &params,
        now_ms(),
    )
    .await
    {
        Ok(b) => b,
        Err(FeedError::Unknown) => return problem(StatusCode::NOT_FOUND, "no such feed"),
        Err(e @ FeedError::Params(_)) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e) => {
            tracing::warn!(member = %who.member, error = %e, "building a feed failed");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the feed could not be built; try again",
            );
        }
    };
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let etag = format!(
        "\"{}-{}{}\"",
        name,
        built.digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        if gzip { "-gz" } else { "" }
    );
    let newest = built.newest_ms;
    let last_modified = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(u64::try_from(newest).unwrap_or(0)),
    );
    let not_modified = match (
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok()),
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok()),
    ) {
        (Some(tags), _) => tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        (None, Some(since)) => httpdate::parse_http_date(since).is_ok_and(|t| {
            let newest_s = u64::try_from(newest / 1000).unwrap_or(0);
            t.duration_since(std::time::UNIX_EPOCH)
                .is_ok_and(|d| d.as_secs() >= newest_s)
        }),
        (None, None) => false,
    };
    let common = [
        (header::ETAG, etag),
        (header::LAST_MODIFIED, last_modified),
        (header::CACHE_CONTROL, "private, no-cache".to_owned()),
        (header::VARY, "Accept-Encoding".to_owned()),
    ];
    if not_modified {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, built.media_type.to_owned())];
    if gzip {
        return (
            StatusCode::OK,
            common,
            content_type,
            [(header::CONTENT_ENCODING, "gzip".to_owned())],
            crate::feed::gzip(built.text.as_bytes()),
        )
            .into_response();
    }
    (StatusCode::OK, common, content_type, built.text).into_response()
}

/// Whether an `Accept-Encoding` value accepts gzip (and not with q=0).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        let coding = it.next().unwrap_or("");
        let q_zero = it.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
    })
}
