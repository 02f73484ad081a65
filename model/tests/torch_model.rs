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
    let tf = m.hp.top_frame() as i64;
    let t = 4 * tf;
    let rows = cond_rows(1, t as usize);
    let codes = random_codes(1, tf + t);
    let (base, _) = tch::no_grad(|| m.forward(&codes, &batch(&rows), &m.initial_states(1)));
    // Change the sample at chunk position p (codes index tf + p): only logits after p may move.
    for p in [0i64, 15, 16, 63, 64, 100, t - 2] {
        let changed = codes.copy();
        let _ = changed.narrow(1, tf + p, 1).fill_((codes.int64_value(&[0, tf + p]) + 77) % 256);
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
    let tf = m.hp.top_frame() as i64;
    let t = 6 * tf;
    let rows = cond_rows(2, t as usize);
    let codes = Tensor::cat(&[SampleRnn::silence(2, tf, Device::Cpu), random_codes(2, t)], 1);
    let (whole, _) = tch::no_grad(|| m.forward(&codes, &batch(&rows), &m.initial_states(2)));
    // Two chunks with the state carried: the same logits (truncated BPTT only cuts gradients).
    let split = 2 * tf;
    let first_rows: Vec<Vec<Conditioning>> = rows.iter().map(|r| r[..split as usize].to_vec()).collect();
    let second_rows: Vec<Vec<Conditioning>> = rows.iter().map(|r| r[split as usize..].to_vec()).collect();
    let (a, s) = tch::no_grad(|| m.forward(&codes.narrow(1, 0, tf + split), &batch(&first_rows), &m.initial_states(2)));
    let (b, _) = tch::no_grad(|| m.forward(&codes.narrow(1, split, tf + t - split), &batch(&second_rows), &s));
    let joined = Tensor::cat(&[a, b], 1);
    let err = (&joined - &whole).abs().max().double_value(&[]);
    assert!(err < 1e-4, "max difference {err}");
}

#[test]
fn greedy_generation_equals_teacher_forced_argmax() {
    let (_vs, m) = model(3);
    let tf = m.hp.top_frame() as i64;
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
    // Teacher-force the generated sequence: its argmax must be what was generated.
    let whole = 4 * tf as usize;
    let mut codes: Vec<i64> = Vec::new();
    let mut padded_rows = Vec::new();
    for (r, o) in rows.iter().zip(&out) {
        codes.extend(std::iter::repeat_n(128, tf as usize));
        codes.extend(o.iter().map(|&c| c as i64));
        codes.extend(std::iter::repeat_n(128, whole - n));
        let mut pr = r.clone();
        pr.resize(whole, Conditioning::SILENT);
        padded_rows.push(pr);
    }
    let codes = Tensor::from_slice(&codes).view([3, tf + whole as i64]);
    let (logits, _) = tch::no_grad(|| m.forward(&codes, &batch(&padded_rows), &m.initial_states(3)));
    let argmax = logits.argmax(-1, false).narrow(1, 0, n as i64);
    let expected = codes.narrow(1, tf, n as i64);
    let mismatches = argmax.ne_tensor(&expected).sum(Kind::Int64).int64_value(&[]);
    assert_eq!(mismatches, 0);
}

#[test]
fn seeded_sampling_is_reproducible() {
    let (_vs, m) = model(4);
    let n = 200;
    let rows = cond_rows(2, n);
    let cond: Vec<&[Conditioning]> = rows.iter().map(|r| r.as_slice()).collect();
    let run = |seed| {
        let mut gen = TorchGenerator::new(&m, Device::Cpu, 2, seed, 1.0);
        let mut out = vec![vec![0u8; n]; 2];
        let mut outs: Vec<&mut [u8]> = out.iter_mut().map(|o| o.as_mut_slice()).collect();
        gen.generate_all(&cond, &mut outs);
        out
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
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
    let codes = random_codes(1, 3 * tf);
    let (a, _) = tch::no_grad(|| m.forward(&codes, &batch(&rows), &m.initial_states(1)));
    let (b, _) = tch::no_grad(|| m2.forward(&codes, &batch(&rows), &m2.initial_states(1)));
    assert_eq!((&a - &b).abs().max().double_value(&[]), 0.0);
}
