//! Compiles SQLite and the driver (`driver.c`, which includes `sqlite3.c`) natively for the
//! baseline, and tells the crate where the amalgamation is so that the harness compiles the
//! same source for wasm32-wasi.
//!
//! The amalgamation comes from the `libsqlite3-sys` crate (crates.io): its build script,
//! with the `bundled` feature, prints `cargo:include=<its source>/sqlite3`, which Cargo
//! hands to the build scripts of the crates that depend on it as `DEP_SQLITE3_INCLUDE`
//! (`sqlite3` is its `links` name). That works wherever Cargo keeps the crate (registry
//! cache, vendored sources, another `CARGO_HOME`) without a search.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=driver.c");
    println!("cargo:rerun-if-env-changed=CLANG");
    let include = std::env::var_os("DEP_SQLITE3_INCLUDE")
        .map(PathBuf::from)
        .expect(
            "libsqlite3-sys did not report its bundled source (DEP_SQLITE3_INCLUDE): is its \
         `bundled` feature on?",
        );
    let amalgamation = include.join("sqlite3.c");
    assert!(
        amalgamation.is_file(),
        "libsqlite3-sys reported {} but it holds no sqlite3.c",
        include.display()
    );

    // The same compiler family as the Wasm build where it is installed (clang), else the
    // cc crate's default C compiler (`CC`, then `cc`).
    let clang = std::env::var_os("CLANG").unwrap_or_else(|| "clang".into());
    let use_clang = Command::new(&clang)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut build = cc::Build::new();
    if use_clang {
        build.compiler(Path::new(&clang));
    }
    // -O2 as in the Wasm build; every SQLite option is in driver.c itself.
    build
        .file("driver.c")
        .include(&include)
        .opt_level(2)
        .warnings(false)
        .compile("bench_sqlite");
    let compiler = build.get_compiler();
    let version = Command::new(compiler.path())
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| compiler.path().display().to_string());

    println!(
        "cargo:rustc-env=BENCH_SQLITE_AMALGAMATION={}",
        amalgamation.display()
    );
    println!("cargo:rustc-env=BENCH_SQLITE_NATIVE_CC={version}");
}
