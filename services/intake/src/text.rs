//! Finding indicators in free text (e-mail bodies, strings of a sample):
//! URLs, also defanged (`hxxp`, `[.]`, `[:]//`) or hidden in HTML
//! attributes and entities, and IP addresses. Everything here is bounded:
//! callers pass at most a few MiB and get at most `max` results back.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

pub use cisp_model::excerpt;

/// Undoes the usual defanging so links can be found: `hxxp` → `http`,
/// `[.]`/`(.)`/`[dot]` → `.`, `[:]` → `:`, `[at]`/`[@]` → `@`.
pub fn refang(text: &str) -> String {
    let mut s = text.to_owned();
    for (from, to) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("[DOT]", "."),
        ("[:]", ":"),
        ("[://]", "://"),
        ("[@]", "@"),
        ("[at]", "@"),
        ("hxxps://", "https://"),
        ("hxxp://", "http://"),
        ("HXXPS://", "https://"),
        ("HXXP://", "http://"),
        ("hXXps://", "https://"),
        ("hXXp://", "http://"),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s
}

/// Windows-1252's characters in 0x80–0x9F (the rest of the high half is
/// Latin-1).
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// Text written in UTF-8 but decoded as Windows-1252 or Latin-1 (a body
/// labelled with the wrong charset: `®` read as `Â®`) back to what was
/// written. Only when every character maps back to one byte and the bytes
/// are valid UTF-8 with a multi-byte sequence: real Latin-1 text (`café`)
/// is never valid UTF-8 that way, so it is left alone.
pub fn undo_mojibake(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut bytes = Vec::with_capacity(text.len());
    for c in text.chars() {
        let b = match c as u32 {
            0..=0x7f => c as u8,
            0xa0..=0xff => c as u32 as u8,
            _ => match CP1252_HIGH.iter().position(|&x| x == c) {
                Some(i) => 0x80 + i as u8,
                None => return std::borrow::Cow::Borrowed(text),
            },
        };
        bytes.push(b);
    }
    match String::from_utf8(bytes) {
        Ok(s) if s.len() < text.len() && !s.is_ascii() => std::borrow::Cow::Owned(s),
        _ => std::borrow::Cow::Borrowed(text),
    }
}

/// Decodes the HTML character references that hide links from naive
/// scanners: `&#104;`, `&#x68;`, `&amp;`, `&colon;`, `&sol;`, `&period;`.
pub fn decode_html_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // A byte search: ';' is ASCII, so its index is a char boundary
        // (slicing the str at a fixed 12 bytes could split a character).
        let end = rest.as_bytes()[..rest.len().min(12)]
            .iter()
            .position(|b| *b == b';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = if let Some(num) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(num, 16).ok().and_then(char::from_u32)
            } else if let Some(num) = name.strip_prefix('#') {
                num.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "colon" => Some(':'),
                    "sol" => Some('/'),
                    "period" => Some('.'),
                    "commat" => Some('@'),
                    _ => None,
                }
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn url_char(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '"' | '\'' | '<' | '>' | '`' | '{' | '}' | '|' | '\\' | '^'
        ))
}

/// Every distinct `http(s)://` or `ftp://` URL in `text` (after refanging
/// and entity decoding), trailing punctuation trimmed, at most `max`.
pub fn urls(text: &str, max: usize) -> Vec<String> {
    let text = refang(&decode_html_entities(text));
    let lower = text.to_ascii_lowercase();
    let mut found = BTreeSet::new();
    let mut out = Vec::new();
    let mut from = 0;
    while out.len() < max {
        let next = ["http://", "https://", "ftp://"]
            .iter()
            .filter_map(|p| lower[from..].find(p).map(|i| from + i))
            .min();
        let Some(start) = next else { break };
        let tail = &text[start..];
        let mut len = tail.find(|c: char| !url_char(c)).unwrap_or(tail.len());
        let mut joined = tail[..len].to_owned();
        // Defanged with spaces before the dots (`hxxps://www .evil .com`):
        // while still in the host, a space followed by `.label` continues
        // it. Prose never puts a space before a dot.
        loop {
            let in_host = joined
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.contains('/'));
            let rest = &tail[len..];
            let after = rest.strip_prefix(' ').and_then(|r| r.strip_prefix('.'));
            match after {
                Some(r) if in_host && r.starts_with(|c: char| c.is_ascii_alphanumeric()) => {
                    let more = r.find(|c: char| !url_char(c)).unwrap_or(r.len());
                    joined.push('.');
                    joined.push_str(&r[..more]);
                    len += 2 + more;
                }
                _ => break,
            }
        }
        let url = joined.trim_end_matches(['.', ',', ';', ':', ')', ']', '!', '?']);
        from = start + len.max(1);
        let host_part = url.split_once("://").map_or("", |(_, r)| r);
        if host_part.is_empty() || url.len() > 4096 {
            continue;
        }
        if found.insert(url.to_owned()) {
            out.push(url.to_owned());
        }
    }
    out
}

/// The values of `href` / `src` / `action` attributes in an HTML document,
/// entity-decoded: links whose visible text says something else.
pub fn html_links(html: &str, max: usize) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    for attr in ["href", "src", "action"] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(attr) {
            let at = from + i + attr.len();
            from = at;
            let rest = lower[at..].trim_start();
            let Some(rest) = rest.strip_prefix('=') else {
                continue;
            };
            let value_start = lower.len() - rest.trim_start().len();
            let quote = html[value_start..].chars().next();
            let (start, end_char) = match quote {
                Some(q @ ('"' | '\'')) => (value_start + 1, Some(q)),
                _ => (value_start, None),
            };
            let tail = &html[start..];
            let len = match end_char {
                Some(q) => tail.find(q).unwrap_or(tail.len()),
                None => tail
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(tail.len()),
            };
            let value = decode_html_entities(tail[..len].trim());
            if value.len() <= 4096 {
                out.push(value);
            }
            if out.len() >= max {
                return out;
            }
        }
    }
    out
}

