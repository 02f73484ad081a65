//! The tch model's structure: causality of the tiers, generation equal to teacher forcing,
//! and weights surviving the voice file.

use sackbut_model::conditioning::{Conditioning, NoteSpan, RemainingRule};
use sackbut_model::hparams::HParams;
use sackbut_model::quantize::Quantization;
use sackbut_model::torch::{load_voice_into, voice_from_varstore, CondBatch, SampleRnn, TorchGenerator};
use sackbut_model::voice_file::{ConditioningMeta, TrainingSummary, Voice, VoiceMeta, VOICE_FORMAT_VERSION};
use tch::{nn, Device, Kind, Tensor};

fn model(seed: i64) -> (nn::VarStore, SampleRnn) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = SampleRnn::new(&vs.root(), HParams::TINY);
    (vs, m)
}

fn cond_rows(batch: usize, len: usize) -> Vec<Vec<Conditioning>> {
    (0..batch)
        .map(|b| {
            let span = NoteSpan { note: 45 + b as u8, velocity: 90, onset: 100, note_off: 300, end: 400 };
            let mut row = vec![Conditioning::SILENT; len];
            sackbut_model::conditioning::fill(&[span], RemainingRule::Exact, 8192, 0, &mut row);
            row
        })
        .collect()
}

fn batch(rows: &[Vec<Conditioning>]) -> CondBatch {
    let refs: Vec<&[Conditioning]> = rows.iter().map(|r| r.as_slice()).collect();
    CondBatch::from_rows(&refs, &HParams::TINY, Device::Cpu)
}

fn random_codes(b: i64, n: i64) -> Tensor {
    Tensor::randint(256, [b, n], (Kind::Int64, Device::Cpu))
}

#[test]
fn logits_depend_only_on_earlier_samples() {
    let (_vs, m) = model(1);
    let (tf, h) = (m.hp.top_frame() as i64, m.hp.history_len() as i64);
    let t = 4 * tf;
    let rows = cond_rows(1, t as usize);
    let codes = random_codes(1, h + t);
    let (base, _) = tch::no_grad(|| m.forward(&codes, &batch(&rows), &m.initial_states(1)));
    // Change the sample at chunk position p (codes index h + p): only logits after p may move.
    for p in [0i64, 15, 16, 63, 64, 100, t - 2] {
        let changed = codes.copy();
        let _ = changed.narrow(1, h + p, 1).fill_((codes.int64_value(&[0, h + p]) + 77) % 256);
        let (logits, _) = tch::no_grad(|| m.forward(&changed, &batch(&rows), &m.initial_states(1)));
        let diff = (&logits - &base).abs().amax([2], false).squeeze_dim(0);
        let before = diff.narrow(0, 0, p + 1).max().double_value(&[]);
        let after = diff.narrow(0, p + 1, 1).max().double_value(&[]);
        assert_eq!(before, 0.0, "a change at {p} leaked into logits at or before {p}");
        assert!(after > 0.0, "the sample right after {p} must see it");
    }
}

#[test]
fn chunked_forward_equals_one_pass() {
    let (_vs, m) = model(2);
    let (tf, h) = (m.hp.top_frame() as i64, m.hp.history_len() as i64);
    let t = 6 * tf;
    let rows = cond_rows(2, t as usize);
    let codes = Tensor::cat(&[SampleRnn::silence(2, h, Device::Cpu), random_codes(2, t)], 1);
    let (whole, _) = tch::no_grad(|| m.forward(&codes, &batch(&rows), &m.initial_states(2)));
    // Two chunks with the state carried: the same logits (truncated BPTT only cuts gradients).
    let split = 2 * tf;
    let first_rows: Vec<Vec<Conditioning>> = rows.iter().map(|r| r[..split as usize].to_vec()).collect();
    let second_rows: Vec<Vec<Conditioning>> = rows.iter().map(|r| r[split as usize..].to_vec()).collect();
    let (a, s) = tch::no_grad(|| m.forward(&codes.narrow(1, 0, h + split), &batch(&first_rows), &m.initial_states(2)));
    let (b, _) = tch::no_grad(|| m.forward(&codes.narrow(1, split, h + t - split), &batch(&second_rows), &s));
    let joined = Tensor::cat(&[a, b], 1);
    // The targets of a chunk are its own samples, after the history.
    let targets = m.targets(&codes);
    assert_eq!(targets.size(), [2, t]);
    assert_eq!(targets.ne_tensor(&codes.narrow(1, h, t)).sum(Kind::Int64).int64_value(&[]), 0);
    let err = (&joined - &whole).abs().max().double_value(&[]);
    assert!(err < 1e-4, "max difference {err}");
}

