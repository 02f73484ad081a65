//! Opens Sackbut's editor in a real X11 window through CLAP's gui extension, as a Linux host does,
//! and photographs it: loads `Sackbut.clap`, activates it, creates an X11 parent window,
//! `create`/`set_scale`/`get_size`/`set_parent`/`show`s the editor in it, plays a note for about
//! two seconds (paced as a live host) while the main thread pumps, screenshots the editor before
//! and during the note, then `hide`/`destroy`s it, deactivates and exits 0.
//!
//! `sackbut-clap-gui [OUT_DIR]` (default `target/clap-gui`; needs `$DISPLAY`, e.g. Xvfb). Writes
//! `OUT_DIR/editor-idle.png`, `OUT_DIR/editor-playing.png` and prints a JSON summary as its last
//! line of stdout.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sackbut_clap_host::{Event, Instance, MainThreadAction};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, ImageFormat, Window, WindowClass};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::COPY_DEPTH_FROM_PARENT;

const RATE: f64 = 48_000.0;
/// Where things happen (seconds): the editor opens right after activation.
const IDLE_SHOT: f64 = 0.7;
const NOTE_ON: f64 = 0.8;
const PLAYING_SHOT: f64 = 1.8;
const NOTE_OFF: f64 = 2.0;
const CLOSE: f64 = 2.4;
const END: f64 = 2.6;
/// How often the main thread pumps (seconds).
const PUMP: f64 = 0.02;
/// The parent window's background: a colour the editor never draws, so an editor that draws
/// nothing leaves a uniform magenta screenshot.
const PARENT_BACKGROUND: u32 = 0xff00ff;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sackbut-clap-gui: {e}");
            ExitCode::FAILURE
        }
    }
}

fn at(seconds: f64) -> u64 {
    (seconds * RATE) as u64
}

/// A screenshot of one window.
struct Shot {
    width: u32,
    height: u32,
    /// RGB, 8 bits a channel, rows top to bottom.
    rgb: Vec<u8>,
    depth: u8,
}

impl Shot {
    /// Distinct colours, and the share of pixels the most common one covers.
    fn colours(&self) -> (usize, f64) {
        let mut counts: HashMap<[u8; 3], usize> = HashMap::new();
        for p in self.rgb.chunks_exact(3) {
            *counts.entry([p[0], p[1], p[2]]).or_default() += 1;
        }
        let top = counts.values().copied().max().unwrap_or(0);
        (counts.len(), top as f64 / (self.width * self.height).max(1) as f64)
    }

    fn write_png(&self, path: &Path) -> Result<(), String> {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), self.width, self.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&self.rgb).map_err(|e| e.to_string())
    }
}

/// The X11 side of the host: a connection and the parent window it embeds the editor in.
struct X {
    conn: RustConnection,
    screen: usize,
    parent: Window,
}

impl X {
    fn open(width: u16, height: u16) -> Result<X, String> {
        let (conn, screen) = x11rb::connect(None).map_err(|e| format!("cannot connect to the X display ($DISPLAY): {e}"))?;
        let parent = conn.generate_id().map_err(|e| e.to_string())?;
        let root = conn.setup().roots[screen].root;
        conn.create_window(
            COPY_DEPTH_FROM_PARENT,
            parent,
            root,
            0,
            0,
            width,
            height,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new().background_pixel(PARENT_BACKGROUND),
        )
        .map_err(|e| e.to_string())?;
        conn.change_property8(
            x11rb::protocol::xproto::PropMode::REPLACE,
            parent,
            x11rb::protocol::xproto::AtomEnum::WM_NAME,
            x11rb::protocol::xproto::AtomEnum::STRING,
            b"Sackbut (sackbut-clap-gui)",
        )
        .map_err(|e| e.to_string())?;
        conn.map_window(parent).map_err(|e| e.to_string())?;
        conn.sync().map_err(|e| e.to_string())?;
        Ok(X { conn, screen, parent })
    }

    /// Handles what the server sent (nothing is asked for: this drains errors and events).
    fn pump(&self) {
        while let Ok(Some(_)) = self.conn.poll_for_event() {}
        let _ = self.conn.flush();
    }

    fn resize(&self, width: u32, height: u32) -> Result<(), String> {
        use x11rb::protocol::xproto::ConfigureWindowAux;
        self.conn.configure_window(self.parent, &ConfigureWindowAux::new().width(width).height(height)).map_err(|e| e.to_string())?;
        self.conn.sync().map_err(|e| e.to_string())
    }

    /// The editor's window: the parent's (first) child, once the plugin has embedded it.
    fn editor_window(&self) -> Option<Window> {
        let tree = self.conn.query_tree(self.parent).ok()?.reply().ok()?;
        tree.children.first().copied()
    }

    /// Position and size of `w` in its parent.
    fn geometry(&self, w: Window) -> Result<(i16, i16, u16, u16), String> {
        let g = self.conn.get_geometry(w).map_err(|e| e.to_string())?.reply().map_err(|e| e.to_string())?;
        Ok((g.x, g.y, g.width, g.height))
    }

