// Links libtorch with an rpath and keeps libtorch_cuda (see build/torch_link.rs): the plugin
// opens this library, and CUDA must be there when it does.
include!("../build/torch_link.rs");

fn main() {
    link_libtorch();
}
