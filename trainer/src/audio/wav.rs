//! Reading WAV files as mono f32 and writing 16-bit PCM WAV files atomically.
//!
//! Every error names the file and says what is wrong with it, in one line, because the
//! dataset builder prints it as the reason a file was skipped.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float PCM) as mono samples in
/// [−1, 1], mixing all channels with equal weight, and returns them with the file's rate.
///
/// Errors name the file: `x.wav: not a WAV file`, `x.wav: empty (0 samples)`,
/// `x.wav: unsupported format: 64-bit float`, …
pub fn read_wav_mono(path: &Path) -> Result<(Vec<f32>, u32)> {
    let name = path.display();
    // Only regular files: opening a named pipe would block until something writes to it.
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => bail!("{name}: is a directory, not a WAV file"),
        Ok(m) if !m.is_file() => bail!("{name}: is a device, pipe or socket, not a WAV file"),
        Ok(_) => {}
        Err(e) => bail!("{name}: cannot read: {e}"),
    }
    let file = fs::File::open(path).map_err(|e| anyhow!("{name}: cannot read: {e}"))?;
    decode_wav_mono(&name.to_string(), std::io::BufReader::new(file))
}

/// [`read_wav_mono`] on any seekable reader; `name` starts every error message. Separate from
/// the file system so the fuzz target (`fuzz/fuzz_targets/wav.rs`) can feed it bytes.
pub fn decode_wav_mono<R: Read + Seek>(name: &str, mut reader: R) -> Result<(Vec<f32>, u32)> {
    // The first few KiB, to say in words what hound refuses (`diagnose`).
    let mut head = Vec::new();
    let head_read = (&mut reader).take(4096).read_to_end(&mut head).and_then(|_| reader.seek(SeekFrom::Start(0)));
    if let Err(e) = head_read {
        bail!("{name}: cannot read: {e}");
    }
    let mut reader = match hound::WavReader::new(reader) {
        Ok(r) => r,
        // A short read in a file that does not even start like a WAV is no WAV at all.
        Err(e @ hound::Error::IoError(_)) if !looks_like_wav(&head) => bail!("{name}: {}", diagnose(&head, &e)),
        Err(hound::Error::IoError(e)) => bail!("{name}: cannot read the WAV header (cut short or damaged): {e}"),
        Err(e) => bail!("{name}: {}", diagnose(&head, &e)),
    };
    let spec = reader.spec();
    let channels = spec.channels as usize;
    if spec.sample_rate == 0 {
        bail!("{name}: invalid sample rate 0 Hz");
    }
    let frames = reader.len() as usize / channels.max(1);
    if frames == 0 {
        bail!("{name}: empty (0 samples)");
    }
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader.samples::<f32>().collect::<Result<_, _>>().map_err(|e| read_error(name, &e))?,
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| (v as f64 * scale) as f32))
                .collect::<Result<_, _>>()
                .map_err(|e| read_error(name, &e))?
        }
        (hound::SampleFormat::Float, bits) => bail!("{name}: unsupported format: {bits}-bit float"),
        (hound::SampleFormat::Int, bits) => bail!("{name}: unsupported format: {bits}-bit integer"),
    };
    let mono = if channels == 1 {
        interleaved
    } else {
        let w = 1.0 / channels as f32;
        interleaved.chunks_exact(channels).map(|f| f.iter().sum::<f32>() * w).collect()
    };
    Ok((mono, spec.sample_rate))
}

fn read_error(name: &str, e: &hound::Error) -> anyhow::Error {
    match e {
        // hound reports a short read as `Other` "Failed to read enough bytes."
        hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof || io.to_string().contains("enough bytes") => {
            anyhow!("{name}: truncated (the data chunk is shorter than its header says)")
        }
        e => anyhow!("{name}: cannot read samples: {e}"),
    }
}

/// `RIFF....WAVE`.
fn looks_like_wav(head: &[u8]) -> bool {
    head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE"
}

