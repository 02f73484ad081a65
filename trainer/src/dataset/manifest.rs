//! The dataset on disk: `DIR/manifest.json` (this file's [`Manifest`]) and one example file
//! per kept note under `DIR/examples/` ([`super::example_file`]), and the reader the
//! training code uses ([`Dataset`]).

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use sackbut_model::conditioning::NoteSpan;
use sackbut_model::quantize::Quantization;
use sackbut_model::user_file::read_user_file;
use sackbut_model::MODEL_RATE_HZ;
use serde::{Deserialize, Serialize};

pub use super::example_file::ExampleData;

/// Version of the dataset layout (manifest and example files) this trainer writes and reads.
pub const DATASET_FORMAT_VERSION: u32 = 1;
/// The manifest's file name inside a dataset directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Largest manifest read (one of 100 000 examples is ~40 MB); bounds what a wrong path costs.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;
/// Longest example, and furthest sample a span may name: an example file counts in a u32.
pub const MAX_EXAMPLE_SAMPLES: u64 = u32::MAX as u64;

/// Which part of the dataset an example belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training.
    Train,
    /// Validation (model selection, early stopping).
    Valid,
    /// Test (reported numbers).
    Test,
}

/// One kept example.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExampleEntry {
    /// The example file, relative to the dataset directory (`examples/00012.skbx`).
    pub file: String,
    /// Where it came from: the original file, or `sf2:0:57 note 45 vel 80 hold 0.60s`.
    pub source: String,
    /// The note in 16 kHz samples of the example. `end` (and `note_off`) may lie beyond
    /// the example's length when the sound was longer than it.
    pub span: NoteSpan,
    /// Its split.
    pub split: Split,
}

/// A source that was not kept, and why (the reason names the file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file (or SoundFont note) as in [`ExampleEntry::source`].
    pub source: String,
    /// One line, naming the file.
    pub reason: String,
}

/// Where the examples came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SourceInfo {
    /// Notes rendered from a SoundFont preset.
    SoundFont {
        /// The `.sf2` file.
        file: String,
        /// `BANK:PROGRAM`.
        preset: String,
        /// The preset's name in the SoundFont.
        preset_name: String,
        /// MIDI notes rendered.
        notes: Vec<u8>,
        /// Velocities rendered.
        velocities: Vec<u8>,
        /// How long each note was held, in seconds.
        durations_s: Vec<f64>,
        /// Rate the synthesizer rendered at before resampling to 16 kHz.
        render_rate_hz: u32,
    },
    /// WAV files whose names carry the note.
    WavNamed {
        /// The directory.
        dir: String,
        /// WAV files found.
        files: usize,
        /// Velocity of files whose names do not give one.
        default_velocity: u8,
    },
    /// WAV files paired in file-name order with the notes of a MIDI file.
    WavMidi {
        /// The directory.
        dir: String,
        /// The MIDI file.
        midi: String,
        /// WAV files found (= notes in the MIDI file).
        files: usize,
    },
}

/// How the dataset was built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// Share of the Hilbert envelope's peak where a sound starts and ends.
    pub threshold: f32,
    /// Source-rate samples kept before the start of a sound.
    pub margin_before_samples: usize,
    /// Source-rate samples kept after the end of a sound.
    pub margin_after_samples: usize,
    /// Silence before the kept audio, in seconds.
    pub silence_s: f64,
    /// Example length in seconds.
    pub length_s: f64,
    /// Share of the envelope's peak below which a WAV's note-off is estimated to be, when
    /// nothing gives it.
    pub note_off_estimate_level: f32,
    /// Seed of the split.
    pub seed: u64,
    /// Share of examples put in the validation split.
    pub valid_fraction: f64,
    /// Share of examples put in the test split.
    pub test_fraction: f64,
    /// Notes put in the test split only.
    pub hold_out_notes: Vec<u8>,
}

