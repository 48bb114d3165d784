//! Marian's float model format: a `.npz` (zip) of NumPy `.npy` arrays, one per parameter, plus
//! `special:model.yml` as a byte array. Read into the same [`Item`]s as the binary format, so the
//! converter treats both alike. Arrays must be little-endian float32 in C order; anything else
//! is refused with the array's name.

use crate::marian_bin::{Item, TYPE_CHAR, TYPE_FLOAT32};
use anyhow::{bail, ensure, Context, Result};
use std::io::Read;

/// One array, owned.
#[derive(Debug)]
pub struct Array {
    pub name: String,
    pub ty: u64,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Array {
    pub fn item(&self) -> Item<'_> {
        Item {
            name: &self.name,
            ty: self.ty,
            shape: self.shape.clone(),
            data: &self.data,
        }
    }
}

/// Parses one `.npy` file: `\x93NUMPY`, version, header length, a Python dict literal with
/// `descr`, `fortran_order` and `shape`, then the data.
pub fn parse_npy(name: &str, b: &[u8]) -> Result<Array> {
    ensure!(
        b.len() >= 10 && &b[..6] == b"\x93NUMPY",
        "{name}: not a .npy array"
    );
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 => {
            ensure!(b.len() >= 12, "{name}: truncated .npy header");
            (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
        }
        v => bail!("{name}: .npy version {v} is not supported"),
    };
    let header = b
        .get(start..start + hlen)
        .with_context(|| format!("{name}: truncated .npy header"))?;
    let header =
        std::str::from_utf8(header).with_context(|| format!("{name}: .npy header is not text"))?;
    let field = |key: &str| -> Result<&str> {
        let at = header
            .find(&format!("'{key}'"))
            .with_context(|| format!("{name}: .npy header has no {key}"))?;
        Ok(header[at + key.len() + 2..]
            .trim_start()
            .trim_start_matches(':')
            .trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .get(1..)
        .and_then(|d| d.split('\'').next())
        .unwrap_or_default();
    ensure!(
        field("fortran_order")?.starts_with("False"),
        "{name}: Fortran-order arrays are not supported"
    );
    let shape_text = field("shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .with_context(|| format!("{name}: bad shape in .npy header"))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .with_context(|| format!("{name}: bad dimension {s:?}"))
        })
        .collect::<Result<_>>()?;
    let (ty, elem) = match descr {
        "<f4" => (TYPE_FLOAT32, 4),
        "|i1" | "|u1" | "|S1" | "|b1" if name == "special:model.yml" => (TYPE_CHAR, 1),
        d => bail!(
            "{name}: dtype {d:?} is not supported (Marian float models hold little-endian float32)"
        ),
    };
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .with_context(|| format!("{name}: shape overflows"))?;
    let data = &b[start + hlen..];
    ensure!(
        n.checked_mul(elem) == Some(data.len()),
        "{name}: {} bytes of data for shape {shape:?}",
        data.len()
    );
    let shape = if shape.is_empty() { vec![1] } else { shape };
    Ok(Array {
        name: name.to_string(),
        ty,
        shape,
        data: data.to_vec(),
    })
}

/// Reads every array of a `.npz` file.
pub fn read(bytes: &[u8]) -> Result<Vec<Array>> {
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("not a zip (.npz) archive")?;
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).with_context(|| format!("zip entry {i}"))?;
        let full = f
            .name()
            .with_context(|| format!("zip entry {i} has an unreadable name"))?
            .to_string();
        let name = full.strip_suffix(".npy").unwrap_or(&full).to_string();
        ensure!(
            f.size() <= bytes.len() as u64 * 1100,
            "{name}: implausible uncompressed size {}",
            f.size()
        );
        let mut b = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut b)
            .with_context(|| format!("reading {name} from the archive"))?;
        out.push(parse_npy(&name, &b)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((h.len() as u16).to_le_bytes());
        b.extend(h.as_bytes());
        b.extend(data);
        b
    }

    #[test]
    fn reads_float_arrays_and_refuses_others() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = parse_npy("W", &npy("<f4", "(2, 3)", &data)).unwrap();
        assert_eq!((a.ty, a.shape.clone()), (TYPE_FLOAT32, vec![2, 3]));
        assert_eq!(a.item().f32s().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(parse_npy("W", &npy("<f8", "(2,)", &[0; 16]))
            .unwrap_err()
            .to_string()
            .contains("dtype"));
        assert!(parse_npy("W", &npy("<f4", "(2, 4)", &data))
            .unwrap_err()
            .to_string()
            .contains("bytes of data"));
        let y = parse_npy("special:model.yml", &npy("|i1", "(4,)", b"a: 1")).unwrap();
        assert_eq!(y.ty, TYPE_CHAR);
        for cut in 0..60 {
            assert!(parse_npy("W", &npy("<f4", "(2, 3)", &data)[..cut]).is_err());
        }
    }
}
