//! HTTP: the catalogue, the server's attachments address, and verified, resumable downloads.

use crate::catalogue::{Compression, Record};
use crate::Error;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

/// Attempts per file: the first and up to this many retries, each resuming where the last
/// one stopped (`Range`) when the server allows it.
pub const RETRIES: u32 = 3;

/// An HTTP client for one run.
pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("tern/", env!("CARGO_PKG_VERSION")))
            .build();
        Http {
            agent: config.new_agent(),
        }
    }

    /// GETs a small document (the catalogue, the server root), at most `limit` bytes.
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, Error> {
        let net = |e: ureq::Error| Error::Network {
            url: url.to_string(),
            message: e.to_string(),
        };
        let mut resp = self.agent.get(url).call().map_err(net)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(Error::Status {
                url: url.to_string(),
                status,
            });
        }
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(net)
    }

    /// Downloads `url` into `part`, `size` bytes, resuming a partial file. Retries an
    /// interrupted transfer (connection dropped, short body, 5xx) up to [`RETRIES`] times.
    pub fn download(
        &self,
        url: &str,
        part: &Path,
        size: u64,
        progress: &dyn Fn(u64),
    ) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Io {
            path: part.display().to_string(),
            source: e,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(part)
            .map_err(io)?;
        let mut last = String::new();
        for attempt in 0..=RETRIES {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
            let have = file.metadata().map_err(io)?.len();
            if have == size {
                return Ok(());
            }
            if have > size {
                file.set_len(0).map_err(io)?;
            }
            let have = file.metadata().map_err(io)?.len();
            let mut req = self.agent.get(url);
            if have > 0 {
                req = req.header("Range", format!("bytes={have}-"));
            }
            let mut resp = match req.call() {
                Ok(r) => r,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let status = resp.status().as_u16();
            match status {
                200 => {
                    // The whole file again: start over.
                    file.set_len(0).map_err(io)?;
                }
                206 => {
                    let start = resp
                        .headers()
                        .get("content-range")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("bytes "))
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if start != Some(have) {
                        file.set_len(0).map_err(io)?;
                        last = format!("the server resumed at {start:?}, not at byte {have}");
                        continue;
                    }
                }
                416 if have > 0 => {
                    // The server has no bytes past ours: the file is shorter than published.
                    return Err(Error::Size {
                        file: url.to_string(),
                        expected: size,
                        actual: have,
                    });
                }
                500..=599 => {
                    last = format!("HTTP status {status}");
                    continue;
                }
                _ => {
                    return Err(Error::Status {
                        url: url.to_string(),
                        status,
                    })
                }
            }
            let mut body = resp.body_mut().as_reader();
            let mut buf = vec![0u8; 64 * 1024];
            let mut written = file.metadata().map_err(io)?.len();
            progress(written);
            let outcome = loop {
                match body.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        written += n as u64;
                        if written > size {
                            return Err(Error::Size {
                                file: url.to_string(),
                                expected: size,
                                actual: written,
                            });
                        }
                        file.write_all(&buf[..n]).map_err(io)?;
                        progress(written);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            file.flush().map_err(io)?;
            match outcome {
                Ok(()) if written == size => return Ok(()),
                Ok(()) => last = format!("the transfer ended after {written} of {size} bytes"),
                Err(e) => last = format!("the transfer broke after {written} of {size} bytes: {e}"),
            }
        }
        let have = file.metadata().map_err(io)?.len();
        if last.contains("ended after") {
            // Complete answers, every time, that are too short: the file itself is.
            return Err(Error::Size {
                file: url.to_string(),
                expected: size,
                actual: have,
            });
        }
        Err(Error::Network {
            url: url.to_string(),
            message: format!("{last} ({} attempts)", RETRIES + 1),
        })
    }
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<(String, u64), Error> {
    let io = |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut f = File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut HashWriter(&mut h)).map_err(io)?;
    Ok((hex(&h.finalize()), n))
}

/// Checks a downloaded attachment against its record, then writes the decompressed file to
/// `out` and checks it against `decompressedSize` / `decompressedHash` when the record has
/// them.
pub fn verify_and_unpack(record: &Record, part: &Path, out: &Path) -> Result<(), Error> {
    let (hash, size) = sha256_file(part)?;
    let a = &record.attachment;
    if size != a.size {
        return Err(Error::Size {
            file: a.filename.clone(),
            expected: a.size,
            actual: size,
        });
    }
    if hash != a.hash {
        return Err(Error::Hash {
            file: a.filename.clone(),
            expected: a.hash.clone(),
            actual: hash,
        });
    }
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e| Error::Io { path: p, source: e }
    };
    let mut input = File::open(part).map_err(io(part))?;
    let mut magic = [0u8; 4];
    let got = input.read(&mut magic).map_err(io(part))?;
    input.seek(SeekFrom::Start(0)).map_err(io(part))?;
    let mut compression = a.compression();
    // Trust the bytes over the label when they say plainly what they are.
    if got == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        compression = Compression::Zstd;
    } else if got >= 2 && magic[..2] == [0x1f, 0x8b] && compression != Compression::Zstd {
        compression = Compression::Gzip;
    }
    let mut output = File::create(out).map_err(io(out))?;
    let mut h = Sha256::new();
    let limit = record.decompressed_size.map_or(u64::MAX, |s| s + 1);
    let bad = |e: std::io::Error| Error::Decompress {
        file: a.filename.clone(),
        message: e.to_string(),
    };
    let n = {
        let mut sink = Tee(&mut output, &mut h);
        match compression {
            Compression::None => {
                std::io::copy(&mut (&mut input).take(limit), &mut sink).map_err(io(out))?
            }
            Compression::Gzip => std::io::copy(
                &mut flate2::read::MultiGzDecoder::new(std::io::BufReader::new(&mut input))
                    .take(limit),
                &mut sink,
            )
            .map_err(bad)?,
            Compression::Zstd => zstd(&mut input, &mut sink, limit, &bad)?,
        }
    };
    output.sync_all().map_err(io(out))?;
    let hash = hex(&h.finalize());
    if let Some(expected) = record.decompressed_size {
        if n != expected {
            return Err(Error::Size {
                file: record.name.clone(),
                expected,
                actual: n,
            });
        }
    }
    if let Some(expected) = &record.decompressed_hash {
        if &hash != expected {
            return Err(Error::Hash {
                file: record.name.clone(),
                expected: expected.clone(),
                actual: hash,
            });
        }
    }
    Ok(())
}

/// Decodes every zstd frame of `input` into `sink` (at most `limit` bytes).
fn zstd(
    input: &mut File,
    sink: &mut impl Write,
    limit: u64,
    bad: &dyn Fn(std::io::Error) -> Error,
) -> Result<u64, Error> {
    let mut reader = std::io::BufReader::new(input);
    let mut total = 0u64;
    loop {
        let more = {
            use std::io::BufRead;
            !reader.fill_buf().map_err(bad)?.is_empty()
        };
        if !more {
            return Ok(total);
        }
        let decoder = ruzstd::decoding::StreamingDecoder::new(&mut reader)
            .map_err(|e| bad(std::io::Error::other(e.to_string())))?;
        total += std::io::copy(&mut decoder.take(limit - total.min(limit)), sink).map_err(bad)?;
        if total >= limit {
            return Ok(total);
        }
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Tee<'a>(&'a mut File, &'a mut Sha256);

impl Write for Tee<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(b)?;
        self.1.update(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of bytes, lowercase hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}
