//! 16 kHz to the host rate, streaming, allocation-free after construction.
//!
//! - [`SincResampler`] (realtime): a windowed-sinc polyphase filter, any number of output
//!   samples per call, [`SINC_HALF_TAPS`] input samples of delay (1 ms).
//! - [`FftStream`] (offline): rubato's `FftFixedInOut`, fed whole chunks from the start of the
//!   stream exactly as `trainer render` feeds it, so the two outputs are the same samples.
//!
//! Both take input with `push_input` (exactly what `input_needed` asked for) and give output
//! with `produce`; the audio thread calls nothing else here.

use rubato::{FftFixedInOut, Resampler};
use sackbut_model::MODEL_RATE_HZ;

use crate::timeline::{ResamplerKind, SINC_HALF_TAPS};

/// Kernel phases tabulated per input sample; between two phases the kernel is interpolated.
const PHASES: usize = 512;
/// Taps per phase.
const TAPS: usize = 2 * SINC_HALF_TAPS;
/// Kaiser window β (≈ 80 dB stop band).
const KAISER_BETA: f64 = 8.0;
/// Input history kept before it is compacted (samples).
const HISTORY: usize = 8192;

/// Modified Bessel function of the first kind, order 0 (series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..50 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Windowed-sinc streaming resampler from 16 kHz to any rate.
pub struct SincResampler {
    rate_hz: u64,
    /// `table[p * TAPS + j]`: weight of input `i0 - HALF + 1 + j` at phase `p / PHASES`;
    /// `PHASES + 1` phases so that phase interpolation never wraps.
    table: Vec<f32>,
    /// Input samples; `buf[k]` is input index `buf_start + k`.
    buf: Vec<f32>,
    buf_start: u64,
    /// Input samples pushed so far (the next input index).
    next_in: u64,
    /// Output samples produced so far.
    next_out: u64,
}

impl SincResampler {
    /// A resampler to `rate_hz` whose calls give at most `max_out` samples.
    pub fn new(rate_hz: u32, max_out: usize) -> SincResampler {
        let rate_hz = rate_hz.max(1) as u64;
        let model = MODEL_RATE_HZ as f64;
        // Cut-off in cycles per input sample: below both Nyquists, with room for the transition.
        let fc = 0.45 * (rate_hz as f64 / model).min(1.0);
        let half = SINC_HALF_TAPS as f64;
        let mut table = vec![0f32; (PHASES + 1) * TAPS];
        for p in 0..=PHASES {
            let frac = p as f64 / PHASES as f64;
            let mut w = [0f64; TAPS];
            for (j, wj) in w.iter_mut().enumerate() {
                // Distance from the output position to input i0 - HALF + 1 + j.
                let tau = frac + half - 1.0 - j as f64;
                let x = 2.0 * fc * tau;
                let sinc = if x.abs() < 1e-12 { 1.0 } else { (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x) };
                let r = tau / half;
                let win = if r.abs() >= 1.0 { 0.0 } else { bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / bessel_i0(KAISER_BETA) };
                *wj = 2.0 * fc * sinc * win;
            }
            // Unit gain at DC for every phase.
            let sum: f64 = w.iter().sum();
            for (j, wj) in w.iter().enumerate() {
                table[p * TAPS + j] = (wj / sum) as f32;
            }
        }
        let cap = HISTORY + TAPS + max_out * 16_000 / rate_hz as usize + 4 * TAPS;
        SincResampler { rate_hz, table, buf: Vec::with_capacity(cap), buf_start: 0, next_in: 0, next_out: 0 }
    }

    /// Input index needed (exclusive) to produce outputs up to `out_end` (exclusive).
    fn input_end_for(&self, out_end: u64) -> u64 {
        if out_end == 0 {
            return 0;
        }
        // Output P reads inputs up to floor(P · 16000 / rate).
        (out_end - 1) * MODEL_RATE_HZ as u64 / self.rate_hz + 1
    }

