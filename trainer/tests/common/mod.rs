//! Helpers shared by the trainer's end-to-end tests: running the real binary, and the small
//! FluidR3 dataset and tiny voice they train on.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Debian's fluid-soundfont-gm, installed by scripts/setup.sh.
pub const SF2: &str = "/usr/share/sounds/sf2/FluidR3_GM.sf2";

/// Runs `trainer` with `args`.
pub fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().expect("run trainer")
}

/// Runs `trainer` and fails the test, with its stderr, if it fails.
pub fn ok(args: &[&str]) -> Output {
    let out = trainer(args);
    assert!(out.status.success(), "trainer {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A command's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Builds `dir/ds`: FluidR3 trombone notes 50, 55, 60 at two velocities and two lengths (12
/// examples of 2 s, a quarter each in valid and test).
pub fn small_dataset(dir: &Path) -> PathBuf {
    assert!(Path::new(SF2).exists(), "{SF2} missing: run scripts/setup.sh (Debian package fluid-soundfont-gm)");
    let data = dir.join("ds");
    ok(&[
        "dataset",
        "--out",
        s(&data),
        "--notes",
        "50,55,60",
        "--velocities",
        "70,110",
        "--durations",
        "0.3,0.6",
        "--length",
        "2",
        "--valid",
        "0.25",
        "--test",
        "0.25",
        "--seed",
        "3",
    ]);
    data
}

/// Trains the `tiny` preset on `data` into `run` for `steps` (batch 6 × 512, one CPU thread,
/// seed 1), evaluating every `eval_every` steps; `extra` adds options.
pub fn train_tiny(data: &Path, run: &Path, steps: u32, eval_every: u32, extra: &[&str]) {
    let (steps, eval_every) = (steps.to_string(), eval_every.to_string());
    let mut args = vec![
        "train",
        "--data",
        s(data),
        "--out",
        s(run),
        "--preset",
        "tiny",
        "--steps",
        &steps,
        "--eval-every",
        &eval_every,
        "--batch",
        "6",
        "--seq-len",
        "512",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--seed",
        "1",
    ];
    args.extend_from_slice(extra);
    ok(&args);
}
