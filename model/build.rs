// Links libtorch with an rpath (so tests run without LD_LIBRARY_PATH) when the `torch` feature is on.
include!("../build/torch_link.rs");

fn main() {
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        link_libtorch();
    }
}
