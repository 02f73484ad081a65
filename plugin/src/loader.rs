//! Loading off the audio thread: a voice file (from the editor, or a restored state), or a new
//! engine for the voice playing (when the Engine parameter changes). Each runs on a thread of
//! its own, one at a time (`Status::loading`), and hands its result to the worker as a
//! [`VoiceSwap`]: the worker swaps it in at a frame boundary and restarts the notes sounding.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine_choice;
use crate::params::SackbutParams;
use crate::shared::{Control, Status, VoiceSwap};
use crate::voice_source::{default_slot, read_voice_file, VoiceSlot};

/// Loads the voice at `path` ("" for the default voice) on a new thread; on success it plays
/// from the next frame (swapped in with a short fade) and its path is saved with the project;
/// on failure the current voice keeps playing and the message says why.
pub fn load_voice(params: Arc<SackbutParams>, status: Arc<Status>, path: String) {
    let st = status.clone();
    run_loader(&status, "sackbut-voice-loader", move || {
        let status = st;
        let path = path.trim().to_string();
        let result = if path.is_empty() { default_slot() } else { read_voice_file(&path) };
        match result {
            Ok(slot) => {
                if let Err(e) = swap_in(&params, &status, &slot) {
                    *status.voice_message.lock() = format!("{path}: {e}");
                    return;
                }
                *params.voice_path.write() = path;
                status.voice_message.lock().clear();
                status.set_voice(slot);
            }
            Err(e) => {
                let playing = status.card.lock().name.clone();
                *status.voice_message.lock() = format!("{e} — still playing \"{playing}\"");
            }
        }
    });
}

/// Builds the engine the Engine parameter now asks for, for the voice playing, on a new thread,
/// and swaps it in. The voice, its saved path and its message stay as they are (a voice that
/// fell back to the default keeps the path the project asked for).
pub fn rebuild_engine(params: Arc<SackbutParams>, status: Arc<Status>) {
    let st = status.clone();
    run_loader(&status, "sackbut-engine-loader", move || {
        let Some(slot) = st.voice.lock().clone() else {
            // No voice yet (the next activation builds its engine): not asked again.
            *st.engine_choice.lock() = Some(params.engine.value());
            return;
        };
        if let Err(e) = swap_in(&params, &st, &slot) {
            *st.engine_line.lock() = format!("the engine could not be rebuilt: {e}");
        }
    });
}

/// Builds the engine for `slot` by the Engine parameter and sends both to the running worker
/// (nothing is built while no worker runs: the next activation builds its own). Records the
/// choice it built for, so the worker asks again only when the parameter changes.
fn swap_in(params: &SackbutParams, status: &Status, slot: &VoiceSlot) -> Result<(), String> {
    let choice = params.engine.value();
    *status.engine_choice.lock() = Some(choice);
    let Some(tx) = status.control.lock().clone() else { return Ok(()) };
    let chosen = engine_choice::build(choice, &slot.voice)?;
    let _ = tx.send(Control::Swap(Box::new(VoiceSwap { slot: slot.clone(), engine: chosen.engine })));
    *status.engine_line.lock() = chosen.line;
    Ok(())
}

/// Runs `job` on a new thread named `name` unless a load is already running.
fn run_loader(status: &Arc<Status>, name: &str, job: impl FnOnce() + Send + 'static) {
    if status.loading.swap(true, Ordering::AcqRel) {
        return;
    }
    let st = status.clone();
    let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
        job();
        st.loading.store(false, Ordering::Release);
        st.repaint.request_repaint();
    });
    if spawned.is_err() {
        status.loading.store(false, Ordering::Release);
        *status.voice_message.lock() = "cannot start a thread to load the voice".into();
    }
}
