//! Mozilla's Remote Settings records for the Firefox Translations models, as data.
//!
//! A collection's `records` endpoint answers `{"data": [record, ...]}`, one record per file.
//! `docs/models.md` describes the fields; both generations of the collection are read:
//! `translations-models` (`fromLang` / `toLang`, uncompressed attachments) and
//! `translations-models-v2` (`sourceLanguage` / `targetLanguage`, `architecture`, zstd
//! attachments with `decompressedSize` / `decompressedHash`).

use crate::Error;
use serde_json::Value;
use std::cmp::Ordering;

/// One file of one model, as a record describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    /// The file's name once decompressed, e.g. `model.enes.intgemm.alphas.bin`.
    pub name: String,
    pub source: String,
    pub target: String,
    pub version: String,
    /// `model`, `lex`, `vocab`, `srcvocab`, `trgvocab`, `qualityModel`...
    pub file_type: String,
    /// `tiny`, `base`, `base-memory` (v2 records; absent in the first collection).
    pub architecture: Option<String>,
    /// A developer-only variant; records with one are not used by default (as in Firefox).
    pub variant: Option<String>,
    pub attachment: Attachment,
    /// Size and sha256 of the decompressed file, when the attachment is compressed (v2).
    pub decompressed_size: Option<u64>,
    pub decompressed_hash: Option<String>,
}

/// The attachment: what is downloaded, from `attachments.base_url` + `location`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// sha256 of the downloaded bytes, lowercase hex.
    pub hash: String,
    /// Size of the downloaded bytes.
    pub size: u64,
    pub filename: String,
    pub location: String,
    pub mimetype: Option<String>,
}

/// How an attachment is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Attachment {
    /// From the MIME type, else the file name's extension.
    pub fn compression(&self) -> Compression {
        let mime = self.mimetype.as_deref().unwrap_or("");
        if mime.contains("zstd") || self.filename.ends_with(".zst") {
            Compression::Zstd
        } else if mime.contains("gzip") || self.filename.ends_with(".gz") {
            Compression::Gzip
        } else {
            Compression::None
        }
    }
}

/// A record the catalogue holds but tern cannot use, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub what: String,
    pub reason: String,
}

/// The records of one collection.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub records: Vec<Record>,
    /// Records left out (malformed or unsafe): listed, never silently dropped.
    pub skipped: Vec<Skipped>,
}

/// A language pair's newest model: the files of its `model` record's version.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub source: String,
    pub target: String,
    pub version: String,
    pub architecture: Option<String>,
    /// The files to download (model, vocabularies, at most one shortlist).
    pub files: Vec<Record>,
}

impl Pair {
    /// Bytes to download.
    pub fn download_size(&self) -> u64 {
        self.files.iter().map(|r| r.attachment.size).sum()
    }

    /// `en-pt`.
    pub fn key(&self) -> String {
        format!("{}-{}", self.source, self.target)
    }
}

impl Catalogue {
    /// Parses a records answer (`{"data": [...]}`, or a bare array).
    pub fn parse(json: &[u8]) -> Result<Catalogue, Error> {
        let v: Value =
            serde_json::from_slice(json).map_err(|e| Error::Catalogue(format!("not JSON: {e}")))?;
        let list = match &v {
            Value::Array(a) => a,
            Value::Object(o) => match o.get("data") {
                Some(Value::Array(a)) => a,
                _ => {
                    return Err(Error::Catalogue(
                        "no \"data\" array of records (is this a Remote Settings records URL?)"
                            .into(),
                    ))
                }
            },
            _ => return Err(Error::Catalogue("not a list of records".into())),
        };
        let mut c = Catalogue::default();
        for (i, r) in list.iter().enumerate() {
            match record(r) {
                Ok(rec) => c.records.push(rec),
                Err(reason) => {
                    let what = r
                        .get("name")
                        .and_then(Value::as_str)
                        .map(|n| format!("record {i} ({n})"))
                        .unwrap_or_else(|| format!("record {i}"));
                    c.skipped.push(Skipped { what, reason });
                }
            }
        }
        Ok(c)
    }

