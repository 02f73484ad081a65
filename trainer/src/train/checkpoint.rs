//! The run's saved position: `checkpoint.voice.safetensors`, `best.voice.safetensors` and
//! `state.json`, committed together so that a kill, a crash or a full disk at any moment leaves
//! a run directory that `--resume` continues from exactly the step `state.json` names.
//!
//! Every file is written atomically (a temporary name beside it, fsync, rename), so none is
//! ever half-written. The three are kept consistent by a commit protocol at step N:
//! 1. the new weights go to `checkpoint.voice.safetensors.pending` (and
//!    `best.voice.safetensors.pending` when they are the best so far);
//! 2. `state.json` (step N) is written: this is the commit;
//! 3. the pending files are renamed over the live ones and the directory is synced.
//!
//! A kill before 2 leaves pending files of a step `state.json` does not name: [`settle`]
//! deletes them. A kill between 2 and 3 leaves pending files of `state.json`'s step: [`settle`]
//! renames them into place. Either way the checkpoint then holds `state.json`'s step.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sackbut_model::voice_file::{write_atomically, Voice, VoiceFileError, VoiceProblem};

use super::run_state::RunState;

/// The latest weights.
pub const CHECKPOINT_FILE: &str = "checkpoint.voice.safetensors";
/// The weights with the lowest validation NLL so far.
pub const BEST_FILE: &str = "best.voice.safetensors";
/// Suffix of a voice written but not yet committed by `state.json`.
const PENDING_SUFFIX: &str = ".pending";

fn pending(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PENDING_SUFFIX);
    PathBuf::from(name)
}

/// Writes one voice to its pending name; errors name the file it is meant for.
fn write_pending(voice: &Voice, path: &Path) -> Result<()> {
    let bytes = voice.to_bytes().map_err(|problem| VoiceFileError { source_name: path.display().to_string(), problem })?;
    write_atomically(&pending(path), &bytes).with_context(|| format!("{}: cannot write", path.display()))
}

