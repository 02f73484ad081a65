//! Signal measures for the tests: level, YIN pitch, cents.

/// RMS level in dBFS (-inf for silence).
pub fn rms_db(x: &[f32]) -> f64 {
    if x.is_empty() {
        return f64::NEG_INFINITY;
    }
    let ms = x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64;
    10.0 * ms.log10()
}

/// Peak level in dBFS.
pub fn peak_db(x: &[f32]) -> f64 {
    let p = x.iter().fold(0f32, |m, &v| m.max(v.abs())) as f64;
    20.0 * p.log10()
}

/// Frequency of MIDI `key` (A4 = 69 = 440 Hz).
pub fn key_hz(key: u8) -> f64 {
    440.0 * 2f64.powf((key as f64 - 69.0) / 12.0)
}

/// Cents from `reference_hz` to `hz`.
pub fn cents(hz: f64, reference_hz: f64) -> f64 {
    1200.0 * (hz / reference_hz).log2()
}

/// The YIN fundamental (de Cheveigné & Kawahara 2002) of `x` at `rate`, searched in
/// `[fmin, fmax]`, over analysis windows of 40 ms hopped by 10 ms; the median of the windows
/// whose aperiodicity is below 0.2. `None` when fewer than half of the windows are periodic.
pub fn yin_hz(x: &[f32], rate: f64, fmin: f64, fmax: f64) -> Option<f64> {
    let tau_max = (rate / fmin).ceil() as usize;
    let tau_min = (rate / fmax).floor().max(2.0) as usize;
    let win = (0.04 * rate) as usize;
    let hop = (0.01 * rate) as usize;
    if x.len() < win + tau_max + 2 {
        return None;
    }
    let mut f0s = Vec::new();
    let mut windows = 0;
    let mut start = 0;
    while start + win + tau_max < x.len() {
        windows += 1;
        let frame = &x[start..start + win + tau_max + 1];
        let mut d = vec![0f64; tau_max + 1];
        for (tau, dt) in d.iter_mut().enumerate().skip(1) {
            let mut s = 0f64;
            for j in 0..win {
                let diff = frame[j] as f64 - frame[j + tau] as f64;
                s += diff * diff;
            }
            *dt = s;
        }
        // Cumulative mean normalised difference.
        let mut cmnd = vec![1f64; tau_max + 1];
        let mut running = 0f64;
        for tau in 1..=tau_max {
            running += d[tau];
            cmnd[tau] = if running > 0.0 { d[tau] * tau as f64 / running } else { 1.0 };
        }
        let mut found = None;
        let mut tau = tau_min;
        while tau < tau_max {
            if cmnd[tau] < 0.2 {
                while tau + 1 < tau_max && cmnd[tau + 1] < cmnd[tau] {
                    tau += 1;
                }
                found = Some(tau);
                break;
            }
            tau += 1;
        }
        if let Some(t) = found {
            // Parabolic interpolation.
            let (a, b, c) = (cmnd[t - 1], cmnd[t], cmnd[t + 1]);
            let den = a - 2.0 * b + c;
            let shift = if den.abs() > 1e-12 { 0.5 * (a - c) / den } else { 0.0 };
            f0s.push(rate / (t as f64 + shift));
        }
        start += hop;
    }
    if f0s.len() * 2 < windows || f0s.is_empty() {
        return None;
    }
    f0s.sort_by(|a, b| a.total_cmp(b));
    Some(f0s[f0s.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yin_finds_a_sawtooth_fundamental() {
        for hz in [98.0, 196.0, 349.2] {
            let rate = 48_000.0;
            let x: Vec<f32> = (0..24_000).map(|i| (((i as f64 * hz / rate) % 1.0) * 2.0 - 1.0) as f32 * 0.3).collect();
            let f = yin_hz(&x, rate, 60.0, 1000.0).unwrap();
            assert!(cents(f, hz).abs() < 5.0, "{hz}: {f}");
        }
        assert!(yin_hz(&vec![0.0; 20_000], 48_000.0, 60.0, 1000.0).is_none());
    }

    #[test]
    fn levels() {
        assert!((rms_db(&[0.5; 100]) - (-6.0206)).abs() < 1e-3);
        assert!((key_hz(60) - 261.6256).abs() < 1e-3);
    }
}