    /// Every pair's newest model (records with a variant left out), sorted by source, target.
    pub fn pairs(&self) -> Vec<Pair> {
        let mut keys: Vec<(&str, &str)> = self
            .records
            .iter()
            .filter(|r| r.variant.is_none() && r.file_type == "model")
            .map(|r| (r.source.as_str(), r.target.as_str()))
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|(s, t)| self.pair(s, t).ok())
            .collect()
    }

    /// The newest model from `source` to `target` and the files of its version. Firefox's
    /// rule: the highest `version` of the pair's `model` record; every other file of the pair
    /// at exactly that version.
    pub fn pair(&self, source: &str, target: &str) -> Result<Pair, Error> {
        let of_pair = |r: &&Record| {
            r.variant.is_none() && same_lang(&r.source, source) && same_lang(&r.target, target)
        };
        let model = self
            .records
            .iter()
            .filter(of_pair)
            .filter(|r| r.file_type == "model")
            .max_by(|a, b| compare_versions(&a.version, &b.version))
            .ok_or_else(|| Error::NoPair {
                from: source.to_string(),
                to: target.to_string(),
            })?;
        let same: Vec<&Record> = self
            .records
            .iter()
            .filter(of_pair)
            .filter(|r| r.version == model.version)
            .collect();
        let key = format!("{source}->{target} {}", model.version);
        let models: Vec<&&Record> = same.iter().filter(|r| r.file_type == "model").collect();
        if models.len() > 1 {
            return Err(Error::Catalogue(format!(
                "{key} has {} model files; expected one",
                models.len()
            )));
        }
        let kind = |t: &str| -> Vec<&Record> {
            same.iter().copied().filter(|r| r.file_type == t).collect()
        };
        let (vocab, src, trg) = (kind("vocab"), kind("srcvocab"), kind("trgvocab"));
        let mut files = vec![model.clone()];
        match (vocab.as_slice(), src.as_slice(), trg.as_slice()) {
            ([v], [], []) => files.push((*v).clone()),
            ([], [s], [t]) => {
                files.push((*s).clone());
                files.push((*t).clone());
            }
            _ => {
                return Err(Error::Catalogue(format!(
                    "{key} needs one vocab file or one srcvocab and one trgvocab; it has {} vocab, {} srcvocab, {} trgvocab",
                    vocab.len(),
                    src.len(),
                    trg.len()
                )))
            }
        }
        // One shortlist: Bergamot's usual `lex.50.50.*` when there are several.
        let mut lex = kind("lex");
        lex.sort_by_key(|r| (!r.name.contains("50.50"), r.name.clone()));
        if let Some(l) = lex.first() {
            files.push((*l).clone());
        }
        Ok(Pair {
            source: model.source.clone(),
            target: model.target.clone(),
            version: model.version.clone(),
            architecture: model.architecture.clone(),
            files,
        })
    }

    /// Languages that appear on either side, sorted.
    pub fn languages(&self) -> Vec<String> {
        let mut l: Vec<String> = self
            .pairs()
            .iter()
            .flat_map(|p| [p.source.clone(), p.target.clone()])
            .collect();
        l.sort();
        l.dedup();
        l
    }
}

/// Language tags compare without case (`zh-Hant` = `zh-hant`).
pub fn same_lang(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Orders versions like `1.0`, `1.1`, `2.0a1`, `3.0`: numeric components; a component with a
/// suffix (`0a1`, `0beta`) comes before the same number without one.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<(u64, bool, String)> {
        v.split('.')
            .map(|c| {
                let digits: String = c.chars().take_while(char::is_ascii_digit).collect();
                let rest = c[digits.len()..].to_string();
                (digits.parse().unwrap_or(0), rest.is_empty(), rest)
            })
            .collect()
    };
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let x = pa.get(i).cloned().unwrap_or((0, true, String::new()));
        let y = pb.get(i).cloned().unwrap_or((0, true, String::new()));
        let o = x.cmp(&y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// A language tag or version safe to use as a path component: letters, digits, `-`, `_`,
/// `.`, not starting with `.`, at most 64 bytes.
pub fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn record(r: &Value) -> Result<Record, String> {
    let text = |keys: &[&str]| -> Option<String> {
        keys.iter()
            .find_map(|k| r.get(*k).and_then(Value::as_str))
            .map(str::to_string)
    };
    let need = |keys: &[&str]| text(keys).ok_or_else(|| format!("no {:?}", keys[0]));
    let source = need(&["sourceLanguage", "fromLang"])?;
    let target = need(&["targetLanguage", "toLang"])?;
    let version = need(&["version"])?;
    let file_type = need(&["fileType"])?;
    let name = need(&["name"])?;
    for (what, v) in [
        ("language", &source),
        ("language", &target),
        ("version", &version),
        ("name", &name),
    ] {
        if !safe_component(v) {
            return Err(format!("unsafe {what} {v:?}"));
        }
    }
    let a = r.get("attachment").ok_or("no attachment")?;
    let hash = a
        .get("hash")
        .and_then(Value::as_str)
        .ok_or("attachment has no hash")?
        .to_ascii_lowercase();
    if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("attachment hash {hash:?} is not a sha256"));
    }
    let size = number(a.get("size")).ok_or("attachment has no size")?;
    let location = a
        .get("location")
        .and_then(Value::as_str)
        .ok_or("attachment has no location")?
        .to_string();
    if location.contains("..") || location.contains("://") {
        return Err(format!(
            "attachment location {location:?} is not a relative path"
        ));
    }
    let decompressed_hash = text(&["decompressedHash"]).map(|h| h.to_ascii_lowercase());
    if let Some(h) = &decompressed_hash {
        if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("decompressedHash {h:?} is not a sha256"));
        }
    }
    Ok(Record {
        id: text(&["id"]).unwrap_or_default(),
        name,
        source,
        target,
        version,
        file_type,
        architecture: text(&["architecture"]),
        variant: text(&["variant"]).filter(|v| !v.is_empty()),
        attachment: Attachment {
            hash,
            size,
            filename: a
                .get("filename")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            location,
            mimetype: a
                .get("mimetype")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        decompressed_size: number(r.get("decompressedSize")),
        decompressed_hash,
    })
}

