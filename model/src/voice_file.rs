//! The voice file (`*.voice.safetensors`): every weight as an f32 tensor named by module path,
//! and a JSON document under the `sackbut` key of the safetensors `__metadata__`.
//!
//! Loading validates everything a later stage relies on (format version, hyper-parameters,
//! every tensor's presence, dtype and shape), so the engines may index without checks.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::hparams::HParams;
use crate::quantize::Quantization;
use crate::user_file::read_user_file;

/// The format version this build writes and the newest it reads. Version 3 added the pitch
/// lag (`hparams.pitch_lag_taps`, tensor `mlp.lag.weight`).
pub const VOICE_FORMAT_VERSION: u32 = 3;
/// The oldest version this build plays: version 2's voices have no pitch lag, which version 3
/// reads as zero taps. Version 1 lacked the phase features.
pub const OLDEST_FORMAT_VERSION: u32 = 2;
/// Largest safetensors header (JSON) accepted. A voice's is a few KiB (about 100 bytes per
/// tensor plus the metadata document); the bound keeps what parsing a hostile header may
/// allocate small (the safetensors crate buffers a header's JSON values several times over).
pub const MAX_HEADER_BYTES: u64 = 1 << 20;
/// The `__metadata__` key holding the voice's JSON document.
pub const METADATA_KEY: &str = "sackbut";
/// Largest voice file accepted (a 1024-dim voice is ~100 MB); checked before reading.
pub const MAX_VOICE_BYTES: u64 = 1 << 31;

/// What the voice was trained on, for the conditioning and the editor's voice card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditioningMeta {
    /// Release length R in samples: the countdown fed after a live note-off.
    pub release_samples: u32,
    /// MIDI notes present in the training data, ascending.
    pub notes: Vec<u8>,
    /// MIDI velocities present in the training data, ascending.
    pub velocities: Vec<u8>,
}

impl ConditioningMeta {
    /// Lowest and highest trained note, if any.
    pub fn note_range(&self) -> Option<(u8, u8)> {
        Some((*self.notes.first()?, *self.notes.last()?))
    }

    /// The note each MIDI key plays: itself inside the trained range, else moved by whole
    /// octaves into it (clamped to its ends when the range is under an octave). The note
    /// embedding of an untrained key is noise; a player would rather hear the right pitch
    /// class. The plugin and `trainer render` both play keys through this map, so a bounce of
    /// out-of-range keys still equals the render.
    pub fn key_map(&self) -> [u8; 128] {
        let mut map: [u8; 128] = std::array::from_fn(|k| k as u8);
        if let Some((lo, hi)) = self.note_range() {
            let (lo, hi) = (lo.min(127) as i32, hi.min(127) as i32);
            for (k, m) in map.iter_mut().enumerate() {
                let mut key = k as i32;
                while key < lo && key + 12 <= hi {
                    key += 12;
                }
                while key > hi && key - 12 >= lo {
                    key -= 12;
                }
                *m = key.clamp(lo, hi) as u8;
            }
        }
        map
    }
}

/// How the voice was trained.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// The dataset directory or description.
    pub dataset: String,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Audio samples the model was trained on (steps × batch × sequence length).
    pub samples_seen: u64,
    /// Validation NLL in bits per sample at this checkpoint.
    pub valid_nll_bits: Option<f64>,
    /// Test NLL in bits per sample, once measured.
    pub test_nll_bits: Option<f64>,
    /// Whether the conditioning inputs were used (false: an unconditioned baseline).
    pub conditioned: bool,
    /// Device it trained on ("cpu", "cuda:0").
    pub device: String,
    /// Training wall time in seconds.
    pub wall_s: f64,
}

/// The voice file's JSON document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoiceMeta {
    /// [`VOICE_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Display name.
    pub name: String,
    /// Model sample rate in Hz (16000).
    pub sample_rate: u32,
    /// How samples are coded into the 256 classes.
    pub quantization: Quantization,
    /// Model shape.
    pub hparams: HParams,
    /// Conditioning constants.
    pub conditioning: ConditioningMeta,
    /// Training summary.
    pub training: TrainingSummary,
}

/// One f32 tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorData {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

/// A loaded, validated voice.
#[derive(Clone, Debug, PartialEq)]
pub struct Voice {
    /// The JSON document.
    pub meta: VoiceMeta,
    /// Every tensor of `meta.hparams.tensor_shapes()`, by name.
    pub tensors: BTreeMap<String, TensorData>,
}

