//! The native engine's real-time contract: no heap allocation (nor reallocation, nor freeing)
//! inside `generate`, `teacher_force`, `reset_row` or `set_temperature`, proved with a counting
//! global allocator around the calls.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sackbut_model::conditioning::{fill, Conditioning, NoteSpan, RemainingRule};
use sackbut_model::engine::native::{Isa, NativeEngine};
use sackbut_model::engine::Engine;
use sackbut_model::hparams::HParams;
use sackbut_model::quantize::{Quantization, Q_LEVELS};
use sackbut_model::rng::SplitMix64;
use sackbut_model::voice_file::{ConditioningMeta, TensorData, TrainingSummary, Voice, VoiceMeta, VOICE_FORMAT_VERSION};

/// Counts allocator calls per thread, while that thread is counting (tests run in parallel
/// threads: each counts only its own calls).
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn note_call() {
    // `try_with`: the thread-locals may be gone while a thread shuts down.
    if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
        let _ = CALLS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every method forwards to the system allocator unchanged; the counter only touches
// const-initialised thread-local Cells, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_call();
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_call();
        // SAFETY: `ptr` came from `System.alloc` with this layout (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_call();
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_call();
        // SAFETY: `ptr` came from `System` with `layout`; the caller's contract passes on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocator calls made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = CALLS.with(|n| n.get());
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    CALLS.with(|n| n.get()) - before
}

/// A voice of shape `hp` with small random weights (no torch needed).
fn random_voice(hp: HParams) -> Voice {
    let mut rng = SplitMix64::new(1);
    let tensors = hp
        .tensor_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let fan_in = *shape.last().unwrap() as f32;
            let scale = if name.contains("emb") { 1.0 } else { 1.0 / fan_in.sqrt() };
            let data = (0..shape.iter().product()).map(|_| (rng.next_f32() * 2.0 - 1.0) * scale).collect();
            (name, TensorData { shape, data })
        })
        .collect();
    Voice {
        meta: VoiceMeta {
            format_version: VOICE_FORMAT_VERSION,
            name: "no-alloc".into(),
            sample_rate: 16_000,
            quantization: Quantization::MuLaw,
            hparams: hp,
            conditioning: ConditioningMeta { release_samples: 1000, notes: vec![50], velocities: vec![90] },
            training: TrainingSummary::default(),
        },
        tensors,
    }
}

#[test]
fn nothing_allocates_while_generating() {
    let two_layers = HParams { rnn_layers: 2, mlp_dim: 40, ..HParams::TINY };
    for hp in [HParams::TINY, HParams::SMALL, two_layers] {
        for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
            let voice = random_voice(hp);
            let batch = 4;
            let mut engine = NativeEngine::with_isa(&voice, batch, isa).unwrap();
            let len = 5 * hp.top_frame() + 17;
            // Everything the caller hands in is allocated before counting starts.
            let mut cond = vec![vec![Conditioning::SILENT; len]; batch];
            for (r, c) in cond.iter_mut().enumerate() {
                let span = NoteSpan { note: 40 + r as u8, velocity: 100, onset: 30, note_off: 200, end: 300 };
                fill(&[span], RemainingRule::Exact, hp.horizon, 0, c);
            }
            let mut out = vec![vec![0u8; len]; batch];
            let mut logits = vec![vec![0f32; len * Q_LEVELS]; 2];
            let codes = vec![vec![128u8; len]; 2];
            let all: Vec<usize> = (0..batch).collect();
            let some = [2usize, 0];

            let n = allocations_in(|| {
                for r in 0..batch {
                    engine.reset_row(r, 42).unwrap();
                }
                engine.set_temperature(0.8);
                // Blocks of uneven length across frame boundaries, all rows then some.
                for (lo, hi) in [(0, 1), (1, 100), (100, len)] {
                    let c: [&[Conditioning]; 4] = std::array::from_fn(|r| &cond[r][lo..hi]);
                    let mut o = out.iter_mut().map(|o| &mut o[lo..hi]);
                    let mut o: [&mut [u8]; 4] = std::array::from_fn(|_| o.next().unwrap());
                    engine.generate(&all, &c, &mut o).unwrap();
                }
                engine.set_temperature(0.0);
                let c = [&cond[0][..], &cond[1][..]];
                let (o0, o1) = out.split_at_mut(1);
                engine.generate(&some, &c, &mut [&mut o0[0][..], &mut o1[0][..]]).unwrap();
                // A refused call does not allocate either.
                assert!(engine.generate(&[0, 0], &c, &mut [&mut o0[0][..], &mut o1[0][..]]).is_err());
                let k = [&codes[0][..], &codes[1][..]];
                let (l0, l1) = logits.split_at_mut(1);
                engine.teacher_force(&some, &k, &c, &mut [&mut l0[0][..], &mut l1[0][..]]).unwrap();
            });
            assert_eq!(n, 0, "{hp:?} {isa}: {n} allocator calls while generating");
            assert!(out.iter().flatten().any(|&c| c != 128), "{isa}: it did generate");
        }
    }
}

#[test]
fn the_counter_counts() {
    let n = allocations_in(|| {
        let v: Vec<u8> = Vec::with_capacity(10);
        drop(std::hint::black_box(v));
    });
    assert_eq!(n, 2, "one allocation and one free");
}
