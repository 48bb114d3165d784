//! A Remote Settings server for tests, on 127.0.0.1, with no network: serves the documents
//! and attachments it is given (with `Range`), can drop a connection in the middle of a file,
//! and records every request. tern's tests, and the bindings', use it.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One request the server answered: path and `Range` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub path: String,
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// path -> bytes after which the next whole-file answer is cut (once).
    drop_once: HashMap<String, usize>,
    /// path -> bytes after which every answer (whole or partial) is cut.
    drop_always: HashMap<String, usize>,
    requests: Vec<Request>,
}

/// The server; it runs until the process ends.
#[derive(Clone)]
pub struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    /// Starts a server on a free port, serving `/v1/` (the capabilities, with attachments at
    /// `/attachments/`).
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        let server = Server {
            port,
            state: Arc::default(),
        };
        let caps = json!({
            "project_name": "tern test", "http_api_version": "1.23",
            "capabilities": { "attachments": {
                "base_url": format!("http://127.0.0.1:{port}/attachments/"),
                "bundle": false,
            }},
        });
        server.put("/v1/", serde_json::to_vec(&caps).expect("json"));
        let state = server.state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = answer(stream, &state);
                });
            }
        });
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The records URL of a collection on this server.
    pub fn records_url(&self, collection: &str) -> String {
        format!(
            "{}/v1/buckets/main/collections/{collection}/records",
            self.base()
        )
    }

    /// Serves `bytes` at `path`.
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.state
            .lock()
            .expect("server state")
            .files
            .insert(path.to_string(), bytes);
    }

    /// The next whole-file answer for `path` stops after `after` bytes and closes the
    /// connection (once).
    pub fn drop_once(&self, path: &str, after: usize) {
        self.state
            .lock()
            .expect("server state")
            .drop_once
            .insert(path.to_string(), after);
    }

    /// Every whole-file answer for `path` stops after `after` bytes (a network that keeps
    /// failing), until [`heal`](Self::heal).
    pub fn drop_always(&self, path: &str, after: usize) {
        let mut s = self.state.lock().expect("server state");
        s.drop_always.insert(path.to_string(), after);
    }

    /// Ends [`drop_always`](Self::drop_always) for `path`.
    pub fn heal(&self, path: &str) {
        self.state
            .lock()
            .expect("server state")
            .drop_always
            .remove(path);
    }

    /// Requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().expect("server state").requests.clone()
    }

    /// Publishes a collection: each record's attachment is served at
    /// `/attachments/<location>` (not served when its bytes are empty: a missing file); the
    /// records at [`records_url`](Self::records_url).
    pub fn publish(&self, collection: &str, records: &[(Value, Vec<u8>)]) {
        let mut data = Vec::new();
        for (record, bytes) in records {
            let loc = record
                .pointer("/attachment/location")
                .and_then(Value::as_str);
            if let Some(loc) = loc.filter(|_| !bytes.is_empty()) {
                self.put(&format!("/attachments/{loc}"), bytes.clone());
            }
            data.push(record.clone());
        }
        let url = self.records_url(collection);
        let path = url[self.base().len()..].to_string();
        self.put(
            &path,
            serde_json::to_vec(&json!({ "data": data })).expect("json"),
        );
    }
}

/// A record in the v2 format (`sourceLanguage`...), its attachment the given (compressed)
/// bytes; `plain` the decompressed file when the attachment is compressed.
#[allow(clippy::too_many_arguments)]
pub fn record(
    name: &str,
    source: &str,
    target: &str,
    version: &str,
    file_type: &str,
    attachment: &[u8],
    mimetype: &str,
    plain: Option<&[u8]>,
) -> Value {
    let ext = match mimetype {
        "application/zstd" => ".zst",
        "application/gzip" => ".gz",
        _ => "",
    };
    let location =
        format!("main-workspace/translations-models/{source}{target}-{version}-{name}{ext}");
    let mut r = json!({
        "id": format!("{source}{target}-{version}-{name}"),
        "name": name, "sourceLanguage": source, "targetLanguage": target,
        "version": version, "fileType": file_type, "architecture": "tiny",
        "filter_expression": "", "schema": 1_749_570_042_331u64, "last_modified": 1_749_570_511_392u64,
        "attachment": {
            "hash": crate::download::sha256(attachment), "size": attachment.len(),
            "filename": format!("{name}{ext}"), "location": location, "mimetype": mimetype,
        },
    });
    if let Some(p) = plain {
        r["decompressedSize"] = json!(p.len());
        r["decompressedHash"] = json!(crate::download::sha256(p));
    }
    r
}

