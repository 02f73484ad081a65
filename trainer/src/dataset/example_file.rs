//! One example on disk (`examples/NNNNN.skbx`): its codes and conditioning streams.
//!
//! Little-endian binary: magic `b"SKBX"`, `u32` version, `u32` length `len` in samples,
//! `u32` CRC-32 (IEEE, crc32fast) of the payload; then the payload: `codes[len]` u8,
//! `note[len]` u8, `velocity[len]` u8, `remaining[len]` u16. The streams are those of
//! `fill_streams(&[span], RemainingRule::Exact, u16::MAX, len)` for the example's span.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use sackbut_model::conditioning::{fill_streams, NoteSpan, RemainingRule};
use sackbut_model::user_file::read_user_file;

/// First four bytes of every example file.
pub const EXAMPLE_MAGIC: [u8; 4] = *b"SKBX";
/// Version of the example file layout this trainer writes and reads.
pub const EXAMPLE_FORMAT_VERSION: u32 = 1;
/// Header bytes before the payload.
pub const HEADER_BYTES: usize = 16;
/// Payload bytes per sample: code, note, velocity (u8 each) and remaining (u16).
pub const BYTES_PER_SAMPLE: usize = 5;

/// An example's audio codes and its conditioning streams, all of the same length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExampleData {
    /// Quantized audio (16 kHz).
    pub codes: Vec<u8>,
    /// Sounding note per sample, or `NOTE_NONE`.
    pub note: Vec<u8>,
    /// Velocity per sample, 0 in silence.
    pub velocity: Vec<u8>,
    /// Exact samples until the sound ends, saturated at `u16::MAX`; 0 in silence.
    pub remaining: Vec<u16>,
}

impl ExampleData {
    /// The streams of one note `span` over `codes` (exact view, saturated at `u16::MAX`).
    pub fn new(codes: Vec<u8>, span: &NoteSpan) -> ExampleData {
        let (note, velocity, remaining) = fill_streams(&[*span], RemainingRule::Exact, u16::MAX as u32, codes.len());
        let remaining = remaining.into_iter().map(|r| r.min(u16::MAX as u32) as u16).collect();
        ExampleData { codes, note, velocity, remaining }
    }

    /// True if the streams are exactly those [`ExampleData::new`] builds for `span`.
    pub fn streams_match(&self, span: &NoteSpan) -> bool {
        let (note, velocity, remaining) = fill_streams(&[*span], RemainingRule::Exact, u16::MAX as u32, self.len());
        note == self.note
            && velocity == self.velocity
            && remaining.iter().zip(&self.remaining).all(|(&a, &b)| a.min(u16::MAX as u32) == b as u32)
            && remaining.len() == self.remaining.len()
    }