    /// Input samples to push before producing `n_out` more outputs.
    pub fn input_needed(&self, n_out: usize) -> usize {
        self.input_end_for(self.next_out + n_out as u64).saturating_sub(self.next_in) as usize
    }

    /// Appends input samples.
    pub fn push_input(&mut self, x: &[f32]) {
        if self.buf.len() + x.len() > self.buf.capacity() {
            // Keep the last TAPS + 4 samples (more than an output can still need), move them to the front.
            let keep = self.buf.len().min(TAPS + 4);
            let from = self.buf.len() - keep;
            self.buf.copy_within(from.., 0);
            self.buf.truncate(keep);
            self.buf_start += from as u64;
        }
        let room = self.buf.capacity() - self.buf.len();
        // Never more than the reserve (a caller bug): drop the excess rather than allocate.
        let take = x.len().min(room);
        self.buf.extend_from_slice(&x[..take]);
        self.next_in += x.len() as u64;
        if take < x.len() {
            self.buf_start = self.next_in - self.buf.len() as u64;
        }
    }

    /// Input sample `i` (0 before the stream and outside what is kept).
    fn input(&self, i: i64) -> f32 {
        if i < self.buf_start as i64 {
            return 0.0;
        }
        self.buf.get((i - self.buf_start as i64) as usize).copied().unwrap_or(0.0)
    }

    /// Produces `out.len()` samples (the input they need must have been pushed).
    pub fn produce(&mut self, out: &mut [f32]) {
        let model = MODEL_RATE_HZ as i64;
        let rate = self.rate_hz as i64;
        let half = SINC_HALF_TAPS as i64;
        for o in out.iter_mut() {
            // x = P·16000/rate − HALF, as i0 + num/rate.
            let num_total = self.next_out as i64 * model - half * rate;
            let i0 = num_total.div_euclid(rate);
            let num = num_total.rem_euclid(rate);
            let phase = num as f64 * PHASES as f64 / rate as f64;
            let p = phase as usize;
            let a = (phase - p as f64) as f32;
            let (t0, t1) = (&self.table[p * TAPS..(p + 1) * TAPS], &self.table[(p + 1) * TAPS..(p + 2) * TAPS]);
            let first = i0 - half + 1;
            let mut acc = 0f32;
            let base = first - self.buf_start as i64;
            if base >= 0 && (base as usize + TAPS) <= self.buf.len() {
                let xs = &self.buf[base as usize..base as usize + TAPS];
                for j in 0..TAPS {
                    acc += xs[j] * (t0[j] + a * (t1[j] - t0[j]));
                }
            } else {
                for j in 0..TAPS {
                    acc += self.input(first + j as i64) * (t0[j] + a * (t1[j] - t0[j]));
                }
            }
            *o = acc;
            self.next_out += 1;
        }
    }

    /// Back to the start of a stream.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf_start = 0;
        self.next_in = 0;
        self.next_out = 0;
    }
}

/// rubato's FFT resampler fed whole chunks, with its output queued for any block size.
pub struct FftStream {
    fft: FftFixedInOut<f32>,
    chunk_in: usize,
    chunk_out: usize,
    input: Vec<f32>,
    out_chunk: Vec<f32>,
    /// Produced but not yet taken; `queue[head..]` is pending.
    queue: Vec<f32>,
    head: usize,
}

impl FftStream {
    /// To `rate_hz`, for calls of at most `max_out` samples. An error if rubato refuses the rates.
    pub fn new(rate_hz: u32, max_out: usize) -> Result<FftStream, String> {
        let fft = FftFixedInOut::<f32>::new(MODEL_RATE_HZ as usize, rate_hz as usize, crate::timeline::FFT_CHUNK_IN, 1)
            .map_err(|e| format!("cannot resample 16000 Hz to {rate_hz} Hz: {e}"))?;
        let (chunk_in, chunk_out) = (fft.input_frames_next(), fft.output_frames_next());
        Ok(FftStream {
            fft,
            chunk_in,
            chunk_out,
            input: Vec::with_capacity(chunk_in),
            out_chunk: vec![0.0; chunk_out],
            queue: Vec::with_capacity(max_out + 2 * chunk_out),
            head: 0,
        })
    }

