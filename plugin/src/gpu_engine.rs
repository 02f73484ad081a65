//! Where the plugin finds the GPU engine library (`libsackbut_gpu_engine.so`), opened at run
//! time through `sackbut_model::engine::gpu_client`.
//!
//! The plugin never links libtorch: it opens the library only when an engine choice needs it,
//! once per process, and never closes it (libtorch does not unload cleanly). Every call runs on
//! the worker or a loader thread, never on the audio thread.

use std::path::PathBuf;
use std::sync::OnceLock;

use sackbut_model::engine::gpu_abi::LIBRARY_FILE;
use sackbut_model::engine::gpu_client::GpuLibrary;

/// Environment variable: the GPU engine library's path (else it is looked for next to the plugin).
pub const ENV_GPU_ENGINE: &str = "SACKBUT_GPU_ENGINE";

/// Where the library is looked for: [`ENV_GPU_ENGINE`], else beside the plugin's own binary
/// (`Sackbut.vst3/Contents/x86_64-linux/` or the folder holding `Sackbut.clap`).
pub fn library_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_GPU_ENGINE).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    Some(process_path::get_dylib_path()?.parent()?.join(LIBRARY_FILE))
}

/// The library, opened once per process and kept open.
pub fn shared_library() -> Result<&'static GpuLibrary, String> {
    static LIB: OnceLock<Result<GpuLibrary, String>> = OnceLock::new();
    LIB.get_or_init(|| {
        let path = library_path().ok_or_else(|| "cannot tell where the plugin's file is, to find the GPU engine library".to_string())?;
        GpuLibrary::open(&path)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Whether an NVIDIA driver is installed: the cheap test Auto makes before it opens libtorch.
pub fn nvidia_driver_present() -> bool {
    // SAFETY: the driver library's initialisers only register it; closed again at once.
    unsafe { libloading::Library::new(if cfg!(windows) { "nvcuda.dll" } else { "libcuda.so.1" }) }.is_ok()
}
