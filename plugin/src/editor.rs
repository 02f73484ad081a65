//! The egui editor: the voice card and loader, the parameters, the notes sounding now and a
//! status line. It reads [`Status`] (atomics and `parking_lot` mutexes the audio thread never
//! locks) and loads voice files on a thread of its own.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp};

use crate::file_dialog::{Picked, VoiceDialog};
use crate::loader::load_voice;
use crate::params::SackbutParams;
use crate::shared::{Status, MODE_OFFLINE, MODE_REALTIME};

/// The editor's size (logical pixels).
pub const EDITOR_SIZE: (f64, f64) = (560.0, 600.0);

/// The editor's state.
pub struct SackbutEditor {
    params: Arc<SackbutParams>,
    status: Arc<Status>,
    gui: Option<GuiContext>,
    path_field: String,
    dialog: VoiceDialog,
}

/// Builds the editor.
pub fn create(params: Arc<SackbutParams>, status: Arc<Status>) -> Option<EguiEditor<SackbutEditor>> {
    let state = EguiEditorState::from_size(LogicalSize::new(EDITOR_SIZE.0, EDITOR_SIZE.1), 1.0);
    let path_field = params.voice_path.read().clone();
    let repaint = status.repaint.clone();
    let app = SackbutEditor { params, status, gui: None, path_field, dialog: VoiceDialog::default() };
    nice_plug_egui::create_egui_editor(state, repaint, EguiNiceSettings::new().with_tile("Sackbut"), app)
}

const NOTE_NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];

/// "C4" for 60.
pub fn note_name(key: u8) -> String {
    format!("{}{}", NOTE_NAMES[(key % 12) as usize], key as i32 / 12 - 1)
}

impl NiceEguiApp for SackbutEditor {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let Some(gui) = self.gui.clone() else { return };
        egui::CentralPanel::default().show(ui, |ui| self.draw(ui, &gui));
    }
}

