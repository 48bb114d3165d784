//! GGUF v3 reader: validates a whole file once, then hands out zero-copy views of its metadata and
//! tensors. Nothing here allocates, and no input makes it panic: every count is checked against
//! the bytes that remain before it is used.
//!
//! Layout (little-endian): magic `GGUF`, `u32` version, `u64` tensor count, `u64` metadata count,
//! the metadata key/values, the tensor infos, padding to `general.alignment`, then tensor data.
//! Our keys and tensor names are specified in `docs/gguf-format.md`.
// Bytes from a file or a user: no index may panic (clippy enforces it; tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

#[cfg(feature = "alloc")]
pub mod write;

use crate::error::{Error, Result};

/// The four bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The only GGUF version tern reads and writes.
pub const VERSION: u32 = 3;
/// Alignment of tensor data when the file does not say otherwise.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// GGML allows at most four dimensions per tensor.
pub const MAX_DIMS: usize = 4;
/// Metadata key of the file's CRC-32 (IEEE, as zlib's `crc32`), computed over the whole file
/// with this value's own four bytes taken as zero. Written by [`write::GgufWriter`].
pub const CHECKSUM_KEY: &str = "tern.checksum";
/// Arrays may nest (the spec allows it); we accept this much nesting and no more.
const MAX_ARRAY_DEPTH: u32 = 2;

/// Metadata value type codes, as the GGUF spec numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    Str = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    fn from_code(code: u32) -> Option<Self> {
        use ValueType::*;
        Some(match code {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => Str,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// Size in bytes of a fixed-size value, `None` for strings and arrays.
    fn fixed_size(self) -> Option<usize> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            Str | Array => None,
        }
    }
}

/// A metadata value, borrowed from the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(&'a str),
    Array(Array<'a>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value<'_> {
    /// The value as an unsigned integer, if it is an integer of any width that is not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is a float or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v as f64),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
}

/// An array value: its element type, its length and its raw bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Array<'a> {
    elem: ValueType,
    len: usize,
    bytes: &'a [u8],
}

impl<'a> Array<'a> {
    /// Element type.
    pub fn elem_type(&self) -> ValueType {
        self.elem
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Iterates over the elements (already validated when the file was parsed).
    pub fn iter(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        let mut cur = Cursor {
            buf: self.bytes,
            pos: 0,
        };
        let elem = self.elem;
        (0..self.len).map_while(move |_| cur.value(elem, 1).ok())
    }
    /// The raw little-endian bytes of a fixed-size element array (e.g. `u8` blobs), else `None`.
    pub fn raw(&self) -> Option<&'a [u8]> {
        self.elem.fixed_size().map(|_| self.bytes)
    }
}

/// Tensor element types tern stores (numbered as `ggml_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum TensorType {
    F32 = 0,
    F16 = 1,
    I8 = 24,
    I32 = 26,
}

impl TensorType {
    /// Decodes a `ggml_type` code.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => TensorType::F32,
            1 => TensorType::F16,
            24 => TensorType::I8,
            26 => TensorType::I32,
            _ => return None,
        })
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            TensorType::F32 | TensorType::I32 => 4,
            TensorType::F16 => 2,
            TensorType::I8 => 1,
        }
    }
    /// Short name, as printed by `tern inspect`.
    pub fn name(self) -> &'static str {
        match self {
            TensorType::F32 => "f32",
            TensorType::F16 => "f16",
            TensorType::I8 => "i8",
            TensorType::I32 => "i32",
        }
    }
}

/// One tensor: name, shape (GGML order: `dims[0]` is the innermost, contiguous dimension), type,
/// and its bytes in the file.
#[derive(Debug, Clone, Copy)]
pub struct TensorInfo<'a> {
    pub name: &'a str,
    pub n_dims: usize,
    pub dims: [u64; MAX_DIMS],
    pub ty: TensorType,
    pub data: &'a [u8],
}

impl TensorInfo<'_> {
    /// Number of elements.
    pub fn n_elements(&self) -> usize {
        self.data.len() / self.ty.size()
    }
    /// Shape as (rows, cols) for a matrix stored row-major: cols = `dims[0]`, rows = the product of
    /// the others. A vector is one row.
    pub fn rows_cols(&self) -> (usize, usize) {
        let cols = self.dims[0] as usize;
        (self.n_elements().checked_div(cols).unwrap_or(0), cols)
    }
}

