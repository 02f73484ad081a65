//! A small CLAP host on clack-host for Sackbut's end-to-end tests: it loads the built
//! `Sackbut.clap`, sets the render mode, activates at a rate with a cycle of block sizes, plays
//! timed note and controller events, and returns what the plugin rendered, with its latency.
//! Also: state save/load, parameter values, and the signal measures the tests assert on.

pub mod analysis;
pub mod phrase;
pub mod reference;

use std::cell::Cell;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clack_extensions::gui::{GuiApiType, GuiConfiguration, GuiSize, HostGui, HostGuiImpl, PluginGui, Window};
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{MidiEvent, NoteChokeEvent, NoteOffEvent, NoteOnEvent, ParamValueEvent};
use clack_host::prelude::*;

/// The bundle directory: `$SACKBUT_BUNDLE_DIR`, else `target/bundled` of the workspace.
pub fn bundle_dir() -> PathBuf {
    if let Ok(d) = std::env::var("SACKBUT_BUNDLE_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bundled")
}

/// The built CLAP bundle, or `None` (with a line on stderr) when it has not been built; with
/// `SACKBUT_REQUIRE_BUNDLES=1` (scripts/test.sh) a missing bundle is a panic instead.
pub fn clap_bundle() -> Option<PathBuf> {
    let p = bundle_dir().join("Sackbut.clap");
    if p.exists() {
        return Some(p);
    }
    let msg = format!("{} is missing: build it with `bash scripts/bundle.sh`", p.display());
    if std::env::var("SACKBUT_REQUIRE_BUNDLES").is_ok_and(|v| v == "1") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// What the plugin asked of the host.
#[derive(Default)]
pub struct TestHostShared {
    restart_requested: AtomicBool,
    process_requested: AtomicBool,
    callback_requested: AtomicBool,
    /// What the plugin's editor asked of the host's gui extension.
    pub gui: GuiRequests,
}

/// Counts of the calls a plugin's editor made on the host's `clap.gui` extension.
#[derive(Default, Debug)]
pub struct GuiRequests {
    /// `request_resize` calls; the last size asked for is in `last_resize`.
    pub resizes: AtomicU64,
    /// The last size `request_resize` asked for, as `width << 32 | height`.
    pub last_resize: AtomicU64,
    /// `closed` calls.
    pub closed: AtomicU64,
    /// `request_show`, `request_hide` and `resize_hints_changed` calls.
    pub other: AtomicU64,
}

impl HostGuiImpl for TestHostShared {
    fn resize_hints_changed(&self) {
        self.gui.other.fetch_add(1, Ordering::SeqCst);
    }
    fn request_resize(&self, new_size: GuiSize) -> Result<(), HostError> {
        self.gui.resizes.fetch_add(1, Ordering::SeqCst);
        self.gui.last_resize.store((new_size.width as u64) << 32 | new_size.height as u64, Ordering::SeqCst);
        Err(HostError::Message("the test host's parent window has a fixed size"))
    }
    fn request_show(&self) -> Result<(), HostError> {
        self.gui.other.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        self.gui.other.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {
        self.gui.closed.fetch_add(1, Ordering::SeqCst);
    }
}

impl<'a> SharedHandler<'a> for TestHostShared {
    fn request_restart(&self) {
        self.restart_requested.store(true, Ordering::SeqCst);
    }
    fn request_process(&self) {
        self.process_requested.store(true, Ordering::SeqCst);
    }
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

/// The test host's handler types.
pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = TestHostShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();

    // nice-plug's editor needs the host's gui extension to open (it unwraps it in `create`).
    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostGui>();
    }
}

/// A timed event of a phrase, at a host sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// Note on (velocity 0..=127; 0 is a note-off in MIDI terms).
    On { key: u8, velocity: u8 },
    /// Note off.
    Off { key: u8 },
    /// A MIDI control change on channel 0.
    Cc { cc: u8, value: u8 },
    /// A CLAP note choke.
    Choke { key: u8 },
    /// A parameter change (CLAP id from [`Instance::param_id`], the value as CLAP shows it).
    Param { id: u32, value: f64 },
}

/// Something the host's main thread does while the audio thread renders.
pub type MainThreadAction<'a> = Box<dyn FnOnce(&mut Instance) + 'a>;

/// What a render gave.
pub struct Render {
    /// Channel 0 (the plugin's output is mono, copied to both channels).
    pub left: Vec<f32>,
    /// Whether channel 1 equalled channel 0 throughout.
    pub channels_equal: bool,
    /// Latency the plugin reported (host samples).
    pub latency: u32,
    /// Longest single `process` call.
    pub longest_call: Duration,
    /// Wall time of the whole render.
    pub wall: Duration,
}

