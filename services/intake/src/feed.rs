//! Member feeds (issue 23): what a member's firewall, IDS and SIEM pull —
//! block lists, CSV, Suricata rules and STIX 2.1 indicators — built only
//! from the submissions the member may see.
//!
//! **Audience.** The values come from ClickHouse's `observations` of the
//! submissions whose audience holds the member, selected in SQL by the
//! same rule as the engine's `Registry::may_see` ([`visible_sql`]):
//! the submitter itself, the community, the submitter's sector, a sharing
//! group the member is in, a named-members list naming it; the Fusion Cell
//! sees all. Rows written before `008_audience.sql` have no lists and read
//! as visible to nobody beyond the submitter for those two scopes.
//!
//! **Never in a feed**: values on a warn-list (resolvers, private ranges,
//! popular sites), values the over-correlation guard found to be common
//! infrastructure, and anything above the requested TLP.
//!
//! **Score** as the alerts' `shared_scores`: `1 − Π(1 − 0.9·cᵢ)` over the
//! distinct *visible* reporters' confidences, halved every half-life of
//! the value's type since its last visible sighting — never counting a
//! reporter the member may not see.
//!
//! **Filters**: `min_score` (default 0.3), `types` (comma-separated
//! observable types), `max_tlp` (default AMBER), `since` (last seen at or
//! after, `YYYY-MM-DD[THH:MM:SSZ]`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use cisp_model::{Member, ObservableKind, Registry, Role, Tlp};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::stix::export::{
    marking_definition, pattern_for, producer, stix_id, timestamp, tlp_marking,
};

/// The largest feed served (values), whatever the filters.
pub const MAX_FEED: usize = 1_000_000;

/// Query parameters of every feed.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    pub min_score: Option<f64>,
    pub types: Option<String>,
    pub max_tlp: Option<String>,
    pub since: Option<String>,
}

/// The filters, checked.
#[derive(Debug, Clone)]
pub struct Filters {
    pub min_score: f64,
    pub types: BTreeSet<ObservableKind>,
    pub max_tlp: Tlp,
    pub since_ms: i64,
}

impl FeedParams {
    pub fn filters(&self, default_types: &[ObservableKind]) -> Result<Filters, String> {
        let min_score = self.min_score.unwrap_or(0.3);
        if !(0.0..=1.0).contains(&min_score) {
            return Err("min_score must be between 0 and 1".into());
        }
        let types = match &self.types {
            None => default_types.iter().copied().collect(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| ObservableKind::parse(t).map_err(|e| e.to_string()))
                .collect::<Result<BTreeSet<_>, _>>()?,
        };
        let max_tlp = match &self.max_tlp {
            None => Tlp::Amber,
            Some(t) => Tlp::parse(t).map_err(|e| e.to_string())?,
        };
        let since_ms = match &self.since {
            None => 0,
            Some(s) => crate::text::timestamp_ms(s)
                .ok_or_else(|| format!("since {:?} is not a date", crate::text::excerpt(s)))?,
        };
        Ok(Filters {
            min_score,
            types,
            max_tlp,
            since_ms,
        })
    }
}

/// One value of a feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub kind: ObservableKind,
    pub value: String,
    pub score: f64,
    /// Before decay: what the visible reporters' confidences give.
    pub base: f64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The most restrictive TLP of the reports it comes from.
    pub tlp: Tlp,
    /// Members' feedback on it (issue 22), anonymous.
    pub feedback: FeedCounts,
}

/// Members' feedback on a value as a feed shows it: anonymous counts of
/// distinct members, each shown only from the k-anonymity threshold on
/// (`None` below it: a count of one or two could name a member).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedCounts {
    /// Sightings reported (the counts members gave).
    pub sightings: Option<u64>,
    pub sighting_members: Option<u64>,
    pub false_positive_members: Option<u64>,
}