    /// What `w` shows now (its own pixels and its children's).
    fn screenshot(&self, w: Window) -> Result<Shot, String> {
        let (_, _, width, height) = self.geometry(w)?;
        let reply = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, w, 0, 0, width, height, !0)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| format!("GetImage: {e}"))?;
        let setup = self.conn.setup();
        let bpp = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == reply.depth)
            .map(|f| f.bits_per_pixel)
            .ok_or("no pixmap format for the window's depth")?;
        if bpp != 32 {
            return Err(format!("{bpp} bits per pixel (depth {}): only 32 is handled", reply.depth));
        }
        let visual = setup.roots[self.screen]
            .allowed_depths
            .iter()
            .flat_map(|d| d.visuals.iter())
            .find(|v| v.visual_id == reply.visual)
            .ok_or("the window's visual is not on the screen")?;
        let little = setup.image_byte_order == x11rb::protocol::xproto::ImageOrder::LSB_FIRST;
        let channel = |px: u32, mask: u32| -> u8 {
            let v = (px & mask) >> mask.trailing_zeros();
            let bits = mask.count_ones();
            if bits >= 8 {
                (v >> (bits - 8)) as u8
            } else {
                (v << (8 - bits)) as u8
            }
        };
        let stride = reply.data.len() / height.max(1) as usize;
        let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
        for y in 0..height as usize {
            let row = &reply.data[y * stride..];
            for x in 0..width as usize {
                let b: [u8; 4] = row[4 * x..4 * x + 4].try_into().unwrap();
                let px = if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) };
                rgb.extend_from_slice(&[channel(px, visual.red_mask), channel(px, visual.green_mask), channel(px, visual.blue_mask)]);
            }
        }
        Ok(Shot { width: width as u32, height: height as u32, rgb, depth: reply.depth })
    }
}

fn run() -> Result<(), String> {
    let out_dir =
        std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/clap-gui"));
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let bundle = sackbut_clap_host::clap_bundle().ok_or("no Sackbut.clap to load")?;
    let x = X::open(560, 600)?;
    let mut plugin = Instance::load(&bundle)?;

    let events = [(at(NOTE_ON), Event::On { key: 60, velocity: 100 }), (at(NOTE_OFF), Event::Off { key: 60 })];
    let opened: RefCell<Option<Result<(u32, u32), String>>> = RefCell::new(None);
    let shots: RefCell<Vec<(String, Result<Shot, String>)>> = RefCell::new(Vec::new());
    let editor_geometry: Cell<Option<(i16, i16, u16, u16)>> = Cell::new(None);
    let closed: RefCell<Option<Result<(), String>>> = RefCell::new(None);
    let size_while_open: Cell<Option<(u32, u32)>> = Cell::new(None);

    let mut actions: Vec<(u64, MainThreadAction<'_>)> = Vec::new();
    // Activation is done (the render activates first); the editor opens in the parent window.
    actions.push((
        0,
        Box::new(|p: &mut Instance| {
            // SAFETY: the parent window lives until after `close_gui` (destroyed at the end).
            let r = unsafe { p.open_gui(x.parent, 1.0) }.and_then(|size| {
                x.resize(size.width, size.height)?;
                Ok((size.width, size.height))
            });
            *opened.borrow_mut() = Some(r);
            x.pump();
        }),
    ));
    let mut t = PUMP;
    while t < END - PUMP {
        let label = if (t - IDLE_SHOT).abs() < PUMP / 2.0 {
            Some("idle")
        } else if (t - PLAYING_SHOT).abs() < PUMP / 2.0 {
            Some("playing")
        } else {
            None
        };
        let close = (t - CLOSE).abs() < PUMP / 2.0;
        let (x, shots, closed, editor_geometry, size_while_open, opened) =
            (&x, &shots, &closed, &editor_geometry, &size_while_open, &opened);
        actions.push((
            at(t),
            Box::new(move |p: &mut Instance| {
                x.pump();
                let open = matches!(*opened.borrow(), Some(Ok(_))) && closed.borrow().is_none();
                if !open {
                    return;
                }
                if let Some(label) = label {
                    let shot = x.editor_window().ok_or_else(|| "the editor embedded no window".to_string()).and_then(|w| {
                        editor_geometry.set(x.geometry(w).ok());
                        x.screenshot(w)
                    });
                    size_while_open.set(p.gui_size().map(|s| (s.width, s.height)));
                    shots.borrow_mut().push((label.to_string(), shot));
                }
                if close {
                    *closed.borrow_mut() = Some(p.close_gui());
                    x.pump();
                }
            }),
        ));
        t += PUMP;
    }
    let render = plugin.render_with_actions(RATE, &[480], at(END) as usize, &events, true, actions);

    let gui_size = opened.into_inner().ok_or("the editor was never opened")??;
    closed.into_inner().ok_or("the editor was never closed")??;
    let _ = x.conn.destroy_window(x.parent);
    let _ = x.conn.sync();

    let mut summary = serde_json::json!({
        "gui_size": [gui_size.0, gui_size.1],
        "size_while_open": size_while_open.get().map(|s| vec![s.0, s.1]),
        "editor_window": editor_geometry.get().map(|(x, y, w, h)| vec![x as i64, y as i64, w as i64, h as i64]),
        "resize_requests": plugin.gui_requests(|g| g.resizes.load(std::sync::atomic::Ordering::SeqCst)),
        "closed_callbacks": plugin.gui_requests(|g| g.closed.load(std::sync::atomic::Ordering::SeqCst)),
        "peak": render.left.iter().fold(0f32, |m, v| m.max(v.abs())),
        "finite": render.left.iter().all(|v| v.is_finite()),
        "shots": {},
    });
    for (label, shot) in shots.into_inner() {
        let shot = shot.map_err(|e| format!("screenshot {label}: {e}"))?;
        let path = out_dir.join(format!("editor-{label}.png"));
        shot.write_png(&path)?;
        let (distinct, top_share) = shot.colours();
        eprintln!(
            "{label}: {}×{} depth {}, {distinct} colours, the commonest covers {:.0}% → {}",
            shot.width,
            shot.height,
            shot.depth,
            100.0 * top_share,
            path.display()
        );
        summary["shots"][label.as_str()] = serde_json::json!({
            "path": path, "width": shot.width, "height": shot.height, "colours": distinct, "commonest_share": top_share,
        });
    }
    println!("{summary}");
    Ok(())
}