/// Says why hound refused a file, in words a user can act on: it reads the RIFF header and the
/// `fmt ` chunk in `head` (the file's first bytes) itself to name the format hound does not support.
fn diagnose(head: &[u8], e: &hound::Error) -> String {
    if !looks_like_wav(head) {
        if head.is_empty() {
            return "not a WAV file (0 bytes)".into();
        }
        return "not a WAV file".into();
    }
    match find_fmt(head) {
        Some((tag, bits)) => match tag {
            3 if bits != 32 => format!("unsupported format: {bits}-bit float"),
            1 if !matches!(bits, 8 | 16 | 24 | 32) => format!("unsupported format: {bits}-bit integer"),
            2 => "unsupported format: ADPCM".into(),
            6 => "unsupported format: A-law".into(),
            7 => "unsupported format: µ-law".into(),
            0x55 => "unsupported format: MP3 in WAV".into(),
            1 | 3 | 0xfffe => format!("invalid WAV file: {e}"),
            tag => format!("unsupported format: format tag {tag:#06x}"),
        },
        None => format!("invalid WAV file: {e}"),
    }
}

/// (format tag, bits per sample) from the `fmt ` chunk, if it is in `head`.
fn find_fmt(head: &[u8]) -> Option<(u16, u16)> {
    let mut pos = 12;
    while pos + 8 <= head.len() {
        let id = &head[pos..pos + 4];
        let len = u32::from_le_bytes(head[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            let b = head.get(body..body + 16)?;
            let tag = u16::from_le_bytes([b[0], b[1]]);
            let bits = u16::from_le_bytes([b[14], b[15]]);
            if tag == 0xfffe {
                // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the GUID.
                let g = head.get(body + 24..body + 26)?;
                return Some((u16::from_le_bytes([g[0], g[1]]), bits));
            }
            return Some((tag, bits));
        }
        pos = body + len + (len & 1);
    }
    None
}

/// Writes `samples` (clamped to [−1, 1]) as a mono 16-bit PCM WAV file at `rate_hz`.
///
/// The file is written under a temporary name in the same directory and renamed into
/// place, so a reader never sees a half-written file and an interrupted write leaves the
/// old file (if any) untouched.
pub fn write_wav_i16(path: &Path, samples: &[f32], rate_hz: u32) -> Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| -> Result<()> {
        let spec = hound::WavSpec { channels: 1, sample_rate: rate_hz, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(&tmp, spec)?;
        let mut w16 = w.get_i16_writer(samples.len() as u32);
        for &s in samples {
            let s = if s.is_nan() { 0.0 } else { s.clamp(-1.0, 1.0) };
            w16.write_sample((s * 32767.0).round() as i16);
        }
        w16.flush()?;
        w.finalize()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("{}: cannot write WAV file", path.display()))
}

/// `dir/.name.tmp-PID` next to `path`.
fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn spec(channels: u16, bits: u16, float: bool) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: 22_050,
            bits_per_sample: bits,
            sample_format: if float { hound::SampleFormat::Float } else { hound::SampleFormat::Int },
        }
    }

    #[test]
    fn reads_every_integer_width_to_the_same_scale() {
        let dir = tempfile::tempdir().unwrap();
        for bits in [8u16, 16, 24, 32] {
            let path = dir.path().join(format!("i{bits}.wav"));
            let mut w = hound::WavWriter::create(&path, spec(1, bits, false)).unwrap();
            let half = 1i64 << (bits - 2); // 0.5 of full scale
            for v in [0, half, -half, -(2 * half)] {
                w.write_sample(v as i32).unwrap();
            }
            w.finalize().unwrap();
            let (x, rate) = read_wav_mono(&path).unwrap();
            assert_eq!(rate, 22_050);
            assert_eq!(x, vec![0.0, 0.5, -0.5, -1.0], "{bits}-bit");
        }
    }

    #[test]
    fn mixes_stereo_float_to_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("st.wav");
        let mut w = hound::WavWriter::create(&path, spec(2, 32, true)).unwrap();
        for (l, r) in [(1.0f32, 0.0f32), (0.5, -0.5), (-0.25, -0.75)] {
            w.write_sample(l).unwrap();
            w.write_sample(r).unwrap();
        }
        w.finalize().unwrap();
        assert_eq!(read_wav_mono(&path).unwrap().0, vec![0.5, 0.0, -0.5]);
    }

    /// A 64-bit float WAV, which hound cannot write: the header by hand.
    pub(crate) fn write_f64_wav(path: &Path, samples: &[f64]) {
        let data_len = (samples.len() * 8) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data_len).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
        b.extend_from_slice(&1u16.to_le_bytes()); // mono
        b.extend_from_slice(&16_000u32.to_le_bytes());
        b.extend_from_slice(&(16_000u32 * 8).to_le_bytes());
        b.extend_from_slice(&8u16.to_le_bytes()); // block align
        b.extend_from_slice(&64u16.to_le_bytes()); // bits
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            b.extend_from_slice(&s.to_le_bytes());
        }
        fs::write(path, b).unwrap();
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.wav");
        fs::write(&text, "these are not samples").unwrap();
        let e = read_wav_mono(&text).unwrap_err().to_string();
        assert!(e.contains("notes.wav: not a WAV file"), "{e}");

        let empty = dir.path().join("empty.wav");
        hound::WavWriter::create(&empty, spec(1, 16, false)).unwrap().finalize().unwrap();
        let e = read_wav_mono(&empty).unwrap_err().to_string();
        assert!(e.contains("empty.wav: empty (0 samples)"), "{e}");

        let f64_path = dir.path().join("double.wav");
        write_f64_wav(&f64_path, &[0.0, 0.5, -0.5]);
        let e = read_wav_mono(&f64_path).unwrap_err().to_string();
        assert!(e.contains("double.wav: unsupported format: 64-bit float"), "{e}");

        let missing = dir.path().join("missing.wav");
        let e = read_wav_mono(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.wav: cannot read"), "{e}");

        // A header that promises more data than the file holds.
        let trunc = dir.path().join("trunc.wav");
        let mut w = hound::WavWriter::create(&trunc, spec(1, 16, false)).unwrap();
        for i in 0..1000 {
            w.write_sample(i as i16).unwrap();
        }
        w.finalize().unwrap();
        let bytes = fs::read(&trunc).unwrap();
        fs::write(&trunc, &bytes[..bytes.len() - 500]).unwrap();
        let e = read_wav_mono(&trunc).unwrap_err().to_string();
        assert!(e.contains("trunc.wav: truncated"), "{e}");
    }

    #[test]
    fn directories_and_devices_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_wav_mono(dir.path()).unwrap_err().to_string();
        assert_eq!(e, format!("{}: is a directory, not a WAV file", dir.path().display()));
        // A device without end: refused before hound reads it.
        let e = read_wav_mono(Path::new("/dev/zero")).unwrap_err().to_string();
        assert_eq!(e, "/dev/zero: is a device, pipe or socket, not a WAV file");
    }

    /// A real 16-bit stereo WAV as hound writes it (the reader's common case).
    fn real_wav_bytes() -> Vec<u8> {
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec(2, 16, false)).unwrap();
        for i in 0..400 {
            w.write_sample(((i * 997) % 65536 - 32768) as i16).unwrap();
        }
        w.finalize().unwrap();
        cursor.into_inner()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]

        /// Byte flips (most in the header) and truncations of a real WAV: samples, or an error
        /// that starts with the file's name, never a panic.
        #[test]
        fn damaged_wav_is_samples_or_an_error_naming_the_file(
            cut in proptest::option::of(0.0f64..1.0),
            flips in proptest::collection::vec((0.0f64..1.0, proptest::bool::ANY, proptest::num::u8::ANY), 0..8),
        ) {
            let mut bytes = real_wav_bytes();
            for (at, in_header, value) in flips {
                let span = if in_header { 48 } else { bytes.len() };
                bytes[(at * span as f64) as usize] = value;
            }
            if let Some(c) = cut {
                bytes.truncate((c * bytes.len() as f64) as usize);
            }
            match decode_wav_mono("take.wav", std::io::Cursor::new(&bytes)) {
                Ok((x, rate)) => proptest::prop_assert!(rate > 0 && !x.is_empty()),
                Err(e) => proptest::prop_assert!(e.to_string().starts_with("take.wav: "), "{}", e),
            }
        }
    }

    #[test]
    fn writes_clamped_16_bit_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        write_wav_i16(&path, &[0.0, 0.5, -1.0, 2.0, -3.0, f32::NAN], 16_000).unwrap();
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec(), spec_16k());
        let v: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(v, vec![0, 16384, -32767, 32767, -32767, 0]);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.wav")]);
        // Writing into a directory that does not exist fails and names the file.
        let e = write_wav_i16(&dir.path().join("no/such.wav"), &[0.0], 16_000).unwrap_err();
        assert!(format!("{e:#}").contains("such.wav"), "{e:#}");
    }

    fn spec_16k() -> hound::WavSpec {
        hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int }
    }
}