/// The feedback counts of every value of `types` (only feedback that
/// counted: from a member that may see the value), each member's latest
/// word counting once.
pub fn counts_query(db: &str, types: &BTreeSet<ObservableKind>) -> String {
    let types: Vec<String> = types.iter().map(|k| lit(k.name())).collect();
    format!(
        "SELECT obs_type, value, toUInt64(sumIf(total, word = 'sighting')) AS sightings, \
         toUInt64(countIf(word = 'sighting')) AS sighting_members, \
         toUInt64(countIf(word = 'false_positive')) AS false_positive_members \
         FROM (SELECT obs_type, value, member_id, argMax(kind, ordinal) AS word, \
               sumIf(count, kind = 'sighting') AS total \
               FROM {db}.feedback WHERE counted = 1 AND obs_type IN ({types}) \
               GROUP BY obs_type, value, member_id) \
         GROUP BY obs_type, value",
        types = if types.is_empty() {
            "''".to_owned()
        } else {
            types.join(", ")
        },
    )
}

#[derive(clickhouse::Row, Deserialize)]
struct CountsRow {
    obs_type: String,
    value: String,
    sightings: u64,
    sighting_members: u64,
    false_positive_members: u64,
}

/// A ClickHouse string literal (ids in the registry are slugs; escaped all
/// the same).
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The SQL condition over `submissions` columns that holds exactly for the
/// submissions `reader` may see (the engine's rule, `Registry::may_see`).
pub fn visible_sql(reader: &Member) -> String {
    if reader.role == Role::FusionCell {
        return "1".to_owned();
    }
    let me = lit(reader.id.as_str());
    let mut or = vec![
        format!("member_id = {me}"),
        "scope = 'community'".to_owned(),
        format!(
            "(scope = 'sector' AND sector = {})",
            lit(reader.sector.as_str())
        ),
        format!("(scope = 'named-members' AND has(audience_members, {me}))"),
    ];
    if !reader.groups.is_empty() {
        let groups: Vec<String> = reader.groups.iter().map(|g| lit(g.as_str())).collect();
        or.push(format!(
            "(scope = 'sharing-groups' AND hasAny(audience_groups, [{}]))",
            groups.join(", ")
        ));
    }
    format!("({})", or.join(" OR "))
}

/// The query for `reader`'s feed (`db` is a validated identifier): what
/// it may see, less warn-listed values, common infrastructure, what
/// submitters withdrew and values members disputed (issue 22).
pub fn query(db: &str, reader: &Member, f: &Filters) -> String {
    let tlps: Vec<String> = Tlp::ALL
        .iter()
        .filter(|t| **t <= f.max_tlp)
        .map(|t| lit(t.symbol()))
        .collect();
    let types: Vec<String> = f.types.iter().map(|k| lit(k.name())).collect();
    let rank = Tlp::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| format!("tlp = {}, {i}", lit(t.symbol())))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT obs_type, value, toUInt8(max(tlp_rank)) AS tlp_rank, toUInt32(min(first)) AS first_seen, \
         toUInt32(max(last)) AS last_seen, 1 - exp(sum(log(1 - 0.9 * c / 100))) AS base \
         FROM (SELECT obs_type, value, member_id, max(confidence) AS c, min(observed_at) AS first, \
               max(observed_at) AS last, max(multiIf({rank}, 4)) AS tlp_rank \
               FROM {db}.observations \
               WHERE (member_id, submission_id) IN (SELECT member_id, submission_id FROM {db}.submissions WHERE {visible}) \
               AND warnlist = '' \
               AND (obs_type, value) NOT IN (SELECT obs_type, value FROM {db}.common_infrastructure) \
               AND (member_id, submission_id) NOT IN (SELECT member_id, submission_id FROM {db}.withdrawn_submissions) \
               AND (member_id, submission_id, obs_type, value) NOT IN \
                   (SELECT member_id, submission_id, obs_type, value FROM {db}.withdrawn_observations) \
               AND (obs_type, value) NOT IN (SELECT obs_type, value FROM {db}.feedback WHERE disputed = 1) \
               AND (obs_type, value) NOT IN (SELECT obs_type, value FROM {db}.benign_values) \
               AND tlp IN ({tlps}) AND obs_type IN ({types}) \
               GROUP BY obs_type, value, member_id) \
         GROUP BY obs_type, value \
         HAVING last_seen >= {since} \
         ORDER BY obs_type, value \
         LIMIT {limit}",
        visible = visible_sql(reader),
        tlps = tlps.join(", "),
        types = if types.is_empty() {
            "''".to_owned()
        } else {
            types.join(", ")
        },
        since = f.since_ms.div_euclid(1000).max(0),
        limit = MAX_FEED + 1,
    )
}

