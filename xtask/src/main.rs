//! `cargo xtask bundle sackbut-plugin --release`: target/bundled/Sackbut.vst3 and Sackbut.clap.

fn main() -> nice_plug_xtask::Result<()> {
    nice_plug_xtask::main()
}
