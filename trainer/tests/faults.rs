//! The trainer under faults, as a user meets them: `kill -9` while training or building a
//! dataset, SIGTERM, a full disk, and damaged files in a dataset or a WAV folder. Every test uses
//! the real binary, the real FluidR3 SoundFont and real files; none asserts on timing (kills land
//! at polled moments and at spread delays, and whatever moment they hit, the files must hold).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{ok, s, small_dataset, stderr, tiny_train_args, trainer, SF2};
use sackbut_model::voice_file::Voice;

/// Training options of these tests: the tiny preset on one CPU thread, frequent checkpoints.
fn train_args(data: &Path, run: &Path, steps: u64, eval_every: u64) -> Vec<String> {
    let mut args = tiny_train_args(data, run, 4);
    args.extend(["--steps".to_string(), steps.to_string(), "--eval-every".to_string(), eval_every.to_string()]);
    args
}

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start trainer")
}

/// Polls `ready` (every 100 µs) while `child` runs; true if it became ready before the child
/// ended (or `limit` passed, which only guards against a hang).
fn poll_until(child: &mut Child, limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    false
}

fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

fn state_step(run: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(run.join("state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("state.json does not parse ({e}):\n{text}"));
    Some(v["step"].as_u64().expect("state.json has a step"))
}

/// The steps of `log.csv`, checking every row parses.
fn log_steps(run: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(run.join("log.csv")).unwrap_or_default();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 7, "malformed log row '{l}'");
            f[0].parse().unwrap_or_else(|_| panic!("malformed log row '{l}'"))
        })
        .collect()
}

/// What a user may open after a crash: every voice file, `state.json`, the log and every
/// preview must read back whole. Returns the committed step (None before the first checkpoint).
fn check_run_dir(run: &Path) -> Option<u64> {
    for name in names_in(run) {
        if name.ends_with(".voice.safetensors") {
            Voice::read(&run.join(&name)).unwrap_or_else(|e| panic!("corrupt voice file left after a kill: {e}"));
        }
    }
    log_steps(run);
    for name in names_in(&run.join("previews")) {
        if name.ends_with(".wav") {
            let path = run.join("previews").join(&name);
            let r = hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{}: corrupt preview: {e}", path.display()));
            let n = r.len();
            assert_eq!(r.into_samples::<i16>().filter(|s| s.is_ok()).count() as u32, n, "{}: truncated preview", path.display());
        }
    }
    let step = state_step(run)?;
    // The checkpoint holds the committed step, or (killed between the commit and the rename)
    // the resume will move the committed one into place: either way one of them has it.
    let ckpt = Voice::read(&run.join("checkpoint.voice.safetensors")).ok().map(|v| v.meta.training.steps);
    let pending = Voice::read(&run.join("checkpoint.voice.safetensors.pending")).ok().map(|v| v.meta.training.steps);
    assert!(ckpt == Some(step) || pending == Some(step), "state.json says step {step}, checkpoint {ckpt:?}, pending {pending:?}");
    Some(step)
}

/// The "resuming … at step N" line of a resumed run.
fn resumed_at(err: &str) -> Option<u64> {
    let line = err.lines().find(|l| l.starts_with("resuming "))?;
    line.split(" at step ").nth(1)?.split(' ').next()?.parse().ok()
}

