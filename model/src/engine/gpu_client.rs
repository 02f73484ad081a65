//! The plugin's side of the GPU engine library's C ABI ([`super::gpu_abi`]): opening the
//! library, and [`GpuEngine`], an [`Engine`] whose calls cross into it. Needs no libtorch: the
//! library brings its own.

use std::path::{Path, PathBuf};

use super::gpu_abi::{read_message, EngineHandle, GpuApi, API_SYMBOL, DEVICE_CUDA, GPU_ABI_VERSION, STATUS_OK};
use super::{check_block, check_reset, Engine, EngineError};
use crate::conditioning::Conditioning;
use crate::voice_file::Voice;

/// Bytes for a message from the library.
const MSG_CAP: usize = 1024;

/// The opened library and its function table.
pub struct GpuLibrary {
    _lib: libloading::Library,
    api: &'static GpuApi,
    path: PathBuf,
}

impl GpuLibrary {
    /// Opens the library at `path` and checks that it speaks this build's ABI.
    pub fn open(path: &Path) -> Result<GpuLibrary, String> {
        let shown = path.display();
        if !path.exists() {
            return Err(format!("no GPU engine library at {shown}"));
        }
        // SAFETY: the library's initialisers are libtorch's and ours; it is opened on a
        // non-audio thread.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot open {shown}: {e}"))?;
        let api = unsafe {
            let get: libloading::Symbol<extern "C" fn() -> *const GpuApi> =
                lib.get(API_SYMBOL).map_err(|e| format!("{shown} is not a Sackbut GPU engine library: {e}"))?;
            let table = get();
            if table.is_null() {
                return Err(format!("{shown} returned no function table"));
            }
            // The version first: only then may the rest of the table be read.
            let version = std::ptr::read(table.cast::<u32>());
            if version != GPU_ABI_VERSION {
                return Err(format!(
                    "{shown} speaks GPU engine ABI {version}; this plugin needs {GPU_ABI_VERSION} (install the library built with it)"
                ));
            }
            &*table
        };
        if api.table_size as usize != std::mem::size_of::<GpuApi>() {
            return Err(format!("{shown} has a function table of another build (install the library built with this plugin)"));
        }
        Ok(GpuLibrary { _lib: lib, api, path: path.to_path_buf() })
    }

    /// Where it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Ok` when libtorch sees a CUDA device; else what it sees.
    pub fn cuda(&self) -> Result<(), String> {
        let mut msg = [0u8; MSG_CAP];
        let ok = (self.api.cuda_available)(msg.as_mut_ptr(), msg.len());
        if ok {
            Ok(())
        } else {
            Err(read_message(&msg))
        }
    }
}

/// An engine in the GPU engine library. Implements [`Engine`] with the native engine's checks,
/// done here before the call crosses into the library. After a failed call
/// ([`EngineError::DeviceFailed`]) [`Engine::failure`] says why.
pub struct GpuEngine<'l> {
    lib: &'l GpuLibrary,
    handle: EngineHandle,
    max_batch: usize,
    top_frame: usize,
    clock: u64,
    seen: Vec<bool>,
    cond_ptrs: Vec<*const Conditioning>,
    out_ptrs: Vec<*mut u8>,
    msg: Vec<u8>,
    failure: Option<String>,
}

// SAFETY: the handle is used by one thread at a time (the engine moves between threads, it is
// never shared); the pointer vectors are scratch, filled and used within one call.
unsafe impl Send for GpuEngine<'_> {}

impl<'l> GpuEngine<'l> {
    /// An engine of `max_batch` rows for `voice` on `device` (`gpu_abi::DEVICE_*`).
    pub fn new(lib: &'l GpuLibrary, voice: &Voice, max_batch: usize, device: i32) -> Result<GpuEngine<'l>, String> {
        let bytes = voice.to_bytes().map_err(|e| e.to_string())?;
        let mut msg = vec![0u8; MSG_CAP];
        let handle = (lib.api.create)(bytes.as_ptr(), bytes.len(), max_batch, device, msg.as_mut_ptr(), msg.len());
        if handle.is_null() {
            return Err(read_message(&msg));
        }
        Ok(GpuEngine {
            lib,
            handle,
            max_batch,
            top_frame: voice.meta.hparams.top_frame(),
            clock: 0,
            seen: vec![false; max_batch],
            cond_ptrs: Vec::with_capacity(max_batch),
            out_ptrs: Vec::with_capacity(max_batch),
            msg,
            failure: None,
        })
    }

    /// An engine on CUDA device 0.
    pub fn cuda(lib: &'l GpuLibrary, voice: &Voice, max_batch: usize) -> Result<GpuEngine<'l>, String> {
        Self::new(lib, voice, max_batch, DEVICE_CUDA)
    }

    fn failed(&mut self, what: &str) -> EngineError {
        self.failure = Some(format!("{what}: {}", read_message(&self.msg)));
        EngineError::DeviceFailed
    }
}

impl Drop for GpuEngine<'_> {
    fn drop(&mut self) {
        (self.lib.api.destroy)(self.handle);
    }
}

impl Engine for GpuEngine<'_> {
    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn top_frame(&self) -> usize {
        self.top_frame
    }

    fn clock_samples(&self) -> u64 {
        self.clock
    }

    fn reset_row(&mut self, row: usize, seed: u64) -> Result<(), EngineError> {
        check_reset(self.max_batch, self.clock, self.top_frame, row)?;
        if (self.lib.api.reset_row)(self.handle, row, seed, self.msg.as_mut_ptr(), self.msg.len()) != STATUS_OK {
            return Err(self.failed("reset"));
        }
        Ok(())
    }

    fn set_temperature(&mut self, temperature: f32) {
        (self.lib.api.set_temperature)(self.handle, temperature);
    }

    fn generate(&mut self, rows: &[usize], cond: &[&[Conditioning]], out: &mut [&mut [u8]]) -> Result<(), EngineError> {
        let n = check_block(self.max_batch, rows, cond, out.iter().map(|o| o.len()), 1, &mut self.seen)?;
        self.cond_ptrs.clear();
        self.cond_ptrs.extend(cond.iter().map(|c| c.as_ptr()));
        self.out_ptrs.clear();
        self.out_ptrs.extend(out.iter_mut().map(|o| o.as_mut_ptr()));
        let status = (self.lib.api.generate)(
            self.handle,
            rows.as_ptr(),
            rows.len(),
            self.cond_ptrs.as_ptr(),
            self.out_ptrs.as_ptr(),
            n,
            self.msg.as_mut_ptr(),
            self.msg.len(),
        );
        if status != STATUS_OK {
            return Err(self.failed("generate"));
        }
        self.clock += n as u64;
        Ok(())
    }

    fn skip(&mut self, samples: usize) {
        (self.lib.api.skip)(self.handle, samples);
        self.clock += samples as u64;
    }

    fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}
