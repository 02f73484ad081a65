//! Rendering single notes of a SoundFont preset with rustysynth (source (c) of DESIGN.md,
//! "Data and conditioning"): dry (no reverb, no chorus), mono, with exact note-on and
//! note-off sample positions.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

/// Rate the synthesizer renders at: the model's rate, so no resampling is needed.
/// rustysynth interpolates its samples without an anti-aliasing filter, but measured on
/// FluidR3's trombone (notes 40–77, velocities 40 and 120) rendering at 48 kHz and
/// resampling band-limited to 16 kHz changed the energy above 6 kHz by under 3 dB (it is
/// −45 to −62 dB of the total either way) and the inharmonic energy below 7.8 kHz by
/// under 0.1 dB, so rendering directly at 16 kHz costs nothing audible and a third of the
/// time.
pub const RENDER_RATE_HZ: u32 = 16_000;
/// Silence before the note-on, so the envelope sees the onset (rounded to a block).
const PRE_ROLL_S: f64 = 0.05;
/// Longest release rendered after the note-off.
const MAX_TAIL_S: f64 = 2.0;
/// The release is over once the output stays below this level (−100 dBFS) …
const SILENCE_LEVEL: f32 = 1e-5;
/// … for this long.
const SILENT_RUN_S: f64 = 0.1;
/// rustysynth's block: MIDI events take effect at block boundaries.
const BLOCK: usize = 64;
/// The channel notes are played on (not 9, the GM percussion channel).
const CHANNEL: i32 = 0;

/// A SoundFont preset by bank and program, written `BANK:PROGRAM` (e.g. `0:57`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresetId {
    /// Bank number (0 for General MIDI melodic presets, 128 for percussion kits).
    pub bank: u16,
    /// Program number 0..=127.
    pub program: u8,
}

impl FromStr for PresetId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid preset '{s}' (expected BANK:PROGRAM, e.g. 0:57)");
        let (bank, program) = s.split_once(':').ok_or_else(bad)?;
        let bank: u16 = bank.trim().parse().map_err(|_| bad())?;
        let program: u8 = program.trim().parse().map_err(|_| bad())?;
        if program > 127 {
            return Err(format!("invalid preset '{s}': program must be 0..=127"));
        }
        Ok(PresetId { bank, program })
    }
}

impl fmt::Display for PresetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.bank, self.program)
    }
}

/// One preset of a loaded SoundFont, ready to render notes (shareable between threads).
pub struct Instrument {
    sound_font: Arc<SoundFont>,
    /// The SoundFont file.
    pub path: PathBuf,
    /// The preset played.
    pub preset: PresetId,
    /// The preset's name as stored in the SoundFont (e.g. "Trombone").
    pub name: String,
}

/// One rendered note.
#[derive(Clone, Debug)]
pub struct RenderedNote {
    /// Mono samples (L+R mixed) at `rate_hz`.
    pub samples: Vec<f32>,
    /// The rate of `samples`, [`RENDER_RATE_HZ`].
    pub rate_hz: u32,
    /// Sample index of the note-on.
    pub note_on: usize,
    /// Sample index of the note-off (the hold is rounded to rustysynth's 64-sample block).
    pub note_off: usize,
}