    /// Input samples to push before producing `n_out` more outputs (whole chunks).
    pub fn input_needed(&self, n_out: usize) -> usize {
        let pending = self.queue.len() - self.head;
        let missing = n_out.saturating_sub(pending);
        let chunks = missing.div_ceil(self.chunk_out);
        (chunks * self.chunk_in).saturating_sub(self.input.len())
    }

    /// Appends input; every full chunk is resampled at once.
    pub fn push_input(&mut self, mut x: &[f32]) {
        while !x.is_empty() {
            let take = (self.chunk_in - self.input.len()).min(x.len());
            self.input.extend_from_slice(&x[..take]);
            x = &x[take..];
            if self.input.len() == self.chunk_in {
                if self.head > 0 {
                    self.queue.drain(..self.head);
                    self.head = 0;
                }
                let ok = self.fft.process_into_buffer(&[&self.input[..]], &mut [&mut self.out_chunk[..]], None).is_ok();
                if !ok {
                    self.out_chunk.iter_mut().for_each(|v| *v = 0.0);
                }
                let room = self.queue.capacity() - self.queue.len();
                let n = self.chunk_out.min(room);
                self.queue.extend_from_slice(&self.out_chunk[..n]);
                self.input.clear();
            }
        }
    }

    /// Produces `out.len()` samples (zeros for any the pushed input cannot give).
    pub fn produce(&mut self, out: &mut [f32]) {
        let avail = (self.queue.len() - self.head).min(out.len());
        out[..avail].copy_from_slice(&self.queue[self.head..self.head + avail]);
        out[avail..].iter_mut().for_each(|v| *v = 0.0);
        self.head += avail;
    }

    /// Back to the start of a stream.
    pub fn reset(&mut self) {
        self.fft.reset();
        self.input.clear();
        self.queue.clear();
        self.head = 0;
    }

    /// Output delay of the filter (host samples): half an output chunk.
    pub fn output_delay(&self) -> usize {
        self.fft.output_delay()
    }
}

/// The resampler an activation uses (see [`ResamplerKind`]).
pub enum OutputResampler {
    /// 16 kHz host: copy.
    Identity,
    /// Realtime.
    Sinc(Box<SincResampler>),
    /// Offline.
    Fft(Box<FftStream>),
}

impl OutputResampler {
    /// Builds the resampler `kind` to `rate_hz` for calls of at most `max_out` samples.
    pub fn new(kind: ResamplerKind, rate_hz: u32, max_out: usize) -> Result<OutputResampler, String> {
        Ok(match kind {
            ResamplerKind::Identity => OutputResampler::Identity,
            ResamplerKind::Sinc => OutputResampler::Sinc(Box::new(SincResampler::new(rate_hz, max_out))),
            ResamplerKind::Fft { .. } => OutputResampler::Fft(Box::new(FftStream::new(rate_hz, max_out)?)),
        })
    }

    /// Input samples to push before producing `n_out` outputs.
    pub fn input_needed(&self, n_out: usize) -> usize {
        match self {
            OutputResampler::Identity => n_out,
            OutputResampler::Sinc(s) => s.input_needed(n_out),
            OutputResampler::Fft(f) => f.input_needed(n_out),
        }
    }

    /// Produces `out.len()` samples from `input` (exactly `input_needed(out.len())` samples).
    pub fn process(&mut self, input: &[f32], out: &mut [f32]) {
        match self {
            OutputResampler::Identity => {
                let n = input.len().min(out.len());
                out[..n].copy_from_slice(&input[..n]);
                out[n..].iter_mut().for_each(|v| *v = 0.0);
            }
            OutputResampler::Sinc(s) => {
                s.push_input(input);
                s.produce(out);
            }
            OutputResampler::Fft(f) => {
                f.push_input(input);
                f.produce(out);
            }
        }
    }

