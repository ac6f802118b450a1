//! Where the local stack keeps its broker passwords (one file per user,
//! written by `make stack-up`), and reading a password file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use cisp_model::Secret;

/// `CISP_CREDENTIALS_DIR`, else under `CISP_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/cisp-fusion` or `~/.cache/cisp-fusion`, as
/// `scripts/stack/common.sh` computes it.
pub fn credentials_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = var("CISP_CREDENTIALS_DIR") {
        return d;
    }
    let cache = var("CISP_CACHE_DIR").unwrap_or_else(|| {
        var("XDG_CACHE_HOME")
            .or_else(|| var("HOME").map(|h| h.join(".cache")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("cisp-fusion")
    });
    cache.join("broker-credentials")
}

/// The local stack's password file of broker user `user` (a member id,
/// `cisp-fusion`, `cisp-intake`, `cisp-admin`).
pub fn password_file(user: &str) -> PathBuf {
    credentials_dir().join(user)
}

/// A password file's content without its trailing newline.
pub fn read_password(path: &Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the password file {}", path.display()))?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!("the password file {} is empty", path.display());
    }
    Ok(Secret::new(password))
}
