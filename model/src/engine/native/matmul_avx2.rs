//! The AVX2+FMA matrix kernel: 16 ymm registers allow 8 accumulators, so one row takes a whole
//! 64-output group (8 registers), and several rows take narrower column slices of it.

use std::arch::x86_64::*;

use super::matmul::InitPtr;
use super::packed::{PackedMatrix, GROUP};

/// The kernel behind `matmul::matmul` for AVX2.
///
/// # Safety
/// The CPU runs AVX2 and FMA (the caller holds a `Dispatch` for `Isa::Avx2Fma`). `x` points to
/// `n` rows of `w.k()` floats at stride `xs`; `y` to `n` rows of `w.out_pad()` floats at stride
/// `ys`, not overlapping `x`; a `Bias` init points to `w.out_pad()` floats.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(w: &PackedMatrix, x: *const f32, xs: usize, n: usize, y: *mut f32, ys: usize, init: InitPtr, relu: bool) {
    let k = w.k();
    for g in 0..w.groups() {
        let (width, wg) = w.group(g);
        let o0 = g * GROUP;
        let chunks = width / 8;
        // SAFETY (this block and the tile calls): o0 < out_pad keeps the bias offset inside the
        // bias; rows r..r+R <= n and chunks c..c+C <= width/8 are inside x, y and the group.
        unsafe {
            let init = init.at(o0);
            let wp = wg.as_ptr();
            let mut r = 0;
            while r < n {
                let rows = n - r;
                let (xr, yr) = (x.add(r * xs), y.add(r * ys + o0));
                if rows == 1 {
                    match chunks {
                        8 => tile::<1, 8>(wp, width, 0, k, xr, xs, yr, ys, init, relu),
                        6 => tile::<1, 6>(wp, width, 0, k, xr, xs, yr, ys, init, relu),
                        4 => tile::<1, 4>(wp, width, 0, k, xr, xs, yr, ys, init, relu),
                        _ => tile::<1, 2>(wp, width, 0, k, xr, xs, yr, ys, init, relu),
                    }
                    r += 1;
                } else if rows == 2 {
                    let mut c = 0;
                    while c + 4 <= chunks {
                        tile::<2, 4>(wp, width, c, k, xr, xs, yr, ys, init, relu);
                        c += 4;
                    }
                    if c < chunks {
                        tile::<2, 2>(wp, width, c, k, xr, xs, yr, ys, init, relu);
                    }
                    r += 2;
                } else {
                    let take = rows.min(4);
                    for c in (0..chunks).step_by(2) {
                        match take {
                            3 => tile::<3, 2>(wp, width, c, k, xr, xs, yr, ys, init, relu),
                            _ => tile::<4, 2>(wp, width, c, k, xr, xs, yr, ys, init, relu),
                        }
                    }
                    r += take;
                }
            }
        }
    }
}

/// `R` rows × `C` registers of outputs starting at register `c0` of a group `width` wide.
///
/// # Safety
/// As [`matmul`], for the tile: `x` has `R` rows of `k` at stride `xs`; `w` is the group's
/// `k × width` packed weights with `8 (c0 + C) <= width`; `y` (already at the group's first
/// output) has `R` rows of `width` at stride `ys`; a bias holds `width` values.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn tile<const R: usize, const C: usize>(
    w: *const f32,
    width: usize,
    c0: usize,
    k: usize,
    x: *const f32,
    xs: usize,
    y: *mut f32,
    ys: usize,
    init: InitPtr,
    relu: bool,
) {
    let mut a = [[_mm256_setzero_ps(); C]; R];
    // SAFETY: every pointer below stays inside the tile's bounds stated above (i < k).
    unsafe {
        let w = w.add(8 * c0);
        for i in 0..k {
            let wi = w.add(i * width);
            for r in 0..R {
                let xv = _mm256_set1_ps(*x.add(r * xs + i));
                for c in 0..C {
                    a[r][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(wi.add(8 * c)), a[r][c]);
                }
            }
        }
        for r in 0..R {
            for c in 0..C {
                let mut v = a[r][c];
                let col = 8 * (c0 + c);
                let dst = y.add(r * ys + col);
                match init {
                    InitPtr::Zero => {}
                    InitPtr::Bias(bias) => v = _mm256_add_ps(v, _mm256_loadu_ps(bias.add(col))),
                    InitPtr::Accumulate => v = _mm256_add_ps(v, _mm256_loadu_ps(dst)),
                }
                if relu {
                    v = _mm256_max_ps(v, _mm256_setzero_ps());
                }
                _mm256_storeu_ps(dst, v);
            }
        }
    }
}
