//! Firefox Translations models by language name.
//!
//! Reads Mozilla's catalogue (the Remote Settings collection Firefox downloads its models
//! from), fetches a pair's files (each checked against the published size and sha256,
//! decompressed, resumed or retried when a transfer breaks), converts them to one GGUF file
//! and keeps it in a cache; finds a route (the direct model, or two through English) and
//! translates along it in one call.
//!
//! ```no_run
//! let models = tern_models::Models::new(tern_models::Options::default())?;
//! let route = models.open("es", "ru")?; // es -> en -> ru when there is no direct model
//! eprintln!("{}", route.describe());
//! println!("{}", route.translate("Hola.")?);
//! # Ok::<(), tern_models::Error>(())
//! ```
//!
//! `docs/models.md` has the catalogue's format, the cache's layout and what offline means.

pub mod cache;
pub mod catalogue;
pub mod download;
pub mod route;
pub mod testing;

pub use cache::{Cache, Installed};
pub use catalogue::{Catalogue, Pair, Record};
pub use route::{plan, Leg, Route, RouteSession, PIVOT};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The records Firefox reads today (Firefox 140 and later: `translations-models-v2`, zstd
/// attachments). The first collection, `.../collections/translations-models/records`, is read
/// as well (`--catalogue`).
pub const DEFAULT_CATALOGUE: &str =
    "https://firefox.settings.services.mozilla.com/v1/buckets/main/collections/translations-models-v2/records";

/// Environment variables: the catalogue's URL and the cache directory.
pub const CATALOGUE_ENV: &str = "TERN_CATALOGUE";
pub const CACHE_ENV: &str = "TERN_CACHE_DIR";

/// Largest catalogue answer read (the real one is about 1 MB).
const CATALOGUE_LIMIT: u64 = 64 << 20;

/// What can go wrong; each names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("the catalogue: {0}")]
    Catalogue(String),
    #[error("{file}: sha256 is {actual}, the catalogue says {expected}: refused")]
    Hash {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{file}: {actual} bytes, the catalogue says {expected}: refused")]
    Size {
        file: String,
        expected: u64,
        actual: u64,
    },
    #[error("{file}: cannot decompress: {message}")]
    Decompress { file: String, message: String },
    #[error("the catalogue has no {from}->{to} model")]
    NoPair { from: String, to: String },
    #[error("no route from {from} to {to}: {why}; languages in the catalogue: {known}")]
    NoRoute {
        from: String,
        to: String,
        why: String,
        known: String,
    },
    #[error("offline: {missing} is not in the cache ({cache}); fetch with network first: tern models fetch {from} {to}")]
    Offline {
        from: String,
        to: String,
        missing: String,
        cache: String,
    },
    #[error("{0}")]
    Usage(String),
    #[error("converting {pair}: {message}")]
    Convert { pair: String, message: String },
    #[error("{path}: {source}")]
    Model { path: String, source: tern::Error },
    #[error("{0}")]
    Translate(#[from] tern::Error),
}

/// Where the catalogue and the cache are, and whether the network may be used.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The records URL; default `$TERN_CATALOGUE`, else [`DEFAULT_CATALOGUE`].
    pub catalogue: Option<String>,
    /// Where attachments are (`<base><location>`); default: the server's
    /// `capabilities.attachments.base_url` (its `/v1/`).
    pub attachments: Option<String>,
    /// Default `$TERN_CACHE_DIR`, else the platform's cache directory + `tern/models`.
    pub cache_dir: Option<PathBuf>,
    /// Never use the network: only cached models.
    pub offline: bool,
    /// A progress bar on stderr while fetching and converting (drawn only on a terminal).
    pub progress: bool,
}

/// What `list` shows for one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub source: String,
    pub target: String,
    pub version: String,
    pub architecture: Option<String>,
    /// Bytes to download (0 when only the cache was read).
    pub download_size: u64,
    /// The cached model file, if this version (or, offline, any version) is cached.
    pub installed: Option<PathBuf>,
}

/// The catalogue, the cache and the network, together.
pub struct Models {
    opts: Options,
    cache: Cache,
    catalogue_url: String,
    catalogue: OnceLock<Catalogue>,
    http: download::Http,
}

