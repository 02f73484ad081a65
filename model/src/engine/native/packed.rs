//! Weight matrices packed once at load into the layout the matrix kernels stream through.
//!
//! A matrix `W` of `out × k` (PyTorch's `Linear` layout: `y = W x`) is stored as column groups
//! of [`GROUP`] outputs: for each group, for each input `k`, the group's (up to) 64 weights
//! `W[o0 .. o0 + 64][k]` side by side. A kernel computing 64 outputs then reads one contiguous,
//! 64-byte aligned stream: one cache line per input per 16 outputs, in order.
//! Output rows are padded to a multiple of 16 with zeros; the last group holds 16, 32, 48 or
//! 64 of them.

use super::aligned::{pad, AlignedBuf, LANES};

/// Outputs per column group: four AVX-512 registers.
pub const GROUP: usize = 4 * LANES;

/// A packed `out × k` matrix.
#[derive(Clone, Debug)]
pub struct PackedMatrix {
    out_pad: usize,
    k: usize,
    data: AlignedBuf,
}

impl PackedMatrix {
    /// Packs `w(o, i)` for `o < out_pad` (a multiple of 16), `i < k`. Padding rows are whatever
    /// `w` returns for them (give 0).
    pub fn from_fn(out_pad: usize, k: usize, w: impl Fn(usize, usize) -> f32) -> PackedMatrix {
        assert_eq!(out_pad % LANES, 0, "packed outputs are padded to {LANES}");
        let mut data = AlignedBuf::zeros(out_pad * k);
        for g in 0..out_pad.div_ceil(GROUP) {
            let o0 = g * GROUP;
            let width = GROUP.min(out_pad - o0);
            let base = o0 * k;
            for i in 0..k {
                for l in 0..width {
                    data[base + i * width + l] = w(o0 + l, i);
                }
            }
        }
        PackedMatrix { out_pad, k, data }
    }

    /// Packs a row-major `out × k` matrix, padding the outputs to a multiple of 16.
    pub fn from_rows(w: &[f32], out: usize, k: usize) -> PackedMatrix {
        assert_eq!(w.len(), out * k);
        PackedMatrix::from_fn(pad(out), k, |o, i| if o < out { w[o * k + i] } else { 0.0 })
    }

    /// Outputs, padded to a multiple of 16.
    pub fn out_pad(&self) -> usize {
        self.out_pad
    }

    /// Inputs.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Column groups.
    pub fn groups(&self) -> usize {
        self.out_pad.div_ceil(GROUP)
    }

    /// Outputs in group `g` (16, 32, 48 or 64) and its packed weights (`k × width`).
    pub fn group(&self, g: usize) -> (usize, &[f32]) {
        let o0 = g * GROUP;
        let width = GROUP.min(self.out_pad - o0);
        (width, &self.data[o0 * self.k..(o0 + width) * self.k])
    }

    /// The weight of output `o`, input `i`.
    #[cfg(test)]
    pub fn get(&self, o: usize, i: usize) -> f32 {
        let g = o / GROUP;
        let (width, w) = self.group(g);
        w[i * width + o % GROUP]
    }

    /// Every packed value, multiplied by `scale`, into `dst` (same shape): the temperature fold.
    pub fn scaled_into(&self, scale: f32, dst: &mut PackedMatrix) {
        assert!(dst.out_pad == self.out_pad && dst.k == self.k, "scaled_into needs the same shape");
        for (d, s) in dst.data.iter_mut().zip(self.data.iter()) {
            *d = s * scale;
        }
    }

    /// Bytes of weights (for the budget notes).
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_pads() {
        let (out, k) = (70, 3);
        let w: Vec<f32> = (0..out * k).map(|v| v as f32).collect();
        let p = PackedMatrix::from_rows(&w, out, k);
        assert_eq!(p.out_pad(), 80);
        assert_eq!(p.groups(), 2);
        assert_eq!(p.group(1).0, 16);
        for o in 0..80 {
            for i in 0..k {
                let want = if o < out { (o * k + i) as f32 } else { 0.0 };
                assert_eq!(p.get(o, i), want, "o={o} i={i}");
            }
        }
        // Hand-worked layout: group 0, input 1, output 2 is W[2][1] = 2*3 + 1.
        assert_eq!(p.group(0).1[GROUP + 2], 7.0);
    }
}
