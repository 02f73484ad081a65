//! The AVX-512F matrix kernel: tiles of up to 4 rows × 64 outputs, 16 accumulators in zmm
//! registers; with 1–2 rows the inputs are split even/odd into two accumulator sets so enough
//! independent FMAs are in flight to hide their latency.

use std::arch::x86_64::*;

use super::matmul::InitPtr;
use super::packed::{PackedMatrix, GROUP};

/// Rows per tile: 4 rows × 4 registers = 16 accumulators of the 32 zmm registers.
const MAX_ROWS: usize = 4;

/// The kernel behind `matmul::matmul` for AVX-512.
///
/// # Safety
/// The CPU runs AVX-512F/VL, AVX2 and FMA (the caller holds a `Dispatch` for `Isa::Avx512`).
/// `x` points to `n` rows of `w.k()` floats at stride `xs`; `y` to `n` rows of `w.out_pad()`
/// floats at stride `ys`, not overlapping `x`; a `Bias` init points to `w.out_pad()` floats.
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(w: &PackedMatrix, x: *const f32, xs: usize, n: usize, y: *mut f32, ys: usize, init: InitPtr, relu: bool) {
    let k = w.k();
    for g in 0..w.groups() {
        let (width, wg) = w.group(g);
        let o0 = g * GROUP;
        // SAFETY (this block and the tile calls): o0 < out_pad, so the bias offset stays in the
        // bias; rows r..r+rows < n and columns o0..o0+width <= out_pad are inside x and y.
        unsafe {
            let init = init.at(o0);
            let mut r = 0;
            while r < n {
                let rows = (n - r).min(MAX_ROWS);
                let (xr, yr) = (x.add(r * xs), y.add(r * ys + o0));
                macro_rules! go {
                    ($($p:literal),*) => {
                        match (width / 16, rows) {
                            $(
                                ($p, 1) => tile::<1, $p>(wg.as_ptr(), k, xr, xs, yr, ys, init, relu),
                                ($p, 2) => tile::<2, $p>(wg.as_ptr(), k, xr, xs, yr, ys, init, relu),
                                ($p, 3) => tile::<3, $p>(wg.as_ptr(), k, xr, xs, yr, ys, init, relu),
                                ($p, _) => tile::<4, $p>(wg.as_ptr(), k, xr, xs, yr, ys, init, relu),
                            )*
                            _ => unreachable!("a column group holds 1 to 4 registers"),
                        }
                    };
                }
                go!(1, 2, 3, 4);
                r += rows;
            }
        }
    }
}

/// `R` rows × `P` registers of outputs: `y = init + x · Wᵀ` over all `k` inputs.
///
/// # Safety
/// As [`matmul`], for the tile: `x` has `R` rows of `k` at stride `xs`, `w` is `k × 16P`
/// packed weights, `y` has `R` rows of `16P` at stride `ys`, a bias holds `16P` values.
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn tile<const R: usize, const P: usize>(
    w: *const f32,
    k: usize,
    x: *const f32,
    xs: usize,
    y: *mut f32,
    ys: usize,
    init: InitPtr,
    relu: bool,
) {
    let width = 16 * P;
    let mut a = [[_mm512_setzero_ps(); P]; R];
    let mut b = [[_mm512_setzero_ps(); P]; R];
    // Two accumulator sets when one would leave too few FMAs in flight (latency 4, 2 ports).
    let split = R * P <= 8;
    let mut i = 0;
    // SAFETY: every pointer below stays inside the tile's bounds stated above (i < k).
    unsafe {
        if split {
            while i + 2 <= k {
                let w0 = w.add(i * width);
                let w1 = w0.add(width);
                for r in 0..R {
                    let x0 = _mm512_set1_ps(*x.add(r * xs + i));
                    let x1 = _mm512_set1_ps(*x.add(r * xs + i + 1));
                    for p in 0..P {
                        a[r][p] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(w0.add(16 * p)), a[r][p]);
                        b[r][p] = _mm512_fmadd_ps(x1, _mm512_loadu_ps(w1.add(16 * p)), b[r][p]);
                    }
                }
                i += 2;
            }
        }
        while i < k {
            let w0 = w.add(i * width);
            for r in 0..R {
                let x0 = _mm512_set1_ps(*x.add(r * xs + i));
                for p in 0..P {
                    a[r][p] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(w0.add(16 * p)), a[r][p]);
                }
            }
            i += 1;
        }
        for r in 0..R {
            for p in 0..P {
                let mut v = if split { _mm512_add_ps(a[r][p], b[r][p]) } else { a[r][p] };
                let dst = y.add(r * ys + 16 * p);
                match init {
                    InitPtr::Zero => {}
                    InitPtr::Bias(bias) => v = _mm512_add_ps(v, _mm512_loadu_ps(bias.add(16 * p))),
                    InitPtr::Accumulate => v = _mm512_add_ps(v, _mm512_loadu_ps(dst)),
                }
                if relu {
                    v = _mm512_max_ps(v, _mm512_setzero_ps());
                }
                _mm512_storeu_ps(dst, v);
            }
        }
    }
}
