//! Training examples in memory, and the batches of truncated-BPTT chunks cut from them.

use anyhow::{bail, Result};
use sackbut_model::conditioning::{fill, Conditioning, RemainingRule};
use sackbut_model::hparams::HParams;
use sackbut_model::quantize::SILENCE_CODE;
use sackbut_model::rng::SplitMix64;
use tch::{Device, Tensor};

use crate::dataset::manifest::{Dataset, Split};
use sackbut_model::conditioning::NoteSpan;
use sackbut_model::torch::CondBatch;

/// One example: its codes and its note span (the conditioning of either view is built from the
/// span; `Dataset::load_example` has checked that the file's streams equal the exact view).
pub struct Example {
    /// Quantized audio.
    pub codes: Vec<u8>,
    /// The note.
    pub span: NoteSpan,
}

/// Loads the examples of `split`, cut to a whole number of `top_frame`s. An example file that
/// cannot be read (missing, truncated, corrupt) is left out: its reason, naming the file, is in
/// the second list.
pub fn load_split(ds: &Dataset, split: Split, top_frame: usize) -> Result<(Vec<Example>, Vec<String>)> {
    let len = ds.manifest.length_samples / top_frame * top_frame;
    if len == 0 {
        bail!("{}: examples of {} samples are shorter than one {top_frame}-sample frame", ds.dir.display(), ds.manifest.length_samples);
    }
    let (mut examples, mut damaged) = (Vec::new(), Vec::new());
    for entry in ds.split(split) {
        match ds.load_example(entry) {
            Ok(data) => {
                let mut codes = data.codes;
                codes.truncate(len);
                examples.push(Example { codes, span: entry.span });
            }
            Err(e) => damaged.push(format!("{e:#}")),
        }
    }
    Ok((examples, damaged))
}

/// Which conditioning a row of a batch is trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The exact streams of the dataset.
    Exact,
    /// What a live plugin feeds: saturated until note-off, then a countdown from R.
    Live,
    /// No conditioning at all (silence everywhere): the unconditioned baseline.
    Unconditioned,
}

/// A group of examples walked together chunk by chunk, hidden states carried between chunks.
pub struct Pass<'a> {
    rows: Vec<(&'a Example, View)>,
    release: u32,
    hp: HParams,
    seq_len: usize,
    /// Next chunk's first sample.
    pub pos: usize,
    cond: Vec<Conditioning>,
    /// Per row: samples the conditioning's note-on comes before the recorded sound starts.
    onset_leads: Vec<u32>,
}