/// How a test catalogue stores an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    Plain,
    Zstd,
    Gzip,
}

impl Packing {
    /// The attachment's bytes and MIME type.
    pub fn pack(self, plain: &[u8]) -> (Vec<u8>, &'static str) {
        match self {
            Packing::Plain => (plain.to_vec(), "application/octet-stream"),
            Packing::Zstd => (
                ruzstd::encoding::compress_to_vec(
                    plain,
                    ruzstd::encoding::CompressionLevel::Fastest,
                ),
                "application/zstd",
            ),
            Packing::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(plain).expect("gzip in memory");
                (e.finish().expect("gzip in memory"), "application/gzip")
            }
        }
    }
}

/// The files of a downloaded Firefox pair (`cargo xtask fetch-model <pair>` puts them in
/// `dir`): (file type, name, bytes) of its model, vocabulary and shortlist.
pub fn pair_files(dir: &Path, pair: &str) -> Vec<(&'static str, String, Vec<u8>)> {
    [
        ("model", format!("model.{pair}.intgemm.alphas.bin")),
        ("vocab", format!("vocab.{pair}.spm")),
        ("lex", format!("lex.50.50.{pair}.s2t.bin")),
    ]
    .into_iter()
    .map(|(kind, name)| {
        let bytes = std::fs::read(dir.join(&name))
            .unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()));
        (kind, name, bytes)
    })
    .collect()
}

/// v2 records for `source`->`target` holding the files of the downloaded `pair` in `dir`,
/// renamed for the new pair and packed; zstd ones carry the decompressed size and hash, as
/// Firefox's do.
pub fn pair_records(
    dir: &Path,
    pair: &str,
    source: &str,
    target: &str,
    packing: Packing,
) -> Vec<(Value, Vec<u8>)> {
    pair_files(dir, pair)
        .into_iter()
        .map(|(kind, name, plain)| {
            let (packed, mimetype) = packing.pack(&plain);
            let plain = (packing == Packing::Zstd).then_some(&plain[..]);
            let name = name.replace(pair, &format!("{source}{target}"));
            let r = record(&name, source, target, "1.0", kind, &packed, mimetype, plain);
            (r, packed)
        })
        .collect()
}

/// The same record in the first collection's format (`fromLang` / `toLang`, no
/// architecture).
pub fn v1(record: &Value) -> Value {
    let mut r = record.clone();
    let o = r.as_object_mut().expect("a record is an object");
    let s = o.remove("sourceLanguage");
    let t = o.remove("targetLanguage");
    o.remove("architecture");
    o.insert("fromLang".into(), s.unwrap_or_default());
    o.insert("toLang".into(), t.unwrap_or_default());
    r
}

fn answer(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let (body, cut, cut_always) = {
        let mut s = state.lock().expect("server state");
        s.requests.push(Request {
            path: path.clone(),
            range: range.clone(),
        });
        let body = s.files.get(&path).cloned();
        let cut = if range.is_none() && body.is_some() {
            s.drop_once.remove(&path)
        } else {
            None
        };
        let cut_always = s.drop_always.get(&path).copied();
        (body, cut, cut_always)
    };
    let mut out = stream;
    let Some(body) = body else {
        return out.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
        );
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    match start {
        Some(s) if s >= body.len() => out.write_all(
            format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        ),
        Some(s) => {
            out.write_all(
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len() - 1,
                    body.len(),
                    body.len() - s
                )
                .as_bytes(),
            )?;
            match cut_always {
                // A failing network: a little more each time, never the end.
                Some(n) => {
                    let end = (s + n).min(body.len().saturating_sub(1)).max(s);
                    out.write_all(&body[s..end])?;
                    out.flush()?;
                    out.shutdown(std::net::Shutdown::Both)
                }
                None => out.write_all(&body[s..]),
            }
        }
        None => {
            out.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )?;
            match cut.or(cut_always) {
                Some(n) => {
                    out.write_all(&body[..n.min(body.len())])?;
                    out.flush()?;
                    // Close mid-file: the client sees fewer bytes than Content-Length.
                    out.shutdown(std::net::Shutdown::Both)
                }
                None => out.write_all(&body),
            }
        }
    }
}
