//! Observables: typed indicator values that exist only in normalised form.
//!
//! Two members rarely write the same indicator the same way
//! (`hxxp://Evil[.]example/`, `http://evil.example`, `EVIL.example.`), and
//! correlation is only as good as the normal form. Every constructor here
//! refangs, case-folds, converts international domain names to punycode,
//! prints IP addresses canonically (IPv6 per RFC 5952), canonicalises URLs
//! (WHATWG rules via the `url` crate) and checks hash lengths and digits.
//! Normalisation is idempotent: parsing a normalised value gives it back.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{excerpt, ModelError};

/// The kinds of observable the partnership exchanges (docs/DATA-MODEL.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename = "ObservableType", rename_all = "UPPERCASE")]
pub enum ObservableKind {
    Ipv4,
    Ipv6,
    Cidr,
    Domain,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
    Ssdeep,
    Tlsh,
    Filename,
    Asn,
    Cve,
    Ja3,
}

impl ObservableKind {
    pub const ALL: [ObservableKind; 15] = [
        ObservableKind::Ipv4,
        ObservableKind::Ipv6,
        ObservableKind::Cidr,
        ObservableKind::Domain,
        ObservableKind::Url,
        ObservableKind::Email,
        ObservableKind::Md5,
        ObservableKind::Sha1,
        ObservableKind::Sha256,
        ObservableKind::Ssdeep,
        ObservableKind::Tlsh,
        ObservableKind::Filename,
        ObservableKind::Asn,
        ObservableKind::Cve,
        ObservableKind::Ja3,
    ];

    /// Whether values of this kind are refanged (`[.]`, `hxxp`…).
    pub fn is_refanged(self) -> bool {
        matches!(
            self,
            ObservableKind::Ipv4
                | ObservableKind::Ipv6
                | ObservableKind::Cidr
                | ObservableKind::Domain
                | ObservableKind::Url
                | ObservableKind::Email
        )
    }

    /// Lower-case name, as used in ClickHouse and human output.
    pub fn name(self) -> &'static str {
        match self {
            ObservableKind::Ipv4 => "ipv4",
            ObservableKind::Ipv6 => "ipv6",
            ObservableKind::Cidr => "cidr",
            ObservableKind::Domain => "domain",
            ObservableKind::Url => "url",
            ObservableKind::Email => "email",
            ObservableKind::Md5 => "md5",
            ObservableKind::Sha1 => "sha1",
            ObservableKind::Sha256 => "sha256",
            ObservableKind::Ssdeep => "ssdeep",
            ObservableKind::Tlsh => "tlsh",
            ObservableKind::Filename => "filename",
            ObservableKind::Asn => "asn",
            ObservableKind::Cve => "cve",
            ObservableKind::Ja3 => "ja3",
        }
    }

    /// Accepts the lower-case name or the Avro symbol (`IPV4`).
    pub fn parse(value: &str) -> Result<ObservableKind, ModelError> {
        let lower = value.to_ascii_lowercase();
        ObservableKind::ALL
            .into_iter()
            .find(|k| k.name() == lower)
            .ok_or_else(|| ModelError::UnknownObservableKind(excerpt(value)))
    }
}

impl fmt::Display for ObservableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A normalised observable, built by [`Observable::parse`] (or
/// [`Observable::derived`], which gives the same result more cheaply for
/// values already in normal form).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "RawObservable")]
pub struct Observable {
    kind: ObservableKind,
    /// Shared, not copied, by the clones the engine keeps (its index key
    /// and its evidence table hold the same value).
    value: std::sync::Arc<str>,
}

#[derive(Deserialize)]
struct RawObservable {
    #[serde(rename = "type")]
    kind: ObservableKind,
    value: String,
}

impl TryFrom<RawObservable> for Observable {
    type Error = ModelError;
    /// Read back (a snapshot holds millions): values already in normal form
    /// skip the full normalisation, which gives the same result.
    fn try_from(raw: RawObservable) -> Result<Self, ModelError> {
        Observable::derived(raw.kind, &raw.value)
    }
}
/// Written as a [`RawObservable`] would be, without copying the value
/// (snapshots write millions of them while the engine is locked).
impl Serialize for Observable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("RawObservable", 2)?;
        s.serialize_field("type", &self.kind)?;
        s.serialize_field("value", &*self.value)?;
        s.end()
    }
}

