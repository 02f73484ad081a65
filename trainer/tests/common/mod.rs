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

/// `trainer train` on `data` into `run` with the `tiny` preset, batches of `batch` × 512
/// samples, one CPU thread and seed 1; the caller adds the steps and the rest.
pub fn tiny_train_args(data: &Path, run: &Path, batch: u32) -> Vec<String> {
    let fixed = ["--preset", "tiny", "--seq-len", "512", "--device", "cpu", "--threads", "1", "--seed", "1"];
    let mut args: Vec<String> = ["train", "--data", s(data), "--out", s(run)].iter().map(|a| a.to_string()).collect();
    args.extend(fixed.iter().map(|a| a.to_string()));
    args.extend(["--batch".to_string(), batch.to_string()]);
    args
}

/// Runs `trainer` with owned arguments and fails the test, with its stderr, if it fails.
pub fn ok_args(args: &[String]) -> Output {
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Trains the `tiny` preset on `data` into `run` for `steps` (batch 6 × 512, one CPU thread,
/// seed 1), evaluating every `eval_every` steps; `extra` adds options.
pub fn train_tiny(data: &Path, run: &Path, steps: u32, eval_every: u32, extra: &[&str]) {
    let mut args = tiny_train_args(data, run, 6);
    args.extend(["--steps".to_string(), steps.to_string(), "--eval-every".to_string(), eval_every.to_string()]);
    args.extend(extra.iter().map(|a| a.to_string()));
    ok_args(&args);
}