impl Instrument {
    /// Loads `path` and finds `preset` in it. Errors name the file: unreadable, not a
    /// SoundFont, an SF3 (compressed samples, which rustysynth cannot play), or the preset
    /// missing (the error lists the presets there are).
    pub fn open(path: &Path, preset: PresetId) -> Result<Instrument> {
        let name = path.display();
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("sf3")) {
            bail!("{name}: SF3 (compressed) SoundFonts are not supported; convert it to SF2");
        }
        let file = File::open(path).with_context(|| format!("{name}: cannot open SoundFont"))?;
        let sf = SoundFont::new(&mut BufReader::new(file)).map_err(|e| anyhow::anyhow!("{name}: not a readable SF2 SoundFont: {e}"))?;
        if sf.get_info().get_version().get_major() >= 3 {
            bail!("{name}: SF3 (compressed) SoundFonts are not supported; convert it to SF2");
        }
        let found =
            sf.get_presets().iter().find(|p| p.get_bank_number() == preset.bank as i32 && p.get_patch_number() == preset.program as i32);
        let Some(found) = found else {
            let mut have: Vec<(i32, i32, &str)> =
                sf.get_presets().iter().map(|p| (p.get_bank_number(), p.get_patch_number(), p.get_name())).collect();
            have.sort();
            let list: Vec<String> = have.iter().map(|(b, p, n)| format!("{b}:{p} {n}")).collect();
            bail!("{name}: no preset {preset}; it has {}: {}", list.len(), list.join(", "));
        };
        let preset_name = found.get_name().trim().to_string();
        Ok(Instrument { sound_font: Arc::new(sf), path: path.to_path_buf(), preset, name: preset_name })
    }

    /// Renders `key` at `velocity`: a note-on after a short silence, held `hold_s` seconds,
    /// then the note-off and the release until the output stays below −100 dBFS for
    /// 100 ms (at most 2 s). No reverb or chorus; left and right are mixed to mono.
    pub fn render_note(&self, key: u8, velocity: u8, hold_s: f64) -> Result<RenderedNote> {
        if key > 127 || !(1..=127).contains(&velocity) {
            bail!("cannot render note {key} at velocity {velocity}: out of MIDI range");
        }
        if !(hold_s.is_finite() && hold_s > 0.0) {
            bail!("cannot render a note held {hold_s} s");
        }
        let rate = RENDER_RATE_HZ;
        let mut settings = SynthesizerSettings::new(rate as i32);
        settings.enable_reverb_and_chorus = false;
        settings.block_size = BLOCK;
        let mut synth = Synthesizer::new(&self.sound_font, &settings)
            .map_err(|e| anyhow::anyhow!("{}: cannot start the synthesizer: {e}", self.path.display()))?;
        synth.process_midi_message(CHANNEL, 0xB0, 0x00, self.preset.bank as i32); // bank select
        synth.process_midi_message(CHANNEL, 0xC0, self.preset.program as i32, 0); // program change

        // Events take effect at the next block boundary: render whole blocks only, so the
        // positions below are exact.
        let blocks = |s: f64| ((s * rate as f64 / BLOCK as f64).round() as usize).max(1) * BLOCK;
        let note_on = blocks(PRE_ROLL_S);
        let note_off = note_on + blocks(hold_s);
        let max_len = note_off + blocks(MAX_TAIL_S);
        let silent_run = (SILENT_RUN_S * rate as f64) as usize;

        let mut out = Vec::with_capacity(max_len);
        let (mut left, mut right) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
        let mut quiet = 0usize;
        while out.len() < max_len {
            if out.len() == note_on {
                synth.note_on(CHANNEL, key as i32, velocity as i32);
            }
            if out.len() == note_off {
                synth.note_off(CHANNEL, key as i32);
            }
            synth.render(&mut left, &mut right);
            for (l, r) in left.iter().zip(&right) {
                let s = 0.5 * (l + r);
                quiet = if s.abs() < SILENCE_LEVEL { quiet + 1 } else { 0 };
                out.push(s);
            }
            if out.len() > note_off && quiet >= silent_run {
                break;
            }
        }
        Ok(RenderedNote { samples: out, rate_hz: rate, note_on, note_off })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const FLUID: &str = "/usr/share/sounds/sf2/FluidR3_GM.sf2";

    /// The GM SoundFont, loaded once for all tests that need it (it is 148 MB).
    pub(crate) fn trombone() -> Option<&'static Instrument> {
        static CELL: std::sync::OnceLock<Option<Instrument>> = std::sync::OnceLock::new();
        CELL.get_or_init(|| {
            if !Path::new(FLUID).exists() {
                eprintln!("{FLUID} not installed (scripts/setup.sh installs it): skipping");
                return None;
            }
            Some(Instrument::open(Path::new(FLUID), PresetId { bank: 0, program: 57 }).unwrap())
        })
        .as_ref()
    }

    #[test]
    fn presets_parse() {
        assert_eq!("0:57".parse::<PresetId>().unwrap(), PresetId { bank: 0, program: 57 });
        assert_eq!("128:0".parse::<PresetId>().unwrap().to_string(), "128:0");
        assert!("57".parse::<PresetId>().unwrap_err().contains("BANK:PROGRAM"));
        assert!("0:128".parse::<PresetId>().is_err());
        assert!("x:1".parse::<PresetId>().is_err());
    }

    #[test]
    fn picks_the_trombone_preset() {
        let Some(tb) = trombone() else { return };
        assert_eq!(tb.name, "Trombone");
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = PresetId { bank: 0, program: 0 };
        let text = dir.path().join("fake.sf2");
        std::fs::write(&text, "RIFF....nope").unwrap();
        let e = Instrument::open(&text, p).err().unwrap().to_string();
        assert!(e.contains("fake.sf2: not a readable SF2"), "{e}");
        let sf3 = dir.path().join("small.sf3");
        std::fs::write(&sf3, "").unwrap();
        let e = Instrument::open(&sf3, p).err().unwrap().to_string();
        assert!(e.contains("small.sf3: SF3"), "{e}");
        let e = Instrument::open(&dir.path().join("none.sf2"), p).err().unwrap().to_string();
        assert!(e.contains("none.sf2: cannot open"), "{e}");
    }

    #[test]
    fn a_missing_preset_is_an_error_listing_the_presets() {
        if trombone().is_none() {
            return;
        }
        let e = Instrument::open(Path::new(FLUID), PresetId { bank: 5, program: 3 }).err().unwrap().to_string();
        assert!(e.contains("FluidR3_GM.sf2: no preset 5:3"), "{}", &e[..200]);
        assert!(e.contains("0:57 Trombone"));
    }

    #[test]
    fn a_rendered_note_starts_at_note_on_and_dies_away() {
        let Some(tb) = trombone() else { return };
        let n = tb.render_note(45, 100, 0.5).unwrap();
        let rate = n.rate_hz as usize;
        // 0.05 s pre-roll = 800 samples = 12.5 blocks -> 13 blocks; 0.5 s = 125 blocks.
        assert_eq!(n.rate_hz, 16_000);
        assert_eq!(n.note_on, 13 * 64);
        assert_eq!(n.note_off, n.note_on + 125 * 64);
        assert!(n.samples[..n.note_on].iter().all(|&s| s == 0.0), "sound before the note-on");
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        assert!(rms(&n.samples[n.note_on + rate / 10..n.note_off]) > 0.01);
        // The release ends: the render stops well before the 2 s limit, quiet at the end.
        let tail = n.samples.len() - n.note_off;
        assert!(tail < rate, "release rendered for {tail} samples");
        assert!(n.samples[n.samples.len() - rate / 10..].iter().all(|v| v.abs() < 1e-5));
    }

    #[test]
    fn renders_are_repeatable() {
        let Some(tb) = trombone() else { return };
        let a = tb.render_note(60, 80, 0.2).unwrap();
        let b = tb.render_note(60, 80, 0.2).unwrap();
        assert_eq!(a.samples, b.samples);
    }
}
