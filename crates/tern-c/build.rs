//! The shared library's soname is `libtern.so`, the name `cargo xtask capi` installs it under
//! (cargo names the file after the crate: `libtern_c.so`).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtern.so");
    }
}
