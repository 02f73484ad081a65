// Shared by the build scripts of every package whose artifacts link libtorch.
//
// torch-sys (`links = "tch"`) tells its dependents where libtorch lives through
// DEP_TCH_LIBTORCH_LIB. Two things are needed on top of what torch-sys does:
//  - an rpath, so binaries and tests run without LD_LIBRARY_PATH;
//  - libtorch_cuda.so linked for real: nothing references its symbols, so the default
//    `--as-needed` drops it and CUDA then silently reports unavailable.
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB not set: no rpath to libtorch");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{lib}");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
