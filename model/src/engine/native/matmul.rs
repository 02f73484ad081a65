//! `Y = init + X Wᵀ` for a few rows at a time: the one hot loop of every layer, with one
//! kernel per instruction set behind [`matmul`].
//!
//! Rows are the batch's active voices; `W` is a [`PackedMatrix`]. Each kernel walks the
//! matrix one 64-output column group at a time and, within a group, the rows a few at a time
//! with the partial sums held in registers (register blocking), so each weight loaded from
//! cache serves several voices.

use super::isa::{Dispatch, Isa};
use super::packed::PackedMatrix;

/// What the outputs start from before the products are added.
#[derive(Clone, Copy, Debug)]
pub enum Init<'a> {
    /// Zero.
    Zero,
    /// The bias vector (length ≥ `out_pad`), the same for every row.
    Bias(&'a [f32]),
    /// The values already in `y`.
    #[cfg_attr(not(test), allow(dead_code))]
    Accumulate,
}

/// The kernels' view of [`Init`]: the bias pointer is already offset to the column group.
#[derive(Clone, Copy)]
pub(super) enum InitPtr {
    Zero,
    Bias(*const f32),
    Accumulate,
}

impl InitPtr {
    /// The same init for the column group starting at output `o0`.
    ///
    /// # Safety
    /// For `Bias`, `o0` is within the bias slice the pointer came from.
    #[cfg(target_arch = "x86_64")]
    pub(super) unsafe fn at(self, o0: usize) -> InitPtr {
        match self {
            // SAFETY: the caller keeps `o0` inside the bias (length ≥ out_pad).
            InitPtr::Bias(b) => InitPtr::Bias(unsafe { b.add(o0) }),
            other => other,
        }
    }
}

/// For `r < n`: `y[r*y_stride + o] = init + Σ_i x[r*x_stride + i] · W[o][i]` for every
/// `o < w.out_pad()` (padding outputs included), then `max(0, ·)` if `relu`.
///
/// # Panics
/// If a slice is too short for `n` rows at its stride, or a stride is smaller than the row.
/// Checked once per call, before the kernel runs.
#[allow(clippy::too_many_arguments)]
pub fn matmul(d: Dispatch, w: &PackedMatrix, x: &[f32], x_stride: usize, n: usize, y: &mut [f32], y_stride: usize, init: Init, relu: bool) {
    if n == 0 {
        return;
    }
    let (k, out) = (w.k(), w.out_pad());
    assert!(x_stride >= k && x.len() >= (n - 1) * x_stride + k, "matmul: x too short");
    assert!(y_stride >= out && y.len() >= (n - 1) * y_stride + out, "matmul: y too short");
    let init = match init {
        Init::Zero => InitPtr::Zero,
        Init::Bias(b) => {
            assert!(b.len() >= out, "matmul: bias too short");
            InitPtr::Bias(b.as_ptr())
        }
        Init::Accumulate => InitPtr::Accumulate,
    };
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    match d.isa() {
        Isa::Scalar => portable(w, xp, x_stride, n, yp, y_stride, init, relu),
        // SAFETY: `d` proves the CPU runs the family (Dispatch::new checked); the asserts
        // above are the kernels' bounds: rows r < n read x[r*x_stride .. +k] and write
        // y[r*y_stride .. +out_pad], and the bias holds out_pad values.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { super::matmul_avx2::matmul(w, xp, x_stride, n, yp, y_stride, init, relu) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { super::matmul_avx512::matmul(w, xp, x_stride, n, yp, y_stride, init, relu) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => portable(w, xp, x_stride, n, yp, y_stride, init, relu),
    }
}

