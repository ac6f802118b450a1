//! Warn-lists: values known to be benign or everywhere (public resolvers,
//! private and documentation ranges, very popular domains, the empty
//! file's hashes). They are stored and shown, flagged as likely false
//! positives, and never link two submissions.
//!
//! The lists are data files in `data/warnlists/` (compiled in). Each line
//! is one entry; `#` starts a comment; `# name:` and `# description:`
//! header lines name the list. An entry is an IP address, a CIDR range, a
//! hex hash, or a host name that covers itself and every name under it
//! (`=name` covers exactly that name).

use std::collections::HashSet;
use std::net::IpAddr;

use cisp_model::{Observable, ObservableKind};

use crate::error::EngineError;

/// The lists shipped with this build: (file name, text).
pub const SHIPPED: [(&str, &str); 5] = [
    (
        "public-resolvers",
        include_str!("../../../data/warnlists/public-resolvers.txt"),
    ),
    (
        "private-ranges",
        include_str!("../../../data/warnlists/private-ranges.txt"),
    ),
    (
        "documentation",
        include_str!("../../../data/warnlists/documentation.txt"),
    ),
    (
        "popular-domains",
        include_str!("../../../data/warnlists/popular-domains.txt"),
    ),
    (
        "benign-hashes",
        include_str!("../../../data/warnlists/benign-hashes.txt"),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(s: &str) -> Option<Net> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Net { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// Whether the whole of `other` lies inside this range.
    fn covers(&self, other: &Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }
}

/// One list.
#[derive(Debug, Default)]
pub struct WarnList {
    pub name: String,
    pub description: String,
    ips: HashSet<IpAddr>,
    nets: Vec<Net>,
    names: HashSet<Box<str>>,
    exact_names: HashSet<Box<str>>,
    hashes: HashSet<Box<str>>,
}

impl WarnList {
    /// Parses a list file; `name` is used unless the file names itself.
    /// Lines that are none of the entry forms are errors (a typo in a
    /// warn-list silently disabling an entry is worse than failing).
    pub fn parse(name: &str, text: &str) -> Result<WarnList, EngineError> {
        let mut list = WarnList {
            name: name.to_owned(),
            ..WarnList::default()
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if let Some(comment) = line.strip_prefix('#') {
                let comment = comment.trim();
                if let Some(v) = comment.strip_prefix("name:") {
                    list.name = v.trim().to_owned();
                } else if let Some(v) = comment.strip_prefix("description:") {
                    list.description = v.trim().to_owned();
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let entry = line.to_ascii_lowercase();
            if let Ok(ip) = entry.parse::<IpAddr>() {
                list.ips.insert(ip);
            } else if let Some(net) = Net::parse(&entry) {
                list.nets.push(net);
            } else if matches!(entry.len(), 32 | 40 | 64)
                && entry.bytes().all(|b| b.is_ascii_hexdigit())
            {
                list.hashes.insert(entry.into_boxed_str());
            } else if let Some(exact) = entry.strip_prefix('=') {
                list.exact_names.insert(exact.into());
            } else if entry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            {
                list.names.insert(entry.trim_end_matches('.').into());
            } else {
                return Err(EngineError::Reference {
                    file: name.to_owned(),
                    line: n + 1,
                    message: format!("not an entry: {line:?}"),
                });
            }
        }
        Ok(list)
    }

    fn has_ip(&self, ip: IpAddr) -> bool {
        self.ips.contains(&ip) || self.nets.iter().any(|n| n.contains(ip))
    }

    fn has_net(&self, net: &Net) -> bool {
        self.nets.iter().any(|n| n.covers(net))
    }

    fn has_name(&self, host: &str) -> bool {
        if self.exact_names.contains(host) {
            return true;
        }
        let mut rest = host;
        loop {
            if self.names.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return false,
            }
        }
    }

    pub fn entries(&self) -> usize {
        self.ips.len()
            + self.nets.len()
            + self.names.len()
            + self.exact_names.len()
            + self.hashes.len()
    }
}

/// The enabled lists.
#[derive(Debug, Default)]
pub struct WarnLists {
    lists: Vec<WarnList>,
}

impl WarnLists {
    /// The shipped lists minus those named in `disabled`. Unknown names in
    /// `disabled` are an error (a misspelt name would leave a list on).
    pub fn shipped(disabled: &[String]) -> Result<WarnLists, EngineError> {
        let mut lists = Vec::new();
        for (file, text) in SHIPPED {
            let list = WarnList::parse(file, text)?;
            if !disabled.contains(&list.name) {
                lists.push(list);
            }
        }
        if let Some(unknown) = disabled
            .iter()
            .find(|d| !SHIPPED.iter().any(|(f, _)| f == d))
        {
            return Err(EngineError::UnknownWarnList(unknown.clone()));
        }
        Ok(WarnLists { lists })
    }

    pub fn from_lists(lists: Vec<WarnList>) -> WarnLists {
        WarnLists { lists }
    }

    pub fn lists(&self) -> &[WarnList] {
        &self.lists
    }

    /// Index of the first list that has this observable.
    ///
    /// * IP: listed address or inside a listed range; CIDR: inside a range.
    /// * Domain: the name or a parent is listed.
    /// * URL: its host is listed *and* it names nothing more specific than
    ///   the site (no path beyond `/`, no query): a full URL on a popular
    ///   site is still specific.
    /// * E-mail: never (an address at a popular provider is specific); its
    ///   domain is checked as derived evidence.
    /// * Hashes: listed value.
    pub fn check(&self, o: &Observable) -> Option<u16> {
        let v = o.value();
        let hit = |f: &dyn Fn(&WarnList) -> bool| {
            self.lists
                .iter()
                .position(f)
                .and_then(|i| u16::try_from(i).ok())
        };
        match o.kind() {
            ObservableKind::Ipv4 | ObservableKind::Ipv6 => {
                let ip: IpAddr = v.parse().ok()?;
                hit(&|l| l.has_ip(ip))
            }
            ObservableKind::Cidr => {
                let net = Net::parse(v)?;
                hit(&|l| l.has_net(&net))
            }
            ObservableKind::Domain => hit(&|l| l.has_name(v)),
            ObservableKind::Url => {
                let (_, rest) = v.split_once("://")?;
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let tail = &rest[end..];
                if !(tail.is_empty() || tail == "/") {
                    return None;
                }
                // The host, as the evidence derivation reads it: an IP
                // literal, else the URL's host name.
                match crate::evidence::url_ip(v) {
                    Some(ip) => self.check(&ip),
                    None => {
                        let host = o.host()?;
                        hit(&|l| l.has_name(host))
                    }
                }
            }
            ObservableKind::Md5 | ObservableKind::Sha1 | ObservableKind::Sha256 => {
                hit(&|l| l.hashes.contains(v))
            }
            _ => None,
        }
    }

    /// The name of list `i`.
    pub fn name(&self, i: u16) -> &str {
        self.lists.get(usize::from(i)).map_or("?", |l| &l.name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn obs(kind: ObservableKind, v: &str) -> Observable {
        Observable::parse(kind, v).unwrap()
    }

    #[test]
    fn shipped_lists_parse_and_catch_the_classics() {
        let w = WarnLists::shipped(&[]).unwrap();
        assert_eq!(w.lists().len(), SHIPPED.len());
        let name = |o: &Observable| w.check(o).map(|i| w.name(i).to_owned());
        use ObservableKind::*;
        assert_eq!(
            name(&obs(Ipv4, "8.8.8.8")).as_deref(),
            Some("public-resolvers")
        );
        assert_eq!(
            name(&obs(Ipv6, "2606:4700:4700::1111")).as_deref(),
            Some("public-resolvers")
        );
        assert_eq!(
            name(&obs(Ipv4, "10.20.30.40")).as_deref(),
            Some("private-ranges")
        );
        assert_eq!(
            name(&obs(Ipv4, "172.31.255.1")).as_deref(),
            Some("private-ranges")
        );
        assert_eq!(name(&obs(Ipv4, "172.32.0.1")), None);
        assert_eq!(
            name(&obs(Ipv6, "fe80::1")).as_deref(),
            Some("private-ranges")
        );
        assert_eq!(
            name(&obs(Cidr, "192.168.4.0/24")).as_deref(),
            Some("private-ranges")
        );
        assert_eq!(
            name(&obs(Cidr, "192.0.0.0/2")),
            None,
            "wider than any listed range"
        );
        assert_eq!(
            name(&obs(Ipv4, "198.51.100.7")).as_deref(),
            Some("documentation")
        );
        assert_eq!(
            name(&obs(Domain, "www.example.com")).as_deref(),
            Some("documentation")
        );
        assert_eq!(
            name(&obs(Domain, "mail.google.com")).as_deref(),
            Some("popular-domains")
        );
        assert_eq!(name(&obs(Domain, "google.com.evil.net")), None);
        assert_eq!(name(&obs(Domain, "notgoogle.com")), None);
        assert_eq!(
            name(&obs(Domain, "attacker.github.io")),
            None,
            "customer sub-names are specific"
        );
        assert_eq!(
            name(&obs(Url, "https://www.google.com/")).as_deref(),
            Some("popular-domains")
        );
        assert_eq!(
            name(&obs(
                Url,
                "https://docs.google.com/forms/d/e/1FAIpQL/viewform"
            )),
            None
        );
        assert_eq!(
            name(&obs(Url, "http://8.8.8.8/")).as_deref(),
            Some("public-resolvers")
        );
        assert_eq!(name(&obs(Email, "ceo.lookalike@gmail.com")), None);
        assert_eq!(
            name(&obs(
                Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ))
            .as_deref(),
            Some("benign-hashes")
        );
        assert_eq!(
            name(&obs(Md5, "d41d8cd98f00b204e9800998ecf8427e")).as_deref(),
            Some("benign-hashes")
        );
        assert_eq!(name(&obs(Md5, "0123456789abcdef0123456789abcdef")), None);
    }

    #[test]
    fn lists_can_be_switched_off_by_name_and_typos_are_refused() {
        let w = WarnLists::shipped(&["documentation".into()]).unwrap();
        assert_eq!(w.check(&obs(ObservableKind::Ipv4, "203.0.113.9")), None);
        assert!(w.check(&obs(ObservableKind::Ipv4, "127.0.0.1")).is_some());
        assert!(WarnLists::shipped(&["documentaton".into()]).is_err());
        assert!(WarnList::parse("x", "8.8.8.8\nnot an entry!\n").is_err());
    }
}
