//! The GPU engine library: [`TorchGenerator`] on CUDA (or the CPU) behind the C ABI of
//! `sackbut_model::engine::gpu_abi`, for the plugin to open at run time.
//!
//! Every entry point that runs torch catches panics (tch panics on a torch error, a CUDA fault
//! among them) and turns them into [`STATUS_FAILED`] and a message: nothing unwinds into the
//! plugin or the host. (`set_temperature` and `skip` only store a number.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use sackbut_model::conditioning::Conditioning;
use sackbut_model::engine::gpu_abi::{
    write_message, EngineHandle, GpuApi, DEVICE_CPU, DEVICE_CUDA, GPU_ABI_VERSION, STATUS_FAILED, STATUS_OK,
};
use sackbut_model::engine::Engine;
use sackbut_model::torch::{model_on, SampleRnn, TorchGenerator};
use sackbut_model::voice_file::Voice;
use tch::{nn, Device};

/// The model and the VarStore holding its weights (kept together: the layers share its tensors).
struct Model {
    _vs: nn::VarStore,
    model: SampleRnn,
}

self_cell::self_cell!(
    /// An engine: the model, and the generator that borrows it.
    struct LoadedEngine {
        owner: Model,
        #[covariant]
        dependent: Generator,
    }
);

type Generator<'m> = TorchGenerator<'m>;

/// A panic's message, for the caller.
fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f`, turning a panic into `Err` with its message.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(format!("torch failed: {}", panic_text(p))))
}

fn device(code: i32) -> Result<Device, String> {
    match code {
        DEVICE_CPU => Ok(Device::Cpu),
        DEVICE_CUDA => Ok(Device::Cuda(0)),
        other => Err(format!("unknown device code {other}")),
    }
}

extern "C" fn cuda_available(msg: *mut u8, msg_cap: usize) -> bool {
    let seen = guarded(|| {
        let n = tch::Cuda::device_count();
        Ok(if tch::Cuda::is_available() { Ok(n) } else { Err(n) })
    });
    let (ok, text) = match seen {
        Ok(Ok(n)) => (true, format!("libtorch sees {n} CUDA device(s)")),
        Ok(Err(_)) => (false, "libtorch sees no CUDA device (no NVIDIA GPU or driver, or a CPU-only libtorch)".into()),
        Err(e) => (false, e),
    };
    unsafe { write_message(&text, msg, msg_cap) };
    ok
}

/// Builds an engine; see [`GpuApi::create`].
fn create_engine(voice: &[u8], max_batch: usize, device_code: i32) -> Result<Box<LoadedEngine>, String> {
    let device = device(device_code)?;
    if device.is_cuda() && !tch::Cuda::is_available() {
        return Err("libtorch sees no CUDA device".into());
    }
    if max_batch == 0 {
        return Err("an engine needs at least one row".into());
    }
    let voice = Voice::from_bytes(voice).map_err(|e| e.to_string())?;
    // One intra-op thread: libtorch's thread pool makes a real-time loop erratic, and on CUDA
    // the host side only launches kernels.
    tch::set_num_threads(1);
    let (vs, model) = model_on(&voice, device)?;
    Ok(Box::new(LoadedEngine::new(Model { _vs: vs, model }, |m| TorchGenerator::new(&m.model, device, max_batch, 0, 1.0))))
}

extern "C" fn create(voice: *const u8, voice_len: usize, max_batch: usize, device_code: i32, msg: *mut u8, msg_cap: usize) -> EngineHandle {
    if voice.is_null() {
        unsafe { write_message("no voice bytes", msg, msg_cap) };
        return ptr::null_mut();
    }
    let bytes = unsafe { std::slice::from_raw_parts(voice, voice_len) };
    match guarded(|| create_engine(bytes, max_batch, device_code)) {
        Ok(engine) => Box::into_raw(engine).cast(),
        Err(e) => {
            unsafe { write_message(&e, msg, msg_cap) };
            ptr::null_mut()
        }
    }
}

extern "C" fn destroy(engine: EngineHandle) {
    if !engine.is_null() {
        // Freeing CUDA memory can fail too; a leak is better than a crash.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(engine.cast::<LoadedEngine>()) })));
    }
}

/// The engine behind a handle.
///
/// # Safety
/// `engine` came from [`create`], is not destroyed and no other thread uses it.
unsafe fn engine_mut<'a>(engine: EngineHandle) -> &'a mut LoadedEngine {
    &mut *engine.cast::<LoadedEngine>()
}

/// Writes a call's outcome: [`STATUS_OK`], or [`STATUS_FAILED`] with the reason in `msg`.
fn status(result: Result<(), String>, msg: *mut u8, msg_cap: usize) -> i32 {
    match result {
        Ok(()) => STATUS_OK,
        Err(e) => {
            unsafe { write_message(&e, msg, msg_cap) };
            STATUS_FAILED
        }
    }
}

extern "C" fn reset_row(engine: EngineHandle, row: usize, seed: u64, msg: *mut u8, msg_cap: usize) -> i32 {
    let e = unsafe { engine_mut(engine) };
    status(guarded(|| e.with_dependent_mut(|_, g| g.reset_row(row, seed).map_err(|e| e.to_string()))), msg, msg_cap)
}

extern "C" fn set_temperature(engine: EngineHandle, temperature: f32) {
    let e = unsafe { engine_mut(engine) };
    e.with_dependent_mut(|_, g| g.set_temperature(temperature));
}

extern "C" fn generate(
    engine: EngineHandle,
    rows: *const usize,
    n_rows: usize,
    cond: *const *const Conditioning,
    out: *const *mut u8,
    len: usize,
    msg: *mut u8,
    msg_cap: usize,
) -> i32 {
    let e = unsafe { engine_mut(engine) };
    let result = guarded(|| {
        // The caller's slices, rebuilt from the pointers it passed (see GpuApi::generate).
        let (rows, cond_ptrs, out_ptrs) = if n_rows == 0 {
            (&[][..], &[][..], &[][..])
        } else {
            unsafe {
                (
                    std::slice::from_raw_parts(rows, n_rows),
                    std::slice::from_raw_parts(cond, n_rows),
                    std::slice::from_raw_parts(out, n_rows),
                )
            }
        };
        let cond: Vec<&[Conditioning]> =
            cond_ptrs.iter().map(|&p| if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(p, len) } }).collect();
        let mut out: Vec<&mut [u8]> =
            out_ptrs.iter().map(|&p| if len == 0 { &mut [][..] } else { unsafe { std::slice::from_raw_parts_mut(p, len) } }).collect();
        e.with_dependent_mut(|_, g| g.generate(rows, &cond, &mut out).map_err(|e| e.to_string()))
    });
    status(result, msg, msg_cap)
}

extern "C" fn skip(engine: EngineHandle, samples: usize) {
    let e = unsafe { engine_mut(engine) };
    e.with_dependent_mut(|_, g| g.skip(samples));
}

static API: GpuApi = GpuApi {
    abi_version: GPU_ABI_VERSION,
    table_size: std::mem::size_of::<GpuApi>() as u32,
    cuda_available,
    create,
    destroy,
    reset_row,
    set_temperature,
    generate,
    skip,
};

/// The library's one export (`gpu_abi::API_SYMBOL`).
#[no_mangle]
pub extern "C" fn sackbut_gpu_engine_api() -> *const GpuApi {
    &API
}
