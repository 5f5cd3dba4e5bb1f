//! A program that uses weft shared libraries must import its memory as `env.memory`, so the
//! kernel can give the one memory it creates to both the program and the libraries.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_CFG_TARGET_ARCH").is_some_and(|a| a == "wasm32") {
        println!("cargo:rustc-link-arg-bins=--import-memory");
        // Export it too, as WASI runtimes expect a `memory` export.
        println!("cargo:rustc-link-arg-bins=--export-memory");
    }
}