impl Render {
    /// The output with the latency compensated: sample `i` is what answers events at `i`.
    pub fn compensated(&self) -> &[f32] {
        &self.left[(self.latency as usize).min(self.left.len())..]
    }
}

/// A plugin instance on this thread.
pub struct Instance {
    _entry: PluginEntry,
    instance: PluginInstance<TestHost>,
    offline: Cell<bool>,
}

impl Instance {
    /// Loads the bundle and instantiates Sackbut.
    pub fn load(bundle: &Path) -> Result<Instance, String> {
        // SAFETY: loading a shared library runs its initialisers; the bundle is the one this
        // workspace built.
        let entry = unsafe { PluginEntry::load(bundle) }.map_err(|e| format!("{}: {e:?}", bundle.display()))?;
        let factory = entry.get_plugin_factory().ok_or("no plugin factory")?;
        let id: CString = factory
            .plugin_descriptors()
            .find_map(|d| d.id().filter(|id| id.to_bytes() == b"org.sackbut.neural-trombone").map(|id| id.to_owned()))
            .ok_or("Sackbut is not in the bundle")?;
        let info = HostInfo::new("sackbut-clap-host", "Sackbut", "https://example.invalid", "0.1.0").map_err(|e| e.to_string())?;
        let instance = PluginInstance::<TestHost>::new(|_| TestHostShared::default(), |_| (), &entry, &id, &info)
            .map_err(|e| format!("instantiating: {e:?}"))?;
        Ok(Instance { _entry: entry, instance, offline: Cell::new(false) })
    }

    /// Sets the render mode (before activation).
    pub fn set_offline(&mut self, offline: bool) {
        let handle = self.instance.plugin_handle();
        let render: PluginRender = handle.get_extension().expect("the render extension");
        render.set(&handle, if offline { RenderMode::Offline } else { RenderMode::Realtime }).expect("render mode accepted");
        self.offline.set(offline);
    }

    /// Runs the plugin's main-thread callbacks it asked for.
    pub fn pump_main_thread(&mut self) {
        let asked = self.instance.access_shared_handler(|h| h.callback_requested.swap(false, Ordering::SeqCst));
        if asked {
            self.instance.call_on_main_thread_callback();
        }
    }

    /// Opens the plugin's editor embedded in the X11 window `parent` through the `clap.gui`
    /// extension, as a Linux host does: `is_api_supported("x11", embedded)`, `create`,
    /// `set_scale`, `get_size`, `set_parent`, `show`. Returns the size the editor asked for
    /// (physical pixels); the caller sizes `parent` to it. Main thread only.
    ///
    /// # Safety
    ///
    /// `parent` must be a live X11 window on the display the plugin connects to (`$DISPLAY`),
    /// and stay alive until [`Self::close_gui`].
    pub unsafe fn open_gui(&mut self, parent: u32, scale: f64) -> Result<GuiSize, String> {
        let handle = self.instance.plugin_handle();
        let gui: PluginGui = handle.get_extension().ok_or("the plugin has no gui extension")?;
        let embedded = GuiConfiguration { api_type: GuiApiType::X11, is_floating: false };
        if !gui.is_api_supported(&handle, embedded) {
            return Err("the plugin does not support an embedded x11 gui".into());
        }
        gui.create(&handle, embedded).map_err(|e| format!("gui create: {e:?}"))?;
        // X11 uses physical pixels; a plugin that reads the scale itself may refuse this.
        let _ = gui.set_scale(&handle, scale);
        let size = gui.get_size(&handle).ok_or("gui get_size failed")?;
        // SAFETY: the caller keeps `parent` alive until `close_gui`.
        unsafe { gui.set_parent(&handle, Window::from_x11_handle(parent as std::ffi::c_ulong)) }
            .map_err(|e| format!("gui set_parent: {e:?}"))?;
        gui.show(&handle).map_err(|e| format!("gui show: {e:?}"))?;
        self.pump_main_thread();
        Ok(size)
    }

    /// The editor's current size (physical pixels), if it is open.
    pub fn gui_size(&mut self) -> Option<GuiSize> {
        let handle = self.instance.plugin_handle();
        let gui: PluginGui = handle.get_extension()?;
        gui.get_size(&handle)
    }

    /// Hides and destroys the editor opened with [`Self::open_gui`].
    pub fn close_gui(&mut self) -> Result<(), String> {
        let handle = self.instance.plugin_handle();
        let gui: PluginGui = handle.get_extension().ok_or("the plugin has no gui extension")?;
        let hidden = gui.hide(&handle).map_err(|e| format!("gui hide: {e:?}"));
        gui.destroy(&handle);
        self.pump_main_thread();
        hidden
    }

    /// What the plugin's editor asked of the host's gui extension.
    pub fn gui_requests<R>(&self, f: impl FnOnce(&GuiRequests) -> R) -> R {
        self.instance.access_shared_handler(|h| f(&h.gui))
    }

