//! Notes and velocities from file names: `A2_017.wav`, `Bb2-3.wav`, `45_x.wav`, `C#4 ff.wav`.

/// The MIDI note a file name starts with, as a note name or a MIDI number, followed by a
/// separator (`_`, `-`, space, `.`) or the end of the name.
///
/// Note names are case-insensitive: a letter A–G, an optional `#` or `b` (`♯`/`♭` too), and
/// an octave −1..=9 with C4 = 60, i.e. MIDI = 12 · (octave + 1) + pitch class: "A2_017" → 45,
/// "Bb2-3" → 46, "C#4" → 61, "C-1" → 0. A plain number 0..=127 is taken as a MIDI note:
/// "45_x" → 45. Anything else ("Track_01", "A_2", "G9" = 127 + 4, "128") is `None`.
pub fn note_from_file_name(stem: &str) -> Option<u8> {
    let (note, rest) = parse_note_prefix(stem)?;
    at_separator(rest).then_some(note)
}

/// A note given on the command line: a MIDI number or a note name ("45", "A2", "bb2").
pub fn parse_note(s: &str) -> Option<u8> {
    let (note, rest) = parse_note_prefix(s.trim())?;
    rest.is_empty().then_some(note)
}

fn at_separator(rest: &str) -> bool {
    rest.is_empty() || rest.starts_with(['_', '-', ' ', '.'])
}

/// A note at the start of `s` and what follows it.
fn parse_note_prefix(s: &str) -> Option<(u8, &str)> {
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        if digits > 3 {
            return None;
        }
        let n: u32 = s[..digits].parse().ok()?;
        return (n <= 127).then_some((n as u8, &s[digits..]));
    }
    let mut chars = s.char_indices().peekable();
    let (_, letter) = chars.next()?;
    let pitch_class: i32 = match letter.to_ascii_uppercase() {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let mut accidental = 0;
    if let Some(&(_, c)) = chars.peek() {
        match c {
            '#' | '♯' => accidental = 1,
            'b' | 'B' | '♭' => accidental = -1,
            _ => {}
        }
        if accidental != 0 {
            chars.next();
        }
    }
    let rest_at = chars.peek().map_or(s.len(), |&(i, _)| i);
    let rest = &s[rest_at..];
    let (octave, rest) = if let Some(r) = rest.strip_prefix("-1") {
        (-1, r)
    } else {
        let d = rest.chars().next()?.to_digit(10)? as i32;
        (d, &rest[1..])
    };
    // A second digit would make it octave 10+ (or a name like "A22"): not a note name.
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let midi = 12 * (octave + 1) + pitch_class + accidental;
    (0..=127).contains(&midi).then_some((midi as u8, rest))
}

/// A velocity named in a file name, after the note: a token `v80`, `vel80` or `velocity80`
/// (1..=127), or a dynamic marking `ppp pp p mp mf f ff fff` (16 33 49 64 80 96 112 127,
/// the usual MIDI mapping; also `pianissimo piano forte fortissimo`). Tokens are separated
/// by `_`, `-`, space or `.`; the first token (the note) is not looked at. `None` if the
/// name does not say.
pub fn velocity_from_file_name(stem: &str) -> Option<u8> {
    stem.split(['_', '-', ' ', '.']).skip(1).find_map(|token| {
        let t = token.to_ascii_lowercase();
        for prefix in ["velocity", "vel", "v"] {
            if let Some(num) = t.strip_prefix(prefix) {
                if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) {
                    return num.parse::<u8>().ok().filter(|v| (1..=127).contains(v));
                }
            }
        }
        Some(match t.as_str() {
            "ppp" => 16,
            "pp" | "pianissimo" => 33,
            "p" | "piano" => 49,
            "mp" => 64,
            "mf" => 80,
            "f" | "forte" => 96,
            "ff" | "fortissimo" => 112,
            "fff" => 127,
            _ => return None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_names_before_a_separator() {
        assert_eq!(note_from_file_name("A2_017"), Some(45));
        assert_eq!(note_from_file_name("Bb2-3"), Some(46));
        assert_eq!(note_from_file_name("C#4"), Some(61));
        assert_eq!(note_from_file_name("Eb5"), Some(75));
        assert_eq!(note_from_file_name("C4 long"), Some(60));
        assert_eq!(note_from_file_name("F3.take2"), Some(53));
        assert_eq!(note_from_file_name("a2"), Some(45));
        assert_eq!(note_from_file_name("BB2"), Some(46));
        assert_eq!(note_from_file_name("E♭3"), Some(51));
        assert_eq!(note_from_file_name("B#3"), Some(60));
        assert_eq!(note_from_file_name("Cb4"), Some(59));
    }

    #[test]
    fn octave_range_is_minus_one_to_nine() {
        assert_eq!(note_from_file_name("C-1"), Some(0));
        assert_eq!(note_from_file_name("C-1_x"), Some(0));
        assert_eq!(note_from_file_name("G9"), Some(127));
        assert_eq!(note_from_file_name("G#9"), None); // 128
        assert_eq!(note_from_file_name("A9"), None); // 129
        assert_eq!(note_from_file_name("Cb-1"), None); // -1
        assert_eq!(note_from_file_name("C10"), None);
    }

    #[test]
    fn midi_numbers() {
        assert_eq!(note_from_file_name("45_x"), Some(45));
        assert_eq!(note_from_file_name("0"), Some(0));
        assert_eq!(note_from_file_name("127-a"), Some(127));
        assert_eq!(note_from_file_name("128"), None);
        assert_eq!(note_from_file_name("0045"), None);
    }

    #[test]
    fn other_names_are_rejected() {
        for stem in ["Track_01", "A_2", "A", "", "H2", "A2x", "45x", "trombone_A2", "#4", "A2b"] {
            assert_eq!(note_from_file_name(stem), None, "{stem:?}");
        }
    }

    #[test]
    fn command_line_notes() {
        assert_eq!(parse_note("45"), Some(45));
        assert_eq!(parse_note(" bb2 "), Some(46));
        assert_eq!(parse_note("A2_x"), None);
    }

    #[test]
    fn velocities_from_names() {
        assert_eq!(velocity_from_file_name("A2_v80"), Some(80));
        assert_eq!(velocity_from_file_name("A2_017_vel100"), Some(100));
        assert_eq!(velocity_from_file_name("A2 ff"), Some(112));
        assert_eq!(velocity_from_file_name("A2-pp-long"), Some(33));
        assert_eq!(velocity_from_file_name("A2_fortissimo"), Some(112));
        assert_eq!(velocity_from_file_name("A2_017"), None);
        assert_eq!(velocity_from_file_name("A2_v0"), None);
        assert_eq!(velocity_from_file_name("A2_v200"), None);
        // The first token is the note, even when it reads like a dynamic.
        assert_eq!(velocity_from_file_name("F"), None);
    }
}