#[test]
fn kill_9_during_training_never_leaves_a_corrupt_file_and_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    let run = dir.path().join("run");
    let (steps, every) = (100, 4);
    let mut committed: Option<u64> = None;
    let mut hit_mid_write = 0;
    for round in 0..16u64 {
        let mut args = train_args(&data, &run, steps, every);
        if committed.is_some() {
            args.push("--resume".into());
        }
        let mut child = spawn(&args);
        // Four kinds of moment: while a checkpoint is being written (a temporary or pending
        // file exists), right after a checkpoint is committed (during the plot and preview),
        // right after the checkpoint file is replaced, and after a spread of delays (anywhere:
        // start-up, training, evaluation).
        let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        let checkpoint = run.join("checkpoint.voice.safetensors");
        let old_inode = inode(&checkpoint);
        let landed = match round % 4 {
            0 => poll_until(&mut child, Duration::from_secs(60), || {
                names_in(&run).iter().any(|n| n.contains(".tmp-") || n.ends_with(".pending"))
            }),
            1 => poll_until(&mut child, Duration::from_secs(60), || state_step(&run).is_some_and(|s| Some(s) != committed)),
            2 => poll_until(&mut child, Duration::from_secs(60), || inode(&checkpoint).is_some_and(|i| Some(i) != old_inode)),
            _ => {
                let delay = Duration::from_millis(300 + 170 * round);
                !poll_until(&mut child, delay, || false)
            }
        };
        if round % 4 == 0 && landed {
            hit_mid_write += 1;
        }
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        if let Some(at) = resumed_at(&err) {
            assert_eq!(Some(at), committed, "resumed at the wrong step:\n{err}");
        }
        if out.status.success() {
            break; // finished before the kill: nothing more to interrupt
        }
        let now = check_run_dir(&run);
        assert!(now >= committed, "the committed step went back from {committed:?} to {now:?}");
        committed = now;
    }
    eprintln!("{hit_mid_write} kill(s) landed while a checkpoint file was being written; last committed step {committed:?}");
    // A last resume runs to the end: the step count continues and the log is the one of an
    // uninterrupted run (every evaluation once, in order).
    let mut args = train_args(&data, &run, steps, every);
    if committed.is_some() {
        args.push("--resume".into());
    }
    let out = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    if committed.is_some() {
        assert_eq!(resumed_at(&stderr(&out)), committed, "{}", stderr(&out));
    }
    assert_eq!(check_run_dir(&run), Some(steps));
    assert_eq!(log_steps(&run), (1..=steps / every).map(|k| k * every).collect::<Vec<_>>());
    let log = std::fs::read_to_string(run.join("log.csv")).unwrap();
    let samples: Vec<u64> = log.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    assert!(samples.windows(2).all(|w| w[0] < w[1]), "samples seen go up row by row: {samples:?}");
    let best = Voice::read(&run.join("best.voice.safetensors")).unwrap();
    assert!(best.meta.training.test_nll_bits.is_some(), "the finished run measured the best voice");
    let leftovers: Vec<String> = names_in(&run).into_iter().filter(|n| n.contains(".tmp") || n.ends_with(".pending")).collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn sigterm_saves_a_checkpoint_and_resume_continues_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    let run = dir.path().join("run");
    let mut args = train_args(&data, &run, 1_000_000, 25);
    args.push("--no-preview".into());
    let mut child = spawn(&args);
    // After the first checkpoint, once training has gone on past it.
    assert!(poll_until(&mut child, Duration::from_secs(120), || state_step(&run).is_some()), "no checkpoint written");
    let first = state_step(&run).unwrap();
    poll_until(&mut child, Duration::from_millis(700), || false);
    // SAFETY: kill(2) on the child's pid, which is ours and not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out: Output = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    let line = err.lines().find(|l| l.contains("interrupted by SIGTERM at step")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("--resume"), "{line}");
    let at: u64 = line.split("at step ").nth(1).unwrap().split(':').next().unwrap().parse().unwrap();
    assert!(at >= first);
    assert_eq!(check_run_dir(&run), Some(at), "the interruption's checkpoint is committed");
    assert_eq!(Voice::read(&run.join("checkpoint.voice.safetensors")).unwrap().meta.training.steps, at);

    let mut args = train_args(&data, &run, at + 5, 25);
    args.extend(["--no-preview".into(), "--resume".into()]);
    let out = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(resumed_at(&stderr(&out)), Some(at), "{}", stderr(&out));
    assert_eq!(check_run_dir(&run), Some(at + 5));
    let steps = log_steps(&run);
    assert!(steps.windows(2).all(|w| w[0] < w[1]) && steps.last() == Some(&(at + 5)), "{steps:?}");
}

