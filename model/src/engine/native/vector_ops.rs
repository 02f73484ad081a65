//! The element-wise work around the matrix kernel — GRU gates, conditioning sums, the MLP's
//! table lookups, softmax pieces — written once as plain Rust loops and compiled once per
//! instruction set (`multiversion!`), so the compiler vectorises each for AVX-512, AVX2 or
//! the baseline. The same source means the same IEEE operations in the same order on every
//! path (no fused multiply-adds are introduced), so these steps agree bit for bit across
//! paths; only the matrix kernels differ in rounding.

use super::isa::Dispatch;
use crate::conditioning::SCALAR_FEATURES;

/// Defines `pub fn name(d: Dispatch, args…)` running `body` compiled for `d`'s instruction set.
macro_rules! multiversion {
    ($(#[$meta:meta])* pub fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name(d: Dispatch, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body

            /// # Safety
            /// Only called when `d` proves the CPU runs AVX-512F/VL/DQ/BW, AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                generic($($arg),*)
            }

            /// # Safety
            /// Only called when `d` proves the CPU runs AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                generic($($arg),*)
            }

            match d.isa() {
                // SAFETY: a Dispatch for Avx512 exists only if the CPU runs those features.
                #[cfg(target_arch = "x86_64")]
                super::isa::Isa::Avx512 => unsafe { avx512($($arg),*) },
                // SAFETY: a Dispatch for Avx2Fma exists only if the CPU runs AVX2 and FMA.
                #[cfg(target_arch = "x86_64")]
                super::isa::Isa::Avx2Fma => unsafe { avx2($($arg),*) },
                _ => generic($($arg),*),
            }
        }
    };
}

