//! Which instruction set the kernels use, chosen at run time so one build runs on any x86-64.

use std::fmt;

/// A kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust, auto-vectorised for the build's baseline (SSE2 on x86-64, NEON on
    /// aarch64). Runs everywhere.
    Scalar,
    /// x86-64 AVX2 with FMA (Haswell, Zen 1 and later).
    Avx2Fma,
    /// x86-64 AVX-512F (Skylake-X, Zen 4 and later).
    Avx512,
}

impl Isa {
    /// Every kernel family, fastest first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2Fma, Isa::Scalar];

    /// The fastest family this CPU runs.
    pub fn detect() -> Isa {
        Isa::ALL.into_iter().find(|isa| isa.is_available()).unwrap_or(Isa::Scalar)
    }

    /// Whether this CPU (and this build's target) runs the family.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Short name for logs and the bench ("avx512", "avx2", "scalar").
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Isa {
    type Err = String;
    fn from_str(s: &str) -> Result<Isa, String> {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name() == s)
            .ok_or_else(|| format!("unknown instruction set '{s}' (expected avx512, avx2 or scalar)"))
    }
}

/// Proof that the CPU runs an [`Isa`]: only [`Dispatch::new`] makes one, after checking. The
/// kernels' `unsafe` calls into `#[target_feature]` functions rely on holding one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch(Isa);

impl Dispatch {
    /// A dispatch token for `isa`, or `None` if this CPU does not run it.
    pub fn new(isa: Isa) -> Option<Dispatch> {
        isa.is_available().then_some(Dispatch(isa))
    }

    /// The family it stands for.
    pub fn isa(self) -> Isa {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_is_always_there_and_names_parse() {
        assert!(Dispatch::new(Isa::Scalar).is_some());
        assert!(Isa::detect().is_available());
        for isa in Isa::ALL {
            assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
        }
        assert!("neon9".parse::<Isa>().unwrap_err().contains("neon9"));
    }
}