    /// Back to the start of a stream.
    pub fn reset(&mut self) {
        match self {
            OutputResampler::Identity => {}
            OutputResampler::Sinc(s) => s.reset(),
            OutputResampler::Fft(f) => f.reset(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn sine(freq_hz: f32, rate: u32, n: usize) -> Vec<f32> {
        (0..n).map(|i| (2.0 * PI * freq_hz * i as f32 / rate as f32).sin()).collect()
    }

    fn run(r: &mut OutputResampler, x: &[f32], blocks: &[usize], total: usize) -> Vec<f32> {
        let mut out = vec![];
        let mut pos = 0;
        let mut k = 0;
        while out.len() < total {
            let n = blocks[k % blocks.len()].min(total - out.len());
            k += 1;
            let need = r.input_needed(n);
            let mut input = vec![0.0; need];
            for (j, v) in input.iter_mut().enumerate() {
                *v = x.get(pos + j).copied().unwrap_or(0.0);
            }
            pos += need;
            let mut o = vec![0.0; n];
            r.process(&input, &mut o);
            out.extend_from_slice(&o);
        }
        out
    }

    #[test]
    fn sinc_keeps_a_sine_and_its_level_at_any_block_size() {
        for rate in [22_050u32, 44_100, 48_000, 96_000, 192_000] {
            let x = sine(440.0, 16_000, 16_000);
            let mut r = OutputResampler::new(ResamplerKind::Sinc, rate, 8192).unwrap();
            let y = run(&mut r, &x, &[1, 7, 512, 8192, 33], rate as usize);
            // Compare with the ideal sine delayed by HALF input samples, away from the edges.
            let delay = SINC_HALF_TAPS as f32 / 16_000.0;
            let mut err = 0f32;
            for (p, &v) in y.iter().enumerate().skip(rate as usize / 10).take(rate as usize / 2) {
                let t = p as f32 / rate as f32 - delay;
                err = err.max((v - (2.0 * PI * 440.0 * t).sin()).abs());
            }
            assert!(err < 2e-3, "{rate}: max error {err}");
        }
    }

    #[test]
    fn sinc_removes_images_of_a_high_tone() {
        // 7 kHz at 16 kHz: its image at 9 kHz must be gone at 48 kHz.
        let x = sine(7_000.0, 16_000, 16_000);
        let mut r = OutputResampler::new(ResamplerKind::Sinc, 48_000, 8192).unwrap();
        let y = run(&mut r, &x, &[512], 48_000);
        let seg = &y[4800..4800 + 4800];
        let (mut re, mut im) = (0f64, 0f64);
        for (i, &v) in seg.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * 9_000.0 * i as f64 / 48_000.0;
            re += v as f64 * ph.cos();
            im += v as f64 * ph.sin();
        }
        let image = 2.0 * (re * re + im * im).sqrt() / seg.len() as f64;
        assert!(image < 1e-3, "image level {image}");
    }

    #[test]
    fn fft_stream_equals_whole_signal_chunking() {
        // The same chunks through a fresh FftFixedInOut, as `trainer render` does.
        let x = sine(300.0, 16_000, 9000);
        let mut stream = OutputResampler::new(ResamplerKind::Fft { chunk_in: 0, chunk_out: 0 }, 44_100, 8192).unwrap();
        let y = run(&mut stream, &x, &[1, 100, 4096, 17], 20_000);
        let mut whole = FftFixedInOut::<f32>::new(16_000, 44_100, 1024, 1).unwrap();
        let (ci, co) = (whole.input_frames_next(), whole.output_frames_next());
        let mut expect = vec![];
        let mut pos = 0;
        while expect.len() < 20_000 {
            let mut chunk = vec![0f32; ci];
            for (j, v) in chunk.iter_mut().enumerate() {
                *v = x.get(pos + j).copied().unwrap_or(0.0);
            }
            let mut o = vec![0f32; co];
            whole.process_into_buffer(&[&chunk], &mut [&mut o], None).unwrap();
            expect.extend_from_slice(&o);
            pos += ci;
        }
        assert_eq!(&y[..], &expect[..20_000]);
    }
}