/// Why a voice file could not be read or written. Displayed with the file's name first.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {problem}")]
pub struct VoiceFileError {
    /// File name (or "<bytes>").
    pub source_name: String,
    /// What is wrong.
    pub problem: VoiceProblem,
}

/// What is wrong with a voice file.
#[derive(Debug, thiserror::Error)]
pub enum VoiceProblem {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Cut short.
    #[error("truncated: {0}")]
    Truncated(String),
    /// Not a safetensors file at all.
    #[error("not a safetensors voice file: {0}")]
    NotSafetensors(String),
    /// A safetensors file without Sackbut's metadata.
    #[error("not a Sackbut voice: a safetensors file without '{METADATA_KEY}' metadata (a model from another program?)")]
    Foreign,
    /// The metadata JSON does not parse.
    #[error("damaged voice metadata: {0}")]
    BadMetadata(String),
    /// Written by a newer Sackbut.
    #[error("voice format version {found} is newer than this Sackbut reads (up to {VOICE_FORMAT_VERSION}): update Sackbut")]
    NewerVersion { found: u32 },
    /// Written before the conditioning this build feeds (format 1 had no phase features).
    #[error("voice format version {found} is older than this Sackbut plays (version {OLDEST_FORMAT_VERSION} added the note's phase to the conditioning): retrain the voice with `trainer train`")]
    OlderVersion { found: u32 },
    /// Hyper-parameters out of range, or a sample rate this build cannot play.
    #[error("incompatible voice: {0}")]
    Incompatible(String),
    /// A weight is absent.
    #[error("missing tensor '{0}'")]
    MissingTensor(String),
    /// A weight has the wrong shape or type.
    #[error("tensor '{name}' is {found}, expected f32 {expected:?}")]
    WrongTensor { name: String, expected: Vec<usize>, found: String },
    /// A weight is NaN or infinite.
    #[error("tensor '{0}' holds NaN or infinite values")]
    NonFinite(String),
}

impl Voice {
    /// Reads and validates a voice file.
    pub fn read(path: &Path) -> Result<Voice, VoiceFileError> {
        let err = |problem| VoiceFileError { source_name: path.display().to_string(), problem };
        // Bounded, and refuses directories and devices: the path may come from a host's saved
        // project, and `/dev/zero` read whole would take all memory.
        let bytes = read_user_file(path, MAX_VOICE_BYTES, "a voice file").map_err(|e| err(e.into()))?;
        Self::from_bytes(&bytes).map_err(err)
    }

