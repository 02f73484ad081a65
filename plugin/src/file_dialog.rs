//! The voice file dialog ("Browse…"): the desktop's own file chooser, run on a thread of its
//! own so the editor (and the host's GUI thread it runs on) never waits for the user.
//!
//! On Linux, `rfd` asks the desktop through the xdg-desktop-portal D-Bus service, which links
//! no GTK into the plugin; where no portal runs, the dialog returns nothing and the editor
//! says to type the path instead.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// What the last dialog gave back, for the editor to pick up on its next frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Picked {
    /// A file was chosen.
    File(PathBuf),
    /// The dialog closed without a file (cancelled, or no desktop portal answered).
    Nothing,
}

/// One editor's file dialog: at most one open at a time.
#[derive(Default)]
pub struct VoiceDialog {
    open: Arc<AtomicBool>,
    result: Arc<Mutex<Option<Picked>>>,
}

impl VoiceDialog {
    /// Whether a dialog is open now.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Opens the chooser in the folder of `current` (the voice path in the field), filtered to
    /// voice files; `on_done` runs on the dialog's thread when it closes (a repaint request).
    /// Does nothing if one is already open.
    pub fn open(&self, current: &str, on_done: impl FnOnce() + Send + 'static) {
        if self.open.swap(true, Ordering::AcqRel) {
            return;
        }
        let start = start_folder(current);
        let (open, result) = (self.open.clone(), self.result.clone());
        let spawned = std::thread::Builder::new().name("sackbut-file-dialog".into()).spawn(move || {
            let mut dialog = rfd::FileDialog::new()
                .set_title("Load a Sackbut voice")
                .add_filter("Sackbut voice", &["safetensors"])
                .add_filter("All files", &["*"]);
            if let Some(dir) = start {
                dialog = dialog.set_directory(dir);
            }
            let picked = dialog.pick_file().map_or(Picked::Nothing, Picked::File);
            *result.lock() = Some(picked);
            open.store(false, Ordering::Release);
            on_done();
        });
        if spawned.is_err() {
            *self.result.lock() = Some(Picked::Nothing);
            self.open.store(false, Ordering::Release);
        }
    }

    /// The result of the dialog that closed since the last call, if any.
    pub fn take(&self) -> Option<Picked> {
        self.result.lock().take()
    }
}

/// The folder a dialog starts in: that of the path typed so far, if it exists.
fn start_folder(current: &str) -> Option<PathBuf> {
    let p = Path::new(current.trim());
    let dir = if p.is_dir() { p } else { p.parent()? };
    dir.is_dir().then(|| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dialog_starts_in_the_folder_of_the_typed_path() {
        let dir = std::env::temp_dir();
        let file = dir.join("some.voice.safetensors");
        assert_eq!(start_folder(&file.display().to_string()), Some(dir.clone()));
        assert_eq!(start_folder(&dir.display().to_string()), Some(dir));
        assert_eq!(start_folder(""), None);
        assert_eq!(start_folder("/no/such/folder/x.voice.safetensors"), None);
    }

    #[test]
    fn a_result_is_taken_once() {
        let d = VoiceDialog::default();
        *d.result.lock() = Some(Picked::File("/tmp/a.voice.safetensors".into()));
        assert_eq!(d.take(), Some(Picked::File("/tmp/a.voice.safetensors".into())));
        assert_eq!(d.take(), None);
        assert!(!d.is_open());
    }
}
