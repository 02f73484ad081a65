//! How host time maps to model time, how far ahead the worker runs, and the latency that
//! follows. Pure arithmetic, fixed at activation (so the reported latency is constant while
//! active).
//!
//! An event at host sample `P` (counted from the plugin's last reset) happens at model sample
//! `t = round(P · 16000 / rate) + D`. The delay `D` is chosen so that the worker has always
//! received every event it needs before it generates a frame:
//! - the worker generates the frame at `f` only while the ring holds less than its target
//!   `F` (so `f ≤ consumed + F − frame`),
//! - it needs the events with `t < f + 2·frame + lookahead` ([`crate::live_voices`]),
//! - the audio thread sends a block's events before it takes the block's input, and has taken
//!   at most `P·16000/rate + lead` input samples when it is at host sample `P`,
//!
//! hence `D ≥ F + frame + lookahead + lead + 2`. Realtime rounds that up to a whole frame;
//! offline rounds it up to a multiple of both the frame and the resampler's input chunk, so the
//! plugin's 16 kHz stream is an offline render's stream shifted by whole frames and chunks, and
//! its output is the render's resampled output shifted by a whole number of host samples.

use sackbut_model::MODEL_RATE_HZ;

/// Half the taps of the realtime resampler's windowed-sinc kernel (16 kHz samples).
pub const SINC_HALF_TAPS: usize = 16;
/// Input chunk asked of rubato's FFT resampler offline: the same as `trainer render`'s.
pub const FFT_CHUNK_IN: usize = 1024;
/// The smallest ring target in realtime mode (model samples): 20 ms.
pub const MIN_REALTIME_TARGET: usize = 320;

/// How the host runs the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderMode {
    /// Live: never wait for the worker; an underrun outputs silence and is counted.
    Realtime,
    /// Bounce: wait for the worker, so every sample is generated; the conditioning knows every
    /// note-off a whole horizon ahead (the exact view an offline render uses).
    Offline,
}

/// The resampler from 16 kHz to the host rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResamplerKind {
    /// The host runs at 16 kHz.
    Identity,
    /// Windowed-sinc polyphase, any block size, `SINC_HALF_TAPS` samples of delay (realtime).
    Sinc,
    /// rubato's `FftFixedInOut`, whole chunks, as `trainer render` resamples (offline).
    Fft {
        /// Input samples per chunk.
        chunk_in: usize,
        /// Output samples per chunk.
        chunk_out: usize,
    },
}

/// Everything fixed at activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// Host sample rate.
    pub rate_hz: u32,
    /// Realtime or offline.
    pub mode: RenderMode,
    /// The engine's top frame (model samples).
    pub top_frame: usize,
    /// Samples by which the conditioning knows note-offs early.
    pub lookahead: u32,
    /// Model samples the worker keeps generated ahead of the audio thread.
    pub ring_target: usize,
    /// Capacity of the sample ring (model samples).
    pub ring_capacity: usize,
    /// The event delay `D` (model samples).
    pub event_delay: u64,
    /// The resampler.
    pub resampler: ResamplerKind,
    /// Latency reported to the host (host samples).
    pub latency_samples: u32,
    /// Most host samples per block.
    pub max_block: usize,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn round_up(x: u64, unit: u64) -> u64 {
    x.div_ceil(unit) * unit
}

/// Input and output chunk of rubato's `FftFixedInOut::new(16000, rate, FFT_CHUNK_IN, 1)`.
pub fn fft_chunks(rate_hz: u32) -> (usize, usize) {
    let (i, o) = (MODEL_RATE_HZ as u64, rate_hz as u64);
    let g = gcd(i, o);
    let (min_in, min_out) = (i / g, o / g);
    let n = (FFT_CHUNK_IN as f32 / min_in as f32).ceil() as u64;
    ((n * min_in) as usize, (n * min_out) as usize)
}

