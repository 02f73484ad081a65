//! The built library (`libsackbut_gpu_engine.so`) opened as the plugin opens it, through
//! `sackbut_model::engine::gpu_client`, against the torch engine run in this process: the same
//! voice, resets, temperature and blocks give the same codes, sample for sample. On the CPU
//! device, so it runs on any machine; on a GPU machine `SACKBUT_ABI_TEST_DEVICE=cuda` runs the
//! same comparison on CUDA device 0.

use std::path::{Path, PathBuf};

use sackbut_model::conditioning::Conditioning;
use sackbut_model::engine::gpu_abi::{DEVICE_CPU, DEVICE_CUDA, LIBRARY_FILE};
use sackbut_model::engine::gpu_client::{GpuEngine, GpuLibrary};
use sackbut_model::engine::{Engine, EngineError};
use sackbut_model::torch::{model_on, TorchGenerator};
use sackbut_model::voice_file::Voice;

/// The cdylib cargo built for this test, beside its binary (target/release/deps; the copy in
/// target/release is only refreshed by `cargo build`).
fn library_file() -> PathBuf {
    std::env::current_exe().unwrap().parent().unwrap().join(LIBRARY_FILE)
}

fn library() -> &'static GpuLibrary {
    static LIB: std::sync::OnceLock<GpuLibrary> = std::sync::OnceLock::new();
    LIB.get_or_init(|| GpuLibrary::open(&library_file()).unwrap_or_else(|e| panic!("{e}")))
}

/// The device of the comparison: the CPU, or CUDA with `SACKBUT_ABI_TEST_DEVICE=cuda`.
fn device() -> (i32, tch::Device) {
    match std::env::var("SACKBUT_ABI_TEST_DEVICE").as_deref() {
        Ok("cuda") => (DEVICE_CUDA, tch::Device::Cuda(0)),
        _ => (DEVICE_CPU, tch::Device::Cpu),
    }
}

fn default_voice() -> Voice {
    Voice::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/trombone.voice.safetensors")).unwrap()
}

fn note(key: u8, velocity: u8, remaining: u32, age: u32) -> Conditioning {
    Conditioning { note: key, velocity, remaining, age }
}

/// A session of calls an engine must answer the same way: rows reset with their own seeds,
/// rows joining and leaving at frame boundaries, blocks that do not align with frames, a
/// temperature change and a skip while idle. Returns every row's codes, in call order.
fn session(e: &mut dyn Engine) -> Vec<Vec<u8>> {
    let tf = e.top_frame();
    let mut got = Vec::new();
    for (row, seed) in [(0, 11), (1, 12), (2, 13), (3, 14)] {
        e.reset_row(row, seed).unwrap();
    }
    let mut block = |e: &mut dyn Engine, rows: &[usize], n: usize, key: u8, t0: u32| {
        let cond: Vec<Vec<Conditioning>> =
            rows.iter().map(|&r| (0..n as u32).map(|i| note(key + r as u8 * 3, 100 - r as u8 * 10, 20_000, t0 + i)).collect()).collect();
        let refs: Vec<&[Conditioning]> = cond.iter().map(|c| c.as_slice()).collect();
        let mut outs = vec![vec![0u8; n]; rows.len()];
        let mut out: Vec<&mut [u8]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        e.generate(rows, &refs, &mut out).unwrap();
        got.extend(outs);
    };
    // Rows 0 and 2 for two frames in odd blocks, then all four, then row 3 alone.
    block(e, &[0, 2], 100, 50, 0);
    block(e, &[0, 2], 2 * tf - 100, 50, 100);
    e.set_temperature(0.8);
    block(e, &[0, 1, 2, 3], tf + 7, 55, 2 * tf as u32);
    block(e, &[0, 1, 2, 3], tf - 7, 55, 3 * tf as u32 + 7);
    // Everyone idle for a frame and a half, then row 3 from a fresh reset at the next boundary.
    block(e, &[], 0, 0, 0);
    e.skip(tf + tf / 2);
    assert_eq!(e.reset_row(3, 99), Err(EngineError::NotAtFrameBoundary { clock_samples: 5 * tf as u64 + tf as u64 / 2, top_frame: tf }));
    e.skip(tf / 2);
    e.reset_row(3, 99).unwrap();
    block(e, &[3], 3 * tf, 62, 0);
    got
}