/// IPv4 addresses in `text` written as dotted quads (refanged first).
pub fn ipv4s(text: &str, max: usize) -> Vec<Ipv4Addr> {
    let text = refang(text);
    let mut out = BTreeSet::new();
    for token in text.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        let token = token.trim_matches('.');
        if token.len() >= 7 && token.matches('.').count() == 3 {
            if let Ok(ip) = token.parse::<Ipv4Addr>() {
                out.insert(ip);
                if out.len() >= max {
                    break;
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Whether `ip` belongs to the reporting organisation's own network or to
/// nobody (private, loopback, link-local, shared, unspecified): such
/// addresses reveal the member's topology and link nothing, so intake
/// never forwards them. Documentation ranges are kept (the fusion
/// service's warn-list decides about those).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                // Multicast (224/4), reserved (240/4) and "this network"
                // (0/8): no host on the Internet relays mail from them.
                || v4.is_multicast()
                || o[0] >= 240
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// A date as members and formats write it (CSV `first_seen`, STIX
/// `valid_from`, MISP `first_seen`, TAXII `added_after`): `YYYY-MM-DD`,
/// optionally followed by `THH:MM[:SS]` and `Z`, as UTC
/// milliseconds.
pub fn timestamp_ms(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    let (date, time) = s.split_once(['T', ' ']).unwrap_or((s, "00:00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let time = time.split(['.', '+']).next().unwrap_or("");
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min) = (t.next()??, t.next()??);
    let sec = t.next().flatten().unwrap_or(0);
    if h > 23 || min > 59 || sec > 60 {
        return None;
    }
    let (y, m, day) = (
        i32::try_from(y).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(day).ok()?,
    );
    let ms = cisp_model::calendar::millis(y, m, day, 0, 0, 0);
    Some(ms + ((h * 60 + min) * 60 + sec) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_defanged_and_entity_hidden_urls() {
        let text = "see hxxps://evil[.]example/login?a=1. Also &#104;ttp&#58;//b.example.net/x, and http://b.example.net/x again";
        assert_eq!(
            urls(text, 10),
            vec!["https://evil.example/login?a=1", "http://b.example.net/x"]
        );
        assert_eq!(urls(text, 1).len(), 1);
    }

    #[test]
    fn html_attributes_are_read_whatever_the_quoting() {
        let html = r#"<a HREF="https://pay.example.com/&#x6c;ogin">Your bank</a><img src=http://x.example/i.png><form action='https://f.example/p'>"#;
        assert_eq!(
            html_links(html, 10),
            vec![
                "https://pay.example.com/login",
                "http://x.example/i.png",
                "https://f.example/p"
            ]
        );
    }

    #[test]
    fn finds_ipv4_and_skips_internal_ones() {
        let ips = ipv4s(
            "from relay (203.0.113.9) via 10.1.2.3 and 999.1.1.1 and 192[.]0[.]2[.]7",
            10,
        );
        let s: Vec<String> = ips.iter().map(ToString::to_string).collect();
        assert_eq!(s, vec!["10.1.2.3", "192.0.2.7", "203.0.113.9"]);
        assert!(is_internal("224.0.0.251".parse().expect("ip")), "multicast");
        assert!(is_internal("ff02::fb".parse().expect("ip")), "multicast");
        assert!(is_internal("10.1.2.3".parse().expect("ip")));
        assert!(is_internal("100.64.0.1".parse().expect("ip")));
        assert!(!is_internal("203.0.113.9".parse().expect("ip")));
        assert!(is_internal("fe80::1".parse().expect("ip")));
    }

    #[test]
    fn entity_decoding_is_safe_on_odd_input() {
        assert_eq!(
            decode_html_entities("a & b &#xZZ; &#99999999; &amp"),
            "a & b &#xZZ; &#99999999; &amp"
        );
        assert_eq!(decode_html_entities("&#x2F;&sol;"), "//");
        assert_eq!(excerpt(&"é".repeat(100)).chars().count(), 41);
        // Found by the fuzzer: a multi-byte character across byte 12.
        assert_eq!(
            decode_html_entities("&\u{fe}\u{fe}\u{fe}\u{fe}\u{fe}。x"),
            "&\u{fe}\u{fe}\u{fe}\u{fe}\u{fe}。x"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(timestamp_ms("1970-01-01"), Some(0));
        assert_eq!(
            timestamp_ms("2026-07-01T12:30:00Z"),
            Some(1_782_909_000_000)
        );
        assert_eq!(timestamp_ms("2026-13-01"), None);
        assert_eq!(timestamp_ms("yesterday"), None);
    }

    #[test]
    fn space_defanged_hosts_and_mislabelled_utf8_are_read_as_written() {
        assert_eq!(
            urls(
                "go to hxxps://www .evil .example/x now. And https://a.example .",
                10
            ),
            vec!["https://www.evil.example/x", "https://a.example"]
        );
        assert_eq!(
            undo_mojibake("https://b.example/Â®x"),
            "https://b.example/®x"
        );
        assert_eq!(undo_mojibake("café ®"), "café ®", "real Latin-1 text stays");
        assert_eq!(undo_mojibake("plain"), "plain");
    }
}