/// Saves the checkpoint (and the best voice when `is_best`) of `state.step` and commits them
/// with `state.json` (see the module docs). On error the files of the previous commit are
/// untouched and nothing pending or temporary is left behind.
pub fn save(dir: &Path, voice: &Voice, is_best: bool, state: &RunState) -> Result<()> {
    let checkpoint = dir.join(CHECKPOINT_FILE);
    let best = dir.join(BEST_FILE);
    let written = (|| {
        write_pending(voice, &checkpoint)?;
        if is_best {
            write_pending(voice, &best)?;
        }
        state.write(dir)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(pending(&checkpoint));
        let _ = std::fs::remove_file(pending(&best));
        return Err(e);
    }
    // Committed: from here on a resume starts at `state.step` whatever happens.
    for path in [&checkpoint, &best] {
        let p = pending(path);
        if p.exists() {
            std::fs::rename(&p, path).with_context(|| format!("{}: cannot move into place", path.display()))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

/// Where `--keep-checkpoints` keeps the weights of each evaluated step.
pub const KEPT_DIR: &str = "checkpoints";

/// The kept copy of step `step`'s weights (zero-padded, so a listing sorts by step).
pub fn kept_path(dir: &Path, step: u64) -> PathBuf {
    dir.join(KEPT_DIR).join(format!("step-{step:06}.voice.safetensors"))
}

/// Keeps a copy of `voice` (the committed weights of `step`) under [`KEPT_DIR`], atomically.
/// It is outside the commit protocol: a resume rewrites the copy of a step it repeats.
pub fn keep(dir: &Path, voice: &Voice, step: u64) -> Result<()> {
    let path = kept_path(dir, step);
    let kept = path.parent().expect("kept_path has a parent");
    std::fs::create_dir_all(kept).with_context(|| format!("{}: cannot create", kept.display()))?;
    let bytes = voice.to_bytes().map_err(|problem| VoiceFileError { source_name: path.display().to_string(), problem })?;
    write_atomically(&path, &bytes).with_context(|| format!("{}: cannot write", path.display()))
}

/// Makes the renames in `dir` durable (a power cut after this keeps them). Best effort.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Before a run starts or resumes: finishes or discards what an interrupted commit left (see
/// the module docs) and removes the temporary files of interrupted writes. `state` is the
/// committed state (`None` for a new run). Returns notes for the user.
pub fn settle(dir: &Path, state: Option<&RunState>) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    for name in [CHECKPOINT_FILE, BEST_FILE] {
        let path = dir.join(name);
        let p = pending(&path);
        if !p.exists() {
            continue;
        }
        let pending_step = Voice::read(&p).ok().map(|v| v.meta.training.steps);
        match (state, pending_step) {
            (Some(s), Some(step)) if step == s.step => {
                std::fs::rename(&p, &path).with_context(|| format!("{}: cannot move into place", path.display()))?;
                notes.push(format!("{name}: completed the save of step {step} that was interrupted after its commit"));
            }
            _ => {
                std::fs::remove_file(&p).with_context(|| format!("{}: cannot remove", p.display()))?;
                let what = pending_step.map_or("an unfinished save".to_string(), |s| format!("the save of step {s}"));
                notes.push(format!("{name}: discarded {what}, interrupted before it was committed"));
            }
        }
    }
    // `.NAME.tmp-PID` and `loss.tmp.png`: temporary files of writes a kill interrupted.
    for entry in [dir.to_path_buf(), dir.join("previews")].iter().flat_map(std::fs::read_dir).flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let temporary = (name.starts_with('.') && name.contains(".tmp-")) || name.ends_with(".tmp.png");
        if temporary && entry.path().is_file() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Some(s) = state {
        let checkpoint = dir.join(CHECKPOINT_FILE);
        let voice = Voice::read(&checkpoint)?;
        if voice.meta.training.steps != s.step {
            bail!(
                "{}: holds step {} but state.json says step {}: the run directory was changed by hand?",
                checkpoint.display(),
                voice.meta.training.steps,
                s.step
            );
        }
    }
    Ok(notes)
}

/// The kind of the I/O error behind `e`, if there is one.
fn io_kind(e: &anyhow::Error) -> Option<ErrorKind> {
    e.chain().find_map(|c| {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        match c.downcast_ref::<VoiceFileError>() {
            Some(VoiceFileError { problem: VoiceProblem::Io(io), .. }) => Some(io.kind()),
            _ => None,
        }
    })
}

/// What a failed write means for the user, in words ("the disk is full").
pub fn write_failure_hint(e: &anyhow::Error) -> Option<&'static str> {
    Some(match io_kind(e)? {
        ErrorKind::StorageFull => "the disk is full",
        ErrorKind::QuotaExceeded => "the disk quota is exceeded",
        ErrorKind::FileTooLarge => "the file is larger than this process may write (file size limit)",
        ErrorKind::ReadOnlyFilesystem => "the file system is read-only",
        ErrorKind::PermissionDenied => "permission denied",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sackbut_model::hparams::HParams;
    use sackbut_model::voice_file::{ConditioningMeta, TensorData, TrainingSummary, VoiceMeta, VOICE_FORMAT_VERSION};

    fn voice(step: u64) -> Voice {
        let hp = HParams::TINY;
        let tensors = hp
            .tensor_shapes()
            .into_iter()
            .map(|(n, shape)| {
                let len = shape.iter().product();
                (n, TensorData { shape, data: vec![step as f32 * 1e-3; len] })
            })
            .collect();
        let meta = VoiceMeta {
            format_version: VOICE_FORMAT_VERSION,
            name: "t".into(),
            sample_rate: 16_000,
            quantization: sackbut_model::quantize::Quantization::MuLaw,
            hparams: hp,
            conditioning: ConditioningMeta { release_samples: 100, notes: vec![50], velocities: vec![80] },
            training: TrainingSummary { steps: step, ..Default::default() },
        };
        Voice { meta, tensors }
    }

    fn state(step: u64) -> RunState {
        RunState { step, ..Default::default() }
    }

    fn step_of(path: &Path) -> u64 {
        Voice::read(path).unwrap().meta.training.steps
    }

    #[test]
    fn a_save_commits_all_three_files() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &voice(10), true, &state(10)).unwrap();
        save(dir.path(), &voice(20), false, &state(20)).unwrap();
        assert_eq!(step_of(&dir.path().join(CHECKPOINT_FILE)), 20);
        assert_eq!(step_of(&dir.path().join(BEST_FILE)), 10);
        assert_eq!(RunState::read(dir.path()).unwrap().step, 20);
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 3, "nothing pending or temporary left: {names:?}");
    }

    #[test]
    fn settle_discards_an_uncommitted_save_and_completes_a_committed_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        save(d, &voice(10), true, &state(10)).unwrap();
        // Killed after writing the pending files of step 20, before state.json.
        write_pending(&voice(20), &d.join(CHECKPOINT_FILE)).unwrap();
        write_pending(&voice(20), &d.join(BEST_FILE)).unwrap();
        std::fs::write(d.join(".state.json.tmp-1"), b"{").unwrap();
        let notes = settle(d, Some(&state(10))).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("discarded the save of step 20"), "{notes:?}");
        assert_eq!(step_of(&d.join(CHECKPOINT_FILE)), 10);
        assert_eq!(step_of(&d.join(BEST_FILE)), 10);
        assert!(!d.join(".state.json.tmp-1").exists(), "temporary file removed");
        // Killed after state.json of step 20, before the renames.
        write_pending(&voice(20), &d.join(CHECKPOINT_FILE)).unwrap();
        state(20).write(d).unwrap();
        let notes = settle(d, Some(&state(20))).unwrap();
        assert!(notes[0].contains("completed the save of step 20"), "{notes:?}");
        assert_eq!(step_of(&d.join(CHECKPOINT_FILE)), 20);
        assert_eq!(step_of(&d.join(BEST_FILE)), 10);
        assert!(settle(d, Some(&state(20))).unwrap().is_empty());
    }

    #[test]
    fn a_checkpoint_that_disagrees_with_the_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &voice(10), true, &state(10)).unwrap();
        let e = format!("{:#}", settle(dir.path(), Some(&state(30))).unwrap_err());
        assert!(e.contains("checkpoint.voice.safetensors: holds step 10 but state.json says step 30"), "{e}");
    }

    #[test]
    fn write_failures_are_explained() {
        let io = |kind| anyhow::Error::from(std::io::Error::from(kind)).context("x: cannot write");
        assert_eq!(write_failure_hint(&io(ErrorKind::StorageFull)), Some("the disk is full"));
        assert_eq!(write_failure_hint(&io(ErrorKind::Other)), None);
        let v = anyhow::Error::from(VoiceFileError {
            source_name: "v".into(),
            problem: VoiceProblem::Io(std::io::Error::from(ErrorKind::FileTooLarge)),
        });
        assert!(write_failure_hint(&v).unwrap().contains("file size limit"));
    }
}