impl Models {
    pub fn new(opts: Options) -> Result<Self, Error> {
        let root = opts
            .cache_dir
            .clone()
            .or_else(|| {
                std::env::var_os(CACHE_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(Cache::platform_dir)
            .ok_or_else(|| {
                Error::Usage("no cache directory on this platform: give --cache-dir".into())
            })?;
        let catalogue_url = opts
            .catalogue
            .clone()
            .or_else(|| std::env::var(CATALOGUE_ENV).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| DEFAULT_CATALOGUE.to_string());
        Ok(Models {
            opts,
            cache: Cache::new(root),
            catalogue_url,
            catalogue: OnceLock::new(),
            http: download::Http::new(),
        })
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn catalogue_url(&self) -> &str {
        &self.catalogue_url
    }

    /// The catalogue, fetched once per `Models`.
    pub fn catalogue(&self) -> Result<&Catalogue, Error> {
        if let Some(c) = self.catalogue.get() {
            return Ok(c);
        }
        if self.opts.offline {
            return Err(Error::Usage(
                "offline: the catalogue is not read (cached models only)".into(),
            ));
        }
        let bytes = self.http.get(&self.catalogue_url, CATALOGUE_LIMIT)?;
        let c = Catalogue::parse(&bytes)?;
        Ok(self.catalogue.get_or_init(|| c))
    }

    /// Pairs, newest versions, optionally only those with `lang` on either side. Offline:
    /// the cached models.
    pub fn list(&self, lang: Option<&str>) -> Result<Vec<Listing>, Error> {
        let wanted = |s: &str, t: &str| {
            lang.is_none_or(|l| catalogue::same_lang(s, l) || catalogue::same_lang(t, l))
        };
        if self.opts.offline {
            let mut seen = Vec::new();
            return Ok(self
                .cache
                .installed()
                .into_iter()
                .filter(|i| wanted(&i.source, &i.target))
                .filter(|i| {
                    let k = (i.source.clone(), i.target.clone());
                    let new = !seen.contains(&k);
                    seen.push(k);
                    new
                })
                .map(|i| Listing {
                    source: i.source,
                    target: i.target,
                    version: i.version,
                    architecture: None,
                    download_size: 0,
                    installed: Some(i.model),
                })
                .collect());
        }
        let installed = self.cache.installed();
        Ok(self
            .catalogue()?
            .pairs()
            .into_iter()
            .filter(|p| wanted(&p.source, &p.target))
            .map(|p| Listing {
                installed: installed
                    .iter()
                    .find(|i| {
                        catalogue::same_lang(&i.source, &p.source)
                            && catalogue::same_lang(&i.target, &p.target)
                            && i.version == p.version
                    })
                    .map(|i| i.model.clone()),
                download_size: p.download_size(),
                source: p.source,
                target: p.target,
                version: p.version,
                architecture: p.architecture,
            })
            .collect())
    }

    /// The cached model of a pair, fetching the newest one if none is cached (no request at
    /// all when one is).
    pub fn get(&self, source: &str, target: &str) -> Result<Installed, Error> {
        if let Some(i) = self.cache.find(source, target) {
            return Ok(i);
        }
        if self.opts.offline {
            return Err(self.offline_error(source, target, format!("{source}->{target}")));
        }
        let pair = self.catalogue()?.pair(source, target)?;
        self.install(&pair)
    }

    /// Fetches the catalogue's newest model of a pair unless that version is cached.
    pub fn update(&self, source: &str, target: &str) -> Result<Installed, Error> {
        if self.opts.offline {
            return Err(Error::Usage(
                "offline: cannot look for a newer model".into(),
            ));
        }
        let pair = self.catalogue()?.pair(source, target)?;
        let dir = self
            .cache
            .version_dir(&pair.source, &pair.target, &pair.version);
        if dir.join(cache::MODEL_FILE).is_file() {
            return Ok(Installed {
                source: pair.source,
                target: pair.target,
                version: pair.version,
                model: dir.join(cache::MODEL_FILE),
            });
        }
        self.install(&pair)
    }

    /// The pairs to run from `source` to `target`. Cached models are enough when they make a
    /// route (direct first, then through English), without asking the network; otherwise
    /// the catalogue decides (offline: an error naming what is missing).
    pub fn plan(&self, source: &str, target: &str) -> Result<Vec<(String, String)>, Error> {
        if catalogue::same_lang(source, target) {
            return Err(Error::Usage(format!(
                "source and target are both {source:?}"
            )));
        }
        for (what, tag) in [("source", source), ("target", target)] {
            if !catalogue::safe_component(tag) {
                return Err(Error::Usage(format!(
                    "{what} language {tag:?} is not a language tag"
                )));
            }
        }
        let installed = self.cache.installed();
        let cached = |s: &str, t: &str| {
            installed
                .iter()
                .any(|i| catalogue::same_lang(&i.source, s) && catalogue::same_lang(&i.target, t))
        };
        if let Some(p) = plan(source, target, &cached) {
            return Ok(p);
        }
        // The pivot's missing legs ("es->en and en->ru"); empty if one side is English.
        let legs = |has: &dyn Fn(&str, &str) -> bool| -> String {
            if source.eq_ignore_ascii_case(PIVOT) || target.eq_ignore_ascii_case(PIVOT) {
                return String::new();
            }
            let legs: Vec<String> = [(source, PIVOT), (PIVOT, target)]
                .iter()
                .filter(|(s, t)| !has(s, t))
                .map(|(s, t)| format!("{s}->{t}"))
                .collect();
            legs.join(" and ")
        };
        if self.opts.offline {
            let pivot = legs(&cached);
            let missing = if pivot.is_empty() {
                format!("{source}->{target}")
            } else {
                format!("{source}->{target} (or {pivot})")
            };
            return Err(self.offline_error(source, target, missing));
        }
        let cat = self.catalogue()?;
        let pairs = cat.pairs();
        let available = |s: &str, t: &str| {
            cached(s, t)
                || pairs.iter().any(|p| {
                    catalogue::same_lang(&p.source, s) && catalogue::same_lang(&p.target, t)
                })
        };
        plan(source, target, &available).ok_or_else(|| Error::NoRoute {
            from: source.to_string(),
            to: target.to_string(),
            why: match legs(&available) {
                l if l.is_empty() => format!("the catalogue has no {source}->{target} model"),
                l => format!("no direct model, and through English {l} is missing"),
            },
            known: cat.languages().join(", "),
        })
    }

    /// The models of the route from `source` to `target`, fetched if needed.
    pub fn route_models(&self, source: &str, target: &str) -> Result<Vec<Installed>, Error> {
        self.plan(source, target)?
            .iter()
            .map(|(s, t)| self.get(s, t))
            .collect()
    }

    /// Opens the route from `source` to `target` (fetching what it needs).
    pub fn open(&self, source: &str, target: &str) -> Result<Route, Error> {
        let legs = self
            .route_models(source, target)?
            .into_iter()
            .map(|i| {
                let translator = tern::Translator::open(&i.model).map_err(|e| Error::Model {
                    path: i.model.display().to_string(),
                    source: e,
                })?;
                Ok(Leg {
                    source: i.source,
                    target: i.target,
                    translator,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Route::new(legs))
    }

    fn offline_error(&self, source: &str, target: &str, missing: String) -> Error {
        Error::Offline {
            from: source.to_string(),
            to: target.to_string(),
            missing,
            cache: self.cache.root.display().to_string(),
        }
    }

    /// `<base_url>` for attachments: given, or the server's `capabilities.attachments`.
    fn attachments_base(&self) -> Result<String, Error> {
        if let Some(b) = &self.opts.attachments {
            return Ok(b.clone());
        }
        let url = &self.catalogue_url;
        let root = url
            .find("/v1/")
            .map(|i| &url[..i + 4])
            .ok_or_else(|| {
                Error::Catalogue(format!(
                    "{url} is not a Remote Settings URL (…/v1/buckets/…/records): cannot find where attachments are"
                ))
            })?;
        let bytes = self.http.get(root, 1 << 20)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Catalogue(format!("{root}: not JSON: {e}")))?;
        let base = v
            .pointer("/capabilities/attachments/base_url")
            .and_then(|b| b.as_str())
            .ok_or_else(|| {
                Error::Catalogue(format!(
                    "{root} does not say where attachments are (capabilities.attachments.base_url)"
                ))
            })?;
        Ok(base.to_string())
    }

    /// Downloads, verifies, decompresses and converts a pair into the cache: everything
    /// happens in a temporary directory renamed into place at the end, removed on error.
    pub fn install(&self, pair: &Pair) -> Result<Installed, Error> {
        let final_dir = self
            .cache
            .version_dir(&pair.source, &pair.target, &pair.version);
        let model = final_dir.join(cache::MODEL_FILE);
        let installed = Installed {
            source: pair.source.clone(),
            target: pair.target.clone(),
            version: pair.version.clone(),
            model: model.clone(),
        };
        if model.is_file() {
            return Ok(installed);
        }
        if self.opts.offline {
            return Err(self.offline_error(
                &pair.source,
                &pair.target,
                format!("{}->{}", pair.source, pair.target),
            ));
        }
        let base = self.attachments_base()?;
        let tmp = self
            .cache
            .temp_dir(&format!("{}-{}", pair.key(), pair.version))?;
        let result = self.fill(pair, &base, &tmp).and_then(|()| {
            let parent = final_dir.parent().unwrap_or(&self.cache.root);
            std::fs::create_dir_all(parent).map_err(|e| Error::Io {
                path: parent.display().to_string(),
                source: e,
            })?;
            match std::fs::rename(&tmp, &final_dir) {
                Ok(()) => Ok(()),
                // Another run finished the same model first: keep its copy.
                Err(_) if model.is_file() => Ok(()),
                Err(e) => Err(Error::Io {
                    path: final_dir.display().to_string(),
                    source: e,
                }),
            }
        });
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        // Only a lost network keeps partial downloads (to resume); anything else ends them.
        if !matches!(result, Err(Error::Network { .. })) {
            let key = format!("{}-{}", pair.key(), pair.version);
            let _ = std::fs::remove_dir_all(self.cache.root.join(cache::PARTIAL_DIR).join(key));
        }
        result.map(|()| installed)
    }

    fn fill(&self, pair: &Pair, base: &str, tmp: &Path) -> Result<(), Error> {
        let total = pair.download_size();
        let bar = if self.opts.progress {
            let b = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_message(format!("{}->{} {}", pair.source, pair.target, pair.version));
        let mut done = 0u64;
        let mut files = Vec::new();
        for r in &pair.files {
            let url = format!(
                "{}/{}",
                base.trim_end_matches('/'),
                r.attachment.location.trim_start_matches('/')
            );
            // Partial downloads outlive a run that loses the network (the next one resumes
            // them); anything refused is deleted.
            let partial = self
                .cache
                .partial_dir(&format!("{}-{}", pair.key(), pair.version))?;
            let part = partial.join(format!("{}.part", r.name));
            let at = done;
            let got = self.http.download(&url, &part, r.attachment.size, &|n| {
                bar.set_position(at + n)
            });
            if let Err(e) = got {
                if !matches!(e, Error::Network { .. }) {
                    let _ = std::fs::remove_file(&part);
                }
                return Err(e);
            }
            done += r.attachment.size;
            let out = tmp.join(&r.name);
            let checked = download::verify_and_unpack(r, &part, &out);
            if checked.is_err() {
                let _ = std::fs::remove_file(&part);
            }
            checked?;
            std::fs::remove_file(&part).map_err(|e| Error::Io {
                path: part.display().to_string(),
                source: e,
            })?;
            let (sha256, size) = download::sha256_file(&out)?;
            files.push(serde_json::json!({
                "name": r.name, "fileType": r.file_type, "id": r.id,
                "size": size, "sha256": sha256,
                "attachment": { "location": r.attachment.location, "size": r.attachment.size, "hash": r.attachment.hash },
            }));
        }
        bar.set_message(format!("converting {}->{}", pair.source, pair.target));
        bar.tick();
        // Firefox's engine runs every model with these settings (Bergamot's defaults for the
        // rest); convert stores them in the model file.
        write(
            &tmp.join("config.firefox.yml"),
            b"max-length-factor: 2.0\nmax-length-break: 128\n",
        )?;
        let bytes = tern_convert::build(tmp, None, true).map_err(|e| Error::Convert {
            pair: format!("{}->{} {}", pair.source, pair.target, pair.version),
            message: e
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": "),
        })?;
        bar.finish_and_clear();
        // Keep only the model and what it came from.
        for r in &pair.files {
            let _ = std::fs::remove_file(tmp.join(&r.name));
        }
        let _ = std::fs::remove_file(tmp.join("config.firefox.yml"));
        write(&tmp.join(cache::MODEL_FILE), &bytes)?;
        let manifest = serde_json::json!({
            "source": pair.source, "target": pair.target, "version": pair.version,
            "architecture": pair.architecture, "catalogue": self.catalogue_url,
            "attachments": base, "files": files,
            "gguf": { "size": bytes.len(), "sha256": download::sha256(&bytes) },
        });
        let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        write(&tmp.join(cache::MANIFEST_FILE), &text)?;
        Ok(())
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let io = |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Human-readable bytes: `17.1 MB`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else if bytes >= 1_000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{bytes} B")
    }
}
