//! Reading a checkpoint directory: `config.json`, `generation_config.json` and the weights
//! (`model.safetensors`, memory-mapped; a PyTorch pickle gets a clear error instead).

use anyhow::{anyhow, bail, Context, Result};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// An open checkpoint.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub config: Value,
    /// `generation_config.json` if present, else an empty object.
    pub generation: Value,
    mmap: memmap2::Mmap,
}

/// A tensor read as f32, with its shape (outermost first, as PyTorch).
pub struct F32Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Checkpoint {
    pub fn open(dir: &Path) -> Result<Self> {
        let config = read_json(&dir.join("config.json"))?;
        let generation = match std::fs::read(dir.join("generation_config.json")) {
            Ok(_) => read_json(&dir.join("generation_config.json"))?,
            Err(_) => Value::Object(Default::default()),
        };
        let st = dir.join("model.safetensors");
        if !st.exists() {
            if dir.join("pytorch_model.bin").exists() {
                bail!(
                    "{} has only pytorch_model.bin (a Python pickle, which tern does not execute). Re-save it as safetensors with:\n  python -c \"from transformers import MarianMTModel as M; M.from_pretrained('{}').save_pretrained('{}', safe_serialization=True)\"",
                    dir.display(),
                    dir.display(),
                    dir.display()
                );
            }
            bail!("no model.safetensors in {}", dir.display());
        }
        let file = std::fs::File::open(&st).with_context(|| format!("opening {}", st.display()))?;
        // SAFETY: the file is opened read-only and not modified while mapped by this process; a
        // concurrent writer could change the bytes we read, which safetensors validates anyway.
        let mmap = unsafe { memmap2::Mmap::map(&file) }
            .with_context(|| format!("mapping {}", st.display()))?;
        SafeTensors::deserialize(&mmap)
            .map_err(|e| anyhow!("{} is not a valid safetensors file: {e}", st.display()))?;
        Ok(Checkpoint {
            dir: dir.into(),
            config,
            generation,
            mmap,
        })
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.mmap).expect("validated in open")
    }

    /// Names of all tensors.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tensors().names().into_iter().cloned().collect();
        v.sort();
        v
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors().tensor(name).is_ok()
    }

    /// Reads a tensor as f32 (from F32, F16 or BF16), rejecting NaN and infinities.
    pub fn f32(&self, name: &str) -> Result<F32Tensor> {
        let st = self.tensors();
        let t = st
            .tensor(name)
            .map_err(|_| anyhow!("checkpoint has no tensor {name}"))?;
        let b = t.data();
        let data: Vec<f32> = match t.dtype() {
            Dtype::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => b
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => b
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => bail!("tensor {name} has dtype {other:?}; expected a float type"),
        };
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            bail!(
                "tensor {name} has a non-finite value ({}) at element {i}",
                data[i]
            );
        }
        Ok(F32Tensor {
            shape: t.shape().to_vec(),
            data,
        })
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Typed access to config values with clear errors.
pub trait ConfigExt {
    fn usize_key(&self, key: &str) -> Result<usize>;
    fn usize_or(&self, key: &str, default: usize) -> Result<usize>;
    fn bool_or(&self, key: &str, default: bool) -> Result<bool>;
    fn str_or<'a>(&'a self, key: &str, default: &'a str) -> Result<&'a str>;
    fn f64_or(&self, key: &str, default: f64) -> Result<f64>;
}

impl ConfigExt for Value {
    fn usize_key(&self, key: &str) -> Result<usize> {
        match self.get(key) {
            Some(v) => v
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| anyhow!("config key {key} must be a non-negative integer, got {v}")),
            None => bail!("config has no {key}"),
        }
    }
    fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(_) => self.usize_key(key),
        }
    }
    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| anyhow!("config key {key} must be true or false, got {v}")),
        }
    }
    fn str_or<'a>(&'a self, key: &str, default: &'a str) -> Result<&'a str> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_str()
                .ok_or_else(|| anyhow!("config key {key} must be a string, got {v}")),
        }
    }
    fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| anyhow!("config key {key} must be a number, got {v}")),
        }
    }
}