#[test]
fn greedy_generation_equals_teacher_forced_argmax() {
    let (_vs, m) = model(3);
    let (tf, h) = (m.hp.top_frame() as i64, m.hp.history_len() as i64);
    let n = 3 * tf as usize + 10;
    let rows = cond_rows(3, n);
    let mut gen = TorchGenerator::new(&m, Device::Cpu, 3, 9, 0.0);
    let mut out = vec![vec![0u8; n]; 3];
    // In two blocks of uneven size, to cover state carried between blocks.
    for (lo, hi) in [(0, 37), (37, n)] {
        let cond: Vec<&[Conditioning]> = rows.iter().map(|r| &r[lo..hi]).collect();
        let mut outs: Vec<&mut [u8]> = out.iter_mut().map(|o| &mut o[lo..hi]).collect();
        gen.generate_all(&cond, &mut outs);
    }
    // Teacher-force the generated sequence from the states rows are reset to (the initial
    // states after silence): its argmax must be what was generated.
    let whole = 4 * tf as usize;
    let mut codes: Vec<i64> = Vec::new();
    let mut padded_rows = Vec::new();
    for (r, o) in rows.iter().zip(&out) {
        codes.extend(std::iter::repeat_n(128, h as usize));
        codes.extend(o.iter().map(|&c| c as i64));
        codes.extend(std::iter::repeat_n(128, whole - n));
        let mut pr = r.clone();
        pr.resize(whole, Conditioning::SILENT);
        padded_rows.push(pr);
    }
    let codes = Tensor::from_slice(&codes).view([3, h + whole as i64]);
    let (logits, _) = tch::no_grad(|| m.forward(&codes, &batch(&padded_rows), &m.warm_batch(3, Device::Cpu)));
    let argmax = logits.argmax(-1, false).narrow(1, 0, n as i64);
    let expected = codes.narrow(1, h, n as i64);
    let mismatches = argmax.ne_tensor(&expected).sum(Kind::Int64).int64_value(&[]);
    assert_eq!(mismatches, 0);
}

/// The tensor form of the pitch-lag taps (training, the torch engine) reads the same codes as
/// the native engine's: one period of each sample's note back, silence where no note sounds.
#[test]
fn lag_taps_read_one_period_back_as_the_native_engine_does() {
    use sackbut_model::conditioning::NOTE_NONE;
    use sackbut_model::pitch_lag::{LagTable, LAG_HISTORY};
    let (_vs, m) = model(5);
    let taps = m.hp.pitch_lag_taps;
    assert!(taps > 0, "the tiny preset has a pitch lag");
    let (h, n) = (m.hp.history_len(), 300);
    let codes: Vec<u8> = (0..h + n).map(|i| (i * 7 % 251) as u8).collect();
    let notes: Vec<u8> = (0..n).map(|i| [0, 21, 40, 69, 127, NOTE_NONE][i % 6]).collect();
    let codes_t = Tensor::from_slice(&codes.iter().map(|&c| c as i64).collect::<Vec<_>>()).view([1, -1]);
    let notes_t = Tensor::from_slice(&notes.iter().map(|&c| c as i64).collect::<Vec<_>>()).view([1, -1]);
    let got = m.lag_taps(&codes_t, &notes_t, h as i64).unwrap();
    assert_eq!(got.size(), [1, n as i64, taps as i64]);
    let got = Vec::<i64>::try_from(got.reshape([-1])).unwrap();
    let table = LagTable::new(taps);
    for (i, &note) in notes.iter().enumerate() {
        let mut want = vec![0u8; taps];
        table.taps_into(&codes[h + i - LAG_HISTORY..h + i], note, &mut want);
        let want: Vec<i64> = want.iter().map(|&c| c as i64).collect();
        assert_eq!(got[i * taps..(i + 1) * taps], want[..], "sample {i}, note {note}");
    }
    // A 440 Hz note (lag 36) reads codes 37..34 samples back.
    let i = 3;
    assert_eq!(got[i * taps + 1], codes[h + i - 36] as i64);
}

/// Two voices of 200 samples from `gen`, the notes of `cond_rows`.
fn play(gen: &mut TorchGenerator) -> Vec<Vec<u8>> {
    let n = 200;
    let rows = cond_rows(2, n);
    let cond: Vec<&[Conditioning]> = rows.iter().map(|r| r.as_slice()).collect();
    let mut out = vec![vec![0u8; n]; 2];
    let mut outs: Vec<&mut [u8]> = out.iter_mut().map(|o| o.as_mut_slice()).collect();
    gen.generate_all(&cond, &mut outs);
    out
}

#[test]
fn seeded_sampling_is_reproducible() {
    let (_vs, m) = model(4);
    let run = |seed| play(&mut TorchGenerator::new(&m, Device::Cpu, 2, seed, 1.0));
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn a_reset_generator_plays_again_what_a_new_one_plays() {
    let (_vs, m) = model(4);
    let mut gen = TorchGenerator::new(&m, Device::Cpu, 2, 5, 1.0);
    let first = play(&mut gen);
    assert_ne!(play(&mut gen), first, "the clock and the seeds moved on");
    gen.reset();
    assert_eq!(play(&mut gen), first);
}

#[test]
fn weights_survive_the_voice_file() {
    let (vs, m) = model(5);
    let meta = VoiceMeta {
        format_version: VOICE_FORMAT_VERSION,
        name: "t".into(),
        sample_rate: 16_000,
        quantization: Quantization::MuLaw,
        hparams: m.hp,
        conditioning: ConditioningMeta { release_samples: 1000, notes: vec![45], velocities: vec![90] },
        training: TrainingSummary::default(),
    };
    let voice = voice_from_varstore(&vs, meta).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.voice.safetensors");
    voice.write(&path).unwrap();
    let back = Voice::read(&path).unwrap();

    let (mut vs2, m2) = model(99);
    load_voice_into(&mut vs2, &back).unwrap();
    let tf = m.hp.top_frame() as i64;
    let rows = cond_rows(1, 2 * tf as usize);
    let codes = random_codes(1, m.hp.history_len() as i64 + 2 * tf);
    let (a, _) = tch::no_grad(|| m.forward(&codes, &batch(&rows), &m.initial_states(1)));
    let (b, _) = tch::no_grad(|| m2.forward(&codes, &batch(&rows), &m2.initial_states(1)));
    assert_eq!((&a - &b).abs().max().double_value(&[]), 0.0);
}
