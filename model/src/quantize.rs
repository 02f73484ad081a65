//! 8-bit quantization of audio samples into the model's 256 classes.
//!
//! Both schemes are mid-tread: code [`SILENCE_CODE`] decodes to exactly 0.0, so a voice that
//! predicts silence is truly silent (a mid-rise quantizer would leave a −48 dBFS DC offset
//! for `linear`). Code 0 decodes slightly below −1 and is clamped to −1.

use serde::{Deserialize, Serialize};

/// Number of classes the model predicts.
pub const Q_LEVELS: usize = 256;
/// The code that decodes to 0.0.
pub const SILENCE_CODE: u8 = 128;
/// µ of the µ-law compander (G.711).
const MU: f32 = 255.0;
/// Steps on each side of zero (codes 1..=255 are symmetric around 128).
const HALF: f32 = 127.0;

/// How samples in [−1, 1] map to codes 0..=255.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantization {
    /// µ-law companding (µ = 255), then uniform steps: fine steps near silence.
    MuLaw,
    /// Uniform steps, as in the thesis.
    Linear,
}

impl Quantization {
    /// The code for a sample; values outside [−1, 1] (and NaN, as silence) are clamped.
    pub fn encode(self, x: f32) -> u8 {
        let x = if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) };
        let y = match self {
            Quantization::Linear => x,
            Quantization::MuLaw => x.signum() * (MU * x.abs()).ln_1p() / MU.ln_1p(),
        };
        ((y * HALF).round() + SILENCE_CODE as f32).clamp(0.0, 255.0) as u8
    }

    /// The sample a code stands for, in [−1, 1].
    pub fn decode(self, code: u8) -> f32 {
        let y = ((code as f32 - SILENCE_CODE as f32) / HALF).clamp(-1.0, 1.0);
        match self {
            Quantization::Linear => y,
            Quantization::MuLaw => y.signum() * ((MU.ln_1p() * y.abs()).exp() - 1.0) / MU,
        }
    }

    /// `decode` for every code, for table-driven decoding in hot loops.
    pub fn decode_table(self) -> [f32; Q_LEVELS] {
        std::array::from_fn(|c| self.decode(c as u8))
    }

    /// Name as written in manifests and voice files.
    pub fn name(self) -> &'static str {
        match self {
            Quantization::MuLaw => "mu-law",
            Quantization::Linear => "linear",
        }
    }
}

impl std::str::FromStr for Quantization {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mu-law" | "mulaw" | "mu_law" => Ok(Quantization::MuLaw),
            "linear" => Ok(Quantization::Linear),
            other => Err(format!("unknown quantization '{other}' (expected mu-law or linear)")),
        }
    }
}

/// The input the frame tiers see for a code: the code's position in [−2, 2], as in
/// samplernn-pytorch (for µ-law that is the companded value, which keeps quiet detail visible).
pub fn frame_input(code: u8) -> f32 {
    (code as f32 - SILENCE_CODE as f32) / 64.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_exact() {
        for q in [Quantization::MuLaw, Quantization::Linear] {
            assert_eq!(q.encode(0.0), SILENCE_CODE);
            assert_eq!(q.decode(SILENCE_CODE), 0.0);
        }
    }

    #[test]
    fn full_scale_maps_to_the_end_codes() {
        for q in [Quantization::MuLaw, Quantization::Linear] {
            assert_eq!(q.encode(1.0), 255);
            assert_eq!(q.encode(-1.0), 1);
            assert_eq!(q.encode(7.0), 255);
            assert_eq!(q.decode(255), 1.0);
            assert_eq!(q.decode(0), -1.0);
            assert_eq!(q.decode(1), -1.0);
        }
    }

    #[test]
    fn every_code_round_trips() {
        for q in [Quantization::MuLaw, Quantization::Linear] {
            for c in 1..=255u8 {
                assert_eq!(q.encode(q.decode(c)), c, "{q:?} code {c}");
            }
        }
    }

    #[test]
    fn linear_steps_are_uniform() {
        // Hand-worked: 0.5 * 127 = 63.5 rounds away from zero to 64 -> 192.
        assert_eq!(Quantization::Linear.encode(0.5), 192);
        assert!((Quantization::Linear.decode(192) - 64.0 / 127.0).abs() < 1e-7);
    }

    #[test]
    fn mu_law_matches_the_g711_curve() {
        // y = ln(1 + 255 * 0.1) / ln(256) = 0.5901..., * 127 = 74.94 -> 75 -> code 203.
        assert_eq!(Quantization::MuLaw.encode(0.1), 203);
        // The first step above silence is about -75 dBFS, fine enough for a -60 dBFS tail.
        let step = Quantization::MuLaw.decode(SILENCE_CODE + 1);
        let db = 20.0 * step.log10();
        assert!((-76.0..-74.0).contains(&db), "first step {db} dBFS");
    }

    #[test]
    fn round_trip_error_is_small() {
        for i in -1000..=1000 {
            let x = i as f32 / 1000.0;
            let lin = Quantization::Linear;
            assert!((lin.decode(lin.encode(x)) - x).abs() <= 0.5 / 127.0 + 1e-6);
            let mu = Quantization::MuLaw;
            // µ-law error is relative: at most ~3 % of |x| plus the first step.
            assert!((mu.decode(mu.encode(x)) - x).abs() <= 0.03 * x.abs() + 2e-4, "x={x}");
        }
    }

    #[test]
    fn names_parse_back() {
        for q in [Quantization::MuLaw, Quantization::Linear] {
            assert_eq!(q.name().parse::<Quantization>().unwrap(), q);
        }
        assert!("alaw".parse::<Quantization>().unwrap_err().contains("alaw"));
    }
}
