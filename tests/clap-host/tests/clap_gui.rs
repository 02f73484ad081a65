//! The editor in a real window: under a private Xvfb, `sackbut-clap-gui` opens Sackbut's egui
//! editor through CLAP's gui extension embedded in an X11 window, plays a note, screenshots the
//! editor before and during it, and closes it. What a user would notice is asserted: the process
//! ends cleanly, the window is the editor's size, the editor covers its window and draws text
//! (anti-aliased glyphs give many colours; a build without fonts draws boxes in a few dozen),
//! and the status line changes while the note plays.
//!
//! Skips (with a line on stderr) without Xvfb (Debian's `xvfb`, which scripts/setup.sh installs)
//! or without the built bundle.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The editor's size (logical pixels; Xvfb's scale is 1).
const EDITOR_SIZE: (u32, u32) = (560, 600);
/// The parent window's background (the host binary's); it must not show through the editor.
const PARENT_BACKGROUND: [u8; 3] = [255, 0, 255];

/// An Xvfb server this test started; killed (by its own pid) when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    /// Starts `Xvfb` on a display it picks itself (`-displayfd`: no race for a free number), or
    /// says why it cannot.
    fn start() -> Result<Xvfb, String> {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run Xvfb ({e}): install Debian's `xvfb` (scripts/setup.sh does)"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        // Xvfb writes the display number once it accepts connections.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if !line.trim().is_empty() => Ok(Xvfb { child, display: format!(":{}", line.trim()) }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err("Xvfb did not report a display within 30 s".into())
            }
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A decoded RGB screenshot.
struct Shot {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Shot {
    fn load(path: &Path) -> Shot {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("a frame");
        assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
        buf.truncate(info.buffer_size());
        Shot { width: info.width, height: info.height, rgb: buf }
    }

    fn pixels(&self) -> impl Iterator<Item = [u8; 3]> + '_ {
        self.rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]])
    }

    /// Distinct colours, and the share of the commonest.
    fn colours(&self) -> (usize, f64) {
        let mut counts: HashMap<[u8; 3], usize> = HashMap::new();
        for p in self.pixels() {
            *counts.entry(p).or_default() += 1;
        }
        let top = counts.values().copied().max().unwrap_or(0);
        (counts.len(), top as f64 / (self.width * self.height) as f64)
    }

    /// Rows (top to bottom) where `self` and `other` differ.
    fn rows_differing(&self, other: &Shot) -> Vec<u32> {
        let stride = 3 * self.width as usize;
        (0..self.height)
            .filter(|&y| {
                let r = y as usize * stride..(y as usize + 1) * stride;
                self.rgb[r.clone()] != other.rgb[r]
            })
            .collect()
    }
}

#[test]
fn the_editor_opens_draws_and_closes_in_a_real_x11_window() {
    let Some(_bundle) = sackbut_clap_host::clap_bundle() else { return };
    let xvfb = match Xvfb::start() {
        Ok(x) => x,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/clap-gui");
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sackbut-clap-gui"))
        .arg(&out_dir)
        .env("DISPLAY", &xvfb.display)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sackbut-clap-gui starts");
    // The scenario plays 2.6 s paced; a slow machine's model load is allowed for.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sackbut-clap-gui hung (no exit in 180 s) with the editor open");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("its output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(status.success(), "sackbut-clap-gui failed ({status}; a signal means a crash):\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a summary line")).expect("a JSON summary");
    eprintln!("{summary}");

    // The editor asked for its size, and its window is exactly that, at the parent's corner.
    let want = serde_json::json!([EDITOR_SIZE.0, EDITOR_SIZE.1]);
    assert_eq!(summary["gui_size"], want, "gui get_size");
    assert_eq!(summary["size_while_open"], want, "gui get_size while open");
    assert_eq!(summary["editor_window"], serde_json::json!([0, 0, EDITOR_SIZE.0, EDITOR_SIZE.1]), "the editor's X11 window");
    assert_eq!(summary["finite"], true, "the audio rendered while the editor was open is finite");
    // Above −60 dBFS: the plugin outputs exact zeros when nothing sounds, and how loud the note
    // is depends on the voice (the default voice plays C4 quietly, at about −40 dBFS peak).
    assert!(summary["peak"].as_f64().unwrap() > 1e-3, "the note sounded");

    let idle = Shot::load(&out_dir.join("editor-idle.png"));
    let playing = Shot::load(&out_dir.join("editor-playing.png"));
    for (name, shot) in [("idle", &idle), ("playing", &playing)] {
        assert_eq!((shot.width, shot.height), EDITOR_SIZE, "{name} screenshot size");
        let (colours, top) = shot.colours();
        assert!(top < 0.95, "{name}: one colour covers {:.0}% of the editor: it drew next to nothing", 100.0 * top);
        assert!(colours >= 100, "{name}: only {colours} colours: the editor's text is not anti-aliased glyphs (no fonts draws boxes)");
        let holes = shot.pixels().filter(|&p| p == PARENT_BACKGROUND).count();
        assert_eq!(holes, 0, "{name}: the parent window shows through the editor at {holes} pixels");
    }
    // The note changes the bottom of the editor (Sounding, the status line), not the voice card.
    let rows = idle.rows_differing(&playing);
    assert!(!rows.is_empty(), "the editor did not change while a note played");
    assert!(rows[0] > EDITOR_SIZE.1 / 2, "the editor changed above its status lines (from row {})", rows[0]);
}