impl fmt::Debug for Observable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl fmt::Display for Observable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl Observable {
    /// Longest raw value accepted before normalisation is attempted.
    pub const MAX_RAW_LEN: usize = 4096;
    const MAX_URL_LEN: usize = 2048;

    pub fn parse(kind: ObservableKind, raw: &str) -> Result<Observable, ModelError> {
        let err = |why: &'static str| ModelError::InvalidObservable {
            kind: kind.name(),
            value: excerpt(raw),
            why,
        };
        if raw.len() > Self::MAX_RAW_LEN {
            return Err(err("longer than 4096 bytes"));
        }
        let normalise = |s: &str| -> Result<String, &'static str> {
            match kind {
                ObservableKind::Ipv4 => normalise_ipv4(&refang(s, false)),
                ObservableKind::Ipv6 => normalise_ipv6(&refang(s, false)),
                ObservableKind::Cidr => normalise_cidr(&refang(s, false)),
                ObservableKind::Domain => normalise_domain(&refang(s, false)),
                ObservableKind::Url => normalise_url(&refang(s, true)),
                ObservableKind::Email => normalise_email(&refang(s, false)),
                ObservableKind::Md5 | ObservableKind::Ja3 => normalise_hex(s, 32),
                ObservableKind::Sha1 => normalise_hex(s, 40),
                ObservableKind::Sha256 => normalise_hex(s, 64),
                ObservableKind::Ssdeep => normalise_ssdeep(s),
                ObservableKind::Tlsh => normalise_tlsh(s),
                ObservableKind::Filename => normalise_filename(s),
                ObservableKind::Asn => normalise_asn(s),
                ObservableKind::Cve => normalise_cve(s),
            }
        };
        let mut value = normalise(raw).map_err(err)?;
        // Canonicalising can uncover a defang token (IDNA drops ignorable
        // code points: `(\u{FEFF}.)` becomes `(.)`; `((.))` refangs to
        // `(.)`). Refang again until nothing changes, so the normal form
        // is a fixed point and one indicator has one spelling.
        if kind.is_refanged() {
            let scheme = kind == ObservableKind::Url;
            let mut rounds = 0;
            while refang(&value, scheme) != value {
                rounds += 1;
                if rounds > 4 {
                    return Err(err("defanging does not settle"));
                }
                value = normalise(&value).map_err(err)?;
            }
        }
        Ok(Observable {
            kind,
            value: value.into(),
        })
    }

    /// An observable cut from the normal form of another — a URL's or an
    /// e-mail address's host, a host's registrable domain, an address's
    /// network — or read back from storage, exactly as
    /// [`Observable::parse`] would give it, without normalising again when
    /// the value is already in normal form (a plain lower-case ASCII host
    /// name, a canonical address or network, a lower-case hash). Anything
    /// else takes the full parse.
    pub fn derived(kind: ObservableKind, value: &str) -> Result<Observable, ModelError> {
        if is_normal(kind, value) {
            Ok(Observable {
                kind,
                value: value.into(),
            })
        } else {
            Observable::parse(kind, value)
        }
    }

    pub fn kind(&self) -> ObservableKind {
        self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// The host name this observable names, if any: a domain itself, the
    /// domain of an e-mail address, the host of a URL (not an IP literal).
    pub fn host(&self) -> Option<&str> {
        let host = match self.kind {
            ObservableKind::Domain => &self.value[..],
            ObservableKind::Email => self.value.rsplit_once('@')?.1,
            ObservableKind::Url => {
                let (_, rest) = self.value.split_once("://")?;
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let authority = &rest[..end];
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                if host.starts_with('[') {
                    return None; // IPv6 literal
                }
                host.split_once(':').map_or(host, |(h, _)| h)
            }
            _ => return None,
        };
        let is_ip = host.parse::<std::net::Ipv4Addr>().is_ok();
        (!host.is_empty() && !is_ip).then_some(host)
    }
}