impl SackbutEditor {
    /// Draws the editor into `ui`.
    pub fn draw(&mut self, ui: &mut egui::Ui, gui: &GuiContext) {
        let setter = gui.param_setter();
        let st = self.status.clone();
        {
            ui.heading("Sackbut — neural trombone");
            ui.separator();

            // Voice card.
            let card = st.card.lock().clone();
            ui.strong(format!("Voice: {}", card.name));
            egui::Grid::new("voice-card").num_columns(2).show(ui, |ui| {
                ui.label("From");
                ui.label(&card.origin);
                ui.end_row();
                ui.label("Trained notes");
                ui.label(&card.notes);
                ui.end_row();
                ui.label("Velocities");
                ui.label(&card.velocities);
                ui.end_row();
                ui.label("Sample rate");
                ui.label(format!("{} Hz", card.sample_rate));
                ui.end_row();
                ui.label("Test NLL");
                ui.label(match (card.test_nll_bits, card.valid_nll_bits) {
                    (Some(t), _) => format!("{t:.3} bits/sample"),
                    (None, Some(v)) => format!("not measured (valid {v:.3} bits/sample)"),
                    (None, None) => "not measured".into(),
                });
                ui.end_row();
                ui.label("Release R");
                ui.label(format!("{:.0} ms ({} steps trained)", card.release_samples as f64 / 16.0, card.steps));
                ui.end_row();
            });
            ui.horizontal(|ui| {
                ui.label("Voice file");
                ui.add(egui::TextEdit::singleline(&mut self.path_field).desired_width(300.0).hint_text("/path/to/voice.voice.safetensors"));
            });
            match self.dialog.take() {
                Some(Picked::File(path)) => {
                    self.path_field = path.display().to_string();
                    load_voice(self.params.clone(), st.clone(), self.path_field.clone());
                }
                Some(Picked::Nothing) => {
                    *st.voice_message.lock() =
                        "no file chosen (without a desktop file dialog service, type the path and press Load)".into();
                }
                None => {}
            }
            ui.horizontal(|ui| {
                let loading = st.loading.load(Ordering::Acquire);
                if ui.add_enabled(!loading && !self.dialog.is_open(), egui::Button::new("Browse…")).clicked() {
                    let repaint = st.repaint.clone();
                    self.dialog.open(&self.path_field, move || repaint.request_repaint());
                }
                if ui.add_enabled(!loading, egui::Button::new("Load")).clicked() {
                    load_voice(self.params.clone(), st.clone(), self.path_field.clone());
                }
                if ui.add_enabled(!loading, egui::Button::new("Default voice")).clicked() {
                    self.path_field.clear();
                    load_voice(self.params.clone(), st.clone(), String::new());
                }
                if loading {
                    ui.label("loading…");
                }
            });
            let msg = st.voice_message.lock().clone();
            if !msg.is_empty() {
                ui.colored_label(egui::Color32::from_rgb(230, 140, 60), msg);
            }
            if st.restart_needed.load(Ordering::Acquire) {
                ui.colored_label(
                    egui::Color32::from_rgb(230, 140, 60),
                    "This voice's frame size differs: it plays after the host restarts processing.",
                );
                if ui.button("Restart processing").clicked() {
                    gui.request_restart();
                }
            }
            ui.separator();

            // Parameters.
            egui::Grid::new("params").num_columns(2).show(ui, |ui| {
                let p = &self.params;
                ui.label("Gain");
                ui.add(ParamSlider::for_param(&p.gain_db, &setter));
                ui.end_row();
                ui.label("Temperature");
                ui.add(ParamSlider::for_param(&p.temperature, &setter));
                ui.end_row();
                ui.label("Polyphony");
                ui.add(ParamSlider::for_param(&p.polyphony, &setter));
                ui.end_row();
                ui.label("Lookahead");
                ui.add(ParamSlider::for_param(&p.lookahead_ms, &setter));
                ui.end_row();
                ui.label("Release");
                ui.add(ParamSlider::for_param(&p.release_ms, &setter));
                ui.end_row();
                ui.label("Engine");
                ui.add(ParamSlider::for_param(&p.engine, &setter));
                ui.end_row();
                ui.label("Seed");
                ui.add(ParamSlider::for_param(&p.seed, &setter));
                ui.end_row();
            });
            ui.label(st.engine_line.lock().clone());
            ui.separator();

            // Notes sounding.
            let keys = st.sounding_keys();
            let names: Vec<String> = keys.iter().map(|&k| format!("{} ({k})", note_name(k))).collect();
            ui.label(format!("Sounding: {}", if names.is_empty() { "—".to_string() } else { names.join("  ") }));
            ui.separator();

            // Status line.
            let rtf = st.rtf_milli.load(Ordering::Relaxed) as f64 / 1000.0;
            let rate = st.rate_hz.load(Ordering::Relaxed);
            let latency = st.latency_samples.load(Ordering::Relaxed);
            let mode = match st.mode.load(Ordering::Relaxed) {
                MODE_REALTIME => "realtime",
                MODE_OFFLINE => "offline",
                _ => "inactive",
            };
            let speed = if rtf > 0.0 { format!("RTF {rtf:.2} ({:.1}× real time)", 1.0 / rtf) } else { "RTF —".into() };
            ui.label(format!(
                "{speed} · voices {} · ring {}/{} · underruns {} ({} samples) · latency {:.1} ms · {mode}, {rate} Hz",
                st.active_voices.load(Ordering::Relaxed),
                st.ring_fill.load(Ordering::Relaxed),
                st.ring_target.load(Ordering::Relaxed),
                st.underruns.load(Ordering::Relaxed),
                st.underrun_samples.load(Ordering::Relaxed),
                if rate > 0 { latency as f64 * 1000.0 / rate as f64 } else { 0.0 },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice_source::default_slot;
    use nice_plug::context::gui::GuiContextInner;
    use nice_plug::context::PluginApi;
    use nice_plug::prelude::{ParamPtr, PluginState};

    /// A GUI context that goes nowhere.
    struct NoHost;

    impl GuiContextInner for NoHost {
        fn plugin_api(&self) -> PluginApi {
            PluginApi::Clap
        }
        unsafe fn raw_begin_set_parameter(&self, _: ParamPtr) {}
        unsafe fn raw_set_parameter_normalized(&self, _: ParamPtr, _: f32) {}
        unsafe fn raw_end_set_parameter(&self, _: ParamPtr) {}
        fn get_state(&self) -> PluginState {
            PluginState { version: String::new(), params: Default::default(), fields: Default::default() }
        }
        fn set_state(&self, _: PluginState) {}
        fn request_restart(&self) {}
    }

    /// Lays the editor out headless (no window) and returns every text it shows.
    fn shown_text(editor: &mut SackbutEditor) -> String {
        let gui = GuiContext::new(Arc::new(NoHost));
        let ctx = egui::Context::default();
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(EDITOR_SIZE.0 as f32, EDITOR_SIZE.1 as f32))),
            ..Default::default()
        };
        let mut text = String::new();
        for _ in 0..2 {
            let out = ctx.run_ui(input.clone(), |ui| {
                egui::CentralPanel::default().show(ui, |ui| editor.draw(ui, &gui));
            });
            text.clear();
            for clipped in &out.shapes {
                if let egui::epaint::Shape::Text(t) = &clipped.shape {
                    text.push_str(t.galley.text());
                    text.push('\n');
                }
            }
        }
        text
    }

    #[test]
    fn the_editor_shows_the_voice_card_parameters_and_status() {
        let status = Arc::new(Status::default());
        status.set_voice(default_slot().unwrap());
        status.underruns.store(3, Ordering::Relaxed);
        status.sounding[0].store(1 << 60, Ordering::Relaxed);
        *status.voice_message.lock() = "x.voice.safetensors: no such file — playing the default voice instead".into();
        let mut editor = SackbutEditor {
            params: Arc::new(SackbutParams::default()),
            status: status.clone(),
            gui: None,
            path_field: String::new(),
            dialog: VoiceDialog::default(),
        };
        let text = shown_text(&mut editor);
        let card = status.card.lock().clone();
        for want in [
            card.name.as_str(),
            "Trained notes",
            card.notes.as_str(),
            "16000 Hz",
            "Temperature",
            "Polyphony",
            "Lookahead",
            "Engine",
            "C4 (60)",
            "underruns 3",
            "no such file",
        ] {
            assert!(text.contains(want), "the editor does not show {want:?}:\n{text}");
        }
    }

    #[test]
    fn note_names() {
        assert_eq!(note_name(60), "C4");
        assert_eq!(note_name(69), "A4");
        assert_eq!(note_name(40), "E2");
    }
}
