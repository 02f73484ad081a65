//! Conditioning streams as tensors: the note index and the two scalar features per sample.

use tch::{Device, Kind, Tensor};

use crate::conditioning::{Conditioning, SCALAR_FEATURES};
use crate::hparams::HParams;

/// The conditioning of a batch of sequences, on the model's device.
pub struct CondBatch {
    /// Note embedding rows, `[B, T]` int64.
    pub note: Tensor,
    /// The scalar features (`Conditioning::scalar_features`), `[B, T, SCALAR_FEATURES]` float.
    pub scalars: Tensor,
}

impl CondBatch {
    /// From `rows[b][t]` (all rows the same length).
    pub fn from_rows(rows: &[&[Conditioning]], hp: &HParams, device: Device) -> CondBatch {
        let b = rows.len() as i64;
        let t = rows.first().map_or(0, |r| r.len()) as i64;
        let mut note = Vec::with_capacity((b * t) as usize);
        let mut scalars = Vec::with_capacity((b * t) as usize * SCALAR_FEATURES);
        for row in rows {
            debug_assert_eq!(row.len() as i64, t);
            for c in row.iter() {
                note.push(c.note as i64);
                scalars.extend_from_slice(&c.scalar_features(hp.horizon, hp.age_horizon));
            }
        }
        CondBatch {
            note: Tensor::from_slice(&note).view([b, t]).to_device(device),
            scalars: Tensor::from_slice(&scalars).view([b, t, SCALAR_FEATURES as i64]).to_kind(Kind::Float).to_device(device),
        }
    }
}