impl<'a> Pass<'a> {
    /// A pass over `rows` (all the same length) from sample `start` (a multiple of the top
    /// frame; the samples before it are the first chunk's history).
    pub fn new(rows: Vec<(&'a Example, View)>, release: u32, hp: HParams, seq_len: usize, start: usize) -> Self {
        debug_assert_eq!(start % hp.top_frame(), 0);
        let onset_leads = vec![0; rows.len()];
        Pass { rows, release, hp, seq_len, pos: start, cond: Vec::new(), onset_leads }
    }

    /// Moves each row's conditioning note-on `leads[row]` samples before its recorded sound
    /// (see [`onset_lead_for`]).
    pub fn with_onset_leads(mut self, leads: Vec<u32>) -> Self {
        assert_eq!(leads.len(), self.rows.len(), "one lead per row");
        self.onset_leads = leads;
        self
    }

    /// The next chunk: codes `[B, H + T]` (H = `hp.history_len()` codes of history first) and
    /// the conditioning of its `T` samples, or `None` when the pass is done.
    pub fn next_chunk(&mut self, device: Device) -> Option<(Tensor, CondBatch, usize)> {
        let len = self.rows[0].0.codes.len();
        if self.pos >= len {
            return None;
        }
        let (start, t) = (self.pos, self.seq_len.min(len - self.pos));
        let h = self.hp.history_len();
        let horizon = self.hp.horizon;
        let b = self.rows.len();
        let mut codes = Vec::with_capacity(b * (h + t));
        self.cond.clear();
        self.cond.resize(b * t, Conditioning::SILENT);
        for (r, (ex, view)) in self.rows.iter().enumerate() {
            for i in 0..h + t {
                let idx = (start + i) as isize - h as isize;
                codes.push(if idx < 0 { SILENCE_CODE } else { ex.codes[idx as usize] } as i64);
            }
            let out = &mut self.cond[r * t..(r + 1) * t];
            let rule = match view {
                View::Exact => RemainingRule::Exact,
                View::Live => RemainingRule::Live { release: self.release, lookahead: 0 },
                View::Unconditioned => continue,
            };
            let mut span = ex.span;
            span.onset = span.onset.saturating_sub(self.onset_leads[r] as u64);
            fill(std::slice::from_ref(&span), rule, horizon, start as u64, out);
        }
        self.pos += t;
        let codes = Tensor::from_slice(&codes).view([b as i64, (h + t) as i64]).to_device(device);
        let rows: Vec<&[Conditioning]> = self.cond.chunks(t).collect();
        Some((codes, CondBatch::from_rows(&rows, &self.hp, device), t))
    }
}

/// A seeded shuffle of `0..n` for epoch `epoch` (the same on resume).
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = SplitMix64::for_row(seed, epoch);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// Where pass `pass` starts (seeded): half the passes at the start of the examples; a quarter at
/// a top-frame-aligned point up to `min_silence` samples before the earliest onset among
/// `rows`; a quarter in the top frame of that onset or up to [`ONSET_START_FRAMES`] frames
/// before it. The 1 s of silence before every onset is mostly redundant; cropping it makes
/// onsets, the rarest and hardest moments to learn, more frequent per step, while the uncropped
/// passes keep long silences (which must stay silent) in the diet.
///
/// The last kind is how a plugin starts a note: its voice is reset (learned initial state,
/// silent history) at the frame boundary at or before the note-on, so a note-on on a boundary
/// meets the initial state in its very first frame. A voice trained only on passes that began
/// in long silence played no note at all from there (every note of a phrase whose onsets fell
/// on frame boundaries stayed silent).
pub fn crop_start(rows: &[(&Example, View)], seed: u64, pass: u64, min_silence: usize, top_frame: usize) -> usize {
    let onset = rows.iter().map(|(e, _)| e.span.onset as usize).min().unwrap_or(0);
    let room = onset.saturating_sub(min_silence) / top_frame;
    let mut rng = SplitMix64::for_row(seed ^ 0xC40F, pass);
    match rng.next_u64() % 4 {
        0 | 1 => 0,
        2 => (rng.next_u64() % (room as u64 + 1)) as usize * top_frame,
        _ => {
            let back = (rng.next_u64() % (ONSET_START_FRAMES as u64 + 1)) as usize;
            (onset / top_frame).saturating_sub(back) * top_frame
        }
    }
}

/// Most top frames before the onset's own frame that an onset-start pass begins (the onset
/// lead moves the note-on up to 16 ms, two 128-sample frames, before the recorded sound).
pub const ONSET_START_FRAMES: usize = 2;

/// How many samples (uniform in `0..=max`, seeded) row `row` of pass `pass` hears its note-on
/// before the recorded sound starts.
///
/// In the recordings the sound starts right at the note-on, so a model that has let a few
/// samples of silence pass after a note-on (which sampling does now and then) finds itself
/// somewhere the data never went, and often stays silent for good: whole checkpoints of a run
/// played no note at all. With the note-on drawn a little before the sound, silence early in a
/// note is something the data shows ending, and the model learns that the sound still comes.
/// The price is an onset up to `max` samples late, which the onset measure of `eval` reports.
pub fn onset_lead_for(seed: u64, pass: u64, row: usize, max: u32) -> u32 {
    if max == 0 {
        return 0;
    }
    let mut rng = SplitMix64::for_row(seed ^ 0x045E7, pass * 4096 + row as u64);
    (rng.next_u64() % (max as u64 + 1)) as u32
}

/// The view for row `row` of pass `pass`: live with probability `live_share`.
pub fn view_for(seed: u64, pass: u64, row: usize, live_share: f64, conditioned: bool) -> View {
    if !conditioned {
        return View::Unconditioned;
    }
    let mut rng = SplitMix64::for_row(seed ^ 0x5EED_11FE, pass * 4096 + row as u64);
    if (rng.next_f32() as f64) < live_share {
        View::Live
    } else {
        View::Exact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(len: usize) -> Example {
        let span = NoteSpan { note: 50, velocity: 80, onset: 70, note_off: 100, end: 140 };
        Example { codes: (0..len).map(|i| (i % 256) as u8).collect(), span }
    }

    const HP: HParams = HParams::TINY;

    #[test]
    fn chunks_carry_the_previous_samples_as_history() {
        let ex = example(256);
        let mut pass = Pass::new(vec![(&ex, View::Exact)], 20, HP, 128, 0);
        let (c0, _, t0) = pass.next_chunk(Device::Cpu).unwrap();
        assert_eq!(t0, 128);
        let h = HP.history_len();
        assert_eq!(h, 2048, "the pitch lag's reach");
        let c0 = Vec::<i64>::try_from(c0.view([-1])).unwrap();
        assert_eq!(c0.len(), h + 128);
        assert!(c0[..h].iter().all(|&c| c == SILENCE_CODE as i64), "silence before the start");
        assert_eq!(c0[h], 0);
        let (c1, _, _) = pass.next_chunk(Device::Cpu).unwrap();
        let c1 = Vec::<i64>::try_from(c1.view([-1])).unwrap();
        assert_eq!(c1[h - 128..h], (0..128).collect::<Vec<i64>>()[..], "history ends with the samples before 128");
        assert!(c1[..h - 128].iter().all(|&c| c == SILENCE_CODE as i64), "and silence before the example");
        assert_eq!(c1[h], 128);
        assert!(pass.next_chunk(Device::Cpu).is_none());
    }

    #[test]
    fn live_view_ends_at_note_off_plus_release() {
        let ex = example(256);
        let mut pass = Pass::new(vec![(&ex, View::Live)], 20, HP, 256, 0);
        let (_, cond, _) = pass.next_chunk(Device::Cpu).unwrap();
        let rem = Vec::<f32>::try_from(cond.scalars.select(2, 1).view([-1])).unwrap();
        assert_eq!(rem[99], 1.0, "saturated while held");
        assert!((rem[100] - 20.0 / 8192.0).abs() < 1e-9, "countdown from R at note-off");
        assert_eq!(rem[120], 0.0, "silent after note-off + R even though the sound goes on");
    }

    #[test]
    fn a_cropped_pass_starts_with_the_real_history() {
        let ex = example(256);
        let mut pass = Pass::new(vec![(&ex, View::Exact)], 20, HP, 128, 128);
        let (c, cond, t) = pass.next_chunk(Device::Cpu).unwrap();
        assert_eq!(t, 128);
        let c = Vec::<i64>::try_from(c.view([-1])).unwrap();
        let h = HP.history_len();
        assert_eq!(c[h - 64..h], (64..128).collect::<Vec<i64>>()[..], "history ends with samples 64..128");
        let age = Vec::<f32>::try_from(cond.scalars.select(2, 2).view([-1])).unwrap();
        assert_eq!(age[0], 58.0 / 4096.0, "sample 128 is 58 samples after the onset at 70");
        assert_eq!(age[12], 0.0, "silent from the end of sound at 140");
    }

    #[test]
    fn an_onset_lead_moves_the_note_on_before_the_sound() {
        let ex = example(256);
        let hp = HParams { horizon: 100, ..HParams::TINY };
        let cond_at = |lead: u32| {
            let mut pass = Pass::new(vec![(&ex, View::Exact)], 10, hp, 128, 0).with_onset_leads(vec![lead]);
            let (_, cond, _) = pass.next_chunk(Device::Cpu).unwrap();
            let note: Vec<i64> = cond.note.view([-1]).try_into().unwrap();
            note
        };
        let (plain, led) = (cond_at(0), cond_at(20));
        assert_eq!(plain.iter().position(|&n| n == 50), Some(70), "the note-on at the sound");
        assert_eq!(led.iter().position(|&n| n == 50), Some(50), "20 samples before it");
        assert_eq!(plain[100..], led[100..], "the note-off and the end stay where they were");
        let leads: Vec<u32> = (0..400).map(|p| onset_lead_for(3, p, 0, 256)).collect();
        assert!(leads.iter().all(|&l| l <= 256) && leads.iter().any(|&l| l > 200) && leads.iter().any(|&l| l < 50));
        assert_eq!(onset_lead_for(3, 7, 1, 0), 0);
    }

    #[test]
    fn crops_stay_on_the_frame_grid_clear_of_the_onset_or_at_it() {
        let mut ex = example(64 * 400);
        ex.span.onset = 16_000;
        let rows = vec![(&ex, View::Exact)];
        let starts: Vec<usize> = (0..400).map(|p| crop_start(&rows, 1, p, 1600, 64)).collect();
        assert!(starts.iter().all(|&s| s % 64 == 0), "{starts:?}");
        let uncropped = starts.iter().filter(|&&s| s == 0).count();
        assert!((160..240).contains(&uncropped), "about half the passes keep the whole silence: {uncropped}");
        // 16000 = 250 frames of 64: onset starts at frame 250, 249 or 248.
        let at_onset = starts.iter().filter(|&&s| (16_000 - 2 * 64..=16_000).contains(&s)).count();
        assert!((60..140).contains(&at_onset), "about a quarter start at the onset: {at_onset}");
        assert!(starts.contains(&16_000), "some with the note-on in their first frame");
        let cropped: Vec<usize> = starts.iter().copied().filter(|&s| s > 0 && s < 16_000 - 2 * 64).collect();
        assert!(cropped.iter().all(|&s| s + 1600 <= 16_000), "{cropped:?}");
        assert!(cropped.iter().any(|&s| s > 8000) && cropped.iter().any(|&s| (1..4000).contains(&s)), "spread over the room");
        assert_eq!(starts, (0..400).map(|p| crop_start(&rows, 1, p, 1600, 64)).collect::<Vec<_>>());
    }

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let a = epoch_order(50, 1, 0);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(50, 1, 0));
        assert_ne!(a, epoch_order(50, 1, 1));
    }
}