/// e^x for x in f32 range, relative error ≈ 1e-7 (Cephes' `expf` polynomial), written with
/// bit tricks instead of library calls so loops over it vectorise. Saturates below e^-87 and
/// above e^88 (no infinities, no subnormals).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + MAGIC;
    let k = t - MAGIC;
    let ki = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = ((((1.987_569_2e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 0.5;
    let e = p * (r * r) + r + 1.0;
    e * f32::from_bits(((ki + 127) << 23) as u32)
}

/// 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh x = 2 σ(2x) − 1 (absolute error ≈ 1e-7).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp(-2.0 * x)) - 1.0
}

multiversion! {
    /// One GRU step for one row, PyTorch's equations: `gi = W_ih x + b_ih`, `gh = W_hh h + b_hh`
    /// (each `[r | z | n]`, every gate `h.len()` wide), r = σ(gi_r + gh_r), z = σ(gi_z + gh_z),
    /// n = tanh(gi_n + r · gh_n), h ← (1 − z) n + z h.
    pub fn gru_update(gi: &[f32], gh: &[f32], h: &mut [f32]) {
        let dp = h.len();
        let (gi_r, gi) = gi[..3 * dp].split_at(dp);
        let (gi_z, gi_n) = gi.split_at(dp);
        let (gh_r, gh) = gh[..3 * dp].split_at(dp);
        let (gh_z, gh_n) = gh.split_at(dp);
        for j in 0..dp {
            let r = sigmoid(gi_r[j] + gh_r[j]);
            let z = sigmoid(gi_z[j] + gh_z[j]);
            let n = tanh(gi_n[j] + r * gh_n[j]);
            h[j] = (1.0 - z) * n + z * h[j];
        }
    }
}

multiversion! {
    /// `x += table + Σ_k feats[k] · cols[k]` (a tier's folded conditioning projection; the
    /// columns lie `stride` apart in `cols`).
    pub fn add_cond(x: &mut [f32], table: &[f32], feats: &[f32; SCALAR_FEATURES], cols: &[f32], stride: usize) {
        let n = x.len();
        let table = &table[..n];
        for j in 0..n {
            x[j] += table[j];
        }
        for (k, &f) in feats.iter().enumerate() {
            let c = &cols[k * stride..k * stride + n];
            for j in 0..n {
                x[j] += f * c[j];
            }
        }
    }
}

multiversion! {
    /// `x += y`.
    pub fn add(x: &mut [f32], y: &[f32]) {
        let y = &y[..x.len()];
        for (a, b) in x.iter_mut().zip(y) {
            *a += b;
        }
    }
}

multiversion! {
    /// The sample MLP's first layer for one row, folded: `out = relu(Σ_j lut[j][code_j] + up +
    /// table + Σ_k feats[k] · cols[k])`, where `lut` is `[window][256][out.len()]` and the
    /// columns lie `stride` apart in `cols`.
    #[allow(clippy::too_many_arguments)]
    pub fn mlp_input(
        out: &mut [f32],
        lut: &[f32],
        window: &[u8],
        up: &[f32],
        table: &[f32],
        feats: &[f32; SCALAR_FEATURES],
        cols: &[f32],
        stride: usize,
    ) {
        let n = out.len();
        let (up, table) = (&up[..n], &table[..n]);
        for j in 0..n {
            out[j] = up[j] + table[j];
        }
        for (k, &f) in feats.iter().enumerate() {
            let c = &cols[k * stride..k * stride + n];
            for j in 0..n {
                out[j] += f * c[j];
            }
        }
        for (pos, &code) in window.iter().enumerate() {
            let at = (pos * 256 + code as usize) * n;
            let row = &lut[at..at + n];
            for j in 0..n {
                out[j] += row[j];
            }
        }
        for o in out.iter_mut() {
            *o = o.max(0.0);
        }
    }
}

multiversion! {
    /// The largest value (−∞ for an empty slice; NaN entries are skipped).
    pub fn max(x: &[f32]) -> f32 {
        let mut lanes = [f32::NEG_INFINITY; 16];
        let chunks = x.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            for l in 0..16 {
                lanes[l] = lanes[l].max(c[l]);
            }
        }
        let mut m = f32::NEG_INFINITY;
        for v in lanes.iter().chain(tail) {
            m = m.max(*v);
        }
        m
    }
}

multiversion! {
    /// `e = exp(z − shift)`, and the sum of each 16-value block of `e` into `blocks`
    /// (`z.len() == e.len() == 16 · blocks.len()`), each summed as a pairwise tree.
    pub fn exp_blocks(z: &[f32], shift: f32, e: &mut [f32], blocks: &mut [f32]) {
        let e = &mut e[..z.len()];
        for (ev, zv) in e.iter_mut().zip(z) {
            *ev = exp(zv - shift);
        }
        for (b, c) in blocks.iter_mut().zip(e.chunks_exact(16)) {
            let s8: [f32; 8] = std::array::from_fn(|l| c[l] + c[l + 8]);
            let s4: [f32; 4] = std::array::from_fn(|l| s8[l] + s8[l + 4]);
            *b = (s4[0] + s4[2]) + (s4[1] + s4[3]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::native::isa::Isa;

    #[test]
    fn exp_sigmoid_tanh_are_accurate() {
        let mut worst = 0.0f64;
        for i in -8700..=8800 {
            let x = i as f32 * 0.01;
            let rel = ((exp(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 3e-7, "exp relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) > 0.0 && exp(1000.0).is_finite());
        for i in -2000..=2000 {
            let x = i as f32 * 0.005;
            assert!((sigmoid(x) as f64 - 1.0 / (1.0 + (-x as f64).exp())).abs() < 2e-7, "sigmoid({x})");
            assert!((tanh(x) as f64 - (x as f64).tanh()).abs() < 3e-7, "tanh({x})");
        }
    }

    #[test]
    fn every_path_agrees_bit_for_bit() {
        let z: Vec<f32> = (0..256).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.07).collect();
        let scalar = Dispatch::new(Isa::Scalar).unwrap();
        let mut e0 = vec![0.0; 256];
        let mut b0 = vec![0.0; 16];
        exp_blocks(scalar, &z, 1.5, &mut e0, &mut b0);
        let mut h0: Vec<f32> = (0..32).map(|i| i as f32 * 0.03 - 0.5).collect();
        let h_init = h0.clone();
        gru_update(scalar, &z[..96], &z[100..196], &mut h0);
        for isa in Isa::ALL {
            let Some(d) = Dispatch::new(isa) else { continue };
            let (mut e, mut b) = (vec![0.0; 256], vec![0.0; 16]);
            exp_blocks(d, &z, 1.5, &mut e, &mut b);
            assert_eq!((e, b), (e0.clone(), b0.clone()), "{isa}");
            assert_eq!(max(d, &z), 50.0 * 0.07, "{isa}");
            let mut h = h_init.clone();
            gru_update(d, &z[..96], &z[100..196], &mut h);
            assert_eq!(h, h0, "{isa}");
        }
    }

    #[test]
    fn gru_update_follows_pytorch() {
        // Hand-worked, one unit: gi = [0, 0, 1], gh = [0, 0, 2], h = 0.5:
        // r = z = 0.5, n = tanh(1 + 0.5 * 2) = tanh 2, h' = 0.5 tanh 2 + 0.25.
        let mut h = [0.5];
        gru_update(Dispatch::new(Isa::Scalar).unwrap(), &[0.0, 0.0, 1.0], &[0.0, 0.0, 2.0], &mut h);
        assert!((h[0] - (0.5 * 2f32.tanh() + 0.25)).abs() < 1e-6);
    }

    #[test]
    fn mlp_input_sums_the_table_rows() {
        let d = Dispatch::new(Isa::detect()).unwrap();
        // window 2, width 16: lut[pos][code][j] = pos * 1000 + code + j / 100.
        let lut: Vec<f32> = (0..2 * 256 * 16).map(|i| ((i / 4096) * 1000 + (i / 16) % 256) as f32 + (i % 16) as f32 / 100.0).collect();
        let ones = [1.0; 16];
        let mut out = [0.0; 16];
        let cols = [1.0; 16 * SCALAR_FEATURES];
        let mut feats = [0.0; SCALAR_FEATURES];
        feats[..2].copy_from_slice(&[0.5, 0.25]);
        mlp_input(d, &mut out, &lut, &[3, 5], &ones, &ones, &feats, &cols, 16);
        // lut rows 3 + j/100 and 1000 + 5 + j/100, plus up 1, table 1, features 0.5 + 0.25.
        for (j, o) in out.iter().enumerate() {
            assert!((o - (1010.75 + 2.0 * j as f32 / 100.0)).abs() < 1e-3, "{j}: {o}");
        }
        let neg = [-5000.0; 16];
        mlp_input(d, &mut out, &lut, &[3, 5], &neg, &ones, &[0.0; SCALAR_FEATURES], &cols, 16);
        assert!(out.iter().all(|&o| o == 0.0), "relu");
    }
}