#[test]
fn the_library_generates_what_the_torch_engine_generates() {
    let voice = default_voice();
    let (code, device) = device();
    let mut through_abi = GpuEngine::new(library(), &voice, 4, code).unwrap();
    assert_eq!(through_abi.top_frame(), voice.meta.hparams.top_frame());
    let a = session(&mut through_abi);
    assert_eq!(through_abi.clock_samples(), 9 * through_abi.top_frame() as u64);

    let (_vs, model) = model_on(&voice, device).unwrap();
    let mut direct = TorchGenerator::new(&model, device, 4, 0, 1.0);
    let b = session(&mut direct);
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let first = x.iter().zip(y).position(|(p, q)| p != q);
        assert_eq!(first, None, "block row {i}: the library parts from the torch engine at sample {first:?}");
    }
    // Notes were generated, not silence: the codes move.
    assert!(a.iter().flatten().collect::<std::collections::HashSet<_>>().len() > 50);
}

#[test]
fn bad_calls_are_refused_before_they_reach_the_library() {
    let voice = default_voice();
    let mut e = GpuEngine::new(library(), &voice, 2, DEVICE_CPU).unwrap();
    assert_eq!(e.reset_row(2, 0), Err(EngineError::RowOutOfRange { row: 2, max_batch: 2 }));
    let c = [Conditioning::SILENT; 8];
    let mut o = [0u8; 8];
    assert_eq!(e.generate(&[1, 1], &[&c, &c], &mut [&mut o.clone(), &mut o]), Err(EngineError::DuplicateRow(1)));
    assert_eq!(e.clock_samples(), 0, "a refused call generates nothing");
    assert_eq!(e.failure(), None);
}

#[test]
fn problems_come_back_as_messages() {
    let lib = library();
    let mut voice = default_voice();
    // The same numbers in another shape: a file the library must refuse, by the tensor's name.
    let h0 = voice.tensors.get_mut("top.h0").unwrap();
    h0.shape = vec![2, h0.data.len() / 2];
    let err = GpuEngine::new(lib, &voice, 1, DEVICE_CPU).err().unwrap();
    assert!(err.contains("top.h0"), "{err}");
    let err = GpuEngine::new(lib, &default_voice(), 0, DEVICE_CPU).err().unwrap();
    assert!(err.contains("at least one row"), "{err}");
    // The library answers for libtorch in this process: the same libtorch.
    assert_eq!(lib.cuda().is_ok(), tch::Cuda::is_available(), "{:?}", lib.cuda());
    if let Err(why) = lib.cuda() {
        assert!(why.contains("no CUDA device"), "{why}");
        let err = GpuEngine::cuda(lib, &default_voice(), 1).err().unwrap();
        assert!(err.contains("no CUDA device"), "{err}");
    }
}

#[test]
fn a_file_that_is_not_the_library_is_named() {
    let missing = Path::new("/nonexistent/libsackbut_gpu_engine.so");
    let err = GpuLibrary::open(missing).err().unwrap();
    assert_eq!(err, "no GPU engine library at /nonexistent/libsackbut_gpu_engine.so");
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join(LIBRARY_FILE);
    std::fs::write(&text, b"not an ELF file").unwrap();
    let err = GpuLibrary::open(&text).err().unwrap();
    assert!(err.starts_with(&format!("cannot open {}: ", text.display())), "{err}");
    // A real shared library without the entry point: libtorch's libc10, loaded in this process.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let c10 = maps.split_whitespace().find(|w| w.ends_with("/libc10.so")).expect("libc10.so is mapped");
    let err = GpuLibrary::open(Path::new(c10)).err().unwrap();
    assert!(err.starts_with(&format!("{c10} is not a Sackbut GPU engine library: ")), "{err}");
}