    /// Samples in the example.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = self.len();
        assert!(
            self.note.len() == len && self.velocity.len() == len && self.remaining.len() == len,
            "example streams of different lengths"
        );
        let mut payload = Vec::with_capacity(len * BYTES_PER_SAMPLE);
        payload.extend_from_slice(&self.codes);
        payload.extend_from_slice(&self.note);
        payload.extend_from_slice(&self.velocity);
        for r in &self.remaining {
            payload.extend_from_slice(&r.to_le_bytes());
        }
        let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
        out.extend_from_slice(&EXAMPLE_MAGIC);
        out.extend_from_slice(&EXAMPLE_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Parses a file's bytes; `name` is used in errors. When `expected_len` is given, the
    /// length in the header must equal it.
    pub fn from_bytes(bytes: &[u8], name: &str, expected_len: Option<usize>) -> Result<ExampleData> {
        if bytes.len() < HEADER_BYTES {
            bail!("{name}: truncated ({} bytes, shorter than the {HEADER_BYTES}-byte header)", bytes.len());
        }
        if bytes[0..4] != EXAMPLE_MAGIC {
            bail!("{name}: not a Sackbut example file (bad magic)");
        }
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        let version = word(4);
        if version > EXAMPLE_FORMAT_VERSION {
            bail!("{name}: example format version {version} is newer than this trainer reads ({EXAMPLE_FORMAT_VERSION})");
        }
        if version != EXAMPLE_FORMAT_VERSION {
            bail!("{name}: unsupported example format version {version} (this trainer reads {EXAMPLE_FORMAT_VERSION})");
        }
        let len = word(8) as usize;
        if let Some(expected) = expected_len {
            if len != expected {
                bail!("{name}: holds {len} samples but the manifest says examples have {expected}");
            }
        }
        let want = HEADER_BYTES + len * BYTES_PER_SAMPLE;
        if bytes.len() < want {
            bail!("{name}: truncated ({} bytes, expected {want})", bytes.len());
        }
        if bytes.len() > want {
            bail!("{name}: {} unexpected bytes after the payload (expected {want} bytes)", bytes.len() - want);
        }
        let payload = &bytes[HEADER_BYTES..];
        let crc = crc32fast::hash(payload);
        if crc != word(12) {
            bail!("{name}: checksum mismatch (CRC-32 {crc:08x}, header says {:08x}): the file is corrupt", word(12));
        }
        let (codes, rest) = payload.split_at(len);
        let (note, rest) = rest.split_at(len);
        let (velocity, rest) = rest.split_at(len);
        let remaining = rest.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
        Ok(ExampleData { codes: codes.to_vec(), note: note.to_vec(), velocity: velocity.to_vec(), remaining })
    }

    /// Writes the file: to a temporary name in the same directory, synced, then renamed, so a
    /// dataset moved into place after its last example holds whole files even after a crash.
    pub fn write(&self, path: &Path) -> Result<()> {
        sackbut_model::voice_file::write_atomically(path, &self.to_bytes())
            .with_context(|| format!("{}: cannot write example", path.display()))
    }

    /// Reads and validates a file (see [`ExampleData::from_bytes`]).
    pub fn read(path: &Path, expected_len: Option<usize>) -> Result<ExampleData> {
        let name = path.display().to_string();
        // Bounded by what the header can count (or the manifest's length), and regular files
        // only, so a wrong path never reads a device without end.
        let samples = expected_len.map_or(u32::MAX as u64, |n| n as u64);
        let max_bytes = HEADER_BYTES as u64 + samples.saturating_mul(BYTES_PER_SAMPLE as u64);
        let what = format!("an example file of {samples} samples");
        let bytes = read_user_file(path, max_bytes, &what).map_err(|e| anyhow!("{name}: cannot read example file: {e}"))?;
        Self::from_bytes(&bytes, &name, expected_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sackbut_model::conditioning::NOTE_NONE;

    const SPAN: NoteSpan = NoteSpan { note: 45, velocity: 80, onset: 3, note_off: 6, end: 8 };

    fn example() -> ExampleData {
        ExampleData::new((0..10).map(|i| 120 + i as u8).collect(), &SPAN)
    }

    #[test]
    fn streams_follow_the_span() {
        let e = example();
        let n = NOTE_NONE;
        assert_eq!(e.note, vec![n, n, n, 45, 45, 45, 45, 45, n, n]);
        assert_eq!(e.velocity, vec![0, 0, 0, 80, 80, 80, 80, 80, 0, 0]);
        assert_eq!(e.remaining, vec![0, 0, 0, 5, 4, 3, 2, 1, 0, 0]);
        // Longer than u16::MAX: saturated.
        let long = NoteSpan { onset: 0, note_off: 10, end: 100_000, ..SPAN };
        assert_eq!(ExampleData::new(vec![128; 3], &long).remaining, vec![u16::MAX; 3]);
    }

    #[test]
    fn bytes_round_trip_with_the_documented_layout() {
        let e = example();
        let b = e.to_bytes();
        assert_eq!(b.len(), 16 + 50);
        assert_eq!(&b[0..4], b"SKBX");
        assert_eq!(b[4..8], 1u32.to_le_bytes());
        assert_eq!(b[8..12], 10u32.to_le_bytes());
        assert_eq!(b[12..16], crc32fast::hash(&b[16..]).to_le_bytes());
        assert_eq!(b[16], 120);
        assert_eq!(b[16 + 10], NOTE_NONE); // note[0]
        assert_eq!(b[16 + 23], 80); // velocity[3]
        assert_eq!(&b[16 + 30..16 + 36], &[0; 6]); // remaining[0..3]
        assert_eq!(&b[16 + 36..16 + 40], &[5, 0, 4, 0]); // remaining[3..5]
        assert_eq!(ExampleData::from_bytes(&b, "x", Some(10)).unwrap(), e);
    }

    #[test]
    fn corruption_is_caught_and_named() {
        let b = example().to_bytes();
        let err = |bytes: &[u8], len| ExampleData::from_bytes(bytes, "ex.skbx", len).unwrap_err().to_string();
        let mut flipped = b.clone();
        flipped[30] ^= 0x10;
        assert!(err(&flipped, Some(10)).contains("ex.skbx: checksum mismatch"));
        assert!(err(&b[..40], Some(10)).contains("ex.skbx: truncated"));
        assert!(err(&b[..7], None).contains("ex.skbx: truncated"));
        let mut longer = b.clone();
        longer.push(0);
        assert!(err(&longer, None).contains("unexpected bytes"));
        assert!(err(&b, Some(11)).contains("holds 10 samples"));
        let mut magic = b.clone();
        magic[0] = b'X';
        assert!(err(&magic, None).contains("not a Sackbut example"));
        let mut newer = b.clone();
        newer[4] = 2;
        assert!(err(&newer, None).contains("newer"));
    }

    #[test]
    fn reading_refuses_what_cannot_be_an_example_before_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.skbx");
        std::fs::write(&path, vec![0u8; 200]).unwrap();
        let e = ExampleData::read(&path, Some(10)).unwrap_err().to_string();
        assert!(
            e.contains(
                "big.skbx: cannot read example file: is 200 bytes, larger than an example file of 10 samples can be (66 bytes at most)"
            ),
            "{e}"
        );
        let e = ExampleData::read(Path::new("/dev/zero"), None).unwrap_err().to_string();
        assert_eq!(e, "/dev/zero: cannot read example file: is a device, pipe or socket, not a file");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]

        /// Flips and truncations of a real example, with the checksum recomputed half the time
        /// so the checks after it are reached: data or an error naming the file, never a panic.
        #[test]
        fn damaged_example_is_data_or_an_error_naming_the_file(
            cut in proptest::option::of(0usize..66),
            flips in proptest::collection::vec((0usize..66, proptest::num::u8::ANY), 0..6),
            fix_crc in proptest::bool::ANY,
            expected in proptest::option::of(0usize..12),
        ) {
            let mut b = example().to_bytes();
            for (at, value) in flips {
                b[at] = value;
            }
            if let Some(c) = cut {
                b.truncate(c);
            }
            if fix_crc && b.len() >= HEADER_BYTES {
                let crc = crc32fast::hash(&b[HEADER_BYTES..]);
                b[12..16].copy_from_slice(&crc.to_le_bytes());
            }
            match ExampleData::from_bytes(&b, "ex.skbx", expected) {
                Ok(d) => proptest::prop_assert!(d.note.len() == d.len() && d.remaining.len() == d.len()),
                Err(e) => proptest::prop_assert!(e.to_string().starts_with("ex.skbx: "), "{}", e),
            }
        }
    }
}