    /// The plugin's state.
    pub fn save_state(&mut self) -> Vec<u8> {
        let handle = self.instance.plugin_handle();
        let state: PluginState = handle.get_extension().expect("the state extension");
        let mut out = Vec::new();
        state.save(&handle, &mut out).expect("state saves");
        out
    }

    /// Restores a state.
    pub fn load_state(&mut self, bytes: &[u8]) {
        let handle = self.instance.plugin_handle();
        let state: PluginState = handle.get_extension().expect("the state extension");
        state.load(&handle, &mut &bytes[..]).expect("state loads");
        self.pump_main_thread();
    }

    /// The CLAP id of the parameter named `name`.
    pub fn param_id(&mut self, name: &str) -> Option<u32> {
        let handle = self.instance.plugin_handle();
        let params: PluginParams = handle.get_extension()?;
        let mut buf = ParamInfoBuffer::new();
        (0..params.count(&handle)).find_map(|i| {
            let info = params.get_info(&handle, i, &mut buf)?;
            (info.name == name.as_bytes()).then(|| info.id.get())
        })
    }

    /// The plain value of the parameter named `name` (as the host shows it).
    pub fn param(&mut self, name: &str) -> Option<f64> {
        let handle = self.instance.plugin_handle();
        let params: PluginParams = handle.get_extension()?;
        let mut buf = ParamInfoBuffer::new();
        for i in 0..params.count(&handle) {
            let Some(info) = params.get_info(&handle, i, &mut buf) else { continue };
            if info.name == name.as_bytes() {
                let id = info.id;
                return params.get_value(&handle, id);
            }
        }
        None
    }

    /// Activates at `rate` with blocks cycling through `blocks`, plays `events` (host sample,
    /// event; in time order) and renders `frames` samples; then deactivates.
    pub fn render(&mut self, rate: f64, blocks: &[usize], frames: usize, events: &[(u64, Event)]) -> Render {
        self.render_with_actions(rate, blocks, frames, events, false, Vec::new())
    }

    /// The test phrase ([`phrase::PHRASE`]) at `rate`, blocks cycling through `blocks`, rendered
    /// for the phrase plus the latency (so the compensated output covers the whole phrase).
    pub fn render_phrase(&mut self, rate: u32, blocks: &[usize]) -> Render {
        let events = phrase::at_rate(phrase::PHRASE, rate);
        let probe = self.render(rate as f64, &[64], 64, &[]);
        let frames = phrase::ms(phrase::PHRASE_MS, rate) + probe.latency as usize;
        let r = self.render(rate as f64, blocks, frames, &events);
        assert_eq!(r.latency, probe.latency, "latency is constant");
        r
    }

    /// As [`Self::render`], but each block starts when a real audio device would ask for it
    /// (the block's duration after the previous one), as a live host does.
    pub fn render_paced(&mut self, rate: f64, blocks: &[usize], frames: usize, events: &[(u64, Event)]) -> Render {
        self.render_with_actions(rate, blocks, frames, events, true, Vec::new())
    }