impl Timeline {
    /// Plans an activation at `rate_hz` with blocks of at most `max_block` host samples.
    /// `lookahead` is the user's setting (model samples); offline it is raised to `horizon`.
    pub fn plan(rate_hz: u32, max_block: usize, mode: RenderMode, top_frame: usize, lookahead: u32, horizon: u32) -> Timeline {
        let rate_hz = rate_hz.max(1);
        let frame = top_frame.max(1) as u64;
        let model = MODEL_RATE_HZ as u64;
        let max_block = max_block.max(1);
        let block_model = (max_block as u64 * model).div_ceil(rate_hz as u64) + 1;
        // Each mode fixes the lookahead, ring target, event delay, resampler and latency.
        let (lookahead, target, delay, resampler, latency) = match mode {
            RenderMode::Realtime => {
                let lead = 1 + SINC_HALF_TAPS as u64;
                // The worker refills a frame at a time, so after a refill the ring holds more than
                // `target - frame`: enough for a whole block and the resampler's lead.
                let target = round_up((block_model + lead + frame).max(MIN_REALTIME_TARGET as u64), frame);
                let delay = round_up(target + frame + lookahead as u64 + lead + 2, frame);
                let resampler = if rate_hz as u64 == model { ResamplerKind::Identity } else { ResamplerKind::Sinc };
                let half = if resampler == ResamplerKind::Sinc { SINC_HALF_TAPS as u64 } else { 0 };
                let latency = ((delay + half) * rate_hz as u64 + model / 2) / model;
                (lookahead, target, delay, resampler, latency)
            }
            RenderMode::Offline => {
                let lookahead = lookahead.max(horizon);
                let (resampler, chunk_in, chunk_out) = if rate_hz as u64 == model {
                    (ResamplerKind::Identity, frame, frame)
                } else {
                    let (ci, co) = fft_chunks(rate_hz);
                    (ResamplerKind::Fft { chunk_in: ci, chunk_out: co }, ci as u64, co as u64)
                };
                let target = round_up((2 * chunk_in).max(block_model + frame), frame);
                let unit = frame / gcd(frame, chunk_in) * chunk_in;
                let delay = round_up(target + frame + lookahead as u64 + chunk_in + 2, unit);
                let half_chunk = match resampler {
                    ResamplerKind::Fft { chunk_out, .. } => chunk_out as u64 / 2,
                    _ => 0,
                };
                // `delay` is whole chunks: it maps to a whole number of host samples.
                let latency = delay / chunk_in * chunk_out + half_chunk;
                (lookahead, target, delay, resampler, latency)
            }
        };
        Timeline {
            rate_hz,
            mode,
            top_frame: frame as usize,
            lookahead,
            ring_target: target as usize,
            ring_capacity: (target + 2 * frame) as usize,
            event_delay: delay,
            resampler,
            latency_samples: latency.min(u32::MAX as u64) as u32,
            max_block,
        }
    }

    /// The model sample of an event at host sample `host_pos`.
    pub fn event_time(&self, host_pos: u64) -> u64 {
        let r = self.rate_hz as u64;
        (host_pos * MODEL_RATE_HZ as u64 + r / 2) / r + self.event_delay
    }

    /// Most model samples the audio thread takes for one block (scratch size).
    pub fn max_input_per_block(&self) -> usize {
        let block_model = (self.max_block as u64 * MODEL_RATE_HZ as u64).div_ceil(self.rate_hz as u64) as usize + 2;
        match self.resampler {
            ResamplerKind::Fft { chunk_in, .. } => block_model + 2 * chunk_in,
            _ => block_model,
        }
    }

    /// The reported latency in seconds.
    pub fn latency_s(&self) -> f64 {
        self.latency_samples as f64 / self.rate_hz as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_chunks_match_rubato_rounding() {
        // 44.1 kHz: 16000/100 = 160 in per 441 out; 1024/160 → 7 → 1120 in, 3087 out.
        assert_eq!(fft_chunks(44_100), (1120, 3087));
        assert_eq!(fft_chunks(48_000), (1024, 3072));
        assert_eq!(fft_chunks(22_050), (1280, 1764));
    }

    #[test]
    fn realtime_latency_at_48k_and_512_blocks() {
        // Block: 512 × 16000/48000 = 171 (+1) = 172; target max(172 + 17 + 64, 320) → 320;
        // D = round_up(320 + 64 + 0 + 17 + 2, 64) = 448; latency (448 + 16) × 3 = 1392.
        let t = Timeline::plan(48_000, 512, RenderMode::Realtime, 64, 0, 8192);
        assert_eq!((t.ring_target, t.event_delay, t.latency_samples), (320, 448, 1392));
        assert_eq!(t.event_time(0), 448);
        assert_eq!(t.event_time(3), 449);
        assert!((t.latency_s() - 0.029).abs() < 1e-9);
        // A voice with 128-sample top frames: target round_up(max(317, 320), 128) = 384,
        // D = round_up(384 + 128 + 19, 128) = 640, latency (640 + 16) × 3 = 1968 (41 ms).
        let t = Timeline::plan(48_000, 512, RenderMode::Realtime, 128, 0, 8192);
        assert_eq!((t.ring_target, t.event_delay, t.latency_samples), (384, 640, 1968));
    }

    #[test]
    fn offline_delay_is_whole_frames_and_chunks() {
        for rate in [22_050, 44_100, 48_000, 88_200, 96_000, 192_000, 16_000] {
            for block in [1, 37, 512, 8192] {
                let t = Timeline::plan(rate, block, RenderMode::Offline, 64, 0, 8192);
                assert_eq!(t.event_delay % 64, 0);
                assert_eq!(t.lookahead, 8192);
                if let ResamplerKind::Fft { chunk_in, chunk_out } = t.resampler {
                    assert_eq!(t.event_delay % chunk_in as u64, 0);
                    assert_eq!(t.latency_samples as u64, t.event_delay / chunk_in as u64 * chunk_out as u64 + chunk_out as u64 / 2);
                } else {
                    assert_eq!(t.latency_samples as u64, t.event_delay);
                }
                // The ring holds a whole chunk plus a frame.
                assert!(t.ring_capacity >= t.ring_target + 64);
            }
        }
    }

    #[test]
    fn events_map_by_rounding() {
        let t = Timeline::plan(44_100, 64, RenderMode::Offline, 64, 0, 8192);
        let d = t.event_delay;
        // 441 host samples = 160 model samples exactly; 1 host sample = 0.36 → 0.
        assert_eq!(t.event_time(441) - d, 160);
        assert_eq!(t.event_time(1) - d, 0);
        assert_eq!(t.event_time(2) - d, 1); // 0.7256 → 1
    }
}
