//! Audio files and sample-rate conversion, shared by `trainer dataset` and `trainer render`.

pub mod resample;
pub mod wav;

pub use resample::resample;
pub use wav::read_wav_mono;