/// A parsed, validated GGUF file borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Gguf<'a> {
    buf: &'a [u8],
    version: u32,
    n_kv: usize,
    n_tensors: usize,
    kv_at: usize,
    tensors_at: usize,
    data_at: usize,
    alignment: usize,
    /// Offset of the `tern.checksum` value, when the file has one.
    checksum_at: Option<usize>,
}

impl<'a> Gguf<'a> {
    /// Parses and validates the whole file: header, every key/value, every tensor info, and that
    /// every tensor's data lies aligned inside the data section.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut c = Cursor { buf, pos: 0 };
        if c.take(4, "magic")? != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = c.u32("version")?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let n_tensors = c.u64("tensor count")?;
        let n_kv = c.u64("metadata count")?;
        // Each key/value needs at least 12 bytes, each tensor info at least 24: refuse counts the
        // file cannot hold before looping over them.
        let rest = (buf.len() - c.pos) as u64;
        if n_kv > rest / 12 {
            return Err(Error::BadCount {
                at: 16,
                what: "metadata count",
            });
        }
        if n_tensors > rest / 24 {
            return Err(Error::BadCount {
                at: 8,
                what: "tensor count",
            });
        }
        let (n_kv, n_tensors) = (n_kv as usize, n_tensors as usize);
        let kv_at = c.pos;
        let mut alignment = DEFAULT_ALIGNMENT;
        let mut checksum_at = None;
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let at = c.pos;
            let ty = c.value_type()?;
            let v = c.value(ty, 0)?;
            if key == "general.alignment" {
                alignment = match v {
                    Value::U32(a) => a.into(),
                    Value::U64(a) => a,
                    _ => return Err(Error::WrongKeyType("general.alignment")),
                };
                if !alignment.is_power_of_two() || !(8..=65536).contains(&alignment) {
                    return Err(Error::BadAlignment(alignment));
                }
            }
            if key == CHECKSUM_KEY {
                if !matches!(v, Value::U32(_)) {
                    return Err(Error::WrongKeyType(CHECKSUM_KEY));
                }
                checksum_at = Some(at + 4);
            }
        }
        let tensors_at = c.pos;
        for _ in 0..n_tensors {
            c.tensor_info()?;
        }
        let alignment = alignment as usize;
        let data_at = c.pos.div_ceil(alignment) * alignment;
        if data_at > buf.len() && n_tensors > 0 {
            return Err(Error::Truncated {
                at: c.pos,
                what: "tensor data",
            });
        }
        let g = Gguf {
            buf,
            version,
            n_kv,
            n_tensors,
            kv_at,
            tensors_at,
            data_at,
            alignment,
            checksum_at,
        };
        // Second pass over tensor infos: data placement, now that the data offset is known.
        let mut c = Cursor {
            buf,
            pos: tensors_at,
        };
        if n_tensors > 0 && !(buf.as_ptr() as usize).is_multiple_of(4) {
            return Err(Error::MisalignedBuffer);
        }
        for _ in 0..n_tensors {
            let at = c.pos;
            let raw = c.tensor_info()?;
            g.place(&raw, at)?;
        }
        Ok(g)
    }

    /// Checks the whole file against its `tern.checksum`: `Ok(true)` when it matches,
    /// `Ok(false)` when the file carries no checksum, [`Error::ChecksumMismatch`] when a byte
    /// anywhere changed. Reads every byte once (a 20 MB model: milliseconds on a host; on a
    /// microcontroller, worth doing once after flashing rather than at every boot).
    pub fn verify(&self) -> Result<bool> {
        let Some(at) = self.checksum_at else {
            return Ok(false);
        };
        let (Some(head), Some(&value), Some(tail)) = (
            self.buf.get(..at),
            self.buf.get(at..).and_then(|b| b.first_chunk::<4>()),
            self.buf.get(at + 4..),
        ) else {
            return Err(Error::Truncated {
                at,
                what: CHECKSUM_KEY,
            });
        };
        let stored = u32::from_le_bytes(value);
        let computed = crc32(head, tail);
        if stored != computed {
            return Err(Error::ChecksumMismatch { stored, computed });
        }
        Ok(true)
    }

    /// GGUF version (always 3 today).
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Tensor data alignment.
    pub fn alignment(&self) -> usize {
        self.alignment
    }
    /// Number of metadata keys.
    pub fn n_metadata(&self) -> usize {
        self.n_kv
    }
    /// Number of tensors.
    pub fn n_tensors(&self) -> usize {
        self.n_tensors
    }
    /// Byte offset where tensor data starts.
    pub fn data_offset(&self) -> usize {
        self.data_at
    }
    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Every metadata key and value, in file order.
    pub fn metadata(&self) -> impl Iterator<Item = (&'a str, Value<'a>)> + 'a {
        let mut c = Cursor {
            buf: self.buf,
            pos: self.kv_at,
        };
        (0..self.n_kv).map_while(move |_| {
            let key = c.string("metadata key").ok()?;
            let ty = c.value_type().ok()?;
            Some((key, c.value(ty, 0).ok()?))
        })
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.metadata().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A required unsigned integer key (any integer width), checked to fit in `u32`.
    pub fn u32(&self, key: &'static str) -> Result<u32> {
        let v = self.get(key).ok_or(Error::MissingKey(key))?;
        v.as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or(Error::WrongKeyType(key))
    }
    /// An optional unsigned integer key.
    pub fn u32_or(&self, key: &'static str, default: u32) -> Result<u32> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.u32(key),
        }
    }
    /// A required float key (float or integer).
    pub fn f32(&self, key: &'static str) -> Result<f32> {
        let v = self.get(key).ok_or(Error::MissingKey(key))?;
        v.as_f64().map(|v| v as f32).ok_or(Error::WrongKeyType(key))
    }
    /// An optional float key.
    pub fn f32_or(&self, key: &'static str, default: f32) -> Result<f32> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.f32(key),
        }
    }
    /// A required string key.
    pub fn str(&self, key: &'static str) -> Result<&'a str> {
        match self.get(key) {
            Some(Value::Str(s)) => Ok(s),
            Some(_) => Err(Error::WrongKeyType(key)),
            None => Err(Error::MissingKey(key)),
        }
    }
    /// An optional bool key.
    pub fn bool_or(&self, key: &'static str, default: bool) -> Result<bool> {
        match self.get(key) {
            Some(Value::Bool(b)) => Ok(b),
            Some(_) => Err(Error::WrongKeyType(key)),
            None => Ok(default),
        }
    }

    /// Every tensor, in file order.
    pub fn tensors(&self) -> impl Iterator<Item = TensorInfo<'a>> + 'a {
        let g = *self;
        let mut c = Cursor {
            buf: self.buf,
            pos: self.tensors_at,
        };
        (0..self.n_tensors).map_while(move |_| {
            let at = c.pos;
            let raw = c.tensor_info().ok()?;
            g.place(&raw, at).ok()
        })
    }

    /// The tensor called `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<TensorInfo<'a>> {
        self.tensors().find(|t| t.name == name)
    }

    fn place(&self, raw: &RawTensor<'a>, at: usize) -> Result<TensorInfo<'a>> {
        let bad = Error::BadTensorData { at };
        if !raw.offset.is_multiple_of(self.alignment as u64) {
            return Err(bad);
        }
        let start = (self.data_at as u64).checked_add(raw.offset).ok_or(bad)?;
        let end = start.checked_add(raw.nbytes).ok_or(bad)?;
        if end > self.buf.len() as u64 {
            return Err(bad);
        }
        Ok(TensorInfo {
            name: raw.name,
            n_dims: raw.n_dims,
            dims: raw.dims,
            ty: raw.ty,
            data: self.buf.get(start as usize..end as usize).ok_or(bad)?,
        })
    }
}

