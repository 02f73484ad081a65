//! A zero-initialised f32 buffer whose first element sits on a 64-byte (cache line, one
//! AVX-512 register) boundary, in safe code: a `Vec` with slack and an offset into it.

use std::ops::{Deref, DerefMut};

/// Floats per 64 bytes: the padding unit of every packed dimension.
pub const LANES: usize = 16;

/// `n` rounded up to a multiple of [`LANES`].
pub fn pad(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// A 64-byte aligned, fixed-length f32 buffer. Allocates only in [`AlignedBuf::zeros`].
#[derive(Clone, Debug)]
pub struct AlignedBuf {
    raw: Vec<f32>,
    offset: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zeros.
    pub fn zeros(len: usize) -> AlignedBuf {
        let raw = vec![0.0f32; len + LANES];
        // The heap block does not move when the Vec (or this struct) does, so the offset found
        // now keeps the slice aligned for the buffer's life.
        let offset = raw.as_ptr().align_offset(64).min(LANES);
        AlignedBuf { raw, offset, len }
    }
}

impl Deref for AlignedBuf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.raw[self.offset..self.offset + self.len]
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.raw[self.offset..self.offset + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        for len in [0, 1, 15, 16, 1000] {
            let b = AlignedBuf::zeros(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % 64, 0);
            assert!(b.iter().all(|&v| v == 0.0));
        }
        assert_eq!(pad(0), 0);
        assert_eq!(pad(1), 16);
        assert_eq!(pad(32), 32);
        assert_eq!(pad(33), 48);
    }
}
