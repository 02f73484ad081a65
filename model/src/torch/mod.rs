//! The conditioned SampleRNN in tch: the training model and the torch inference engine.
//!
//! Module paths of the VarStore equal the tensor names of the voice file
//! ([`crate::hparams::HParams::tensor_shapes`]), so saving and loading is a copy by name.

mod cond_features;
mod frame_tier;
mod generator;
mod sample_mlp;
mod samplernn;
mod voice_io;

pub use cond_features::CondBatch;
pub use generator::TorchGenerator;
pub use samplernn::{SampleRnn, TierStates};
pub use voice_io::{load_voice_into, model_on, voice_from_varstore};

/// Picks the device: `"auto"` is CUDA when available, else CPU.
pub fn parse_device(name: &str) -> Result<tch::Device, String> {
    match name {
        "auto" => Ok(tch::Device::cuda_if_available()),
        "cpu" => Ok(tch::Device::Cpu),
        "cuda" if tch::Cuda::is_available() => Ok(tch::Device::Cuda(0)),
        "cuda" => Err("--device cuda: no CUDA device is available (libtorch sees none)".into()),
        other => Err(format!("unknown device '{other}' (expected auto, cpu or cuda)")),
    }
}

/// A readable device name for logs and voice files.
pub fn device_name(d: tch::Device) -> String {
    match d {
        tch::Device::Cpu => "cpu".into(),
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