/// Whether `value` is already what [`Observable::parse`] makes of it, by
/// cheap checks that never accept what the parse would change: a domain
/// of plain lower-case ASCII labels (no `xn--` or other `??--` label, which
/// IDNA must judge), an address or network in its canonical spelling. No
/// defang token can hide in those characters. `false` means "parse it".
fn is_normal(kind: ObservableKind, value: &str) -> bool {
    match kind {
        ObservableKind::Domain => {
            value.len() <= 253
                && value.contains('.')
                && value.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.get(2..4) != Some("--")
                        && l.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        })
                })
                && !value
                    .rsplit('.')
                    .next()
                    .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        }
        ObservableKind::Ipv4 => normalise_ipv4(value).is_ok_and(|n| n == value),
        ObservableKind::Ipv6 => {
            !value.starts_with('[') && normalise_ipv6(value).is_ok_and(|n| n == value)
        }
        ObservableKind::Cidr => normalise_cidr(value).is_ok_and(|n| n == value),
        ObservableKind::Md5 | ObservableKind::Ja3 => is_lower_hex(value, 32),
        ObservableKind::Sha1 => is_lower_hex(value, 40),
        ObservableKind::Sha256 => is_lower_hex(value, 64),
        _ => false,
    }
}

fn is_lower_hex(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Undoes the usual ways analysts "defang" indicators so nobody clicks them.
/// `scheme`: also refang a URL scheme (`hxxp`); never for e-mail
/// addresses, whose local part may well start with those letters.
fn refang(raw: &str, scheme: bool) -> String {
    let mut s = raw.trim().to_owned();
    // Scheme: hxxp, hXXp, hxxps, fxp.
    if let Some(head) = s.get(..4).filter(|_| scheme) {
        let head = head.to_ascii_lowercase();
        if head == "hxxp" || head == "h**p" {
            s.replace_range(..4, "http");
        } else if head.starts_with("fxp") {
            s.replace_range(..3, "ftp");
        }
    }
    const PAIRS: [(&str, &str); 16] = [
        ("[://]", "://"),
        ("[:]", ":"),
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("{dot}", "."),
        ("[DOT]", "."),
        ("(DOT)", "."),
        ("[@]", "@"),
        ("(@)", "@"),
        ("[at]", "@"),
        ("(at)", "@"),
        ("[AT]", "@"),
        ("[/]", "/"),
    ];
    for (from, to) in PAIRS {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s
}

fn normalise_ipv4(s: &str) -> Result<String, &'static str> {
    Ipv4Addr::from_str(s)
        .map(|ip| ip.to_string())
        .map_err(|_| "not a dotted-quad IPv4 address")
}

fn normalise_ipv6(s: &str) -> Result<String, &'static str> {
    let s = s
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(s);
    // std's Display is RFC 5952: lower case, longest zero run compressed.
    Ipv6Addr::from_str(s)
        .map(|ip| ip.to_string())
        .map_err(|_| "not an IPv6 address")
}

fn normalise_cidr(s: &str) -> Result<String, &'static str> {
    let (addr, prefix) = s.split_once('/').ok_or("missing /prefix")?;
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err("prefix length is not a number");
    }
    let prefix: u32 = prefix
        .parse()
        .map_err(|_| "prefix length is not a number")?;
    match IpAddr::from_str(addr).map_err(|_| "not an IP network")? {
        IpAddr::V4(ip) => {
            if prefix > 32 {
                return Err("IPv4 prefix longer than 32");
            }
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            Ok(format!("{}/{prefix}", Ipv4Addr::from(u32::from(ip) & mask)))
        }
        IpAddr::V6(ip) => {
            if prefix > 128 {
                return Err("IPv6 prefix longer than 128");
            }
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            Ok(format!(
                "{}/{prefix}",
                Ipv6Addr::from(u128::from(ip) & mask)
            ))
        }
    }
}

