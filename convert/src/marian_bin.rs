//! Marian's binary model format (`model.*.bin`), as written by Marian and `marian-conv`:
//!
//! ```text
//! u64 version (1), u64 item count N
//! N x { u64 name bytes (with NUL), u64 type code, u64 shape rank, u64 data bytes }
//! N NUL-terminated names, then every shape as i32 per dimension
//! u64 padding length, padding (item data starts 256-byte aligned)
//! item data, one after another, each `data bytes` long (already padded to 256)
//! ```
//!
//! Type codes are Marian's `Type` enum: class bits (signed 0x100, unsigned 0x200, float 0x400,
//! intgemm 0x4000...) plus the element size. `intgemm8` (0x4101) holds `rows x cols` int8 values
//! followed by the f32 quantization multiplier (`w = q / multiplier`); the values are stored as
//! Marian's `B` operand transposed, so row `r` is output feature `r`. Every count is checked
//! against the file size before anything is allocated from it.

use anyhow::{bail, ensure, Context, Result};

/// Marian type codes seen in models tern reads.
pub const TYPE_CHAR: u64 = 0x0101;
pub const TYPE_FLOAT32: u64 = 0x0404;
pub const TYPE_INTGEMM8: u64 = 0x4101;
pub const TYPE_FLOAT16: u64 = 0x0402;

/// One item: a named, typed, shaped byte range of the file.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    pub name: &'a str,
    pub ty: u64,
    pub shape: Vec<usize>,
    pub data: &'a [u8],
}

impl Item<'_> {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values of a float32 item.
    pub fn f32s(&self) -> Result<Vec<f32>> {
        ensure!(
            self.ty == TYPE_FLOAT32,
            "{}: expected float32, found type {:#x}",
            self.name,
            self.ty
        );
        let n = self.elements();
        ensure!(
            self.data.len() >= 4 * n,
            "{}: {} bytes of data for {n} floats",
            self.name,
            self.data.len()
        );
        Ok(self.data[..4 * n]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// An intgemm8 item: its int8 values and quantization multiplier (`w = q / multiplier`).
    pub fn intgemm8(&self) -> Result<(&[u8], f32)> {
        ensure!(
            self.ty == TYPE_INTGEMM8,
            "{}: expected intgemm8, found type {:#x}",
            self.name,
            self.ty
        );
        let n = self.elements();
        let m = self
            .data
            .get(n..n + 4)
            .with_context(|| format!("{}: int8 data shorter than its shape", self.name))?;
        let mult = f32::from_le_bytes([m[0], m[1], m[2], m[3]]);
        ensure!(
            mult.is_finite() && mult > 0.0,
            "{}: quantization multiplier {mult} is not a positive number",
            self.name
        );
        Ok((&self.data[..n], mult))
    }

    /// A scalar stored either as float32 or, as some converters wrote `Wemb_QuantMultA`, as a
    /// 1x1 intgemm8 matrix.
    pub fn scalar(&self) -> Result<f32> {
        ensure!(
            self.elements() == 1,
            "{}: expected one value, shape {:?}",
            self.name,
            self.shape
        );
        match self.ty {
            TYPE_FLOAT32 => Ok(self.f32s()?[0]),
            TYPE_INTGEMM8 => {
                let (q, mult) = self.intgemm8()?;
                Ok(f32::from(q[0] as i8) / mult)
            }
            t => bail!("{}: a scalar of type {t:#x}", self.name),
        }
    }
}

/// A parsed model file: its items in file order.
#[derive(Debug)]
pub struct MarianBin<'a> {
    pub items: Vec<Item<'a>>,
}

/// Little-endian cursor that reports where a read fell off the end.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.with_context(|| {
            format!(
                "truncated: {what} at byte {} needs {n} bytes, the file has {}",
                self.at,
                self.buf.len()
            )
        })?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    /// A count that must fit in what is left of the file at `unit` bytes each.
    fn count(&mut self, unit: usize, what: &str) -> Result<usize> {
        let at = self.at;
        let v = self.u64(what)?;
        let left = (self.buf.len() - self.at) as u64;
        ensure!(
            v.checked_mul(unit as u64).is_some_and(|b| b <= left),
            "impossible {what} {v} at byte {at} (the file has {left} bytes left)"
        );
        Ok(v as usize)
    }
}