/// CRC-32 of `head`, four zero bytes, then `tail`.
fn crc32(head: &[u8], tail: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(&[0; 4]);
    h.update(tail);
    h.finalize()
}

struct RawTensor<'a> {
    name: &'a str,
    n_dims: usize,
    dims: [u64; MAX_DIMS],
    ty: TensorType,
    offset: u64,
    nbytes: u64,
}

/// A bounds-checked reader over the file bytes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let truncated = Error::Truncated { at: self.pos, what };
        let end = self.pos.checked_add(n).ok_or(truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    /// A length-prefixed UTF-8 string.
    fn string(&mut self, what: &'static str) -> Result<&'a str> {
        let at = self.pos;
        let len = self.u64(what)?;
        if len > (self.buf.len() - self.pos) as u64 {
            return Err(Error::Truncated { at, what });
        }
        let bytes = self.take(len as usize, what)?;
        core::str::from_utf8(bytes).map_err(|_| Error::BadUtf8 { at })
    }
    fn value_type(&mut self) -> Result<ValueType> {
        let at = self.pos;
        let code = self.u32("value type")?;
        ValueType::from_code(code).ok_or(Error::BadValueType { at, code })
    }
    fn value(&mut self, ty: ValueType, depth: u32) -> Result<Value<'a>> {
        const W: &str = "metadata value";
        Ok(match ty {
            ValueType::U8 => Value::U8(self.array::<1>(W)?[0]),
            ValueType::I8 => Value::I8(self.array::<1>(W)?[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(W)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(W)?)),
            ValueType::U32 => Value::U32(self.u32(W)?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(W)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(W)?)),
            ValueType::Bool => Value::Bool(self.array::<1>(W)?[0] != 0),
            ValueType::Str => Value::Str(self.string(W)?),
            ValueType::U64 => Value::U64(self.u64(W)?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(W)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(W)?)),
            ValueType::Array => {
                let at = self.pos;
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(Error::BadCount {
                        at,
                        what: "array nesting",
                    });
                }
                let elem = self.value_type()?;
                let len = self.u64("array length")?;
                let rest = (self.buf.len() - self.pos) as u64;
                // Every element takes at least one byte (strings and arrays at least eight).
                let min = elem.fixed_size().unwrap_or(8) as u64;
                if len > rest / min {
                    return Err(Error::BadCount {
                        at,
                        what: "array length",
                    });
                }
                let len = len as usize;
                let start = self.pos;
                match elem.fixed_size() {
                    Some(size) => {
                        self.take(len * size, "array data")?;
                    }
                    None => {
                        for _ in 0..len {
                            self.value(elem, depth + 1)?;
                        }
                    }
                }
                Value::Array(Array {
                    elem,
                    len,
                    bytes: self.buf.get(start..self.pos).ok_or(Error::Truncated {
                        at: start,
                        what: "array data",
                    })?,
                })
            }
        })
    }
    fn tensor_info(&mut self) -> Result<RawTensor<'a>> {
        let at = self.pos;
        let name = self.string("tensor name")?;
        let n_dims = self.u32("tensor rank")? as usize;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(Error::BadShape { at });
        }
        let mut dims = [1u64; MAX_DIMS];
        let mut n: u64 = 1;
        for d in dims.iter_mut().take(n_dims) {
            *d = self.u64("tensor dimension")?;
            n = n.checked_mul(*d).ok_or(Error::BadShape { at })?;
        }
        let code = self.u32("tensor type")?;
        let ty = TensorType::from_code(code).ok_or(Error::BadTensorType { code })?;
        let offset = self.u64("tensor offset")?;
        let nbytes = n
            .checked_mul(ty.size() as u64)
            .ok_or(Error::BadShape { at })?;
        if nbytes > self.buf.len() as u64 {
            return Err(Error::BadTensorData { at });
        }
        Ok(RawTensor {
            name,
            n_dims,
            dims,
            ty,
            offset,
            nbytes,
        })
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    extern crate alloc;
    use super::write::{GgufWriter, MetaValue};
    use super::*;
    use alloc::vec::Vec;

    fn sample() -> Vec<u8> {
        let mut w = GgufWriter::new();
        w.meta("general.architecture", MetaValue::Str("marian".into()));
        w.meta("x.count", MetaValue::U32(7));
        w.meta("x.scale", MetaValue::F32(0.5));
        w.meta("x.flag", MetaValue::Bool(true));
        w.meta(
            "x.names",
            MetaValue::StrArray(alloc::vec!["a".into(), "bc".into()]),
        );
        w.tensor_f32("w", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        w.tensor_bytes("q", &[5], TensorType::I8, &[1, 2, 3, 4, 5]);
        w.to_bytes()
    }

    /// Copies into a 32-byte aligned buffer, like an mmap.
    fn aligned(bytes: &[u8]) -> Vec<u64> {
        let mut v = alloc::vec![0u64; bytes.len().div_ceil(8) + 4];
        bytemuck_bytes(&mut v)[..bytes.len()].copy_from_slice(bytes);
        v
    }
    fn bytemuck_bytes(v: &mut [u64]) -> &mut [u8] {
        bytemuck::cast_slice_mut(v)
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let mut store = aligned(&bytes);
        let buf = &bytemuck_bytes(&mut store)[..bytes.len()];
        let g = Gguf::parse(buf).unwrap();
        assert_eq!(g.str("general.architecture").unwrap(), "marian");
        assert_eq!(g.u32("x.count").unwrap(), 7);
        assert_eq!(g.f32("x.scale").unwrap(), 0.5);
        assert!(g.bool_or("x.flag", false).unwrap());
        match g.get("x.names") {
            Some(Value::Array(a)) => {
                let v: Vec<_> = a.iter().collect();
                assert_eq!(v, [Value::Str("a"), Value::Str("bc")]);
            }
            other => panic!("{other:?}"),
        }
        let w = g.tensor("w").unwrap();
        assert_eq!(w.rows_cols(), (2, 3));
        assert_eq!(w.ty, TensorType::F32);
        assert_eq!(&w.data[..4], &1.0f32.to_le_bytes());
        assert_eq!(g.tensor("q").unwrap().data, &[1, 2, 3, 4, 5]);
        assert!(g.tensor("nope").is_none());
        assert_eq!(g.u32("missing"), Err(Error::MissingKey("missing")));
        assert_eq!(g.str("x.count"), Err(Error::WrongKeyType("x.count")));
    }

    /// Miri interprets every instruction; it checks every 37th position (a prime, so all
    /// structures are still hit) and the native run checks them all.
    const MIRI_STRIDE: usize = if cfg!(miri) { 37 } else { 1 };

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample();
        let mut store = aligned(&bytes);
        let full = bytemuck_bytes(&mut store);
        // Trailing padding after the last tensor is optional; everything before it is required.
        let g = Gguf::parse(&full[..bytes.len()]).unwrap();
        let end = g
            .tensors()
            .map(|t| t.data.as_ptr() as usize + t.data.len())
            .max()
            .unwrap()
            - full.as_ptr() as usize;
        for cut in (0..end).step_by(MIRI_STRIDE) {
            assert!(
                Gguf::parse(&full[..cut]).is_err(),
                "truncated at {cut} parsed"
            );
        }
    }

    #[test]
    fn every_byte_flip_is_handled() {
        let bytes = sample();
        for i in (0..bytes.len()).step_by(MIRI_STRIDE) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                let mut store = aligned(&b);
                let buf = &bytemuck_bytes(&mut store)[..b.len()];
                // Must not panic; if it parses, every view must stay inside the buffer.
                if let Ok(g) = Gguf::parse(buf) {
                    for t in g.tensors() {
                        assert!(t.data.len() <= buf.len());
                    }
                    assert_eq!(g.metadata().count(), g.n_metadata());
                    assert_eq!(g.tensors().count(), g.n_tensors());
                    // CRC-32 catches every single-byte change; a flip in the key's name
                    // leaves a file without a checksum.
                    assert!(
                        matches!(g.verify(), Err(Error::ChecksumMismatch { .. }) | Ok(false)),
                        "flip {flip:#x} at {i} passed verification"
                    );
                }
            }
        }
    }

    #[test]
    fn checksum_seals_the_whole_file() {
        let bytes = sample();
        let mut store = aligned(&bytes);
        let buf = &bytemuck_bytes(&mut store)[..bytes.len()];
        assert_eq!(Gguf::parse(buf).unwrap().verify(), Ok(true));
        // The same as zlib's crc32 with the value zeroed (what a Python check would compute).
        let at = bytes
            .windows(CHECKSUM_KEY.len())
            .position(|w| w == CHECKSUM_KEY.as_bytes())
            .unwrap()
            + CHECKSUM_KEY.len()
            + 4;
        let mut zeroed = bytes.clone();
        zeroed[at..at + 4].fill(0);
        let stored = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(stored, crc32fast::hash(&zeroed));
        // The last tensor byte changed: the structure is intact, the checksum is not.
        let last = bytes.len() - 1 - bytes.iter().rev().position(|&b| b == 5).unwrap();
        bytemuck_bytes(&mut store)[last] = 6;
        let buf = &bytemuck_bytes(&mut store)[..bytes.len()];
        assert!(matches!(
            Gguf::parse(buf).unwrap().verify(),
            Err(Error::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn absurd_counts_are_refused_before_use() {
        let mut b = sample();
        b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut store = aligned(&b);
        let buf = &bytemuck_bytes(&mut store)[..b.len()];
        assert!(matches!(Gguf::parse(buf), Err(Error::BadCount { .. })));
    }

    #[test]
    fn bad_magic_and_version() {
        let mut b = sample();
        b[0] = b'X';
        assert_eq!(Gguf::parse(&b).unwrap_err(), Error::BadMagic);
        let mut b = sample();
        b[4] = 2;
        assert_eq!(Gguf::parse(&b).unwrap_err(), Error::UnsupportedVersion(2));
    }
}