#[derive(clickhouse::Row, Deserialize)]
struct Row {
    obs_type: String,
    value: String,
    tlp_rank: u8,
    first_seen: u32,
    last_seen: u32,
    base: f64,
}

/// `reader`'s feed as of `now_ms`, by type and value.
pub async fn indicators(
    client: &clickhouse::Client,
    db: &str,
    registry: &Registry,
    reader: &cisp_model::MemberId,
    f: &Filters,
    now_ms: i64,
) -> anyhow::Result<Vec<Indicator>> {
    let Some(member) = registry.member(reader) else {
        anyhow::bail!("{reader} is not in the registry");
    };
    let rows: Vec<Row> = client.query(&query(db, member, f)).fetch_all().await?;
    if rows.len() > MAX_FEED {
        anyhow::bail!("more than {MAX_FEED} values: narrow the feed (types, min_score, since)");
    }
    let k = u64::from(cisp_model::DEFAULT_K_ANONYMITY);
    let counted: std::collections::HashMap<(String, String), FeedCounts> = client
        .query(&counts_query(db, &f.types))
        .fetch_all::<CountsRow>()
        .await?
        .into_iter()
        .map(|c| {
            let shown = |n: u64| (n >= k).then_some(n);
            (
                (c.obs_type, c.value),
                FeedCounts {
                    sightings: shown(c.sighting_members).map(|_| c.sightings),
                    sighting_members: shown(c.sighting_members),
                    false_positive_members: shown(c.false_positive_members),
                },
            )
        })
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let feedback = counted
            .get(&(r.obs_type.clone(), r.value.clone()))
            .copied()
            .unwrap_or_default();
        let Ok(kind) = ObservableKind::parse(&r.obs_type) else {
            continue;
        };
        let last = i64::from(r.last_seen) * 1000;
        let age_days = (now_ms - last).max(0) as f64 / 86_400_000.0;
        let score = r.base * 0.5f64.powf(age_days / cisp_engine::half_life_days(kind));
        if score < f.min_score {
            continue;
        }
        out.push(Indicator {
            kind,
            value: r.value,
            score,
            base: r.base,
            first_seen_ms: i64::from(r.first_seen) * 1000,
            last_seen_ms: last,
            tlp: Tlp::ALL
                .get(usize::from(r.tlp_rank))
                .copied()
                .unwrap_or(Tlp::Red),
            feedback,
        });
    }
    Ok(out)
}

/// The feeds there are: name → (the types it may hold, its media type).
pub fn feed_kinds(name: &str) -> Option<(&'static [ObservableKind], &'static str)> {
    use ObservableKind::*;
    const ALL: &[ObservableKind] = &[
        Ipv4, Ipv6, Cidr, Domain, Url, Email, Md5, Sha1, Sha256, Ssdeep, Tlsh, Filename, Asn, Cve,
        Ja3,
    ];
    Some(match name {
        "ip.txt" => (&[Ipv4, Ipv6, Cidr], "text/plain; charset=utf-8"),
        "domain.txt" => (&[Domain], "text/plain; charset=utf-8"),
        "url.txt" => (&[Url], "text/plain; charset=utf-8"),
        "hash.txt" => (&[Md5, Sha1, Sha256], "text/plain; charset=utf-8"),
        "indicators.csv" => (ALL, "text/csv; charset=utf-8"),
        "suricata.rules" => (
            &[Ipv4, Ipv6, Cidr, Domain, Url],
            "text/plain; charset=utf-8",
        ),
        // STIX has no pattern for CVEs (vulnerabilities) or JA3: not served
        // there rather than dropped without a word.
        "stix.json" => (
            &[
                Ipv4, Ipv6, Cidr, Domain, Url, Email, Md5, Sha1, Sha256, Ssdeep, Tlsh, Filename,
                Asn,
            ],
            "application/stix+json;version=2.1",
        ),
        // A MISP feed: its manifest and one event per TLP (`misp/<uuid>.json`).
        n if n.starts_with("misp/") && n.ends_with(".json") => (ALL, "application/json"),
        _ => return None,
    })
}