/// Sizes are numbers in the records, strings in Firefox's type declarations: both are read.
fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(compare_versions("1.0", "1.1"), Ordering::Less);
        assert_eq!(compare_versions("2.0", "10.0"), Ordering::Less);
        assert_eq!(compare_versions("3.0a1", "3.0"), Ordering::Less);
        assert_eq!(compare_versions("1.0", "1"), Ordering::Equal);
        assert_eq!(compare_versions("2.1", "2.0"), Ordering::Greater);
    }

    fn rec(name: &str, version: &str, file_type: &str, extra: &str) -> String {
        format!(
            r#"{{"id": "{name}{version}", "name": "{name}", "sourceLanguage": "zh", "targetLanguage": "en",
            "version": "{version}", "fileType": "{file_type}", "architecture": "base" {extra},
            "attachment": {{"hash": "{h}", "size": "123", "filename": "{name}.zst",
            "location": "main/translations-models-v2/{name}{version}.zst", "mimetype": "application/zstd"}}}}"#,
            h = "ab".repeat(32)
        )
    }

    /// Firefox's rule on a split-vocabulary pair: the model's newest version, every file of
    /// exactly that version (a shared vocab left from an older version is not used), one
    /// shortlist (`lex.50.50` of two), no quality model, no variant.
    #[test]
    fn newest_model_and_its_files() {
        let records = [
            rec("model.zhen.intgemm8.bin", "2.0", "model", ""),
            rec("vocab.zhen.spm", "2.0", "vocab", ""),
            rec("model.zhen.intgemm8.bin", "2.1", "model", ""),
            rec("srcvocab.zhen.spm", "2.1", "srcvocab", ""),
            rec("trgvocab.zhen.spm", "2.1", "trgvocab", ""),
            rec("lex.zhen.s2t.bin", "2.1", "lex", ""),
            rec("lex.50.50.zhen.s2t.bin", "2.1", "lex", ""),
            rec("qualityModel.zhen.bin", "2.1", "qualityModel", ""),
            rec("model.zhen.intgemm8.bin", "9.0", "model", r#", "variant": "experiment""#),
            r#"{"name": "broken", "fromLang": "zh", "toLang": "en", "version": "1.0", "fileType": "model"}"#.to_string(),
        ];
        let json = format!(r#"{{"data": [{}]}}"#, records.join(","));
        let c = Catalogue::parse(json.as_bytes()).unwrap();
        assert_eq!(c.skipped.len(), 1);
        let p = c.pair("zh", "en").unwrap();
        assert_eq!(p.version, "2.1");
        assert_eq!(p.architecture.as_deref(), Some("base"));
        let names: Vec<&str> = p.files.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "model.zhen.intgemm8.bin",
                "srcvocab.zhen.spm",
                "trgvocab.zhen.spm",
                "lex.50.50.zhen.s2t.bin"
            ]
        );
        assert_eq!(p.download_size(), 4 * 123);
        assert_eq!(p.files[0].attachment.compression(), Compression::Zstd);
        assert_eq!(c.pairs().len(), 1);
        assert!(matches!(c.pair("en", "zh"), Err(Error::NoPair { .. })));
        assert!(Catalogue::parse(b"{\"records\": []}").is_err());
        assert!(Catalogue::parse(b"not json").is_err());
    }

    #[test]
    fn components() {
        assert!(safe_component("zh-Hant"));
        assert!(safe_component("1.0a1"));
        assert!(!safe_component(".."));
        assert!(!safe_component("a/b"));
        assert!(!safe_component(""));
    }
}
