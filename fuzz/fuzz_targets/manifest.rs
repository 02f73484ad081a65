//! Any bytes as a dataset manifest (`manifest.json`): parsed and validated, then each example
//! entry checked against a matching example file, as `trainer train` does.
//!
//! The trainer is a binary crate that links libtorch, so its dataset modules are compiled in
//! here from their source files instead (they need sackbut-model, serde, anyhow, crc32fast).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../trainer/src/dataset"]
mod dataset {
    pub mod example_file;
    pub mod manifest;
}

use dataset::manifest::{ExampleData, Manifest};

fuzz_target!(|data: &[u8]| {
    match Manifest::parse(data, "manifest.json") {
        Ok(m) => {
            // What `Dataset::load_example` does with each entry once the file is read: build
            // the entry's streams (bounded: at most `length_samples`, capped at 4096 here).
            let len = m.length_samples.min(4096);
            for e in m.examples.iter().take(8) {
                let ex = ExampleData::new(vec![128; len], &e.span);
                assert!(ex.streams_match(&e.span));
            }
        }
        Err(e) => assert!(format!("{e:#}").starts_with("manifest.json: "), "{e:#}"),
    }
});
