// Links libtorch with an rpath and keeps libtorch_cuda (see build/torch_link.rs).
include!("../build/torch_link.rs");

fn main() {
    link_libtorch();
}