/// A built feed.
pub struct Built {
    pub text: String,
    pub media_type: &'static str,
    pub count: usize,
    /// What the feed holds, for the ETag: not when it was generated.
    pub digest: [u8; 32],
    /// Its newest sighting (ms).
    pub newest_ms: i64,
}

/// Why a feed could not be built: the caller's fault, or the store's.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("no such feed")]
    Unknown,
    #[error("{0}")]
    Params(String),
    #[error("the feed could not be built: {0}")]
    Store(String),
}

/// `reader`'s feed `name` with `params`, as of `now_ms`.
pub async fn build(
    client: &clickhouse::Client,
    db: &str,
    registry: &Registry,
    reader: &cisp_model::MemberId,
    name: &str,
    params: &FeedParams,
    now_ms: i64,
) -> Result<Built, FeedError> {
    use sha2::Digest as _;
    let (allowed, media_type) = feed_kinds(name).ok_or(FeedError::Unknown)?;
    let mut filters = params.filters(allowed).map_err(FeedError::Params)?;
    // `types` narrows a feed, never widens it past what it serves.
    filters.types.retain(|k| allowed.contains(k));
    let items = indicators(client, db, registry, reader, &filters, now_ms)
        .await
        .map_err(|e| FeedError::Store(e.to_string()))?;
    let member = reader.as_str();
    let text = match name {
        "indicators.csv" => render_csv(&items),
        "suricata.rules" => render_suricata(member, &items, now_ms),
        "stix.json" => render_stix(member, &items, filters.min_score, now_ms).to_string(),
        "misp/manifest.json" => render_misp(member, &items).0.to_string(),
        n if n.starts_with("misp/") => {
            let uuid = n.trim_start_matches("misp/").trim_end_matches(".json");
            render_misp(member, &items)
                .1
                .into_iter()
                .find(|(u, _)| u == uuid)
                .ok_or(FeedError::Unknown)?
                .1
                .to_string()
        }
        list => render_list(member, list.trim_end_matches(".txt"), &items, now_ms),
    };
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    for i in &items {
        h.update(
            format!(
                "{}\u{0}{}\u{0}{:.2}\u{0}{}\u{0}{}\n",
                i.kind.name(),
                i.value,
                i.score,
                i.tlp.symbol(),
                i.last_seen_ms
            )
            .as_bytes(),
        );
    }
    Ok(Built {
        text,
        media_type,
        count: items.len(),
        digest: h.finalize().into(),
        newest_ms: items.iter().map(|i| i.last_seen_ms).max().unwrap_or(0),
    })
}

/// A UUID (version 4 layout) derived from `seed`, as MISP wants them.
fn misp_uuid(seed: &str) -> String {
    stix_id("misp", seed)
        .trim_start_matches("misp--")
        .to_owned()
}

/// MISP's (attribute type, category) for one of our types.
fn misp_type(kind: ObservableKind) -> (&'static str, &'static str) {
    use ObservableKind::*;
    match kind {
        Ipv4 | Ipv6 | Cidr => ("ip-dst", "Network activity"),
        Domain => ("domain", "Network activity"),
        Url => ("url", "Network activity"),
        Email => ("email-src", "Payload delivery"),
        Md5 => ("md5", "Payload delivery"),
        Sha1 => ("sha1", "Payload delivery"),
        Sha256 => ("sha256", "Payload delivery"),
        Ssdeep => ("ssdeep", "Payload delivery"),
        Tlsh => ("tlsh", "Payload delivery"),
        Filename => ("filename", "Payload delivery"),
        Asn => ("AS", "Network activity"),
        Cve => ("vulnerability", "External analysis"),
        Ja3 => ("ja3-fingerprint-md5", "Network activity"),
    }
}