pub(crate) fn normalise_domain(s: &str) -> Result<String, &'static str> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        return Err("empty domain");
    }
    if s.contains(|c: char| c.is_whitespace() || c == '/' || c == '@' || c == ':') {
        return Err("not a bare domain name");
    }
    let ascii =
        idna::domain_to_ascii(s).map_err(|_| "not a valid internationalised domain name")?;
    if ascii.len() > 253 {
        return Err("longer than 253 characters");
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("needs at least two labels");
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err("a label is empty or longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err("a label has a character outside a-z, 0-9, '-', '_'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with '-'");
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("numeric top-level label (an IP address?)");
    }
    Ok(ascii)
}

fn normalise_url(s: &str) -> Result<String, &'static str> {
    if s.len() > Observable::MAX_URL_LEN {
        return Err("longer than 2048 characters");
    }
    if s.chars().any(|c| c.is_control() || c == ' ') {
        return Err("contains spaces or control characters");
    }
    // Indicators are often written without a scheme ("evil.example/x").
    let with_scheme = if s.contains("://") {
        s.to_owned()
    } else {
        format!("http://{s}")
    };
    let mut url = url::Url::parse(&with_scheme).map_err(|_| "not a valid URL")?;
    if !matches!(url.scheme(), "http" | "https" | "ftp") {
        return Err("scheme is not http, https or ftp");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("URL has no host");
    }
    url.set_fragment(None);
    let out = String::from(url);
    if out.len() > Observable::MAX_URL_LEN {
        return Err("longer than 2048 characters once canonical");
    }
    Ok(out)
}

fn normalise_email(s: &str) -> Result<String, &'static str> {
    let s = s.strip_prefix("mailto:").unwrap_or(s);
    let s = s.trim_start_matches('<').trim_end_matches('>');
    let (local, domain) = s.rsplit_once('@').ok_or("no '@'")?;
    if local.is_empty() || local.len() > 64 {
        return Err("local part is empty or longer than 64 characters");
    }
    const SPECIALS: &[u8] = b".!#$%&'*+/=?^_`{|}~-";
    if !local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
    {
        return Err("local part has a character outside the RFC 5322 atom set");
    }
    let domain = normalise_domain(domain)?;
    let out = format!("{}@{domain}", local.to_ascii_lowercase());
    if out.len() > 254 {
        return Err("longer than 254 characters");
    }
    Ok(out)
}

fn normalise_hex(s: &str, len: usize) -> Result<String, &'static str> {
    let s = s.trim();
    if s.len() != len {
        return Err(match len {
            32 => "not 32 hex digits",
            40 => "not 40 hex digits",
            _ => "not 64 hex digits",
        });
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("has a character that is not a hex digit");
    }
    Ok(s.to_ascii_lowercase())
}

fn normalise_ssdeep(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if s.len() > 160 {
        return Err("longer than 160 characters");
    }
    let mut parts = s.split(':');
    let (Some(block), Some(h1), Some(h2), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not blocksize:hash:hash");
    };
    if block.is_empty() || block.len() > 10 || !block.bytes().all(|b| b.is_ascii_digit()) {
        return Err("block size is not a number");
    }
    let b64 = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    if h1.is_empty() || !b64(h1) || !b64(h2) {
        return Err("hash parts are not base64");
    }
    let block: u64 = block.parse().map_err(|_| "block size is not a number")?;
    Ok(format!("{block}:{h1}:{h2}"))
}

fn normalise_tlsh(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    let body = match s.get(..2) {
        Some(p) if s.len() == 72 && p.eq_ignore_ascii_case("t1") => &s[2..],
        _ => s,
    };
    if body.len() != 70 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("not a TLSH digest (T1 and 70 hex digits)");
    }
    Ok(format!("T1{}", body.to_ascii_uppercase()))
}