/// `DIR/manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`DATASET_FORMAT_VERSION`] of the trainer that wrote it.
    pub format_version: u32,
    /// Rate of every example (16 000).
    pub sample_rate: u32,
    /// How the codes were quantized.
    pub quantization: Quantization,
    /// Samples in every example.
    pub length_samples: usize,
    /// The voice's release length R: the median over kept examples of `end − note_off`,
    /// in samples at `sample_rate`.
    pub release_samples: u32,
    /// Where the examples came from.
    pub sources: Vec<SourceInfo>,
    /// How it was built.
    pub parameters: Parameters,
    /// Every kept example.
    pub examples: Vec<ExampleEntry>,
    /// Every source that was not kept.
    pub skipped: Vec<Skipped>,
}

impl Manifest {
    /// Checks what a reader relies on; the error says which field and why.
    pub fn validate(&self) -> Result<()> {
        if self.sample_rate != MODEL_RATE_HZ {
            bail!("sample_rate is {} Hz, the model runs at {MODEL_RATE_HZ} Hz", self.sample_rate);
        }
        if self.length_samples == 0 {
            bail!("length_samples is 0");
        }
        // An example file counts its samples in a u32; beyond that no example can match.
        if self.length_samples > MAX_EXAMPLE_SAMPLES as usize {
            bail!("length_samples {} is more than an example file holds ({MAX_EXAMPLE_SAMPLES})", self.length_samples);
        }
        let mut files = HashSet::new();
        for (i, e) in self.examples.iter().enumerate() {
            let what = || format!("example {i} ({})", e.file);
            let p = Path::new(&e.file);
            if e.file.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
                bail!("{}: the file must be a plain path inside the dataset directory", what());
            }
            if !files.insert(e.file.as_str()) {
                bail!("{}: listed twice", what());
            }
            let s = e.span;
            if s.note > 127 || !(1..=127).contains(&s.velocity) {
                bail!("{}: invalid note {} or velocity {}", what(), s.note, s.velocity);
            }
            if !(s.onset <= s.note_off && s.note_off <= s.end && s.onset < s.end) {
                bail!("{}: span out of order (onset {}, note_off {}, end {})", what(), s.onset, s.note_off, s.end);
            }
            // Bounded so the conditioning's sample arithmetic (note_off + release, t + lookahead) cannot overflow.
            if s.end > MAX_EXAMPLE_SAMPLES {
                bail!("{}: end {} is beyond any example ({MAX_EXAMPLE_SAMPLES} samples at most)", what(), s.end);
            }
            if s.onset >= self.length_samples as u64 {
                bail!("{}: onset {} is beyond the example length {}", what(), s.onset, self.length_samples);
            }
        }
        Ok(())
    }

    /// Parses and checks a manifest's bytes; `name` (the file) starts every error message.
    /// Separate from [`Dataset::open`] so the fuzz target (`fuzz/fuzz_targets/manifest.rs`)
    /// can feed it bytes.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Manifest> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).with_context(|| format!("{name}: not a dataset manifest (invalid JSON)"))?;
        let Some(version) = value.get("format_version").and_then(|v| v.as_u64()) else {
            bail!("{name}: not a dataset manifest (no format_version)");
        };
        if version > DATASET_FORMAT_VERSION as u64 {
            bail!("{name}: dataset format version {version} is newer than this trainer reads ({DATASET_FORMAT_VERSION}); rebuild the dataset or update the trainer");
        }
        if version != DATASET_FORMAT_VERSION as u64 {
            bail!("{name}: unsupported dataset format version {version} (this trainer reads {DATASET_FORMAT_VERSION})");
        }
        let manifest: Manifest = serde_json::from_value(value).with_context(|| format!("{name}: not a valid dataset manifest"))?;
        manifest.validate().with_context(|| format!("{name}: inconsistent manifest"))?;
        Ok(manifest)
    }

    /// Writes `dir/manifest.json` (pretty JSON).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let json = serde_json::to_string_pretty(self)?;
        // Synced like the examples: the dataset directory is renamed into place after it.
        sackbut_model::voice_file::write_atomically(&path, (json + "\n").as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))
    }
}