/// Checks a dataset directory as training would read it: the manifest parses and every example
/// it lists is whole (size and CRC-32 of the payload).
fn check_dataset(ds: &Path) {
    let text = std::fs::read_to_string(ds.join("manifest.json"))
        .unwrap_or_else(|e| panic!("{}: a dataset without a readable manifest: {e}", ds.display()));
    let m: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("half-written manifest ({e})"));
    let len = m["length_samples"].as_u64().unwrap() as usize;
    let examples = m["examples"].as_array().unwrap();
    assert!(!examples.is_empty());
    for e in examples {
        let path = ds.join(e["file"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap_or_else(|err| panic!("{}: listed but unreadable: {err}", path.display()));
        assert_eq!(bytes.len(), 16 + 5 * len, "{}: wrong size", path.display());
        assert_eq!(crc32fast::hash(&bytes[16..]).to_le_bytes(), bytes[12..16], "{}: bad CRC", path.display());
    }
}

#[test]
fn kill_9_during_dataset_building_never_leaves_a_half_dataset() {
    assert!(Path::new(SF2).exists(), "{SF2} missing: run scripts/setup.sh");
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let build = |force: bool| {
        let mut args: Vec<String> =
            ["dataset", "--out", s(&ds), "--notes", "48..=59", "--velocities", "70,110", "--durations", "0.4", "--length", "2"]
                .iter()
                .map(|a| a.to_string())
                .collect();
        if force {
            args.push("--force".into());
        }
        args
    };
    // Example files written so far by the run with process id `pid`.
    let written = |pid: u32| names_in(&dir.path().join(format!("ds.partial-{pid}")).join("examples")).len();
    for round in 0..10u64 {
        // The first rounds build afresh; once a dataset exists, --force replaces it (the old one
        // must survive every kill until the new one is complete).
        let existed = ds.exists();
        let mut child = spawn(&build(existed));
        if round % 2 == 0 {
            let pid = child.id();
            poll_until(&mut child, Duration::from_secs(60), || written(pid) > round as usize * 2);
        } else {
            poll_until(&mut child, Duration::from_millis(80 * round), || false);
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if ds.exists() {
            check_dataset(&ds);
        } else {
            assert!(!existed, "a kill while replacing the dataset lost it");
        }
        let _ = out;
    }
    // Rebuilding works: after the leftovers of killed runs, the same command (with --force if a
    // dataset is there) builds a complete dataset.
    let out = ok(&build(ds.exists()).iter().map(String::as_str).collect::<Vec<_>>());
    check_dataset(&ds);
    assert!(stderr(&out).contains("kept 24 examples"), "{}", stderr(&out));
}

/// A directory whose file system fills up: a small tmpfs mounted on it, unmounted on drop.
/// `SACKBUT_TEST_FULL_DISK=rlimit` skips the mount (to test the RLIMIT_FSIZE path).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        if std::env::var("SACKBUT_TEST_FULL_DISK").as_deref() == Ok("rlimit") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", s(dir.path())])
            .stderr(Stdio::null())
            .status();
        status.is_ok_and(|s| s.success()).then_some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system of `dir` up to `free` bytes with `dir/filler`.
fn fill_up(dir: &Path, free: u64) {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xA5u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(free)).unwrap();
}

#[test]
fn a_full_disk_gives_a_clear_error_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    // The run directory is on a 4 MB tmpfs (as root); where mounting is not allowed, the OS's
    // file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes the same writes fail instead.
    let tmpfs = Tmpfs::mount("4m");
    let run = match &tmpfs {
        Some(t) => t.dir.path().join("run"),
        None => dir.path().join("run"),
    };
    eprintln!("full disk simulated with {}", if tmpfs.is_some() { "a 4 MB tmpfs" } else { "RLIMIT_FSIZE" });
    let mut args = train_args(&data, &run, 20, 10);
    args.push("--no-preview".into());
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let before = std::fs::read(run.join("checkpoint.voice.safetensors")).unwrap();

    // 64 KB left: the log fits, the plot and the 230 KB checkpoint do not.
    let mut args = train_args(&data, &run, 40, 10);
    args.extend(["--no-preview".into(), "--resume".into()]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainer"));
    cmd.args(&args);
    if let Some(t) = &tmpfs {
        fill_up(t.dir.path(), 64 << 10);
    } else {
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let lim = libc::rlimit { rlim_cur: 64 << 10, rlim_max: 64 << 10 };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    let why = if tmpfs.is_some() { "the disk is full" } else { "file size limit" };
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("checkpoint.voice.safetensors") && line.contains(why), "{line}");
    assert!(line.contains("cannot save step 30") && line.contains("the checkpoint of step 20 is intact"), "{line}");
    // The previous checkpoint is intact and loadable, and the run still says step 20.
    assert_eq!(std::fs::read(run.join("checkpoint.voice.safetensors")).unwrap(), before);
    assert_eq!(check_run_dir(&run), Some(20));
    let leftovers: Vec<String> = names_in(&run).into_iter().filter(|n| n.contains(".tmp") || n.ends_with(".pending")).collect();
    assert!(leftovers.is_empty(), "temporary files left on the full disk: {leftovers:?}");

    // Space again: the same command resumes from step 20 and finishes.
    if let Some(t) = &tmpfs {
        std::fs::remove_file(t.dir.path().join("filler")).unwrap();
    }
    let out = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(resumed_at(&stderr(&out)), Some(20));
    assert_eq!(check_run_dir(&run), Some(40));
    assert_eq!(log_steps(&run), [10, 20, 30, 40]);
}

#[test]
fn damaged_example_files_are_skipped_and_listed_and_training_uses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(data.join("manifest.json")).unwrap()).unwrap();
    let in_split = |split: &str| -> Vec<String> {
        m["examples"].as_array().unwrap().iter().filter(|e| e["split"] == split).map(|e| e["file"].as_str().unwrap().to_string()).collect()
    };
    let (train, valid) = (in_split("train"), in_split("valid"));
    assert!(train.len() >= 3 && !valid.is_empty());
    // One flipped byte, one cut short, one gone.
    let flipped = data.join(&train[0]);
    let mut bytes = std::fs::read(&flipped).unwrap();
    bytes[1000] ^= 0x40;
    std::fs::write(&flipped, &bytes).unwrap();
    let cut = data.join(&train[1]);
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let gone = data.join(&valid[0]);
    std::fs::remove_file(&gone).unwrap();

    let run = dir.path().join("run");
    let mut args = train_args(&data, &run, 10, 10);
    args.push("--no-preview".into());
    let out = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let err = stderr(&out);
    let total = m["examples"].as_array().unwrap().len();
    assert!(err.contains(&format!("skipping 3 of {total} examples")), "{err}");
    let line_of =
        |p: &Path| err.lines().find(|l| l.contains(s(p))).unwrap_or_else(|| panic!("{} not listed:\n{err}", p.display())).to_string();
    assert!(line_of(&flipped).contains("checksum mismatch"), "{err}");
    assert!(line_of(&cut).contains("truncated"), "{err}");
    assert!(line_of(&gone).contains("cannot read"), "{err}");
    assert!(err.contains(&format!("{} train / {} valid", train.len() - 2, valid.len() - 1)), "{err}");
    assert_eq!(check_run_dir(&run), Some(10));

    // With every training example damaged there is nothing to train on: a clear error.
    for f in &train {
        std::fs::write(data.join(f), b"SKBX").unwrap();
    }
    let out = trainer(&train_args(&data, &dir.path().join("run2"), 10, 10).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no usable training examples"), "{}", stderr(&out));
}

