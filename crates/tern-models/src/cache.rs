//! The cache of converted models: `<root>/<from>-<to>/<version>/model.gguf` and its
//! `manifest.json`. A version directory appears whole (renamed from a temporary directory
//! once everything in it is verified and converted) or not at all.

use crate::catalogue::{compare_versions, safe_component, same_lang};
use crate::Error;
use std::path::{Path, PathBuf};

/// The model file in a version directory.
pub const MODEL_FILE: &str = "model.gguf";
/// What was fetched, from where, with which hashes.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Temporary directories start with this (never a pair's name, which starts with a letter).
pub const TMP_PREFIX: &str = ".tmp-";
/// Partial downloads, per pair and version.
pub const PARTIAL_DIR: &str = ".partial";

/// A model in the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    pub source: String,
    pub target: String,
    pub version: String,
    /// `.../<from>-<to>/<version>/model.gguf`.
    pub model: PathBuf,
}

impl Installed {
    /// The version directory.
    pub fn dir(&self) -> &Path {
        self.model.parent().unwrap_or(Path::new("."))
    }
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    /// The platform's cache directory + `tern/models` (Linux: `$XDG_CACHE_HOME` or
    /// `~/.cache`; macOS: `~/Library/Caches`; Windows: `%LOCALAPPDATA%`).
    pub fn platform_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("tern").join("models"))
    }

    /// `<root>/<from>-<to>/<version>`.
    pub fn version_dir(&self, source: &str, target: &str, version: &str) -> PathBuf {
        self.root.join(format!("{source}-{target}")).join(version)
    }

    /// Every complete model in the cache, sorted by pair, newest version first.
    pub fn installed(&self) -> Vec<Installed> {
        let mut out = Vec::new();
        let Ok(pairs) = std::fs::read_dir(&self.root) else {
            return out;
        };
        for pair in pairs.flatten() {
            let name = pair.file_name().to_string_lossy().into_owned();
            let Some((s, t)) = split_pair(&name) else {
                continue;
            };
            let Ok(versions) = std::fs::read_dir(pair.path()) else {
                continue;
            };
            for v in versions.flatten() {
                let version = v.file_name().to_string_lossy().into_owned();
                let model = v.path().join(MODEL_FILE);
                if safe_component(&version) && model.is_file() {
                    let (source, target) =
                        manifest_pair(&v.path()).unwrap_or_else(|| (s.to_string(), t.to_string()));
                    out.push(Installed {
                        source,
                        target,
                        version,
                        model,
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (a.source.as_str(), a.target.as_str())
                .cmp(&(b.source.as_str(), b.target.as_str()))
                .then_with(|| compare_versions(&b.version, &a.version))
        });
        out
    }

    /// The newest cached model from `source` to `target`.
    pub fn find(&self, source: &str, target: &str) -> Option<Installed> {
        self.installed()
            .into_iter()
            .find(|i| same_lang(&i.source, source) && same_lang(&i.target, target))
    }

    /// A fresh temporary directory in the cache (same file system as the final place, so the
    /// last step is a rename).
    pub fn temp_dir(&self, key: &str) -> Result<PathBuf, Error> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        std::fs::create_dir_all(&self.root).map_err(|e| Error::Io {
            path: self.root.display().to_string(),
            source: e,
        })?;
        self.clean_stale(key);
        let dir = self.root.join(format!(
            "{TMP_PREFIX}{key}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        Ok(dir)
    }

    /// `<root>/.partial/<key>`: downloads in progress, kept when the network is lost so that
    /// the next run resumes them (their hashes are checked once complete).
    pub fn partial_dir(&self, key: &str) -> Result<PathBuf, Error> {
        let dir = self.root.join(PARTIAL_DIR).join(key);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        Ok(dir)
    }

    /// Removes temporary directories of `key` left by a run that was killed, a day or more
    /// ago (a younger one may belong to a run still going).
    fn clean_stale(&self, key: &str) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        let prefix = format!("{TMP_PREFIX}{key}-");
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 24 * 3600);
            if old && e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn split_pair(name: &str) -> Option<(&str, &str)> {
    if name.starts_with('.') {
        return None;
    }
    // Tags can hold '-' (zh-Hant): the pair directory is `<from>-<to>`; try each split and
    // take the one whose sides both look like tags. Ambiguous names resolve to the first
    // split, which is right for two-letter sources (the usual case); the manifest is the
    // authority when present.
    let i = name.find('-')?;
    Some((&name[..i], &name[i + 1..]))
}

/// Reads the pair recorded in a version directory's manifest, if any.
pub fn manifest_pair(dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read(dir.join(MANIFEST_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    Some((
        v.get("source")?.as_str()?.to_string(),
        v.get("target")?.as_str()?.to_string(),
    ))
}