/// An opened dataset.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The dataset directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Dataset {
    /// Reads and checks `dir/manifest.json`. Errors name the file: missing, not JSON, a
    /// wrong or newer format version, inconsistent fields.
    pub fn open(dir: &Path) -> Result<Dataset> {
        let path = dir.join(MANIFEST_FILE);
        let name = path.display();
        let bytes = match read_user_file(&path, MAX_MANIFEST_BYTES, "a dataset manifest") {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{name}: missing ({} is not a dataset directory: run `trainer dataset --out DIR` to build one)", dir.display())
            }
            Err(e) => bail!("{name}: cannot read: {e}"),
        };
        let manifest = Manifest::parse(&bytes, &name.to_string())?;
        Ok(Dataset { dir: dir.to_path_buf(), manifest })
    }

    /// Reads one example and checks it: magic, version, length equal to the manifest's
    /// `length_samples`, CRC, and streams equal to those of the entry's span. The error
    /// names the file and the problem.
    pub fn load_example(&self, e: &ExampleEntry) -> Result<ExampleData> {
        let path = self.dir.join(&e.file);
        let data = ExampleData::read(&path, Some(self.manifest.length_samples))?;
        if !data.streams_match(&e.span) {
            bail!("{}: conditioning streams do not match the manifest's span for it", path.display());
        }
        Ok(data)
    }

    /// The examples of one split, in manifest order.
    pub fn split(&self, s: Split) -> impl Iterator<Item = &ExampleEntry> + '_ {
        self.manifest.examples.iter().filter(move |e| e.split == s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;

    pub(crate) fn manifest(examples: Vec<ExampleEntry>, length_samples: usize) -> Manifest {
        Manifest {
            format_version: DATASET_FORMAT_VERSION,
            sample_rate: MODEL_RATE_HZ,
            quantization: Quantization::MuLaw,
            length_samples,
            release_samples: 2000,
            sources: vec![SourceInfo::WavNamed { dir: "wavs".into(), files: 2, default_velocity: 100 }],
            parameters: Parameters {
                threshold: 0.008,
                margin_before_samples: 100,
                margin_after_samples: 400,
                silence_s: 1.0,
                length_s: length_samples as f64 / 16_000.0,
                note_off_estimate_level: 0.5,
                seed: 7,
                valid_fraction: 0.1,
                test_fraction: 0.1,
                hold_out_notes: vec![47],
            },
            examples,
            skipped: vec![Skipped { source: "wavs/x.wav".into(), reason: "wavs/x.wav: silent".into() }],
        }
    }

    fn entry(file: &str, note: u8, split: Split) -> ExampleEntry {
        ExampleEntry {
            file: file.into(),
            source: format!("wavs/{note}.wav"),
            span: NoteSpan { note, velocity: 100, onset: 100, note_off: 300, end: 500 },
            split,
        }
    }

    /// A dataset of two examples written to `dir`.
    fn write_dataset(dir: &Path) -> (Manifest, Vec<ExampleData>) {
        let m = manifest(vec![entry("examples/0.skbx", 45, Split::Train), entry("examples/1.skbx", 46, Split::Test)], 1000);
        fs::create_dir_all(dir.join("examples")).unwrap();
        let mut data = Vec::new();
        for (k, e) in m.examples.iter().enumerate() {
            let d = ExampleData::new((0..1000).map(|i| ((i * 7 + k) % 256) as u8).collect(), &e.span);
            d.write(&dir.join(&e.file)).unwrap();
            data.push(d);
        }
        m.write(dir).unwrap();
        (m, data)
    }

    #[test]
    fn manifest_and_examples_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (m, data) = write_dataset(dir.path());
        let ds = Dataset::open(dir.path()).unwrap();
        assert_eq!(ds.manifest, m);
        for (e, d) in ds.manifest.examples.iter().zip(&data) {
            assert_eq!(&ds.load_example(e).unwrap(), d);
        }
        let train: Vec<_> = ds.split(Split::Train).map(|e| e.file.as_str()).collect();
        assert_eq!(train, vec!["examples/0.skbx"]);
        assert_eq!(ds.split(Split::Valid).count(), 0);
        // The JSON spells splits and quantization as documented.
        let json = fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(json.contains("\"split\": \"test\"") && json.contains("\"quantization\": \"mu-law\""), "{json}");
        assert!(json.contains("\"kind\": \"wav-named\""));
    }

    #[test]
    fn a_corrupt_example_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (m, _) = write_dataset(dir.path());
        let ds = Dataset::open(dir.path()).unwrap();
        let path = dir.path().join(&m.examples[0].file);
        let mut bytes = fs::read(&path).unwrap();
        bytes[500] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let e = ds.load_example(&m.examples[0]).unwrap_err().to_string();
        assert!(e.contains("0.skbx") && e.contains("checksum mismatch"), "{e}");
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let e = ds.load_example(&m.examples[0]).unwrap_err().to_string();
        assert!(e.contains("0.skbx") && e.contains("truncated"), "{e}");
        fs::remove_file(&path).unwrap();
        let e = ds.load_example(&m.examples[0]).unwrap_err().to_string();
        assert!(e.contains("0.skbx") && e.contains("cannot read"), "{e}");
        // A file whose streams belong to another span.
        let other = ExampleData::new(vec![128; 1000], &NoteSpan { note: 50, velocity: 1, onset: 0, note_off: 1, end: 2 });
        other.write(&path).unwrap();
        let e = ds.load_example(&m.examples[0]).unwrap_err().to_string();
        assert!(e.contains("do not match"), "{e}");
    }

    #[test]
    fn bad_manifests_are_named_and_explained() {
        let dir = tempfile::tempdir().unwrap();
        let err = || format!("{:#}", Dataset::open(dir.path()).unwrap_err());
        assert!(err().contains("manifest.json: missing"), "{}", err());
        let path = dir.path().join(MANIFEST_FILE);
        fs::write(&path, "{ not json").unwrap();
        assert!(err().contains("manifest.json: not a dataset manifest (invalid JSON)"), "{}", err());
        let mut m = manifest(vec![entry("examples/0.skbx", 45, Split::Train)], 1000);
        m.format_version = 2;
        fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
        assert!(err().contains("version 2 is newer"), "{}", err());
        m.format_version = 0;
        fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
        assert!(err().contains("unsupported dataset format version 0"), "{}", err());
        m.format_version = 1;
        m.sample_rate = 44_100;
        fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
        assert!(err().contains("inconsistent manifest: sample_rate is 44100"), "{}", err());
        m.sample_rate = 16_000;
        m.examples[0].span.onset = 400;
        fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
        assert!(err().contains("span out of order"), "{}", err());
        m.examples[0].span.onset = 100;
        m.examples[0].file = "../escape.skbx".into();
        fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
        assert!(err().contains("plain path"), "{}", err());
        fs::write(&path, "{\"format_version\": 1}").unwrap();
        assert!(err().contains("not a valid dataset manifest"), "{}", err());
        // Lengths no example file can hold, and spans whose sample arithmetic would overflow.
        let mut m = manifest(vec![entry("examples/0.skbx", 45, Split::Train)], 1000);
        m.length_samples = 1 << 40;
        fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
        assert!(err().contains("length_samples 1099511627776 is more than an example file holds"), "{}", err());
        m.length_samples = 1000;
        m.examples[0].span.note_off = u64::MAX;
        m.examples[0].span.end = u64::MAX;
        fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
        assert!(err().contains("end 18446744073709551615 is beyond any example"), "{}", err());
        // A directory where the manifest should be.
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        assert!(err().contains("manifest.json: cannot read: is a directory, not a file"), "{}", err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]

        /// Byte flips and truncations of a real manifest: a manifest that passed validation, or
        /// an error naming the file, never a panic.
        #[test]
        fn damaged_manifest_is_valid_or_an_error_naming_the_file(
            cut in proptest::option::of(0.0f64..1.0),
            flips in proptest::collection::vec((0.0f64..1.0, proptest::num::u8::ANY), 0..6),
        ) {
            let m = manifest(vec![entry("examples/0.skbx", 45, Split::Train), entry("examples/1.skbx", 46, Split::Test)], 1000);
            let mut bytes = serde_json::to_vec_pretty(&m).unwrap();
            for (at, value) in flips {
                let i = (at * bytes.len() as f64) as usize;
                bytes[i] = value;
            }
            if let Some(c) = cut {
                bytes.truncate((c * bytes.len() as f64) as usize);
            }
            match Manifest::parse(&bytes, "manifest.json") {
                Ok(m) => proptest::prop_assert!(m.validate().is_ok()),
                Err(e) => proptest::prop_assert!(format!("{e:#}").starts_with("manifest.json: "), "{:#}", e),
            }
        }
    }
}
