//! Engine snapshots on disk, and recovery at start-up.
//!
//! After a batch is durable and its offsets committed, the pipeline
//! snapshots the engine every `state.snapshot_every_records` records or
//! `state.snapshot_interval_s` seconds (and at a clean stop). A snapshot
//! file holds a small JSON header — how many submissions the engine had
//! processed and the offsets consumed then — and the engine's state
//! ([`cisp_engine::Engine::snapshot`]). It is written to a temporary file,
//! synced and renamed, so a crash leaves the previous one intact.
//!
//! At start the service loads the snapshot and replays from ClickHouse only
//! the submissions handled after it (`seq >=` the snapshot's count; a
//! `submissions` row means "fully handled", see `pipeline.rs`); the
//! consumer resumes from the committed offsets, which are never behind the
//! snapshot's. Without a usable snapshot (none yet, corrupt, made under
//! other settings) it replays everything, which gives the same state.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use cisp_engine::{Engine, EngineConfig, Reference};
use cisp_model::Registry;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

const MAGIC: &[u8; 8] = b"CISPSNAP";

/// What a snapshot file says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// Submissions the engine had processed (the next one's sequence number).
    pub processed: u64,
    /// Next offset to consume per `topic:partition` when it was taken.
    pub offsets: BTreeMap<String, i64>,
    pub created_at_ms: i64,
    /// `<clickhouse database>/<topic prefix>` it belongs to: a snapshot of
    /// another deployment sharing the path is refused, not loaded.
    pub scope: String,
}

/// The deployment a snapshot belongs to.
pub fn scope(config: &crate::Config) -> String {
    format!(
        "{}/{}",
        config.clickhouse.database, config.kafka.topic_prefix
    )
}

/// A snapshot file's contents, not yet written: the header and the
/// engine's bytes, kept apart so the engine's (large) part is not copied.
pub struct Encoded {
    head: Vec<u8>,
    body: Vec<u8>,
}

/// What needs the engine (and its lock): encoding it.
pub fn encode(header: &Header, engine: &Engine) -> anyhow::Result<Encoded> {
    Ok(Encoded {
        body: engine.snapshot()?,
        head: serde_json::to_vec(header)?,
    })
}

impl Encoded {
    /// Writes the file atomically (temporary file, fsync, rename, fsync of
    /// the folder): needs no engine, so it can run off the pipeline's
    /// thread. Returns the bytes written.
    pub fn write(&self, path: &Path) -> anyhow::Result<u64> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(MAGIC)?;
            f.write_all(&u32::try_from(self.head.len())?.to_le_bytes())?;
            f.write_all(&self.head)?;
            f.write_all(&self.body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok((MAGIC.len() + 4 + self.head.len() + self.body.len()) as u64)
    }
}

/// Reads a snapshot; `Ok(None)` when there is none.
pub fn read(
    path: &Path,
    registry: &Arc<Registry>,
    config: &EngineConfig,
) -> anyhow::Result<Option<(Header, Engine)>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .context("not a CiSP snapshot file")?;
    let (len, rest) = rest.split_at_checked(4).context("truncated snapshot")?;
    let len = u32::from_le_bytes(len.try_into()?) as usize;
    let (head, body) = rest.split_at_checked(len).context("truncated snapshot")?;
    let header: Header = serde_json::from_slice(head).context("snapshot header")?;
    let reference = Reference::shipped(&config.warnlists_disabled)?;
    let engine = Engine::restore(registry.clone(), config.clone(), reference, body)
        .map_err(anyhow::Error::msg)?;
    if engine.processed() != header.processed {
        anyhow::bail!("snapshot header and body disagree");
    }
    Ok(Some((header, engine)))
}

/// Loads the snapshot at `path` if it is usable for `scope` and no newer
/// than what ClickHouse holds (`stored` submissions), else a fresh engine
/// (saying why, once).
pub fn load_or_fresh(
    path: &Path,
    scope: &str,
    stored: u64,
    registry: &Arc<Registry>,
    config: &EngineConfig,
) -> (Engine, Option<Header>) {
    let usable = read(path, registry, config).and_then(|found| match found {
        Some((h, _)) if h.scope != scope => {
            anyhow::bail!("it belongs to {}, not {scope}", h.scope)
        }
        Some((h, _)) if h.processed > stored => anyhow::bail!(
            "it holds {} submissions but ClickHouse only {stored} (was the database reset?)",
            h.processed
        ),
        other => Ok(other),
    });
    match usable {
        Ok(Some((h, e))) => {
            info!(path = %path.display(), submissions = h.processed, "engine snapshot loaded");
            (e, Some(h))
        }
        Ok(None) => (Engine::new(registry.clone(), config.clone()), None),
        Err(e) => {
            warn!(path = %path.display(), error = %format!("{e:#}"), "engine snapshot not usable; replaying everything");
            (Engine::new(registry.clone(), config.clone()), None)
        }
    }
}
