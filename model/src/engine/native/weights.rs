//! Reading a voice's tensors by name for packing, with the shape checked against the format.

use crate::hparams::HParams;
use crate::voice_file::Voice;

/// The tensors of a voice, checked once against `hparams.tensor_shapes()`.
pub struct Weights<'v> {
    voice: &'v Voice,
}

impl<'v> Weights<'v> {
    /// Checks every tensor the format names is present with its shape and finite.
    pub fn new(voice: &'v Voice) -> Result<Weights<'v>, String> {
        let hp: HParams = voice.meta.hparams;
        hp.validate()?;
        for (name, shape) in hp.tensor_shapes() {
            let t = voice.tensors.get(&name).ok_or_else(|| format!("voice has no tensor '{name}'"))?;
            if t.shape != shape || t.data.len() != shape.iter().product::<usize>() {
                return Err(format!("tensor '{name}' is {:?}, expected {shape:?}", t.shape));
            }
            if t.data.iter().any(|v| !v.is_finite()) {
                return Err(format!("tensor '{name}' holds NaN or infinite values"));
            }
        }
        Ok(Weights { voice })
    }

    /// The values of tensor `name` (row-major); present by the check in [`Weights::new`].
    pub fn get(&self, name: &str) -> &'v [f32] {
        &self.voice.tensors[name].data
    }
}
