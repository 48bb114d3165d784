//! The memory plan: limits chosen up front, and the carving of one caller-owned byte buffer into
//! the typed buffers a forward pass needs. A model that fits, fits before it runs.
// Bytes from a file or a user: no index may panic (clippy enforces it; tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::error::{Error, Result};

/// Every buffer starts on this boundary (AVX2 loads, cache lines).
pub const ALIGN: usize = 32;

/// Most beams a plan may have (beam indices and the search's top-k stay small).
pub const MAX_BEAM: usize = 64;
/// Most sentences a batch may decode together.
pub const MAX_BATCH: usize = 64;

/// What a workspace must be able to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Source tokens, including the final EOS.
    pub max_src: usize,
    /// Target tokens generated, including the final EOS.
    pub max_tgt: usize,
    /// Beam size (1 = greedy).
    pub beam: usize,
    /// Sentences decoded together in one workspace (1: one at a time). A batch shares every
    /// weight read across its sentences; each sentence keeps its own encoder output and caches.
    pub batch: usize,
}

impl Limits {
    /// Checks the limits are usable (non-zero, within what positions and indices support).
    pub fn check(&self, max_positions: usize) -> Result<()> {
        if self.max_src == 0 || self.max_src > max_positions {
            return Err(Error::BadLimit("max_src must be 1..=max positions"));
        }
        if self.max_tgt == 0 || self.max_tgt > max_positions {
            return Err(Error::BadLimit("max_tgt must be 1..=max positions"));
        }
        if self.beam == 0 || self.beam > MAX_BEAM {
            return Err(Error::BadLimit("beam must be 1..=64"));
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(Error::BadLimit("batch must be 1..=64"));
        }
        Ok(())
    }

    /// Decoder rows a step may run: `beam` per sentence.
    pub fn rows(&self) -> usize {
        self.batch * self.beam
    }
}

/// Counts bytes for a sequence of typed buffers, with the same alignment rules as [`Carver`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Sizer {
    bytes: usize,
}

impl Sizer {
    /// Adds a buffer of `n` elements of `T`.
    pub fn add<T>(&mut self, n: usize) -> &mut Self {
        self.bytes = self.bytes.div_ceil(ALIGN) * ALIGN + n * core::mem::size_of::<T>();
        self
    }
    /// Bytes needed, including slack to align the start of an arbitrary buffer.
    pub fn bytes(&self) -> usize {
        self.bytes.div_ceil(ALIGN) * ALIGN + ALIGN
    }
}

/// Hands out aligned typed slices from a byte buffer, front to back.
pub struct Carver<'w> {
    rest: &'w mut [u8],
    given: usize,
}

impl<'w> Carver<'w> {
    /// Starts carving `buf`.
    pub fn new(buf: &'w mut [u8]) -> Self {
        let given = buf.len();
        Carver { rest: buf, given }
    }

    /// The next `n` elements of `T` (zeroed is not guaranteed: contents are whatever was there).
    pub fn take<T: bytemuck::Pod>(&mut self, n: usize) -> Result<&'w mut [T]> {
        let rest = core::mem::take(&mut self.rest);
        let pad = rest.as_ptr().align_offset(ALIGN).min(rest.len());
        let len = n * core::mem::size_of::<T>();
        let short = Error::WorkspaceTooSmall {
            needed: self.given - rest.len() + pad + len,
            given: self.given,
        };
        if rest.len() - pad < len {
            return Err(short);
        }
        let (_, tail) = rest.split_at_mut(pad);
        let (buf, rest) = tail.split_at_mut(len);
        self.rest = rest;
        bytemuck::try_cast_slice_mut(buf).map_err(|_| short)
    }
}

/// Where a buffer layout is laid out: a [`Sizer`] only counts bytes, a [`Carver`] hands out the
/// slices. A layout written once as a function generic over `Arena` both sizes the plan and
/// carves the workspace, so the two cannot drift apart.
pub trait Arena {
    /// What a buffer of `T` is in this arena: nothing for a sizer, a slice for a carver.
    type Slice<T: bytemuck::Pod>;
    /// The next buffer of `n` elements of `T`.
    fn take<T: bytemuck::Pod>(&mut self, n: usize) -> Result<Self::Slice<T>>;
}

impl Arena for Sizer {
    type Slice<T: bytemuck::Pod> = ();
    fn take<T: bytemuck::Pod>(&mut self, n: usize) -> Result<()> {
        self.add::<T>(n);
        Ok(())
    }
}

impl<'w> Arena for Carver<'w> {
    type Slice<T: bytemuck::Pod> = &'w mut [T];
    fn take<T: bytemuck::Pod>(&mut self, n: usize) -> Result<&'w mut [T]> {
        Carver::take(self, n)
    }
}

/// Views words as bytes (for aligned model buffers built from `u64` storage).
pub fn as_bytes(v: &[u64]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// Views words as mutable bytes.
pub fn as_bytes_mut(v: &mut [u64]) -> &mut [u8] {
    bytemuck::cast_slice_mut(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizer_matches_carver_at_any_start() {
        let mut s = Sizer::default();
        s.add::<f32>(7).add::<u8>(3).add::<u32>(5).add::<i8>(1);
        let mut store = [0u64; 64];
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut store);
        for start in 0..ALIGN {
            let buf = &mut bytes[start..start + s.bytes()];
            let mut c = Carver::new(buf);
            assert_eq!(c.take::<f32>(7).unwrap().len(), 7);
            assert_eq!(c.take::<u8>(3).unwrap().len(), 3);
            assert_eq!(c.take::<u32>(5).unwrap().len(), 5);
            assert_eq!(c.take::<i8>(1).unwrap().len(), 1);
        }
        let mut small = [0u8; 8];
        let mut c = Carver::new(&mut small);
        assert!(matches!(
            c.take::<f32>(100),
            Err(Error::WorkspaceTooSmall { .. })
        ));
    }
}