/// A MISP feed (what a MISP instance or PyMISP reads from a feed URL):
/// the manifest (event uuid → summary) and one event per TLP of the
/// values, each `{"Event": …}` with its `tlp:` tag and one `to_ids`
/// attribute per value (the score in the comment, first and last seen).
/// Uuids are derived from the member, the TLP and the values, so a poll
/// updates rather than duplicates.
pub fn render_misp(member: &str, items: &[Indicator]) -> (Value, Vec<(String, Value)>) {
    let mut by_tlp: BTreeMap<Tlp, Vec<&Indicator>> = BTreeMap::new();
    for i in items {
        by_tlp.entry(i.tlp).or_default().push(i);
    }
    let org = json!({"name": "CiSP Fusion", "uuid": misp_uuid("org/cisp-fusion")});
    let mut manifest = serde_json::Map::new();
    let mut events = Vec::new();
    for (tlp, list) in by_tlp {
        let uuid = misp_uuid(&format!("event/{member}/{}", tlp.symbol()));
        let newest = list.iter().map(|i| i.last_seen_ms).max().unwrap_or(0) / 1000;
        let tag = format!("tlp:{}", tlp_marking(tlp).1);
        let info = format!("CiSP Fusion indicators for {member} ({})", tlp.label());
        let date = timestamp(newest * 1000).get(..10).unwrap_or("").to_owned();
        let attributes: Vec<Value> = list
            .iter()
            .map(|i| {
                let (ty, category) = misp_type(i.kind);
                json!({
                    "uuid": misp_uuid(&format!("attribute/{member}/{}/{}", i.kind.name(), i.value)),
                    "type": ty,
                    "category": category,
                    "value": i.value,
                    "to_ids": true,
                    "timestamp": (i.last_seen_ms / 1000).to_string(),
                    "comment": format!("CiSP Fusion score {:.2}", i.score),
                    "first_seen": timestamp(i.first_seen_ms),
                    "last_seen": timestamp(i.last_seen_ms),
                })
            })
            .collect();
        manifest.insert(
            uuid.clone(),
            json!({
                "info": info,
                "date": date,
                "analysis": "2",
                "threat_level_id": "4",
                "timestamp": newest.to_string(),
                "Orgc": org,
                "Tag": [{"name": tag}],
            }),
        );
        events.push((
            uuid.clone(),
            json!({"Event": {
                "uuid": uuid,
                "info": info,
                "date": date,
                "analysis": "2",
                "threat_level_id": "4",
                "published": true,
                "timestamp": newest.to_string(),
                "Orgc": org,
                "Tag": [{"name": tag}],
                "Attribute": attributes,
            }}),
        ));
    }
    (Value::Object(manifest), events)
}

/// `data` as a gzip member (RFC 1952): deflate (miniz) between the
/// header and the CRC-32 and length trailer.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE 802.3, reflected, as gzip uses it).
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// When `i`'s score decays below `min_score` (ms), for `valid_until`.
pub fn valid_until_ms(i: &Indicator, min_score: f64) -> i64 {
    let h = cisp_engine::half_life_days(i.kind);
    let days = if i.base > 0.0 && min_score > 0.0 && i.base > min_score {
        h * (i.base / min_score).log2()
    } else {
        0.0
    };
    i.last_seen_ms + (days * 86_400_000.0) as i64
}

/// A block list: one value per line, comments first.
pub fn render_list(member: &str, list: &str, items: &[Indicator], now_ms: i64) -> String {
    let mut out = format!(
        "# CiSP Fusion {list} block list for {member}\n# generated {} — {} entries; warn-listed values and common infrastructure are never listed\n",
        timestamp(now_ms),
        items.len()
    );
    for i in items {
        out.push_str(&i.value);
        out.push('\n');
    }
    out
}

/// CSV: `type,value,score,tlp,first_seen,last_seen,sightings,
/// sighting_members,false_positive_members` (values quoted as CSV needs; a
/// value never starts a formula: `=`, `+`, `-`, `@` get a `'`; the counts
/// empty below the k-anonymity threshold).
pub fn render_csv(items: &[Indicator]) -> String {
    let mut out = String::from(
        "type,value,score,tlp,first_seen,last_seen,sightings,sighting_members,false_positive_members\n",
    );
    for i in items {
        let mut v = i.value.clone();
        if v.starts_with(['=', '+', '-', '@']) {
            v.insert(0, '\'');
        }
        if v.contains([',', '"', '\n', '\r']) {
            v = format!("\"{}\"", v.replace('"', "\"\""));
        }
        let n = |x: Option<u64>| x.map_or_else(String::new, |x| x.to_string());
        let _ = writeln!(
            out,
            "{},{v},{:.2},{},{},{},{},{},{}",
            i.kind.name(),
            i.score,
            i.tlp.label(),
            timestamp(i.first_seen_ms),
            timestamp(i.last_seen_ms),
            n(i.feedback.sightings),
            n(i.feedback.sighting_members),
            n(i.feedback.false_positive_members)
        );
    }
    out
}