/// A "recording" of MIDI note `note`: a decaying harmonic tone at 44.1 kHz, 1.2 s.
fn write_tone(path: &Path, note: u8) {
    let spec = hound::WavSpec { channels: 1, sample_rate: 44_100, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let f0 = 440.0 * 2f64.powf((note as f64 - 69.0) / 12.0);
    for i in 0..(1.2 * 44_100.0) as usize {
        let t = i as f64 / 44_100.0;
        let env = (t / 0.02).min(1.0) * if t < 0.8 { 1.0 } else { (-(t - 0.8) * 25.0).exp() };
        let v: f64 = (1..=4).map(|h| (2.0 * std::f64::consts::PI * f0 * h as f64 * t).sin() / h as f64).sum();
        w.write_sample((v * env * 0.4 * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn corrupt_wavs_in_a_wav_folder_are_skipped_with_reasons_and_the_rest_trains() {
    let dir = tempfile::tempdir().unwrap();
    let wavs = dir.path().join("wavs");
    std::fs::create_dir(&wavs).unwrap();
    for (name, note) in [("A2_1.wav", 45), ("C3_1.wav", 48), ("E3_1.wav", 52), ("G3_1.wav", 55)] {
        write_tone(&wavs.join(name), note);
    }
    // A copy cut off in the middle of its samples, a header promising samples that are not
    // there, random bytes, and an empty file.
    let good = std::fs::read(wavs.join("A2_1.wav")).unwrap();
    std::fs::write(wavs.join("B2_1.wav"), &good[..good.len() * 3 / 5]).unwrap();
    std::fs::write(wavs.join("D3_1.wav"), &good[..44]).unwrap();
    std::fs::write(wavs.join("F3_1.wav"), (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<_>>()).unwrap();
    std::fs::write(wavs.join("Ab3_1.wav"), b"").unwrap();
    let ds = dir.path().join("ds");
    let out = ok(&["dataset", "--out", s(&ds), "--wav-dir", s(&wavs), "--length", "3", "--valid", "0.25", "--test", "0"]);
    let err = stderr(&out);
    assert!(err.contains("kept 4 examples"), "{err}");
    for bad in ["B2_1.wav", "D3_1.wav", "F3_1.wav", "Ab3_1.wav"] {
        let line = err.lines().find(|l| l.contains("skipped") && l.contains(bad)).unwrap_or_else(|| panic!("{bad} not listed:\n{err}"));
        assert!(line.len() > line.find(bad).unwrap() + bad.len() + 5, "no reason given: {line}");
    }
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ds.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["skipped"].as_array().unwrap().len(), 4, "{}", m["skipped"]);
    check_dataset(&ds);
    let run = dir.path().join("run");
    let mut args = train_args(&ds, &run, 10, 10);
    args.push("--no-preview".into());
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(check_run_dir(&run), Some(10));
}
