//! The public suffix list: which part of a host name anyone can register
//! under (`co.uk`, `github.io`), so `a.evil.co.uk` and `b.evil.co.uk` are
//! known to share the registrable domain `evil.co.uk` while `a.github.io`
//! and `b.github.io` are known not to.
//!
//! The list ships in the repo (`data/public_suffix_list.dat`, MPL 2.0) and
//! is compiled in; replacing the file and rebuilding updates it.

use std::collections::HashSet;

/// The list as shipped with this build.
pub const SHIPPED: &str = include_str!("../../../data/public_suffix_list.dat");

/// Parsed rules. Host names are expected normalised (lower-case ASCII,
/// punycode for IDNs, no trailing dot), as [`cisp_model::Observable`]
/// guarantees; rules written in Unicode are converted to punycode on load.
#[derive(Debug, Default)]
pub struct PublicSuffixList {
    /// `co.uk`
    rules: HashSet<Box<str>>,
    /// `*.ck` stored as `ck`
    wildcards: HashSet<Box<str>>,
    /// `!www.ck` stored as `www.ck`
    exceptions: HashSet<Box<str>>,
}

impl PublicSuffixList {
    pub fn parse(text: &str) -> PublicSuffixList {
        let mut psl = PublicSuffixList::default();
        for line in text.lines() {
            // A rule is the first word of a line; comments start with //.
            let Some(rule) = line.split_whitespace().next() else {
                continue;
            };
            if rule.starts_with("//") {
                continue;
            }
            let (set, rule) = if let Some(r) = rule.strip_prefix('!') {
                (&mut psl.exceptions, r)
            } else if let Some(r) = rule.strip_prefix("*.") {
                (&mut psl.wildcards, r)
            } else {
                (&mut psl.rules, rule)
            };
            let ascii = if rule.is_ascii() {
                Some(rule.to_ascii_lowercase())
            } else {
                idna::domain_to_ascii(rule).ok()
            };
            if let Some(a) = ascii.filter(|a| !a.is_empty()) {
                set.insert(a.into_boxed_str());
            }
        }
        psl
    }

    pub fn shipped() -> PublicSuffixList {
        PublicSuffixList::parse(SHIPPED)
    }

    pub fn len(&self) -> usize {
        self.rules.len() + self.wildcards.len() + self.exceptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The public suffix of `host` (the default rule `*` applies when no
    /// rule matches: the last label).
    pub fn suffix<'h>(&self, host: &'h str) -> &'h str {
        let host = host.trim_end_matches('.');
        // Candidate suffixes from longest to shortest: the whole name, then
        // after each dot.
        let starts = std::iter::once(0).chain(host.match_indices('.').map(|(i, _)| i + 1));
        for start in starts {
            let candidate = &host[start..];
            if self.exceptions.contains(candidate) {
                // An exception's public suffix is the rule minus its first label.
                return candidate
                    .split_once('.')
                    .map_or(candidate, |(_, rest)| rest);
            }
            if self.rules.contains(candidate) {
                return candidate;
            }
            if let Some((_, parent)) = candidate.split_once('.') {
                if self.wildcards.contains(parent) {
                    return candidate;
                }
            }
        }
        host.rsplit_once('.').map_or(host, |(_, last)| last)
    }

    /// The registrable domain of `host`: its public suffix plus one label.
    /// `None` when the host is itself a public suffix (or empty).
    pub fn registrable<'h>(&self, host: &'h str) -> Option<&'h str> {
        let host = host.trim_end_matches('.');
        let suffix = self.suffix(host);
        if suffix.len() >= host.len() {
            return None;
        }
        let head = &host[..host.len() - suffix.len() - 1];
        let start = head.rfind('.').map_or(0, |i| i + 1);
        Some(&host[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains_follow_the_rules() {
        let psl = PublicSuffixList::parse(
            "// comment\ncom\nuk\nco.uk\n*.ck\n!www.ck\ngithub.io\n// ===BEGIN\nxn--p1ai\n",
        );
        assert_eq!(psl.registrable("a.b.evil.com"), Some("evil.com"));
        assert_eq!(psl.registrable("evil.com"), Some("evil.com"));
        assert_eq!(psl.registrable("com"), None);
        assert_eq!(psl.registrable("x.evil.co.uk"), Some("evil.co.uk"));
        assert_eq!(psl.registrable("co.uk"), None);
        assert_eq!(psl.registrable("a.b.foo.ck"), Some("b.foo.ck"));
        assert_eq!(psl.registrable("foo.ck"), None);
        assert_eq!(psl.registrable("www.ck"), Some("www.ck"));
        assert_eq!(psl.registrable("a.www.ck"), Some("www.ck"));
        assert_eq!(psl.registrable("me.github.io"), Some("me.github.io"));
        assert_eq!(psl.registrable("x.me.github.io"), Some("me.github.io"));
        // Unlisted TLD: the default rule `*`.
        assert_eq!(
            psl.registrable("host.load-3.example"),
            Some("load-3.example")
        );
        assert_eq!(psl.registrable("example"), None);
        assert_eq!(psl.registrable(""), None);
    }

    #[test]
    fn the_shipped_list_knows_common_suffixes() {
        let psl = PublicSuffixList::shipped();
        assert!(psl.len() > 5000, "{} rules", psl.len());
        assert_eq!(psl.registrable("mail.evil.co.uk"), Some("evil.co.uk"));
        assert_eq!(psl.registrable("a.evil.com.au"), Some("evil.com.au"));
        assert_eq!(psl.registrable("user.github.io"), Some("user.github.io"));
        assert_eq!(
            psl.registrable("x.y.s3.amazonaws.com"),
            Some("y.s3.amazonaws.com")
        );
        // Unicode rules are loaded as punycode (рф).
        assert_eq!(
            psl.registrable("a.xn--80akhbyknj4f.xn--p1ai"),
            Some("xn--80akhbyknj4f.xn--p1ai")
        );
    }
}