/// A Suricata `content` argument: printable ASCII except `;`, `"`, `\`
/// and `|` as itself, everything else as `|hex|`.
fn content(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && !matches!(b, b';' | b'"' | b'\\' | b'|') {
            out.push(b as char);
        } else {
            let _ = write!(out, "|{b:02X}|");
        }
    }
    out
}

/// A Suricata `msg`: `\`, `;` and `"` escaped with a backslash, control
/// characters dropped.
fn msg(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().filter(|c| !c.is_control()) {
        if matches!(c, '\\' | ';' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Sids: from `FIRST_SID`, a stable digest of (type, value) in a range of
/// `SID_SPAN`; a collision within one feed takes the next free sid, in
/// the feed's (sorted) order, so ids never collide.
const FIRST_SID: u32 = 1_100_000_000;
const SID_SPAN: u32 = 1_000_000_000;

fn sid_of(kind: ObservableKind, value: &str) -> u32 {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(format!("{}\u{0}{value}", kind.name()).as_bytes());
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    FIRST_SID + n % SID_SPAN
}

/// Suricata rules for the network values (addresses, domains, URLs; file
/// hashes need a file-hash list, not rules). `sid` stable per value,
/// `rev` the minutes since the epoch of its last sighting (it only grows,
/// and grows exactly when the rule's metadata changes).
pub fn render_suricata(member: &str, items: &[Indicator], now_ms: i64) -> String {
    let mut out = format!(
        "# CiSP Fusion Suricata rules for {member}, generated {}\n",
        timestamp(now_ms)
    );
    let mut used: BTreeSet<u32> = BTreeSet::new();
    for i in items {
        let head = match i.kind {
            ObservableKind::Ipv4 | ObservableKind::Ipv6 | ObservableKind::Cidr => format!(
                "alert ip $HOME_NET any -> {} any (msg:\"CiSP Fusion {} {}\";",
                i.value,
                i.kind.name(),
                msg(&i.value)
            ),
            ObservableKind::Domain => format!(
                "alert dns $HOME_NET any -> any any (msg:\"CiSP Fusion domain {}\"; dns.query; content:\"{}\"; nocase; endswith;",
                msg(&i.value),
                content(&i.value)
            ),
            ObservableKind::Url => {
                let Some((_, rest)) = i.value.split_once("://") else {
                    continue;
                };
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let path = if path.is_empty() { "/" } else { path };
                format!(
                    "alert http $HOME_NET any -> any any (msg:\"CiSP Fusion url {}\"; http.host; content:\"{}\"; nocase; http.uri; content:\"{}\"; startswith;",
                    msg(&i.value),
                    content(host),
                    content(path)
                )
            }
            _ => continue,
        };
        let mut sid = sid_of(i.kind, &i.value);
        while !used.insert(sid) {
            sid = FIRST_SID + (sid - FIRST_SID + 1) % SID_SPAN;
        }
        let rev = (i.last_seen_ms / 60_000).clamp(1, i64::from(u32::MAX));
        let _ = writeln!(
            out,
            "{head} metadata: cisp_score {:.2}, cisp_tlp {}, cisp_last_seen {}; classtype:trojan-activity; sid:{sid}; rev:{rev};)",
            i.score,
            i.tlp.symbol(),
            timestamp(i.last_seen_ms).get(..10).unwrap_or("")
        );
    }
    out
}

/// STIX 2.1: one `indicator` per value (deterministic id, `valid_until`
/// when its score decays below `min_score`, confidence = score), marked
/// with its TLP, the markings' definitions and the producer in the bundle.
pub fn render_stix(member: &str, items: &[Indicator], min_score: f64, now_ms: i64) -> Value {
    let (producer_id, identity) = producer();
    let mut objects = vec![identity];
    let mut tlps: BTreeMap<Tlp, ()> = BTreeMap::new();
    for i in items {
        let Some(pattern) = pattern_for(i.kind, &i.value) else {
            continue;
        };
        tlps.insert(i.tlp, ());
        let until = valid_until_ms(i, min_score).max(i.last_seen_ms + 1000);
        objects.push(json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": stix_id("indicator", &format!("feed/{}/{}", i.kind.name(), i.value)),
            "created": timestamp(i.first_seen_ms),
            "modified": timestamp(i.last_seen_ms.max(i.first_seen_ms)),
            "created_by_ref": producer_id,
            "name": format!("{} {}", i.kind.name(), i.value),
            "indicator_types": ["malicious-activity"],
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": timestamp(i.first_seen_ms),
            "valid_until": timestamp(until),
            "confidence": (i.score * 100.0).round() as i64,
            "object_marking_refs": [tlp_marking(i.tlp).0],
        }));
    }
    for tlp in tlps.keys() {
        objects.push(marking_definition(*tlp));
    }
    json!({
        "type": "bundle",
        "id": stix_id("bundle", &format!("feed/{member}/{now_ms}")),
        "objects": objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(kind: ObservableKind, value: &str, last: i64) -> Indicator {
        Indicator {
            kind,
            value: value.into(),
            score: 0.8,
            base: 0.9,
            first_seen_ms: last - 86_400_000,
            last_seen_ms: last,
            tlp: Tlp::Green,
            feedback: FeedCounts::default(),
        }
    }

    #[test]
    fn rules_escape_and_keep_stable_distinct_ids() {
        let t = 1_782_864_000_000;
        let items = vec![
            ind(ObservableKind::Ipv4, "198.51.100.7", t),
            ind(ObservableKind::Domain, "bad.example", t),
            ind(ObservableKind::Url, "https://bad.example/a;b\"c|d", t),
        ];
        let rules = render_suricata("m", &items, t);
        assert!(rules.contains("content:\"/a|3B|b|22|c|7C|d\""), "{rules}");
        let again = render_suricata("m", &items, t + 5);
        let sids = |r: &str| -> Vec<String> {
            r.lines()
                .filter_map(|l| l.split("sid:").nth(1))
                .map(|s| s.split(';').next().unwrap_or("").to_owned())
                .collect()
        };
        assert_eq!(sids(&rules), sids(&again), "sids are stable");
        let set: BTreeSet<String> = sids(&rules).into_iter().collect();
        assert_eq!(set.len(), 3);
        // A newer sighting raises the revision.
        let newer = render_suricata(
            "m",
            &[ind(ObservableKind::Ipv4, "198.51.100.7", t + 3_600_000)],
            t,
        );
        let rev = |r: &str| {
            r.split("rev:")
                .nth(1)
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .parse::<i64>()
                .unwrap_or(0)
        };
        assert!(rev(&newer) > rev(&rules));
    }

    #[test]
    fn gzip_frames_deflate_with_the_standard_crc() {
        // The check value of CRC-32 (IEEE): "123456789" → CBF43926.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let z = gzip(b"hello hello hello");
        assert_eq!(&z[..3], &[0x1f, 0x8b, 8]);
        let inner = &z[10..z.len() - 8];
        assert_eq!(
            miniz_oxide::inflate::decompress_to_vec(inner).expect("inflates"),
            b"hello hello hello"
        );
    }

    #[test]
    fn csv_never_starts_a_formula_and_decay_sets_valid_until() {
        let t = 1_782_864_000_000;
        let csv = render_csv(&[ind(ObservableKind::Filename, "=cmd.exe", t)]);
        assert!(csv.contains(",'=cmd.exe,"), "{csv}");
        let i = ind(ObservableKind::Ipv4, "198.51.100.7", t);
        // 0.9 → 0.3 is log2(3) ≈ 1.58 half-lives of 14 days.
        let days = (valid_until_ms(&i, 0.3) - t) as f64 / 86_400_000.0;
        assert!((days - 14.0 * 3f64.log2()).abs() < 0.01, "{days}");
    }
}