    /// Parses and validates a voice from memory (the plugin's embedded default voice).
    pub fn from_bytes(bytes: &[u8]) -> Result<Voice, VoiceProblem> {
        check_lengths(bytes)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| VoiceProblem::NotSafetensors(e.to_string()))?;
        let json = header.metadata().as_ref().and_then(|m| m.get(METADATA_KEY)).ok_or(VoiceProblem::Foreign)?;
        let meta = parse_meta(json)?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| VoiceProblem::NotSafetensors(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, shape) in meta.hparams.tensor_shapes() {
            let view = st.tensor(&name).map_err(|_| VoiceProblem::MissingTensor(name.clone()))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
                let found = format!("{:?} {:?}", view.dtype(), view.shape());
                return Err(VoiceProblem::WrongTensor { name, expected: shape, found });
            }
            let data: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if data.iter().any(|v| !v.is_finite()) {
                return Err(VoiceProblem::NonFinite(name));
            }
            tensors.insert(name, TensorData { shape, data });
        }
        Ok(Voice { meta, tensors })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, VoiceProblem> {
        let json = serde_json::to_string(&self.meta).map_err(|e| VoiceProblem::BadMetadata(e.to_string()))?;
        let raw: Vec<(String, Vec<usize>, Vec<u8>)> =
            self.tensors.iter().map(|(n, t)| (n.clone(), t.shape.clone(), t.data.iter().flat_map(|v| v.to_le_bytes()).collect())).collect();
        let views = raw
            .iter()
            .map(|(n, s, b)| Ok((n.as_str(), TensorView::new(Dtype::F32, s.clone(), b)?)))
            .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(|e| VoiceProblem::Incompatible(e.to_string()))?;
        let info = HashMap::from([(METADATA_KEY.to_string(), json)]);
        safetensors::serialize(views, Some(info)).map_err(|e| VoiceProblem::Incompatible(e.to_string()))
    }

    /// Writes the file atomically: to a temporary name beside it, then renamed over `path`,
    /// so a crash never leaves a half-written voice where a good one was.
    pub fn write(&self, path: &Path) -> Result<(), VoiceFileError> {
        let err = |problem| VoiceFileError { source_name: path.display().to_string(), problem };
        let bytes = self.to_bytes().map_err(err)?;
        write_atomically(path, &bytes).map_err(|e| err(e.into()))
    }

    /// A tensor by name; present by construction for every name of `tensor_shapes()`.
    pub fn tensor(&self, name: &str) -> &TensorData {
        &self.tensors[name]
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Distinguishes a file that was cut short from one that is not safetensors at all, which
/// the safetensors crate reports alike.
fn check_lengths(bytes: &[u8]) -> Result<(), VoiceProblem> {
    let Some(head) = bytes.get(..8) else {
        return Err(VoiceProblem::Truncated(format!("{} bytes, shorter than the 8-byte header length", bytes.len())));
    };
    let n = u64::from_le_bytes(head.try_into().expect("8 bytes"));
    if n > MAX_HEADER_BYTES {
        return Err(VoiceProblem::NotSafetensors(format!(
            "header length {n} is not plausible (a voice's header is at most {MAX_HEADER_BYTES} bytes)"
        )));
    }
    let header_end = 8 + n as usize;
    let Some(header) = bytes.get(8..header_end) else {
        return Err(VoiceProblem::Truncated(format!("header says {n} bytes but the file ends {} bytes in", bytes.len())));
    };
    // The end of the last tensor, read loosely: a file whose header parses but whose data is
    // short was cut off (a download or copy that did not finish). Typed rather than a
    // `serde_json::Value`, which would cost ~16 bytes of memory per byte of a header such as
    // `{"a":[0,0,0,…]}` (up to 100 MB of it); unknown fields are skipped without being stored.
    if let Ok(map) = serde_json::from_slice::<HashMap<String, LooseEntry>>(header) {
        let data_end = map.values().filter_map(|v| Some(v.data_offsets?.1)).max().unwrap_or(0);
        let have = (bytes.len() - header_end) as u64;
        if data_end > have {
            return Err(VoiceProblem::Truncated(format!("tensors need {data_end} bytes of data, the file has {have}")));
        }
    }
    Ok(())
}

/// A header entry as [`check_lengths`] reads it: a tensor's data offsets, or nothing (the
/// `__metadata__` map of strings).
#[derive(Deserialize)]
struct LooseEntry {
    data_offsets: Option<(u64, u64)>,
}

fn parse_meta(json: &str) -> Result<VoiceMeta, VoiceProblem> {
    // Read the version first, so a newer file says "newer" rather than "damaged".
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| VoiceProblem::BadMetadata(e.to_string()))?;
    let version =
        value.get("format_version").and_then(|v| v.as_u64()).ok_or_else(|| VoiceProblem::BadMetadata("no format_version".into()))?;
    if version > VOICE_FORMAT_VERSION as u64 {
        return Err(VoiceProblem::NewerVersion { found: version.min(u32::MAX as u64) as u32 });
    }
    if version < OLDEST_FORMAT_VERSION as u64 {
        return Err(VoiceProblem::OlderVersion { found: version as u32 });
    }
    let meta: VoiceMeta = serde_json::from_value(value).map_err(|e| VoiceProblem::BadMetadata(e.to_string()))?;
    if version < 3 && meta.hparams.pitch_lag_taps > 0 {
        return Err(VoiceProblem::Incompatible(format!("format version {version} has no pitch lag, yet pitch_lag_taps is set")));
    }
    meta.hparams.validate().map_err(VoiceProblem::Incompatible)?;
    if meta.sample_rate != crate::MODEL_RATE_HZ {
        return Err(VoiceProblem::Incompatible(format!(
            "sample rate {} Hz, this Sackbut plays {} Hz voices",
            meta.sample_rate,
            crate::MODEL_RATE_HZ
        )));
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice() -> Voice {
        let hparams = HParams::TINY;
        let tensors = hparams
            .tensor_shapes()
            .into_iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                let n = shape.iter().product::<usize>();
                let data = (0..n).map(|j| (i * 1000 + j) as f32 * 1e-3).collect();
                (name, TensorData { shape, data })
            })
            .collect();
        Voice {
            meta: VoiceMeta {
                format_version: VOICE_FORMAT_VERSION,
                name: "test".into(),
                sample_rate: 16_000,
                quantization: Quantization::MuLaw,
                hparams,
                conditioning: ConditioningMeta { release_samples: 2000, notes: vec![40, 41], velocities: vec![100] },
                training: TrainingSummary::default(),
            },
            tensors,
        }
    }

    fn problem(bytes: &[u8]) -> String {
        Voice::from_bytes(bytes).unwrap_err().to_string()
    }

    /// Re-serialises `v`'s tensors with `meta` as the metadata string.
    fn with_metadata(v: &Voice, meta: Option<String>) -> Vec<u8> {
        let raw: Vec<(String, Vec<usize>, Vec<u8>)> =
            v.tensors.iter().map(|(n, t)| (n.clone(), t.shape.clone(), t.data.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
        let views: Vec<_> = raw.iter().map(|(n, s, b)| (n.as_str(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
        safetensors::serialize(views, meta.map(|m| HashMap::from([(METADATA_KEY.to_string(), m)]))).unwrap()
    }

    #[test]
    fn round_trip_is_exact_in_bytes_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.voice.safetensors");
        let v = voice();
        v.write(&path).unwrap();
        let back = Voice::read(&path).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.to_bytes().unwrap(), std::fs::read(&path).unwrap());
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn truncated_file_says_truncated() {
        let bytes = voice().to_bytes().unwrap();
        for cut in [3, 20, bytes.len() - 1] {
            let msg = problem(&bytes[..cut]);
            assert!(msg.contains("truncated"), "cut at {cut}: {msg}");
        }
    }

    #[test]
    fn foreign_safetensors_is_named_foreign() {
        let msg = problem(&with_metadata(&voice(), None));
        assert!(msg.contains("not a Sackbut voice"), "{msg}");
    }

    #[test]
    fn garbage_is_not_safetensors() {
        let msg = problem(b"RIFF\x24\x00\x00\x00WAVEfmt this is a wav file, not a voice");
        assert!(msg.contains("not a safetensors"), "{msg}");
    }

    #[test]
    fn newer_version_asks_for_an_update() {
        let v = voice();
        let mut meta = serde_json::to_value(&v.meta).unwrap();
        meta["format_version"] = 99.into();
        meta["something_new"] = "x".into();
        let msg = problem(&with_metadata(&v, Some(meta.to_string())));
        assert!(msg.contains("version 99 is newer"), "{msg}");
    }

    #[test]
    fn keys_outside_the_trained_range_move_by_octaves_into_it() {
        let c = |notes: Vec<u8>| ConditioningMeta { release_samples: 0, notes, velocities: vec![100] };
        let map = c((40..=77).collect()).key_map();
        assert_eq!((map[40], map[60], map[77]), (40, 60, 77), "trained keys play themselves");
        assert_eq!((map[39], map[28], map[0]), (51, 40, 48), "low keys go up by octaves");
        assert_eq!((map[78], map[90], map[127]), (66, 66, 67), "high keys go down by octaves");
        // A range under an octave clamps to its ends.
        let map = c(vec![60, 64]).key_map();
        assert_eq!((map[48], map[59], map[62], map[70]), (60, 60, 62, 64));
        // A voice without notes (unconditioned) leaves keys alone.
        assert_eq!(c(vec![]).key_map()[3], 3);
    }

    #[test]
    fn older_version_asks_for_a_retrain() {
        let v = voice();
        let mut meta = serde_json::to_value(&v.meta).unwrap();
        meta["format_version"] = 1.into();
        let msg = problem(&with_metadata(&v, Some(meta.to_string())));
        assert!(msg.contains("version 1 is older") && msg.contains("retrain"), "{msg}");
    }

    #[test]
    fn missing_tensor_is_named() {
        let mut v = voice();
        v.tensors.remove("mid.h0");
        let msg = problem(&v.to_bytes().unwrap());
        assert_eq!(msg, "missing tensor 'mid.h0'");
    }

    #[test]
    fn wrong_shape_is_named_with_both_shapes() {
        let mut v = voice();
        v.tensors.insert("mlp.output.bias".into(), TensorData { shape: vec![255], data: vec![0.0; 255] });
        let msg = problem(&v.to_bytes().unwrap());
        assert!(msg.contains("'mlp.output.bias'") && msg.contains("[255]") && msg.contains("[256]"), "{msg}");
    }

    #[test]
    fn nan_weights_are_rejected() {
        let mut v = voice();
        v.tensors.get_mut("top.h0").unwrap().data[0] = f32::NAN;
        assert!(problem(&v.to_bytes().unwrap()).contains("NaN"));
    }

    #[test]
    fn damaged_metadata_and_bad_hparams_are_explained() {
        let v = voice();
        assert!(problem(&with_metadata(&v, Some("{not json".into()))).contains("damaged voice metadata"));
        let mut meta = serde_json::to_value(&v.meta).unwrap();
        meta["hparams"]["mlp_dim"] = 0.into();
        assert!(problem(&with_metadata(&v, Some(meta.to_string()))).contains("mlp_dim"));
        let mut meta = serde_json::to_value(&v.meta).unwrap();
        meta["sample_rate"] = 44100.into();
        assert!(problem(&with_metadata(&v, Some(meta.to_string()))).contains("44100"));
    }

    /// The default voice, as shipped.
    fn real_voice_bytes() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/trombone.voice.safetensors")).unwrap()
    }

    #[test]
    fn headers_claiming_2_pow_60_bytes_are_refused_by_name() {
        let v = voice();
        let good = v.to_bytes().unwrap();
        let mut huge_header = good.clone();
        huge_header[..8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        let msg = problem(&huge_header);
        assert!(msg.contains("header length 1152921504606846976 is not plausible"), "{msg}");
        // A tensor whose data offsets claim 2^60 bytes, the header length adjusted to match.
        let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&good[8..8 + n]).unwrap();
        let end = "\"data_offsets\":[0,";
        let at = header.find(end).unwrap() + end.len();
        let close = at + header[at..].find(']').unwrap();
        let forged = format!("{}{}{}", &header[..at], 1u64 << 60, &header[close..]);
        let mut bytes = (forged.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(forged.as_bytes());
        bytes.extend_from_slice(&good[8 + n..]);
        let msg = problem(&bytes);
        assert!(msg.contains("truncated: tensors need 1152921504606846976 bytes"), "{msg}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, failure_persistence: None, ..Default::default() })]

        /// Byte flips and truncations of the shipped voice, most of them in its header: a voice
        /// or a problem in words, never a panic.
        #[test]
        fn damaged_real_voice_is_a_voice_or_a_problem(
            cut in proptest::option::of(0.0f64..1.0),
            flips in proptest::collection::vec((0.0f64..1.0, proptest::bool::ANY, proptest::num::u8::ANY), 0..8),
        ) {
            let mut bytes = real_voice_bytes();
            let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            for (at, in_header, value) in flips {
                let span = if in_header { header_end + 64 } else { bytes.len() };
                let i = ((at * span as f64) as usize).min(bytes.len() - 1);
                bytes[i] = value;
            }
            if let Some(c) = cut {
                bytes.truncate((c * bytes.len() as f64) as usize);
            }
            if let Err(p) = Voice::from_bytes(&bytes) {
                proptest::prop_assert!(!p.to_string().is_empty());
            }
        }

        /// Training figures are any finite f64 a run produced (CI's CPU gave values the default
        /// serde_json float parser reads back one ulp off, so a re-saved voice differed in bytes).
        #[test]
        fn training_figures_round_trip_exactly(
            valid in proptest::num::f64::NORMAL,
            test in proptest::num::f64::NORMAL,
            wall in 0.0f64..1e6,
        ) {
            let mut v = voice();
            v.meta.training.valid_nll_bits = Some(valid);
            v.meta.training.test_nll_bits = Some(test);
            v.meta.training.wall_s = wall;
            let bytes = v.to_bytes().unwrap();
            let back = Voice::from_bytes(&bytes).unwrap();
            proptest::prop_assert_eq!(back.to_bytes().unwrap(), bytes);
            proptest::prop_assert_eq!(back, v);
        }
    }

    #[test]
    fn read_error_names_the_file() {
        let err = Voice::read(Path::new("/nonexistent/x.voice.safetensors")).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/x.voice.safetensors: "), "{err}");
        // A directory, or a device without end (read whole, it took all memory).
        let dir = tempfile::tempdir().unwrap();
        let err = Voice::read(dir.path()).unwrap_err().to_string();
        assert_eq!(err, format!("{}: is a directory, not a file", dir.path().display()));
        let err = Voice::read(Path::new("/dev/zero")).unwrap_err().to_string();
        assert_eq!(err, "/dev/zero: is a device, pipe or socket, not a file");
    }
}
