//! How loud a note plays for its MIDI velocity: a gain applied where a voice's samples are
//! mixed (the plugin, `trainer render`, `trainer eval`), not learned by the model.
//!
//! Why outside the model: the dataset normalises every recording to its peak (the thesis's
//! rule, DESIGN.md "Data and conditioning"), so a trombone played at velocity 40 and at 120
//! reach the same level in the data and the model can only learn how velocity changes the
//! timbre. Loudness then follows the curve every General MIDI synthesizer applies by default:
//! DLS Level 1's velocity-to-attenuation, 40·log10(velocity / 127) dB (−20 dB at velocity 40,
//! −4.2 dB at 100, 0 dB at 127). It also leaves a chord of several voices headroom.

/// Linear gain of each velocity 0..=127 (velocity 0, a note-off, is silent).
pub const fn table() -> [f32; 128] {
    let mut t = [0.0f32; 128];
    let mut v = 1;
    while v < 128 {
        // (v / 127)², the DLS curve: 40·log10(v / 127) dB as an amplitude.
        let x = v as f32 / 127.0;
        t[v] = x * x;
        v += 1;
    }
    t
}

/// [`table`], computed once.
pub const GAINS: [f32; 128] = table();

/// The gain of `velocity` (values above 127 read as 127).
pub fn gain(velocity: u8) -> f32 {
    GAINS[velocity.min(127) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(g: f32) -> f64 {
        20.0 * (g as f64).log10()
    }

    #[test]
    fn the_dls_curve_in_decibels() {
        assert_eq!(gain(127), 1.0);
        assert!((db(gain(40)) - 40.0 * (40.0f64 / 127.0).log10()).abs() < 1e-4, "{}", db(gain(40)));
        assert!((db(gain(40)) + 20.07).abs() < 0.01);
        assert!((db(gain(100)) + 4.15).abs() < 0.01);
        assert_eq!(gain(0), 0.0);
        assert_eq!(gain(200), 1.0);
        assert!(GAINS.windows(2).all(|w| w[0] < w[1]), "louder with every step of velocity");
    }
}
