//! Phishing e-mail analysis: an `.eml` (RFC 5322, MIME) becomes one
//! submission of kind PHISHING carrying what identifies the campaign, and
//! nothing that identifies the victim.
//!
//! Taken: the `From`, `Sender`, `Reply-To` and `Return-Path` addresses
//! and the `From` of an inline-forwarded block (role SENDER) — except what
//! the sender rule ([`withheld_sender`]) withholds: recipients, the
//! member's own domains, bounce addresses; the relays' IP addresses from
//! the `from` clauses of the `Received` headers (internal, multicast and
//! reserved addresses dropped: they describe the member's own network or
//! no host at all); the SPF, DKIM and DMARC verdicts of
//! `Authentication-Results` / `Received-SPF` (into the description); every
//! URL in the text and HTML parts, including links hidden in attributes,
//! HTML entities or defanged (role PAYLOAD_DELIVERY); every attachment's
//! name, type (from its bytes) and MD5/SHA-1/SHA-256.
//!
//! Never taken: recipients (`To`, `Cc`: the victims), body text, the
//! attachments themselves. The raw message is not stored or forwarded.
//!
//! When the upload is a report that carries the phishing e-mail as a
//! `message/rfc822` attachment (how most people forward a suspect
//! message), the innermost attached message is the one analysed, through
//! any number of forwards (`Fwd: Fwd:`, up to eight); the people who
//! forwarded it are the member's own and never senders. A multipart whose
//! closing boundary is missing is closed before parsing, and text written
//! in UTF-8 under a Windows-1252 label is read as written.

use std::net::IpAddr;

use cisp_model::{ObservableKind, ObservableRole, SubmissionKind};
use mail_parser::{Message, MessageParser, MimeHeaders};

use crate::collect::Collector;
use crate::text::{self, excerpt};
use crate::triage::{self, FileType};
use crate::{Converted, Envelope, IntakeError};

/// URLs taken per message.
const MAX_URLS: usize = 200;
/// Attachments analysed per message.
const MAX_ATTACHMENTS: usize = 50;

