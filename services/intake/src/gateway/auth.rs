//! Who is calling: an API key ([`crate::keys`]) presented as
//! `Authorization: Bearer <key>` or, for TAXII clients, as the password of
//! HTTP Basic. Failures are counted; the key decides the member.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::{problem, Gateway};
use crate::keys::Caller;

/// The caller, from a bearer token or HTTP Basic (password = key).
pub(super) fn caller(gw: &Gateway, headers: &HeaderMap) -> Option<Caller> {
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

/// The bytes of HTTP Basic credentials (standard alphabet; URL-safe and
/// unpadded forms are accepted as before), at most 1 KiB of text.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    use base64::{alphabet, Engine as _};
    if s.len() > 1024 {
        return None;
    }
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::STANDARD, config)
        .decode(s)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, config).decode(s))
        .ok()
}

pub(super) fn unauthorised() -> Response {
    let mut r = problem(StatusCode::UNAUTHORIZED, "a valid API key is required");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer, Basic realm=\"cisp\""),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_decoding() {
        assert_eq!(
            base64_decode("dXNlcjpjaXNwX2FiYw==").as_deref(),
            Some(&b"user:cisp_abc"[..])
        );
        assert_eq!(
            base64_decode("dXNlcjpjaXNwX2FiYw").as_deref(),
            Some(&b"user:cisp_abc"[..])
        );
        assert!(base64_decode("***").is_none());
        assert!(base64_decode(&"QUFB".repeat(300)).is_none());
    }
}
