//! Any bytes as a dataset example file (`*.skbx`), with and without an expected length.
//!
//! The trainer is a binary crate that links libtorch, so its example-file module is compiled
//! in here from its source file instead (it needs sackbut-model, anyhow and crc32fast).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../trainer/src/dataset/example_file.rs"]
mod example_file;

use example_file::ExampleData;

fuzz_target!(|data: &[u8]| {
    // Half the inputs get a correct checksum, so mutations reach the checks after it.
    let mut bytes = data.to_vec();
    if data.len() >= 16 && data[13] & 1 == 1 {
        let crc = crc32fast::hash(&bytes[16..]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    }
    for expected in [None, Some(1000)] {
        match ExampleData::from_bytes(&bytes, "fuzz.skbx", expected) {
            Ok(ex) => {
                assert!(ex.note.len() == ex.len() && ex.velocity.len() == ex.len() && ex.remaining.len() == ex.len());
            }
            Err(e) => assert!(e.to_string().starts_with("fuzz.skbx: "), "{e}"),
        }
    }
});