/// The portable kernel: one row at a time, 64 partial sums in an array the compiler keeps in
/// vector registers of the baseline (SSE2, NEON).
#[allow(clippy::too_many_arguments)]
fn portable(w: &PackedMatrix, x: *const f32, xs: usize, n: usize, y: *mut f32, ys: usize, init: InitPtr, relu: bool) {
    let k = w.k();
    for g in 0..w.groups() {
        let (width, wg) = w.group(g);
        let o0 = g * super::packed::GROUP;
        for r in 0..n {
            // SAFETY: `matmul` checked x has n rows of k at stride xs, y n rows of out_pad at
            // stride ys, and the bias out_pad values; o0 + width <= out_pad.
            let (xr, yr) =
                unsafe { (std::slice::from_raw_parts(x.add(r * xs), k), std::slice::from_raw_parts_mut(y.add(r * ys + o0), width)) };
            let mut acc = [0.0f32; super::packed::GROUP];
            let acc = &mut acc[..width];
            match init {
                InitPtr::Zero => {}
                // SAFETY: as above, the bias holds out_pad >= o0 + width values.
                InitPtr::Bias(b) => acc.copy_from_slice(unsafe { std::slice::from_raw_parts(b.add(o0), width) }),
                InitPtr::Accumulate => acc.copy_from_slice(yr),
            }
            for (xi, wi) in xr.iter().zip(wg.chunks_exact(width)) {
                for (a, wv) in acc.iter_mut().zip(wi) {
                    *a += xi * wv;
                }
            }
            if relu {
                acc.iter_mut().for_each(|a| *a = a.max(0.0));
            }
            yr.copy_from_slice(acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::native::aligned::pad;
    use crate::rng::SplitMix64;

    fn reference(w: &[f32], out: usize, k: usize, x: &[f32], n: usize, bias: &[f32], relu: bool) -> Vec<f32> {
        let mut y = vec![0.0; n * out];
        for r in 0..n {
            for o in 0..out {
                let mut s = bias[o] as f64;
                for i in 0..k {
                    s += (x[r * k + i] * w[o * k + i]) as f64;
                }
                y[r * out + o] = if relu { s.max(0.0) as f32 } else { s as f32 };
            }
        }
        y
    }

    #[test]
    fn every_kernel_matches_the_reference() {
        let mut rng = SplitMix64::new(11);
        let mut rnd = |len: usize| (0..len).map(|_| rng.next_f32() * 2.0 - 1.0).collect::<Vec<f32>>();
        for (out, k) in [(16, 1), (48, 7), (64, 64), (200, 33), (256, 128), (768, 256)] {
            let w = rnd(out * k);
            let packed = PackedMatrix::from_rows(&w, out, k);
            let bias = rnd(pad(out));
            for n in [1, 2, 3, 4, 5, 7, 8, 13] {
                let x = rnd(n * k);
                for relu in [false, true] {
                    let want = reference(&w, out, k, &x, n, &bias, relu);
                    for isa in Isa::ALL {
                        let Some(d) = Dispatch::new(isa) else { continue };
                        // Strides wider than the rows, to catch stride mistakes.
                        let (xs, ys) = (k + 3, pad(out) + 16);
                        let mut xb = vec![9.0; n * xs];
                        for r in 0..n {
                            xb[r * xs..r * xs + k].copy_from_slice(&x[r * k..(r + 1) * k]);
                        }
                        let mut y = vec![f32::NAN; n * ys];
                        matmul(d, &packed, &xb, xs, n, &mut y, ys, Init::Bias(&bias), relu);
                        // Accumulate mode on top of a copy of the bias gives the same.
                        let mut y2 = vec![f32::NAN; n * ys];
                        for r in 0..n {
                            y2[r * ys..r * ys + pad(out)].copy_from_slice(&bias);
                        }
                        matmul(d, &packed, &xb, xs, n, &mut y2, ys, Init::Accumulate, relu);
                        for r in 0..n {
                            for o in 0..out {
                                let (got, got2, exp) = (y[r * ys + o], y2[r * ys + o], want[r * out + o]);
                                let tol = 1e-5 * (k as f32).sqrt() + 1e-6;
                                assert!((got - exp).abs() <= tol, "{isa} out={out} k={k} n={n} r={r} o={o}: {got} vs {exp}");
                                assert!((got2 - exp).abs() <= tol, "{isa} accumulate");
                            }
                            for o in out..pad(out) {
                                let b = if relu { bias[o].max(0.0) } else { bias[o] };
                                assert_eq!(y[r * ys + o], b, "{isa}: padding outputs hold the init");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn zero_init_and_no_rows() {
        let packed = PackedMatrix::from_rows(&[1.0, 2.0], 1, 2);
        for isa in Isa::ALL {
            let Some(d) = Dispatch::new(isa) else { continue };
            let mut y = vec![5.0; 16];
            matmul(d, &packed, &[3.0, 4.0], 2, 1, &mut y, 16, Init::Zero, false);
            assert_eq!(y[0], 11.0, "{isa}: 1*3 + 2*4");
            matmul(d, &packed, &[], 2, 0, &mut [], 16, Init::Zero, false);
        }
    }
}
