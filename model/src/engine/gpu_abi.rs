//! The C ABI between the plugin and the GPU engine library (`libsackbut_gpu_engine.so`,
//! crate `gpu-engine`).
//!
//! Why a separate library: the GPU engine is the torch engine ([`crate::torch::TorchGenerator`])
//! on CUDA, and libtorch with its CUDA libraries weighs gigabytes. The plugin bundles stay
//! small and load in every host; the plugin opens this library at run time only when the GPU
//! engine is asked for (or Auto finds an NVIDIA driver), and falls back to the native CPU engine,
//! saying why, when it is missing or cannot run.
//!
//! The library exports one symbol, [`API_SYMBOL`], a function returning a static [`GpuApi`]
//! table. Both sides are built from this file; [`GPU_ABI_VERSION`] and the table's size guard
//! against a library from another build. No Rust type crosses the boundary except the
//! `#[repr(C)]` [`Conditioning`]; no panic crosses it (the library catches them and returns
//! [`STATUS_FAILED`] with a message).

use std::ffi::c_void;

use crate::conditioning::Conditioning;

/// Bumped whenever [`GpuApi`] or the meaning of a call changes.
pub const GPU_ABI_VERSION: u32 = 1;

/// The library's one export: `extern "C" fn() -> *const GpuApi`.
pub const API_SYMBOL: &[u8] = b"sackbut_gpu_engine_api\0";

/// The library's file name on this platform.
pub const LIBRARY_FILE: &str = if cfg!(target_os = "windows") {
    "sackbut_gpu_engine.dll"
} else if cfg!(target_os = "macos") {
    "libsackbut_gpu_engine.dylib"
} else {
    "libsackbut_gpu_engine.so"
};

/// A call succeeded.
pub const STATUS_OK: i32 = 0;
/// A call failed; the message buffer says why (a torch error, a caught panic).
pub const STATUS_FAILED: i32 = 1;

/// Where the engine runs.
pub const DEVICE_CPU: i32 = 0;
/// CUDA device 0.
pub const DEVICE_CUDA: i32 = 1;

/// An engine made by [`GpuApi::create`]; only the library looks inside.
pub type EngineHandle = *mut c_void;

/// The library's functions. Messages are written as UTF-8 into `msg[..msg_cap]`, NUL-terminated
/// and cut to fit. A handle is used by one thread at a time (the plugin's worker or loader).
#[repr(C)]
pub struct GpuApi {
    /// [`GPU_ABI_VERSION`] of the build that made the library.
    pub abi_version: u32,
    /// `size_of::<GpuApi>()` in that build.
    pub table_size: u32,
    /// Whether libtorch sees a CUDA device; when not, the message says what it sees.
    pub cuda_available: extern "C" fn(msg: *mut u8, msg_cap: usize) -> bool,
    /// Builds an engine of `max_batch` rows for the voice file bytes `voice[..voice_len]` on
    /// `device`, every row reset with seed 0. Null on failure, with the reason in `msg`.
    pub create:
        extern "C" fn(voice: *const u8, voice_len: usize, max_batch: usize, device: i32, msg: *mut u8, msg_cap: usize) -> EngineHandle,
    /// Frees an engine (null is ignored).
    pub destroy: extern "C" fn(engine: EngineHandle),
    /// `Engine::reset_row`. The caller has checked the row and the frame boundary.
    pub reset_row: extern "C" fn(engine: EngineHandle, row: usize, seed: u64, msg: *mut u8, msg_cap: usize) -> i32,
    /// `Engine::set_temperature`.
    pub set_temperature: extern "C" fn(engine: EngineHandle, temperature: f32),
    /// `Engine::generate` for `n_rows` rows of `len` samples: `rows[i]` reads `cond[i][..len]`
    /// and writes `out[i][..len]`. The caller has checked the shapes (`check_block`).
    #[allow(clippy::type_complexity)]
    pub generate: extern "C" fn(
        engine: EngineHandle,
        rows: *const usize,
        n_rows: usize,
        cond: *const *const Conditioning,
        out: *const *mut u8,
        len: usize,
        msg: *mut u8,
        msg_cap: usize,
    ) -> i32,
    /// `Engine::skip`.
    pub skip: extern "C" fn(engine: EngineHandle, samples: usize),
}

/// Writes `text` into a message buffer as the ABI asks (cut at a character boundary to fit,
/// NUL-terminated). Does nothing for a null or empty buffer.
///
/// # Safety
/// `msg` is null or valid for `cap` bytes of writes.
pub unsafe fn write_message(text: &str, msg: *mut u8, cap: usize) {
    if msg.is_null() || cap == 0 {
        return;
    }
    let mut n = text.len().min(cap - 1);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    std::ptr::copy_nonoverlapping(text.as_ptr(), msg, n);
    *msg.add(n) = 0;
}

/// The message a call wrote into `buf` (up to its NUL).
pub fn read_message(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_to_fit_on_a_character_boundary() {
        let mut buf = [0xffu8; 8];
        // 7 bytes fit before the NUL; "ï" (bytes 6 and 7) would be cut in half, so it goes.
        unsafe { write_message("CUDA: ïx", buf.as_mut_ptr(), buf.len()) };
        assert_eq!(read_message(&buf), "CUDA: ");
        unsafe { write_message("ok", buf.as_mut_ptr(), buf.len()) };
        assert_eq!(read_message(&buf), "ok");
        unsafe { write_message("ignored", std::ptr::null_mut(), 0) };
    }

    #[test]
    fn conditioning_has_the_c_layout_the_library_reads() {
        assert_eq!(std::mem::size_of::<Conditioning>(), 12);
        assert_eq!(std::mem::offset_of!(Conditioning, remaining), 4);
        assert_eq!(std::mem::offset_of!(Conditioning, age), 8);
    }
}
