//! Copying weights between a tch VarStore and a [`Voice`] (the voice file), by name.

use std::collections::BTreeMap;

use tch::{nn, Kind, Tensor};

use crate::hparams::HParams;
use crate::torch::SampleRnn;
use crate::voice_file::{TensorData, Voice, VoiceMeta};

/// The VarStore's weights as a voice with `meta`. Fails if a tensor the file format expects is
/// missing from the store (the model and `HParams::tensor_shapes` disagree: a bug).
pub fn voice_from_varstore(vs: &nn::VarStore, meta: VoiceMeta) -> Result<Voice, String> {
    let vars = vs.variables();
    let mut tensors = BTreeMap::new();
    for (name, shape) in meta.hparams.tensor_shapes() {
        let t = vars.get(&name).ok_or_else(|| format!("model has no variable '{name}'"))?;
        let t = t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
        let got: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        if got != shape {
            return Err(format!("variable '{name}' is {got:?}, the format says {shape:?}"));
        }
        let data = Vec::<f32>::try_from(t.view([-1])).map_err(|e| e.to_string())?;
        tensors.insert(name, TensorData { shape, data });
    }
    if vars.len() != tensors.len() {
        let extra: Vec<_> = vars.keys().filter(|k| !tensors.contains_key(*k)).collect();
        return Err(format!("model variables not in the voice format: {extra:?}"));
    }
    Ok(Voice { meta, tensors })
}

/// Copies a voice's weights into a VarStore built for `voice.meta.hparams`.
pub fn load_voice_into(vs: &mut nn::VarStore, voice: &Voice) -> Result<(), String> {
    let expected: HParams = voice.meta.hparams;
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, shape) in expected.tensor_shapes() {
            let var = vars.get(&name).ok_or_else(|| format!("model has no variable '{name}'"))?;
            let src = voice.tensor(&name);
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            let t = Tensor::from_slice(&src.data).view(dims.as_slice()).to_device(var.device());
            let mut var = var.shallow_clone();
            var.copy_(&t);
        }
        Ok(())
    })
}

/// A voice's model on `device`: the VarStore that holds its weights (keep it beside the model:
/// the model's layers share its tensors) and the model built on it.
pub fn model_on(voice: &Voice, device: tch::Device) -> Result<(nn::VarStore, SampleRnn), String> {
    let mut vs = nn::VarStore::new(device);
    let model = SampleRnn::new(&vs.root(), voice.meta.hparams);
    load_voice_into(&mut vs, voice)?;
    Ok((vs, model))
}
