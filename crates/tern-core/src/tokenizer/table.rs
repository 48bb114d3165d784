//! Little-endian views over the tokenizer's tensors, validated once at load and then read
//! without alignment or endianness assumptions (the bytes may sit anywhere in flash).

use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorType};
use core::cmp::Ordering;

/// A validated `I32` tensor.
#[derive(Clone, Copy)]
pub(crate) struct I32s<'a>(&'a [u8]);

impl<'a> I32s<'a> {
    pub fn load(g: &Gguf<'a>, name: &'static str) -> Result<Self> {
        Ok(I32s(blob(g, name, TensorType::I32)?))
    }
    pub fn empty() -> Self {
        I32s(&[])
    }
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }
    pub fn get(&self, i: usize) -> Option<i32> {
        let b = self.0.get(i.checked_mul(4)?..i.checked_mul(4)? + 4)?;
        Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Element `i` as an index below `n`.
    pub fn index(&self, i: usize, n: usize) -> Option<usize> {
        self.get(i)
            .and_then(|v| usize::try_from(v).ok())
            .filter(|&v| v < n)
    }
}

/// A validated `F32` tensor.
#[derive(Clone, Copy)]
pub(crate) struct F32s<'a>(&'a [u8]);

impl<'a> F32s<'a> {
    pub fn load(g: &Gguf<'a>, name: &'static str) -> Result<Self> {
        Ok(F32s(blob(g, name, TensorType::F32)?))
    }
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }
    pub fn get(&self, i: usize) -> f32 {
        match self.0.get(i * 4..i * 4 + 4) {
            Some(b) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => f32::NEG_INFINITY,
        }
    }
}

/// The bytes of a one-dimensional tensor of type `ty`.
pub(crate) fn blob<'a>(g: &Gguf<'a>, name: &'static str, ty: TensorType) -> Result<&'a [u8]> {
    let t = g
        .tensor(name)
        .ok_or(Error::MissingTensor { name, layer: 0 })?;
    if t.ty != ty || t.n_dims != 1 {
        return Err(Error::TensorMismatch { name, layer: 0 });
    }
    Ok(t.data)
}

/// A table of byte strings: `offsets[i]..offsets[i + 1]` into `text`, each valid UTF-8.
#[derive(Clone, Copy)]
pub(crate) struct Strings<'a> {
    offsets: I32s<'a>,
    text: &'a [u8],
}

impl<'a> Strings<'a> {
    /// Loads `<prefix>.offsets` and `<prefix>.text` and checks every string.
    pub fn load(g: &Gguf<'a>, offsets: &'static str, text: &'static str) -> Result<Self> {
        let s = Strings {
            offsets: I32s::load(g, offsets)?,
            text: blob(g, text, TensorType::I8)?,
        };
        if s.offsets.len() < 2 || s.offsets.get(0) != Some(0) {
            return Err(Error::BadTokenizer("string table offsets must start at 0"));
        }
        for i in 0..s.len() {
            let ok = match (s.offsets.get(i), s.offsets.get(i + 1)) {
                (Some(a), Some(b)) => a >= 0 && b >= a && (b as usize) <= s.text.len(),
                _ => false,
            };
            if !ok || s.str(i).is_none() {
                return Err(Error::BadTokenizer(
                    "string table entry out of range or not UTF-8",
                ));
            }
        }
        Ok(s)
    }
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    pub fn bytes(&self, i: usize) -> &'a [u8] {
        let a = self.offsets.get(i).unwrap_or(0) as usize;
        let b = self.offsets.get(i + 1).unwrap_or(0) as usize;
        self.text.get(a..b).unwrap_or(&[])
    }
    pub fn str(&self, i: usize) -> Option<&'a str> {
        let a = self.offsets.get(i)? as usize;
        let b = self.offsets.get(i + 1)? as usize;
        core::str::from_utf8(self.text.get(a..b)?).ok()
    }
}

/// Ids of a [`Strings`] table sorted by their bytes (strictly increasing), for lookups and for
/// walking all strings that share a prefix.
#[derive(Clone, Copy)]
pub(crate) struct Sorted<'a> {
    pub ids: I32s<'a>,
    pub strings: Strings<'a>,
    /// `by_first[c]..by_first[c + 1]`: the sorted positions of the strings that start with byte
    /// `c` (an empty string sorts before them all). Found while the order is checked at load,
    /// it spares the tokenizer's segmentation the two widest binary searches at every position.
    by_first: [u32; 257],
}

impl<'a> Sorted<'a> {
    pub fn load(g: &Gguf<'a>, name: &'static str, strings: Strings<'a>) -> Result<Self> {
        let mut s = Sorted {
            ids: I32s::load(g, name)?,
            strings,
            by_first: [0; 257],
        };
        let n = strings.len();
        if u32::try_from(s.ids.len()).is_err() {
            return Err(Error::BadTokenizer("sorted index too long"));
        }
        let mut prev: Option<&[u8]> = None;
        // Strings per first byte: `count[0]` empty, `count[c + 1]` starting with `c`.
        let mut count = [0u32; 257];
        for i in 0..s.ids.len() {
            let id = s
                .ids
                .index(i, n)
                .ok_or(Error::BadTokenizer("sorted index holds an id out of range"))?;
            let cur = strings.bytes(id);
            if prev.is_some_and(|p| p >= cur) {
                return Err(Error::BadTokenizer(
                    "sorted index is not strictly increasing",
                ));
            }
            count[cur.first().map_or(0, |&b| usize::from(b) + 1)] += 1;
            prev = Some(cur);
        }
        // Those before byte `c`: the empty one and those starting below `c`.
        let mut before = 0;
        for (at, n) in s.by_first.iter_mut().zip(count) {
            before += n;
            *at = before;
        }
        Ok(s)
    }
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// The string at sorted position `i`, with its id.
    pub fn at(&self, i: usize) -> (usize, &'a [u8]) {
        let id = self.ids.get(i).unwrap_or(0) as usize;
        (id, self.strings.bytes(id))
    }
    /// The id whose string is exactly `key`.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let (mut lo, mut hi) = match key.first() {
            Some(&c) => self.narrow((0, self.len()), 0, c),
            None => (0, self.len()),
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (id, s) = self.at(mid);
            match s.cmp(key) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(id),
            }
        }
        None
    }
    /// Narrows `range`, whose strings all share a prefix of `depth` bytes, to those whose byte at
    /// `depth` is `c`.
    pub fn narrow(&self, range: (usize, usize), depth: usize, c: u8) -> (usize, usize) {
        if depth == 0 && range == (0, self.len()) {
            let c = usize::from(c);
            return (self.by_first[c] as usize, self.by_first[c + 1] as usize);
        }
        let key = |i: usize| self.at(i).1.get(depth).copied();
        let lo = partition(range, |i| key(i) < Some(c));
        let hi = partition((lo, range.1), |i| key(i) <= Some(c));
        (lo, hi)
    }
}

/// First index in `lo..hi` where `before` turns false (`before` is true then false).
fn partition((mut lo, mut hi): (usize, usize), before: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