impl<'a> MarianBin<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut c = Cursor { buf, at: 0 };
        let version = c.u64("version")?;
        ensure!(
            version == 1,
            "not a Marian binary model (version {version}, expected 1)"
        );
        let n = c.count(32, "item count")?;
        let mut heads = Vec::with_capacity(n);
        for i in 0..n {
            let what = format!("header of item {i}");
            let name_len = c.u64(&what)?;
            let ty = c.u64(&what)?;
            let rank = c.u64(&what)?;
            let data_len = c.u64(&what)?;
            ensure!(rank <= 8, "item {i}: shape rank {rank} (at most 8)");
            heads.push((name_len, ty, rank as usize, data_len));
        }
        let mut names = Vec::with_capacity(n);
        for (i, &(len, ..)) in heads.iter().enumerate() {
            ensure!((1..=4096).contains(&len), "item {i}: name length {len}");
            let b = c.take(len as usize, "item name")?;
            ensure!(b[b.len() - 1] == 0, "item {i}: name is not NUL-terminated");
            names.push(
                std::str::from_utf8(&b[..b.len() - 1])
                    .with_context(|| format!("item {i}: name is not UTF-8"))?,
            );
        }
        let mut shapes = Vec::with_capacity(n);
        for (i, &(_, _, rank, _)) in heads.iter().enumerate() {
            let b = c.take(4 * rank, "item shape")?;
            let mut shape = Vec::with_capacity(rank);
            for d in b.chunks_exact(4) {
                let d = i32::from_le_bytes([d[0], d[1], d[2], d[3]]);
                ensure!(d > 0, "{}: dimension {d} in shape", names[i]);
                shape.push(d as usize);
            }
            shapes.push(shape);
        }
        let pad = c.count(1, "padding length")?;
        c.take(pad, "padding")?;
        let mut items = Vec::with_capacity(n);
        for (((_, ty, _, data_len), name), shape) in heads.into_iter().zip(names).zip(shapes) {
            let data = c.take(
                usize::try_from(data_len).unwrap_or(usize::MAX),
                &format!("data of {name}"),
            )?;
            let elem = match ty {
                TYPE_CHAR | TYPE_INTGEMM8 => 1,
                TYPE_FLOAT16 => 2,
                TYPE_FLOAT32 => 4,
                _ => bail!("{name}: Marian type {ty:#x} is not supported (float32, float16, intgemm8 and char are)"),
            };
            let n_el = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .with_context(|| format!("{name}: shape overflows"))?;
            ensure!(
                n_el.checked_mul(elem).is_some_and(|b| b <= data.len()),
                "{name}: shape {shape:?} needs more than its {} bytes",
                data.len()
            );
            items.push(Item {
                name,
                ty,
                shape,
                data,
            });
        }
        Ok(MarianBin { items })
    }

    pub fn get(&self, name: &str) -> Option<&Item<'a>> {
        self.items.iter().find(|i| i.name == name)
    }

    pub fn require(&self, name: &str) -> Result<&Item<'a>> {
        self.get(name)
            .with_context(|| format!("the model has no item {name}"))
    }

    /// The embedded training configuration (`special:model.yml`), as YAML text.
    pub fn config_yaml(&self) -> Result<&'a str> {
        let item = self.require("special:model.yml")?;
        ensure!(
            item.ty == TYPE_CHAR,
            "special:model.yml has type {:#x}, expected char",
            item.ty
        );
        let text = item.data.split(|&b| b == 0).next().unwrap_or_default();
        std::str::from_utf8(text).context("special:model.yml is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a model file the way Marian lays it out.
    pub(crate) fn write(items: &[(&str, u64, &[i32], Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(1u64.to_le_bytes());
        out.extend((items.len() as u64).to_le_bytes());
        let padded = |n: usize| n.div_ceil(256) * 256;
        for (name, ty, shape, data) in items {
            for v in [
                name.len() as u64 + 1,
                *ty,
                shape.len() as u64,
                padded(data.len()) as u64,
            ] {
                out.extend(v.to_le_bytes());
            }
        }
        for (name, ..) in items {
            out.extend(name.as_bytes());
            out.push(0);
        }
        for (_, _, shape, _) in items {
            shape.iter().for_each(|d| out.extend(d.to_le_bytes()));
        }
        let pad = (256 - (out.len() + 8) % 256) % 256;
        out.extend((pad as u64).to_le_bytes());
        out.resize(out.len() + pad, 0);
        for (_, _, _, data) in items {
            out.extend(data);
            out.resize(out.len() + padded(data.len()) - data.len(), 0);
        }
        out
    }

    #[test]
    fn reads_items_and_rejects_every_truncation() {
        let mut q = vec![1u8, 255, 3, 4, 5, 6];
        q.extend(2.0f32.to_le_bytes());
        let floats: Vec<u8> = [0.5f32, -1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let bytes = write(&[
            ("W", TYPE_INTGEMM8, &[2, 3], q),
            ("b", TYPE_FLOAT32, &[1, 2], floats),
            (
                "special:model.yml",
                TYPE_CHAR,
                &[9],
                b"dim-emb: 4".to_vec()[..9].to_vec(),
            ),
        ]);
        let m = MarianBin::parse(&bytes).unwrap();
        let (w, mult) = m.require("W").unwrap().intgemm8().unwrap();
        assert_eq!((w, mult), (&[1u8, 255, 3, 4, 5, 6][..], 2.0));
        assert_eq!(m.require("b").unwrap().f32s().unwrap(), vec![0.5, -1.0]);
        assert_eq!(m.config_yaml().unwrap(), "dim-emb: ");
        for cut in 0..bytes.len() {
            let r = MarianBin::parse(&bytes[..cut]);
            assert!(r.is_err(), "truncation at {cut} accepted");
        }
        let mut absurd = bytes.clone();
        absurd[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(MarianBin::parse(&absurd)
            .unwrap_err()
            .to_string()
            .contains("impossible item count"));
    }
}