fn normalise_filename(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty file name");
    }
    if s.len() > 255 {
        return Err("longer than 255 bytes");
    }
    if s.chars().any(char::is_control) {
        return Err("contains control characters");
    }
    Ok(s.to_owned())
}

fn normalise_asn(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    let digits = match s.get(..2) {
        Some(p) if s.len() > 2 && p.eq_ignore_ascii_case("as") => &s[2..],
        _ => s,
    };
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not AS followed by a number");
    }
    let n: u32 = digits
        .parse()
        .map_err(|_| "AS number larger than 32 bits")?;
    if n == 0 {
        return Err("AS0 is reserved");
    }
    Ok(format!("AS{n}"))
}

fn normalise_cve(s: &str) -> Result<String, &'static str> {
    let up = s.trim().to_ascii_uppercase();
    let rest = up.strip_prefix("CVE-").ok_or("does not start with CVE-")?;
    let (year, num) = rest.split_once('-').ok_or("not CVE-YYYY-NNNN")?;
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if year.len() != 4 || !all_digits(year) || !(4..=7).contains(&num.len()) || !all_digits(num) {
        return Err("not CVE-YYYY-NNNN");
    }
    Ok(up)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The shortcut for derived values never disagrees with the parse:
        /// what it accepts as normal, the parse leaves as it is.
        #[test]
        fn derived_values_take_the_shortcut_only_when_already_normal(
            domain in "[a-zA-Z0-9_.-]{1,70}",
            labels in proptest::collection::vec("(xn--)?[a-z0-9-]{1,12}", 2..5),
            hex in "[0-9a-fA-F]{31,33}",
            v4 in any::<[u8; 4]>(),
            v6 in any::<[u16; 8]>(),
            prefix in 0u8..=128,
        ) {
            let joined = labels.join(".");
            let v4 = std::net::Ipv4Addr::from(v4).to_string();
            let v6 = std::net::Ipv6Addr::from(v6).to_string();
            let cidr4 = format!("{v4}/{}", prefix % 33);
            let cidr6 = format!("{v6}/{prefix}");
            let hex64 = hex.repeat(2);
            for (kind, value) in [
                (ObservableKind::Md5, hex.as_str()),
                (ObservableKind::Sha256, &hex64[..hex64.len().min(64)]),
                (ObservableKind::Domain, domain.as_str()),
                (ObservableKind::Domain, joined.as_str()),
                (ObservableKind::Ipv4, v4.as_str()),
                (ObservableKind::Ipv6, v6.as_str()),
                (ObservableKind::Cidr, cidr4.as_str()),
                (ObservableKind::Cidr, cidr6.as_str()),
            ] {
                let parsed = Observable::parse(kind, value);
                if is_normal(kind, value) {
                    prop_assert_eq!(parsed.as_ref().map(Observable::value).ok(), Some(value));
                }
                prop_assert_eq!(
                    Observable::derived(kind, value).ok(),
                    parsed.ok(),
                    "{} {}", kind, value
                );
            }
        }
    }

    #[test]
    fn observables_serialise_as_type_and_value_and_parse_back() {
        let o = Observable::parse(ObservableKind::Domain, "Evil[.]Example").unwrap();
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(json, r#"{"type":"DOMAIN","value":"evil.example"}"#);
        assert_eq!(serde_json::from_str::<Observable>(&json).unwrap(), o);
        // Reading back normalises again: a stored value cannot smuggle
        // in a spelling the parser would not make.
        let raw = r#"{"type":"DOMAIN","value":"EVIL.example"}"#;
        assert_eq!(serde_json::from_str::<Observable>(raw).unwrap(), o);
    }

    fn norm(kind: ObservableKind, raw: &str) -> String {
        Observable::parse(kind, raw)
            .unwrap_or_else(|e| panic!("{raw:?}: {e}"))
            .value()
            .to_owned()
    }

    #[test]
    fn host_of_domains_emails_and_urls() {
        let host = |k, v| Observable::parse(k, v).unwrap().host().map(str::to_owned);
        use ObservableKind::*;
        assert_eq!(
            host(Domain, "Mail.Example.COM"),
            Some("mail.example.com".into())
        );
        assert_eq!(host(Email, "a.b@Pay.Example"), Some("pay.example".into()));
        assert_eq!(
            host(Url, "https://user@cdn.example:8443/x?y#z"),
            Some("cdn.example".into())
        );
        assert_eq!(host(Url, "http://198.51.100.7/x"), None);
        assert_eq!(host(Url, "http://[2001:db8::1]/x"), None);
        assert_eq!(host(Ipv4, "198.51.100.7"), None);
    }

    #[test]
    fn refangs_and_canonicalises_urls() {
        use ObservableKind::Url;
        assert_eq!(
            norm(Url, "hxxp://Evil[.]Example/a/../b#frag"),
            "http://evil.example/b"
        );
        assert_eq!(
            norm(Url, "hXXps[://]evil[.]example:443/x"),
            "https://evil.example/x"
        );
        assert_eq!(norm(Url, "evil.example/login"), "http://evil.example/login");
        assert_eq!(
            norm(Url, "http://bücher.example/"),
            "http://xn--bcher-kva.example/"
        );
        assert!(Observable::parse(Url, "javascript:alert(1)").is_err());
        assert!(Observable::parse(Url, "http://").is_err());
        assert!(Observable::parse(Url, "http://a b/").is_err());
    }

    #[test]
    fn domains_are_lowercase_punycode_without_trailing_dot() {
        use ObservableKind::Domain;
        assert_eq!(norm(Domain, "EVIL[.]Example."), "evil.example");
        assert_eq!(norm(Domain, "bücher.example"), "xn--bcher-kva.example");
        for bad in [
            "localhost",
            "1.2.3.4",
            "a..b",
            "-a.example",
            "a b.example",
            "x.example/path",
            "",
        ] {
            assert!(Observable::parse(Domain, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ips_and_networks_print_canonically() {
        use ObservableKind::*;
        assert_eq!(norm(Ipv4, "198[.]51[.]100[.]7"), "198.51.100.7");
        assert!(
            Observable::parse(Ipv4, "010.1.1.1").is_err(),
            "octal-looking octets are ambiguous"
        );
        assert!(Observable::parse(Ipv4, "256.1.1.1").is_err());
        assert_eq!(
            norm(Ipv6, "2001:0DB8:0000:0000:0000:0000:0000:0001"),
            "2001:db8::1"
        );
        assert_eq!(norm(Ipv6, "[2001:db8::1]"), "2001:db8::1");
        assert_eq!(norm(Cidr, "198.51.100.77/24"), "198.51.100.0/24");
        assert_eq!(norm(Cidr, "2001:db8::1/32"), "2001:db8::/32");
        assert!(Observable::parse(Cidr, "10.0.0.0/33").is_err());
        assert!(Observable::parse(Cidr, "10.0.0.0").is_err());
    }

    #[test]
    fn emails_hashes_and_the_rest() {
        use ObservableKind::*;
        assert_eq!(
            norm(Email, "Billing[@]Evil[.]Example"),
            "billing@evil.example"
        );
        assert_eq!(
            norm(Email, "<ceo@bücher.example>"),
            "ceo@xn--bcher-kva.example"
        );
        assert!(Observable::parse(Email, "no-at-sign").is_err());
        assert_eq!(
            norm(Md5, "D41D8CD98F00B204E9800998ECF8427E"),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert!(Observable::parse(Sha1, "abc").is_err());
        assert!(Observable::parse(Sha256, &"g".repeat(64)).is_err());
        assert_eq!(norm(Asn, "as64500"), "AS64500");
        assert_eq!(norm(Asn, "64500"), "AS64500");
        assert!(Observable::parse(Asn, "AS0").is_err());
        assert_eq!(norm(Cve, "cve-2024-3094"), "CVE-2024-3094");
        assert!(Observable::parse(Cve, "CVE-24-1").is_err());
        assert_eq!(
            norm(Ssdeep, "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"),
            "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"
        );
        let tlsh = "8e01b2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2";
        assert_eq!(norm(Tlsh, tlsh), format!("T1{}", tlsh.to_ascii_uppercase()));
        assert_eq!(norm(Filename, " invoice.pdf.exe "), "invoice.pdf.exe");
        assert!(Observable::parse(Filename, "a\nb").is_err());
    }

    // Found by `cisp-fuzz --target observables`: each parsed once to a form
    // that parsed again to something else.
    #[test]
    fn normal_forms_are_fixed_points_when_canonicalising_uncovers_a_defang() {
        use ObservableKind::*;
        // An e-mail local part is not a URL scheme.
        assert_eq!(norm(Email, "<hxxpbob@x.example>"), "hxxpbob@x.example");
        assert_eq!(norm(Email, "hXXpsbob@x.example"), "hxxpsbob@x.example");
        assert_eq!(norm(Domain, "hxxpfoo.example"), "hxxpfoo.example");
        // IDNA drops U+FEFF and U+FE0F, which hid a defang token.
        for raw in [
            "e{D(.(\u{feff}.))",
            "htt(\u{fe0f}.)p.example/x",
            "evil((.))example",
        ] {
            let once = norm(Url, raw);
            assert_eq!(norm(Url, &once), once, "{raw:?}");
            assert!(!once.contains("(.)"), "{once}");
        }
    }

    #[test]
    fn oversized_input_is_rejected_before_work() {
        let huge = format!("http://{}.example/", "a".repeat(10_000));
        let err = Observable::parse(ObservableKind::Url, &huge).unwrap_err();
        assert_eq!(err.reason_code(), "invalid_observable");
        assert!(err.to_string().len() < 300);
    }

    fn kinds() -> impl Strategy<Value = ObservableKind> {
        proptest::sample::select(ObservableKind::ALL.to_vec())
    }

    proptest! {
        // Whatever the input, parsing never panics, and a value that parses
        // is a fixed point: normalising it again changes nothing.
        #[test]
        fn normalisation_is_idempotent(kind in kinds(), raw in "\\PC{0,80}") {
            if let Ok(o) = Observable::parse(kind, &raw) {
                let again = Observable::parse(kind, o.value()).expect("normal form must re-parse");
                prop_assert_eq!(again, o);
            }
        }

        #[test]
        fn defanged_domains_normalise_like_plain_ones(labels in proptest::collection::vec("[a-z][a-z0-9]{0,10}", 2..5)) {
            let plain = labels.join(".");
            let defanged = labels.join("[.]").to_uppercase();
            prop_assert_eq!(
                Observable::parse(ObservableKind::Domain, &plain).map(|o| o.value().to_owned()),
                Observable::parse(ObservableKind::Domain, &defanged).map(|o| o.value().to_owned())
            );
        }

        #[test]
        fn every_ipv4_round_trips(a: u8, b: u8, c: u8, d: u8) {
            let s = format!("{a}.{b}.{c}.{d}");
            let o = Observable::parse(ObservableKind::Ipv4, &s).unwrap();
            prop_assert_eq!(o.value(), s.as_str());
        }

        #[test]
        fn every_ipv6_normalises_to_std_display(bits: u128) {
            let ip = Ipv6Addr::from(bits);
            let long = format!("{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
                ip.segments()[0], ip.segments()[1], ip.segments()[2], ip.segments()[3],
                ip.segments()[4], ip.segments()[5], ip.segments()[6], ip.segments()[7]);
            let o = Observable::parse(ObservableKind::Ipv6, &long.to_uppercase()).unwrap();
            prop_assert_eq!(o.value(), ip.to_string());
        }
    }
}
