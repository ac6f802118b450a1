//! Per-member API keys for the gateway, stored hashed.
//!
//! A key is `cisp_` + 43 characters of base64url (256 random bits from the
//! kernel), shown once when created. The key file holds only its SHA-256,
//! the member it belongs to and a label:
//!
//! ```toml
//! [[key]]
//! member = "northbank"
//! label = "soc-automation"
//! sha256 = "9f86d08…"
//! ```
//!
//! A fast hash is the right tool here: the keys are random and long, so
//! there is nothing to brute-force that a slow password hash would
//! protect. Lookups go by digest, so comparing a presented key costs the
//! same whatever it is. Keys never appear in logs (only the label does).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use cisp_model::MemberId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub member: String,
    pub label: String,
    pub sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default, rename = "key")]
    keys: Vec<KeyEntry>,
}

/// Who a key belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub member: MemberId,
    pub label: String,
}

#[derive(Clone, Debug, Default)]
pub struct Keys {
    by_digest: BTreeMap<[u8; 32], Caller>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Keys {
    /// Loads the key file; a missing file is an empty store.
    pub fn load(path: &Path) -> anyhow::Result<Keys> {
        if !path.exists() {
            return Ok(Keys::default());
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Keys::parse(&text).with_context(|| format!("invalid key file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Keys> {
        let file: KeyFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        let mut by_digest = BTreeMap::new();
        for k in file.keys {
            let member = MemberId::parse(&k.member)?;
            let Some(d) = unhex(&k.sha256) else {
                bail!("key {:?}: sha256 is not 64 hex digits", k.label);
            };
            by_digest.insert(
                d,
                Caller {
                    member,
                    label: k.label,
                },
            );
        }
        Ok(Keys { by_digest })
    }

    /// The caller a presented key belongs to.
    pub fn check(&self, presented: &str) -> Option<&Caller> {
        if presented.len() > 256 {
            return None;
        }
        self.by_digest.get(&digest(presented.trim()))
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

/// A new random key.
pub fn generate() -> anyhow::Result<String> {
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .context("reading /dev/urandom")?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::from("cisp_");
    let mut bits = 0u32;
    let mut acc = 0u32;
    for b in raw {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    Ok(out)
}

/// Creates a key for `member`, appends its digest to the key file (created
/// with mode 600) and returns the key, which is shown once and not kept.
pub fn add(path: &Path, member: &MemberId, label: &str) -> anyhow::Result<String> {
    if label.is_empty()
        || label.len() > 64
        || !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        bail!("a key label is 1 to 64 characters of [A-Za-z0-9._-]");
    }
    let mut file: KeyFile = if path.exists() {
        toml::from_str(&std::fs::read_to_string(path)?)
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?
    } else {
        KeyFile::default()
    };
    let key = generate()?;
    file.keys.push(KeyEntry {
        member: member.to_string(),
        label: label.to_owned(),
        sha256: hex(&digest(&key)),
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Written by hand (the workspace's toml has no serialiser); every
    // value is checked to need no escaping.
    let mut text = String::from("# CiSP intake API keys: SHA-256 of each key, never the key.\n");
    for k in &file.keys {
        text.push_str(&format!(
            "\n[[key]]\nmember = \"{}\"\nlabel = \"{}\"\nsha256 = \"{}\"\n",
            k.member, k.label, k.sha256
        ));
    }
    let tmp = path.with_extension("tmp");
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_by_digest_only() {
        let dir = std::env::temp_dir().join(format!("cisp-keys-{}", std::process::id()));
        let path = dir.join("keys.toml");
        let _ = std::fs::remove_file(&path);
        let member = MemberId::parse("northbank").expect("id");
        let key = add(&path, &member, "soc").expect("added");
        assert!(key.starts_with("cisp_") && key.len() == 48, "{key}");
        let other = add(&path, &MemberId::parse("gridco").expect("id"), "ops").expect("added");
        assert_ne!(key, other);
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(!text.contains(&key), "the key itself is never stored");
        let keys = Keys::load(&path).expect("loads");
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys.check(&key).map(|c| c.member.as_str()),
            Some("northbank")
        );
        assert_eq!(
            keys.check(&other).map(|c| c.member.as_str()),
            Some("gridco")
        );
        assert!(keys.check("cisp_wrong").is_none());
        assert!(keys.check(&"x".repeat(10_000)).is_none());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            Keys::parse("[[key]]\nmember = \"northbank\"\nlabel = \"x\"\nsha256 = \"zz\"\n")
                .is_err()
        );
    }
}