/// The IPs in the `from` clause of one `Received` header value.
pub fn received_from_ips(value: &str) -> Vec<IpAddr> {
    let lower = value.to_ascii_lowercase();
    let end = [" by ", "\tby ", "\nby ", ";"]
        .iter()
        .filter_map(|k| lower.find(k))
        .min()
        .unwrap_or(lower.len());
    let from = &value[..end];
    let mut out = Vec::new();
    for chunk in from.split(['[', ']', '(', ')', ' ', '\t', '\r', '\n', '=']) {
        let c = chunk
            .trim()
            .trim_start_matches("IPv6:")
            .trim_start_matches("ipv6:");
        if let Ok(ip) = c.parse::<IpAddr>() {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// `spf=fail` → ("spf", "fail") for the three mechanisms, first verdict of
/// each.
pub fn auth_verdicts(values: &[String]) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for v in values {
        let lower = v.to_ascii_lowercase();
        for mech in ["spf", "dkim", "dmarc"] {
            if out.iter().any(|(m, _)| *m == mech) {
                continue;
            }
            let key = format!("{mech}=");
            let found = lower
                .match_indices(&key)
                .find(|(i, _)| *i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric());
            if let Some((i, _)) = found {
                let verdict: String = lower[i + key.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .take(16)
                    .collect();
                if !verdict.is_empty() {
                    out.push((mech, verdict));
                }
            }
        }
    }
    out
}

fn header_values(msg: &Message<'_>, name: &str) -> Vec<String> {
    msg.headers_raw()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .take(100)
        .collect()
}

/// The visible text of an HTML document, split into what is outside any
/// `<a>` element and what is inside one (a link's shown text). Tags and
/// attribute values are not text.
fn html_text(html: &str) -> (String, String) {
    let (mut outside, mut inside) = (String::new(), String::new());
    let mut depth = 0usize;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        let target = if depth > 0 { &mut inside } else { &mut outside };
        target.push_str(&rest[..lt]);
        target.push(' ');
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[lt + 1..lt + gt].trim_start().to_ascii_lowercase();
        if tag == "a" || tag.starts_with("a ") || tag.starts_with("a\t") || tag.starts_with("a\n") {
            depth += 1;
        } else if tag.starts_with("/a") && tag[2..].trim().is_empty() {
            depth = depth.saturating_sub(1);
        }
        rest = &rest[lt + gt + 1..];
    }
    outside.push_str(rest);
    (
        text::decode_html_entities(&outside),
        text::decode_html_entities(&inside),
    )
}

fn same_link(a: &str, b: &str) -> bool {
    let norm = |s: &str| text::refang(s).trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// The To, Cc and Bcc addresses (the first 100 of each list).
fn recipients<'a>(msg: &'a Message<'a>) -> impl Iterator<Item = &'a mail_parser::Addr<'a>> {
    [msg.to(), msg.cc(), msg.bcc()]
        .into_iter()
        .flatten()
        .flat_map(|list| list.iter().take(100))
}

/// What identifies the recipients (the victims) in a link: their
/// addresses and local parts, also without dots (`j.smith` → `jsmith`),
/// lower-cased; parts shorter than 4 characters are too common to test.
fn recipient_tokens(msg: &Message<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |addr: &str| {
        let a = addr.trim().to_ascii_lowercase();
        if let Some((local, _)) = a.split_once('@') {
            for t in [local.to_owned(), local.replace(['.', '_', '-'], "")] {
                if t.len() >= 4 && !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        if a.contains('@') && !out.contains(&a) {
            out.push(a);
        }
    };
    for a in recipient_addresses(msg) {
        add(&a);
    }
    out
}

/// Every address a message was delivered to: its To, Cc and Bcc and the
/// `Delivered-To` / `X-Original-To` the receiving system added.
fn recipient_addresses<'a>(msg: &'a Message<'a>) -> impl Iterator<Item = String> + 'a {
    recipients(msg)
        .filter_map(|x| x.address.as_deref().map(str::to_owned))
        .chain(
            ["Delivered-To", "X-Original-To"]
                .into_iter()
                .flat_map(move |name| header_values(msg, name))
                .map(|v| v.trim_matches(['<', '>', ' ']).to_owned()),
        )
}

/// The recipients' display-name words and address local parts (at least
/// four characters), lower-cased: what a subject line may greet them by.
fn recipient_names(msg: &Message<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in recipients(msg) {
        let name = x.name.as_deref().unwrap_or("");
        let local = x
            .address
            .as_deref()
            .and_then(|a| a.split('@').next())
            .unwrap_or("");
        for w in name
            .split(|c: char| !c.is_alphanumeric())
            .chain(local.split(['.', '_', '-', '+']))
        {
            let w = w.to_lowercase();
            if w.chars().count() >= 4 && !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out
}

/// `text` with every whole word in `names` replaced by `[recipient]`.
fn mask_names(text: &str, names: &[String]) -> String {
    if names.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if names.contains(&word.to_lowercase()) {
            out.push_str("[recipient]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Forwards unwrapped at most (`Fwd: Fwd: …`).
const MAX_FORWARDS: usize = 8;

/// The message to analyse — the innermost attached `message/rfc822` when
/// the upload forwards one (possibly forwarded again: `Fwd: Fwd:`), else
/// the upload itself — and the messages that forwarded it, outermost
/// first. Their senders and recipients are the member's own people.
fn innermost<'a>(msg: &'a Message<'a>) -> (&'a Message<'a>, Vec<&'a Message<'a>>) {
    let mut current = msg;
    let mut wrappers = Vec::new();
    'unwrap: for _ in 0..MAX_FORWARDS {
        for part in current.attachments() {
            if let Some(inner) = part.message() {
                wrappers.push(current);
                current = inner;
                continue 'unwrap;
            }
        }
        break;
    }
    (current, wrappers)
}

/// Who an analysed message must never name as a sender (the privacy rule
/// of [`withheld_sender`]).
struct People {
    /// Addresses, lower-cased: every recipient of the analysed message and
    /// of the messages that forwarded it, and those messages' senders.
    addresses: Vec<String>,
    /// The reporting organisation's own domains (registry), lower-cased.
    own_domains: Vec<String>,
}

impl People {
    fn of(msg: &Message<'_>, wrappers: &[&Message<'_>], own_domains: &[String]) -> People {
        let mut addresses: Vec<String> = Vec::new();
        let mut add = |a: &str| {
            let a = a.trim().trim_matches(['<', '>']).to_ascii_lowercase();
            if a.contains('@') && !addresses.contains(&a) && addresses.len() < 1000 {
                addresses.push(a);
            }
        };
        for m in std::iter::once(msg).chain(wrappers.iter().copied()) {
            for a in recipient_addresses(m) {
                add(&a);
            }
        }
        for w in wrappers {
            for list in [w.from(), w.sender(), w.reply_to()].into_iter().flatten() {
                for x in list.iter().take(10) {
                    if let Some(a) = x.address.as_deref() {
                        add(a);
                    }
                }
            }
            for v in header_values(w, "Return-Path") {
                add(&v);
            }
        }
        People {
            addresses,
            own_domains: own_domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
        }
    }
}

/// The privacy rule for e-mail, in one place (README "Intake"): an
/// address is never published as a sender when it is — or equals — a
/// recipient of the message or of a message that forwarded it (a Reply-To
/// set to the victim, sextortion spoofing the victim as From, a colleague
/// in a forward chain), when it is under one of the reporting
/// organisation's own domains, or when it is a receiving system's bounce
/// address (`MAILER-DAEMON`, `postmaster`, the null path). The reason is
/// returned; the address itself is never repeated anywhere.
fn withheld_sender(addr: &str, people: &People) -> Option<&'static str> {
    let a = addr.trim().trim_matches(['<', '>']).to_ascii_lowercase();
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Some("not an address (the null path)");
    };
    if people.addresses.contains(&a) {
        return Some("a recipient of the message, or one who forwarded it");
    }
    let under = |own: &String| domain == own || domain.ends_with(&format!(".{own}"));
    if people.own_domains.iter().any(under) {
        return Some("an address of the reporting organisation's own domains");
    }
    if matches!(local, "mailer-daemon" | "postmaster") {
        return Some("a mail system's bounce address");
    }
    None
}

/// The `From:` address of the deepest inline-forwarded block of a text
/// body, if the body forwards one.
fn inline_forward_sender(body: &str) -> Option<String> {
    let mut found = None;
    let mut in_block = false;
    for line in body.lines().take(2000) {
        let l = line.trim().trim_start_matches('>').trim();
        let lower = l.to_ascii_lowercase();
        if lower.contains("forwarded message") || lower.contains("original message") {
            in_block = true;
            continue;
        }
        if in_block {
            if let Some(v) = l.strip_prefix("From:").or_else(|| l.strip_prefix("from:")) {
                let addr = match (v.find('<'), v.rfind('>')) {
                    (Some(a), Some(b)) if a < b => &v[a + 1..b],
                    _ => v.trim(),
                };
                if addr.contains('@') && !addr.contains(char::is_whitespace) {
                    found = Some(addr.to_owned());
                }
                in_block = false;
            } else if l.is_empty() {
                in_block = false;
            }
        }
    }
    found
}

/// Re-adds the closing boundary of every multipart a message declares
/// but never closes (mail clients, gateways and truncating copies drop
/// them): without it the last part is not decoded — quoted-printable
/// stays encoded and an HTML body reads as an unnamed attachment.
fn close_boundaries(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let lower = bytes.to_ascii_lowercase();
    let mut declared: Vec<Vec<u8>> = Vec::new();
    let mut from = 0;
    while declared.len() < 20 {
        let Some(i) = find(&lower[from..], b"boundary=") else {
            break;
        };
        let start = from + i + b"boundary=".len();
        from = start;
        let rest = &bytes[start..];
        let value: &[u8] = if rest.first() == Some(&b'"') {
            let end = rest[1..].iter().position(|&c| c == b'"').unwrap_or(0);
            &rest[1..1 + end]
        } else {
            let end = rest
                .iter()
                .position(|&c| c.is_ascii_whitespace() || c == b';')
                .unwrap_or(rest.len());
            &rest[..end]
        };
        if !value.is_empty() && value.len() <= 200 && !declared.iter().any(|d| d == value) {
            declared.push(value.to_vec());
        }
    }
    let open: Vec<&Vec<u8>> = declared
        .iter()
        .filter(|b| {
            let mut close = b"--".to_vec();
            close.extend_from_slice(b);
            close.extend_from_slice(b"--");
            find(bytes, &close).is_none()
        })
        .collect();
    if open.is_empty() {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = bytes.to_vec();
    // Innermost (declared last) first.
    for b in open.iter().rev() {
        out.extend_from_slice(b"\r\n--");
        out.extend_from_slice(b);
        out.extend_from_slice(b"--\r\n");
    }
    std::borrow::Cow::Owned(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn import(bytes: &[u8], envelope: &Envelope) -> Result<Converted, IntakeError> {
    // mail-parser 0.11.9 can panic on hostile MIME nesting ("Invalid part
    // ID, could not find multipart", found by our fuzzer): a message it
    // cannot walk is malformed input, not a reason to take the process down.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| analyse(bytes, envelope)))
        .unwrap_or_else(|_| {
            Err(IntakeError::malformed(
                "eml",
                "the MIME structure could not be parsed",
            ))
        })
}

fn analyse(bytes: &[u8], envelope: &Envelope) -> Result<Converted, IntakeError> {
    if bytes.is_empty() {
        return Err(IntakeError::malformed("eml", "the file is empty"));
    }
    let looks_like_mail = bytes.split(|b| *b == b'\n').take(50).any(|line| {
        let l = String::from_utf8_lossy(line).to_ascii_lowercase();
        [
            "from:",
            "received:",
            "subject:",
            "return-path:",
            "message-id:",
        ]
        .iter()
        .any(|h| l.starts_with(h))
    });
    if !looks_like_mail {
        return Err(IntakeError::malformed(
            "eml",
            "no RFC 5322 header (From:, Received:, Subject:…) in the first lines",
        ));
    }
    let repaired = close_boundaries(bytes);
    let outer = MessageParser::default()
        .parse(&repaired[..])
        .ok_or_else(|| IntakeError::malformed("eml", "not an RFC 5322 message"))?;
    let (msg, wrappers) = innermost(&outer);
    let wrapped = !wrappers.is_empty();
    let people = People::of(msg, &wrappers, &envelope.own_domains);
    let mut c = Collector::new("eml");
    c.kind = Some(SubmissionKind::Phishing);
    let sent_at = msg.date().map(|d| d.to_timestamp() * 1000);
    // Subjects often greet the victim by name ("Alice, your salary"):
    // the recipients' names and address parts are masked in the title.
    let subject = msg
        .subject()
        .map(|s| mask_names(&text::excerpt(s.trim()), &recipient_names(msg)));
    c.title = Some(match &subject {
        Some(s) if !s.is_empty() => format!("Phishing e-mail: {s}"),
        _ => "Phishing e-mail".to_owned(),
    });
    let mut lines = Vec::new();
    if wrapped {
        lines.push(format!(
            "Analysed the e-mail attached to the upload (message/rfc822{}).",
            if wrappers.len() > 1 {
                format!(", forwarded {} times", wrappers.len())
            } else {
                String::new()
            }
        ));
    }
    if matches!(repaired, std::borrow::Cow::Owned(_)) {
        c.skip("a multipart part was never closed: read to the end of the message");
    }
    // Senders.
    let mut senders: Vec<(&str, String)> = Vec::new();
    for (label, addr) in [
        ("From", msg.from()),
        ("Sender", msg.sender()),
        ("Reply-To", msg.reply_to()),
    ] {
        if let Some(a) = addr {
            for x in a.iter().take(10) {
                if let Some(e) = x.address.as_deref() {
                    senders.push((label, e.to_owned()));
                }
            }
        }
    }
    // Forwarded inline (no attachment: "---------- Forwarded message
    // ---------", "-----Original Message-----"): the sender named in the
    // quoted header block of the deepest forward is the original sender.
    for part in msg.text_bodies().take(5) {
        if part.is_text_html() {
            continue;
        }
        if let Some(addr) = part.text_contents().and_then(inline_forward_sender) {
            senders.push(("Forwarded From", addr));
        }
    }
    for v in header_values(msg, "Return-Path") {
        let v = v.trim_matches(['<', '>', ' ']);
        if !v.is_empty() {
            senders.push(("Return-Path", v.to_owned()));
        }
    }
    for (label, e) in &senders {
        if let Some(why) = withheld_sender(e, &people) {
            c.skip(format!("{label} address withheld: {why}"));
            lines.push(format!("{label}: withheld ({why})."));
            continue;
        }
        if c.observable(
            ObservableKind::Email,
            e,
            Some(ObservableRole::Sender),
            sent_at,
        ) {
            lines.push(format!("{label}: {}", excerpt(e)));
        }
    }
    // Relays.
    let mut relays = 0;
    for v in header_values(msg, "Received") {
        for ip in received_from_ips(&v) {
            if text::is_internal(ip) {
                continue; // the member's own network, multicast, reserved
            }
            if c.ip(&ip.to_string(), Some(ObservableRole::Sender), sent_at) {
                relays += 1;
            }
        }
    }
    if relays > 0 {
        lines.push(format!(
            "{relays} external relay address(es) from Received headers."
        ));
    }
    // Verdicts.
    let mut auth = header_values(msg, "Authentication-Results");
    auth.extend(
        header_values(msg, "Received-SPF")
            .into_iter()
            .map(|v| format!("spf={v}")),
    );
    let verdicts = auth_verdicts(&auth);
    if !verdicts.is_empty() {
        lines.push(format!(
            "Authentication: {}.",
            verdicts
                .iter()
                .map(|(m, v)| format!("{}={v}", m.to_ascii_uppercase()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // Links: in HTML, where links lead (href, src, action) and URLs written
    // as text, but not a link's shown text, which phishers fill with the
    // victim's own addresses (a link whose shown text names another
    // address than its target is noted, without that text); in plain
    // text, every URL.
    let mut urls = Vec::new();
    let mut disguised = 0;
    for part in msg.html_bodies() {
        if !part.is_text_html() {
            continue;
        }
        if let Some(html) = part.text_contents() {
            let html = text::undo_mojibake(html);
            let html = html.as_ref();
            let targets = text::html_links(html, MAX_URLS);
            let (outside, inside) = html_text(html);
            let shown = text::urls(&inside, MAX_URLS);
            disguised += shown
                .iter()
                .filter(|s| !targets.iter().any(|t| same_link(t, s)))
                .count();
            urls.extend(targets);
            urls.extend(text::urls(&outside, MAX_URLS));
        }
    }
    for part in msg.text_bodies() {
        if part.is_text_html() {
            continue;
        }
        if let Some(t) = part.text_contents() {
            urls.extend(text::urls(&text::undo_mojibake(t), MAX_URLS));
        }
    }
    if disguised > 0 {
        lines.push(format!(
            "{disguised} link(s) whose visible text shows another address than the link's target."
        ));
    }
    let victims = recipient_tokens(msg);
    let mut link_count = 0;
    let mut redacted = 0;
    for u in urls.iter().take(MAX_URLS * 2) {
        let u = text::refang(u);
        let lower = u.to_ascii_lowercase();
        if !(lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("ftp://"))
        {
            continue; // mailto:, cid:, anchors
        }
        // Per-victim tracking links name the recipient: keep the link
        // without its query, or not at all if the path names them too.
        let u = if victims.iter().any(|v| lower.contains(v.as_str())) {
            redacted += 1;
            let base = u.split(['?', '#']).next().unwrap_or("").to_owned();
            let base_lower = base.to_ascii_lowercase();
            if victims.iter().any(|v| base_lower.contains(v.as_str())) {
                continue;
            }
            base
        } else {
            u
        };
        if c.observable(
            ObservableKind::Url,
            &u,
            Some(ObservableRole::PayloadDelivery),
            sent_at,
        ) {
            link_count += 1;
        }
    }
    if redacted > 0 {
        lines.push(format!(
            "{redacted} link(s) named the recipient: kept without their query, or left out."
        ));
    }
    if link_count > 0 {
        lines.push(format!(
            "{link_count} distinct link(s) in the message body."
        ));
    }
    // Attachments (an attached message was analysed above, not hashed).
    for (i, part) in msg.attachments().enumerate() {
        if i >= MAX_ATTACHMENTS {
            c.skip(format!(
                "attachments after the first {MAX_ATTACHMENTS} were not analysed"
            ));
            break;
        }
        if part.message().is_some() {
            continue;
        }
        let data = part.contents();
        let name = part.attachment_name().map(str::to_owned);
        let hashes = triage::Hashes::of(data);
        let file_type = FileType::detect(data);
        let role = Some(ObservableRole::PayloadDelivery);
        if let Some(n) = &name {
            c.observable(ObservableKind::Filename, n, role, sent_at);
        }
        c.observable(ObservableKind::Sha256, &hashes.sha256, role, sent_at);
        c.observable(ObservableKind::Sha1, &hashes.sha1, role, sent_at);
        c.observable(ObservableKind::Md5, &hashes.md5, role, sent_at);
        let declared = part
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")))
            .unwrap_or_default();
        lines.push(format!(
            "Attachment {}: {} bytes, {}{}, SHA-256 {}.",
            excerpt(name.as_deref().unwrap_or("(unnamed)")),
            data.len(),
            file_type.name(),
            if declared.is_empty() {
                String::new()
            } else {
                format!(" (declared {})", excerpt(&declared))
            },
            hashes.sha256
        ));
    }
    c.description = lines;
    c.finish(envelope, SubmissionKind::Phishing, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        crate::test_envelope()
    }

    #[test]
    fn received_and_auth_headers() {
        let ips = received_from_ips(
            "from mail.bad.example (unknown [203.0.113.77])\r\n\tby mx.northbank.example (Postfix) with ESMTP id 1; Tue, 1 Jul 2026",
        );
        assert_eq!(ips, vec!["203.0.113.77".parse::<IpAddr>().expect("ip")]);
        let ips = received_from_ips("from x ([IPv6:2001:db8::5]) by y");
        assert_eq!(ips, vec!["2001:db8::5".parse::<IpAddr>().expect("ip")]);
        let v = auth_verdicts(&[
            "mx.example; spf=softfail smtp.mailfrom=a; dkim=none; dmarc=fail (p=reject)".into(),
        ]);
        assert_eq!(
            v,
            vec![
                ("spf", "softfail".into()),
                ("dkim", "none".into()),
                ("dmarc", "fail".into())
            ]
        );
    }

    #[test]
    fn a_multipart_phish_is_analysed_without_its_victims() {
        let eml = concat!(
            "Return-Path: <bounce@bad-mailer.example>\r\n",
            "Received: from relay.bad.example (relay.bad.example [198.51.100.23])\r\n",
            "\tby mx.northbank.example with ESMTP; Tue, 1 Jul 2026 09:00:00 +0000\r\n",
            "Received: from internal (10.0.0.5) by mx2.northbank.example; Tue, 1 Jul 2026 09:00:01 +0000\r\n",
            "Authentication-Results: mx.northbank.example; spf=fail smtp.mailfrom=bad-mailer.example; dkim=none; dmarc=fail\r\n",
            "From: \"Payroll\" <payroll@paye-update.example>\r\n",
            "Reply-To: payroll-help@freemail.example\r\n",
            "To: alice.victim@northbank.example\r\n",
            "Subject: Action required: salary update\r\n",
            "Date: Tue, 1 Jul 2026 08:59:00 +0000\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
            "\r\n",
            "--b1\r\n",
            "Content-Type: text/html; charset=utf-8\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "\r\n",
            "<p>Dear Alice, <a href=3D\"https://paye-update.example/&#108;ogin?id=3D7\">https://northbank.example/</a></p>\r\n",
            "<p>or visit hxxps://backup-site[.]example/verify</p>\r\n",
            "--b1\r\n",
            "Content-Type: application/octet-stream; name=\"salary.xlsm\"\r\n",
            "Content-Disposition: attachment; filename=\"salary.xlsm\"\r\n",
            "Content-Transfer-Encoding: base64\r\n",
            "\r\n",
            "UEsDBBQAAAAIAA==\r\n",
            "--b1--\r\n",
        );
        let c = import(eml.as_bytes(), &env()).expect("converts");
        let r = &c.record;
        assert_eq!(r.kind, SubmissionKind::Phishing);
        assert_eq!(r.title, "Phishing e-mail: Action required: salary update");
        let values = crate::test_values(&c);
        for want in [
            "payroll@paye-update.example",
            "payroll-help@freemail.example",
            "bounce@bad-mailer.example",
            "198.51.100.23",
            "https://paye-update.example/login?id=7",
            "https://backup-site.example/verify",
            "salary.xlsm",
        ] {
            assert!(values.contains(&want), "{want} missing from {values:?}");
        }
        for never in ["alice.victim@northbank.example", "10.0.0.5"] {
            assert!(!values.contains(&never), "{never} must not be forwarded");
        }
        let d = r.description.as_deref().unwrap_or("");
        assert!(d.contains("SPF=fail, DKIM=none, DMARC=fail"), "{d}");
        assert!(
            d.contains("ZIP archive"),
            "attachment type from its bytes: {d}"
        );
        assert!(!d.contains("Dear Alice"), "no body text: {d}");
        assert!(
            d.contains("1 link(s) whose visible text shows another address"),
            "{d}"
        );
        assert!(
            !values.contains(&"https://northbank.example/"),
            "a link's shown text is not taken"
        );
        assert_eq!(r.observables[0].first_seen, Some(1_782_896_340_000));
    }

    #[test]
    fn links_that_name_the_recipient_lose_their_query() {
        let eml = "From: x@bad.example\r\nTo: J.Smith@northbank.example\r\nSubject: s\r\nContent-Type: text/plain\r\n\r\n\
                   https://bad.example/c?u=jsmith&t=1 https://bad.example/j.smith/page https://bad.example/plain?x=1\r\n";
        let c = import(eml.as_bytes(), &env()).expect("converts");
        let values = crate::test_values(&c);
        assert_eq!(
            values,
            vec![
                "x@bad.example",
                "https://bad.example/c",
                "https://bad.example/plain?x=1"
            ]
        );
        let d = c.record.description.unwrap_or_default();
        assert!(d.contains("2 link(s) named the recipient"), "{d}");
    }

    #[test]
    fn a_subject_that_greets_the_victim_is_masked() {
        let eml =
            "From: x@bad.example\r\nTo: \"Alice Victim\" <alice.victim@northbank.example>\r\n\
                   Subject: Alice, your ALICE.VICTIM account is locked (Alicetown office)\r\n\
                   Content-Type: text/plain\r\n\r\nhttp://bad.example/x\r\n";
        let c = import(eml.as_bytes(), &env()).expect("converts");
        assert_eq!(
            c.record.title,
            "Phishing e-mail: [recipient], your [recipient].[recipient] account is locked (Alicetown office)"
        );
    }

    #[test]
    fn a_forwarded_message_is_analysed_inside() {
        let inner = "From: ceo@spoofed.example\r\nSubject: wire now\r\nContent-Type: text/plain\r\n\r\nhttp://wire.bad.example/pay\r\n";
        let eml = format!(
            "From: soc@northbank.example\r\nSubject: Fwd: suspicious\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--x--\r\n"
        );
        let c = import(eml.as_bytes(), &env()).expect("converts");
        let values = crate::test_values(&c);
        assert_eq!(
            values,
            vec!["ceo@spoofed.example", "http://wire.bad.example/pay"]
        );
        assert_eq!(c.record.title, "Phishing e-mail: wire now");
    }

    #[test]
    fn the_privacy_rule_withholds_recipients_own_domains_and_bounces() {
        let people = People {
            addresses: vec!["alice@northbank.example".into()],
            own_domains: vec!["northbank.example".into()],
        };
        for (addr, withheld) in [
            ("Alice@Northbank.example", true),
            ("carol@mail.northbank.example", true),
            ("MAILER-DAEMON@mx.other.example", true),
            ("postmaster@relay.example", true),
            ("<>", true),
            ("payroll@northbank-example.com", false),
            ("payroll@evilnorthbank.example", false),
        ] {
            assert_eq!(withheld_sender(addr, &people).is_some(), withheld, "{addr}");
        }
    }

    #[test]
    fn unclosed_multiparts_are_closed_and_inline_forwards_read() {
        let open = b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nx\r\n";
        let fixed = close_boundaries(open);
        assert!(fixed.ends_with(b"--b1--\r\n"));
        let closed =
            b"Content-Type: multipart/mixed; boundary=b2\r\n\r\n--b2\r\n\r\nx\r\n--b2--\r\n";
        assert!(matches!(
            close_boundaries(closed),
            std::borrow::Cow::Borrowed(_)
        ));
        let body = "fyi\n---------- Forwarded message ---------\nFrom: A <a@one.example>\n\n> -----Original Message-----\n> From: b@two.example\n";
        assert_eq!(
            inline_forward_sender(body).as_deref(),
            Some("b@two.example")
        );
        assert_eq!(inline_forward_sender("From: c@x.example\nhello"), None);
    }

    #[test]
    fn malformed_mail_is_refused() {
        for (input, want) in [
            (&b""[..], "empty"),
            (&b"%PDF-1.7 not a mail"[..], "no RFC 5322 header"),
            (
                &b"Subject: hello\r\n\r\nno links, no senders\r\n"[..],
                "nothing to submit",
            ),
        ] {
            let e = import(input, &env()).expect_err("refused");
            assert!(e.to_string().contains(want), "{e} should say {want}");
        }
    }
}