    /// As [`Self::render`] (`paced`: [`Self::render_paced`]), and the main thread runs each
    /// action once the audio thread has rendered past its host sample (in order), as a host's
    /// main thread restores a state or loads a preset while the audio plays.
    pub fn render_with_actions(
        &mut self,
        rate: f64,
        blocks: &[usize],
        frames: usize,
        events: &[(u64, Event)],
        paced: bool,
        actions: Vec<(u64, MainThreadAction<'_>)>,
    ) -> Render {
        let max = *blocks.iter().max().expect("block sizes") as u32;
        let config = PluginAudioConfiguration { sample_rate: rate, min_frames_count: 1, max_frames_count: max };
        let stopped = self.instance.activate(|_, _| (), config).expect("activates");
        self.pump_main_thread();
        let latency = {
            let handle = self.instance.plugin_handle();
            handle.get_extension::<PluginLatency>().map_or(0, |l| l.get(&handle))
        };
        let blocks = blocks.to_vec();
        let events = events.to_vec();
        let progress = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        let (stopped, left, channels_equal, longest_call, wall) = std::thread::scope(|s| {
            let (progress, done) = (&progress, &done);
            let audio = s.spawn(move || {
                let mut proc = stopped.start_processing().expect("starts processing");
                let mut left = Vec::with_capacity(frames);
                let mut equal = true;
                let mut out_l = vec![0f32; max as usize];
                let mut out_r = vec![0f32; max as usize];
                let mut ports_out = AudioPorts::with_capacity(2, 1);
                let mut ports_in = AudioPorts::with_capacity(0, 0);
                let mut buffer = EventBuffer::with_capacity(64);
                let mut out_events = EventBuffer::new();
                let mut next_event = 0;
                let mut pos = 0u64;
                let mut k = 0;
                let mut longest = Duration::ZERO;
                let start = Instant::now();
                while (pos as usize) < frames {
                    let n = blocks[k % blocks.len()].min(frames - pos as usize);
                    k += 1;
                    if paced {
                        let due = start + Duration::from_secs_f64(pos as f64 / rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    buffer.clear();
                    while next_event < events.len() && events[next_event].0 < pos + n as u64 {
                        let (at, ev) = events[next_event];
                        let time = at.saturating_sub(pos) as u32;
                        match ev {
                            Event::On { key, velocity } => {
                                buffer.push(&NoteOnEvent::new(time, Pckn::new(0u16, 0u16, key as u16, Match::All), velocity as f64 / 127.0))
                            }
                            Event::Off { key } => buffer.push(&NoteOffEvent::new(time, Pckn::new(0u16, 0u16, key as u16, Match::All), 0.0)),
                            Event::Cc { cc, value } => buffer.push(&MidiEvent::new(time, 0, [0xB0, cc, value])),
                            Event::Choke { key } => buffer.push(&NoteChokeEvent::new(time, Pckn::new(0u16, 0u16, key as u16, Match::All))),
                            Event::Param { id, value } => {
                                buffer.push(&ParamValueEvent::new(time, ClapId::new(id), Pckn::match_all(), value))
                            }
                        }
                        next_event += 1;
                    }
                    out_events.clear();
                    let inputs = ports_in.with_input_buffers(std::iter::empty::<
                        AudioPortBuffer<std::iter::Empty<InputChannel<f32>>, std::iter::Empty<InputChannel<f64>>>,
                    >());
                    let mut outputs = ports_out.with_output_buffers([AudioPortBuffer {
                        latency: 0,
                        channels: AudioPortBufferType::f32_output_only([&mut out_l[..n], &mut out_r[..n]].into_iter()),
                    }]);
                    let t0 = Instant::now();
                    proc.process(&inputs, &mut outputs, &buffer.as_input(), &mut out_events.as_output(), None, None).expect("process");
                    longest = longest.max(t0.elapsed());
                    left.extend_from_slice(&out_l[..n]);
                    equal &= out_l[..n] == out_r[..n];
                    pos += n as u64;
                    progress.store(pos, Ordering::Release);
                }
                let wall = start.elapsed();
                done.store(true, Ordering::Release);
                (proc.stop_processing(), left, equal, longest, wall)
            });
            for (at, action) in actions {
                while progress.load(Ordering::Acquire) < at && !done.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_micros(500));
                }
                action(self);
                self.pump_main_thread();
            }
            audio.join().expect("the audio thread")
        });
        self.instance.deactivate(stopped);
        self.pump_main_thread();
        Render { left, channels_equal, latency, longest_call, wall }
    }
}

pub use clack_host::events::Match;

/// nice-plug's CLAP state as JSON: its state stream is the JSON's length (u64, little endian)
/// followed by the JSON.
pub fn state_json(bytes: &[u8]) -> serde_json::Value {
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("a length prefix")) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).expect("nice-plug's state is JSON")
}

/// The state stream for a JSON state (see [`state_json`]).
pub fn state_bytes(state: &serde_json::Value) -> Vec<u8> {
    let json = serde_json::to_vec(state).expect("JSON");
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out
}

/// Writes `x` as a 32-bit float mono WAV file (for listening to a failing test).
pub fn write_wav(path: &str, x: &[f32], rate: u32) {
    let mut b = Vec::with_capacity(44 + 4 * x.len());
    let data_len = (4 * x.len()) as u32;
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 4).to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for v in x {
        b.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, b).expect("writing the WAV file");
}

/// The plugin's counters file for one test binary: `SACKBUT_STATS_FILE` names a file in a fresh
/// folder of its own (the plugin writes it at deactivation); the folder goes when this drops.
pub struct StatsFile {
    dir: PathBuf,
    path: PathBuf,
}

impl StatsFile {
    /// A fresh folder `sackbut-{tag}-{pid}` and the variable set to a file in it. Call it before
    /// the plugin is activated, in a test binary that runs one test (the variable is process-wide).
    pub fn new(tag: &str) -> StatsFile {
        let dir = std::env::temp_dir().join(format!("sackbut-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let path = dir.join("stats.json");
        // SAFETY (set_var): each binary that uses this runs one test, and nothing reads the
        // environment concurrently; the plugin reads the variable at activation, later.
        unsafe { std::env::set_var("SACKBUT_STATS_FILE", &path) };
        StatsFile { dir, path }
    }

    /// The test's own folder, for other files it needs (removed with it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The counters the plugin wrote at its last deactivation.
    pub fn read(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(&self.path).expect("the plugin wrote its stats at deactivation");
        serde_json::from_str(&text).expect("the stats are JSON")
    }
}

impl Drop for StatsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
