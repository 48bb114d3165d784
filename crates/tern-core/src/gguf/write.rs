//! GGUF v3 writer (needs `alloc`): collects metadata and tensors, then lays them out with aligned
//! tensor data. Used by the converter, by firmware build scripts and by tests.

use super::{TensorType, ValueType, CHECKSUM_KEY, DEFAULT_ALIGNMENT, MAGIC, VERSION};
use alloc::string::String;
use alloc::vec::Vec;

/// An owned metadata value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U32(u32),
    I32(i32),
    U64(u64),
    F32(f32),
    Bool(bool),
    Str(String),
    StrArray(Vec<String>),
    I32Array(Vec<i32>),
    F32Array(Vec<f32>),
}

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ty: TensorType,
    data: Vec<u8>,
}

/// Builds a GGUF file in memory.
pub struct GgufWriter {
    alignment: u64,
    meta: Vec<(String, MetaValue)>,
    tensors: Vec<PendingTensor>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// A writer with the default alignment (32 bytes, enough for AVX2 and NEON loads).
    pub fn new() -> Self {
        GgufWriter {
            alignment: DEFAULT_ALIGNMENT,
            meta: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// Sets a metadata key (replacing an earlier value of the same key).
    pub fn meta(&mut self, key: &str, value: MetaValue) {
        self.meta.retain(|(k, _)| k != key);
        self.meta.push((key.into(), value));
    }

    /// Adds a tensor from raw little-endian bytes. `dims` is in GGML order (innermost first).
    pub fn tensor_bytes(&mut self, name: &str, dims: &[u64], ty: TensorType, data: &[u8]) {
        self.tensors.push(PendingTensor {
            name: name.into(),
            dims: dims.into(),
            ty,
            data: data.into(),
        });
    }

    /// Adds an f32 tensor.
    pub fn tensor_f32(&mut self, name: &str, dims: &[u64], data: &[f32]) {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor_bytes(name, dims, TensorType::F32, &bytes);
    }

    /// Number of tensors added so far.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// Serializes the file, sealed with its `tern.checksum` (the last metadata entry).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        let needs_alignment_key = self.alignment != DEFAULT_ALIGNMENT;
        let meta: Vec<&(String, MetaValue)> = self
            .meta
            .iter()
            .filter(|(k, _)| k != CHECKSUM_KEY)
            .collect();
        let n_kv = meta.len() + 1 + usize::from(needs_alignment_key);
        out.extend_from_slice(&(n_kv as u64).to_le_bytes());
        if needs_alignment_key {
            put_str(&mut out, "general.alignment");
            put_u32(&mut out, ValueType::U32 as u32);
            put_u32(&mut out, self.alignment as u32);
        }
        for (k, v) in meta {
            put_str(&mut out, k);
            put_value(&mut out, v);
        }
        put_str(&mut out, CHECKSUM_KEY);
        put_u32(&mut out, ValueType::U32 as u32);
        let checksum_at = out.len();
        put_u32(&mut out, 0);
        let mut offset = 0u64;
        let mut offsets = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            put_str(&mut out, &t.name);
            put_u32(&mut out, t.dims.len() as u32);
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            put_u32(&mut out, t.ty as u32);
            out.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + t.data.len() as u64).div_ceil(self.alignment) * self.alignment;
        }
        pad(&mut out, self.alignment);
        let data_start = out.len() as u64;
        for (t, off) in self.tensors.iter().zip(offsets) {
            out.resize((data_start + off) as usize, 0);
            out.extend_from_slice(&t.data);
        }
        pad(&mut out, self.alignment);
        // The checksum value is the last metadata entry, so it lies inside `out`.
        let (head, tail) = out.split_at_mut(checksum_at);
        if let Some((value, rest)) = tail.split_first_chunk_mut::<4>() {
            *value = super::crc32(head, rest).to_le_bytes();
        }
        out
    }
}

fn pad(out: &mut Vec<u8>, alignment: u64) {
    let len = (out.len() as u64).div_ceil(alignment) * alignment;
    out.resize(len as usize, 0);
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_array_header(out: &mut Vec<u8>, elem: ValueType, len: usize) {
    put_u32(out, ValueType::Array as u32);
    put_u32(out, elem as u32);
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &MetaValue) {
    match v {
        MetaValue::U32(x) => {
            put_u32(out, ValueType::U32 as u32);
            put_u32(out, *x);
        }
        MetaValue::I32(x) => {
            put_u32(out, ValueType::I32 as u32);
            out.extend_from_slice(&x.to_le_bytes());
        }
        MetaValue::U64(x) => {
            put_u32(out, ValueType::U64 as u32);
            out.extend_from_slice(&x.to_le_bytes());
        }
        MetaValue::F32(x) => {
            put_u32(out, ValueType::F32 as u32);
            out.extend_from_slice(&x.to_le_bytes());
        }
        MetaValue::Bool(x) => {
            put_u32(out, ValueType::Bool as u32);
            out.push(u8::from(*x));
        }
        MetaValue::Str(s) => {
            put_u32(out, ValueType::Str as u32);
            put_str(out, s);
        }
        MetaValue::StrArray(v) => {
            put_array_header(out, ValueType::Str, v.len());
            v.iter().for_each(|s| put_str(out, s));
        }
        MetaValue::I32Array(v) => {
            put_array_header(out, ValueType::I32, v.len());
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        MetaValue::F32Array(v) => {
            put_array_header(out, ValueType::F32, v.len());
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
    }
}
