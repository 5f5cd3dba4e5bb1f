//! Builds weft's userland and packs the initrd (see `src/lib.rs` for the layout).
//!
//! 1. Checks that the `wasm32-wasip1` target is installed for this `rustc`.
//! 2. Runs `cargo build --release --target wasm32-wasip1` on `user/Cargo.toml` (a workspace
//!    of its own) with its target dir in `OUT_DIR`, in an environment cleared of what the
//!    outer cargo set for this build (flags, wrappers, target dir, jobserver), and takes the
//!    list of programs from cargo's JSON messages.
//! 3. Assembles `user/lib/*.wat` into `lib/*.wasm`.
//! 4. Packs `bin/`, `lib/` and `etc/` (every file of `user/etc`) into `OUT_DIR/initrd.tar`,
//!    and writes `OUT_DIR/contents.rs` with the program and library names.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-wasip1";
/// Modification time of every entry: fixed, so that builds are reproducible.
const MTIME: u64 = 0;

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .ok_or("crates/initrd is not two levels below the repository root")?;
    let user = root.join("user");
    let out = PathBuf::from(env_var("OUT_DIR")?);
    watch(&user)?;
    check_target()?;

    let target_dir = out.join("user-target");
    let programs = build_userland(&user, &target_dir)?;
    let bin_dir = target_dir.join(TARGET).join("release");
    let libraries = assemble_libraries(&user.join("lib"))?;
    let etc = read_dir_files(&user.join("etc"))?;

    let archive = pack(&programs, &libraries, &etc)?;
    write(&out.join("initrd.tar"), &archive)?;
    write(
        &out.join("contents.rs"),
        contents_rs(&programs, &libraries).as_bytes(),
    )?;
    println!("cargo:rustc-env=WEFT_USER_BIN_DIR={}", bin_dir.display());
    Ok(())
}

fn env_var(name: &str) -> Result<OsString, String> {
    env::var_os(name).ok_or_else(|| format!("cargo did not set {name}"))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Asks cargo to run us again when anything under `user/` changes (except its own
/// `target/`, should someone build there: cargo scans watched directories recursively).
/// A new crate there also changes `user/Cargo.toml`.
fn watch(user: &Path) -> Result<(), String> {
    let entries = fs::read_dir(user).map_err(|e| format!("reading {}: {e}", user.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", user.display()))?;
        if entry.file_name() != "target" {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
    println!("cargo:rerun-if-env-changed=RUSTUP_TOOLCHAIN");
    Ok(())
}

/// The `rustc` cargo builds with.
fn rustc() -> OsString {
    env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())
}

/// Fails with instructions unless the standard library for [`TARGET`] is installed.
fn check_target() -> Result<(), String> {
    let missing = || {
        format!(
            "the `{TARGET}` target is not installed, and weft's userland is built for it.\n\
             Install it with:  rustup target add {TARGET}"
        )
    };
    let output = Command::new(rustc())
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .map_err(|e| format!("running {}: {e}", rustc().to_string_lossy()))?;
    if !output.status.success() {
        return Err(missing());
    }
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let has_std = fs::read_dir(&libdir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libstd-") && name.ends_with(".rlib")
        })
    });
    if has_std { Ok(()) } else { Err(missing()) }
}

/// Whether the outer build's variable `name` must not reach the nested cargo: compiler
/// flags and wrappers (coverage, clippy) meant for the host crates, the outer target dir
/// and build target, the jobserver, and what cargo sets for this build script.
fn confuses_nested_cargo(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "NUM_JOBS",
        "OPT_LEVEL",
        "DEBUG",
        "PROFILE",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "__CARGO_FIX_PLZ",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_ENCODED_",
        "CARGO_BUILD_",
        "CARGO_TARGET_",
        "CARGO_PROFILE_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_LLVM_COV",
        "DEP_",
    ];
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Builds the userland; returns `(program name, wasm bytes)`, sorted by name.
fn build_userland(user: &Path, target_dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(user)
        .arg("build")
        .arg("--manifest-path")
        .arg(user.join("Cargo.toml"))
        .args([
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, _) in env::vars_os() {
        if name.to_str().is_some_and(confuses_nested_cargo) {
            command.env_remove(&name);
        }
    }
    let output = command
        .output()
        .map_err(|e| format!("running {}: {e}", cargo.to_string_lossy()))?;
    if !output.status.success() {
        return Err(format!(
            "building the userland ({}) failed; cargo's messages are above",
            user.join("Cargo.toml").display()
        ));
    }
    let mut programs = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let path = PathBuf::from(executable);
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("odd program file name {executable}"))?
            .to_string();
        let bytes = fs::read(&path).map_err(|e| format!("reading {executable}: {e}"))?;
        programs.push((name, bytes));
    }
    programs.sort();
    if let Some(pair) = programs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("two userland programs are named `{}`", pair[0].0));
    }
    if programs.is_empty() {
        return Err("the userland build produced no programs".into());
    }
    Ok(programs)
}

/// Assembles every `*.wat` in `dir`; returns `(name, wasm bytes)`, sorted by name.
fn assemble_libraries(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut libraries = Vec::new();
    for (name, _) in read_dir_files(dir)? {
        let Some(stem) = name.strip_suffix(".wat") else {
            continue;
        };
        let path = dir.join(&name);
        let bytes =
            wat::parse_file(&path).map_err(|e| format!("assembling {}: {e}", path.display()))?;
        libraries.push((stem.to_string(), bytes));
    }
    Ok(libraries)
}

/// The regular files directly in `dir`: `(name, bytes)`, sorted by name.
fn read_dir_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let context = |e: io::Error| format!("reading {}: {e}", dir.display());
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(context)? {
        let entry = entry.map_err(context)?;
        if !entry.file_type().map_err(context)?.is_file() {
            continue;
        }
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| format!("{}: file name {n:?} is not UTF-8", dir.display()))?;
        let bytes = fs::read(entry.path()).map_err(context)?;
        files.push((name, bytes));
    }
    files.sort();
    Ok(files)
}

/// A ustar header with the fixed owner and time.
fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Packs the archive: `bin/`, `etc/`, `lib/`, each directory followed by its files.
fn pack(
    programs: &[(String, Vec<u8>)],
    libraries: &[(String, Vec<u8>)],
    etc: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8]| {
        let mut h = header(kind, data.len() as u64, mode);
        builder
            .append_data(&mut h, path, data)
            .map_err(|e| format!("packing {path}: {e}"))
    };
    let dir = tar::EntryType::Directory;
    let file = tar::EntryType::Regular;
    add("bin/", dir, 0o755, &[])?;
    for (name, bytes) in programs {
        add(&format!("bin/{name}"), file, 0o755, bytes)?;
    }
    add("etc/", dir, 0o755, &[])?;
    for (name, bytes) in etc {
        add(&format!("etc/{name}"), file, 0o644, bytes)?;
    }
    add("lib/", dir, 0o755, &[])?;
    for (name, bytes) in libraries {
        add(&format!("lib/{name}.wasm"), file, 0o644, bytes)?;
    }
    builder
        .into_inner()
        .map_err(|e| format!("finishing the archive: {e}"))
}

/// The Rust source of the `PROGRAMS` and `LIBRARIES` constants.
fn contents_rs(programs: &[(String, Vec<u8>)], libraries: &[(String, Vec<u8>)]) -> String {
    let list = |items: &[(String, Vec<u8>)]| {
        items
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "/// The programs in `bin/` (also `<name>.wasm` in [`BIN_DIR`]), sorted.\n\
         pub const PROGRAMS: &[&str] = &[{}];\n\n\
         /// The shared libraries, `lib/<name>.wasm` in the archive, sorted.\n\
         pub const LIBRARIES: &[&str] = &[{}];\n",
        list(programs),
        list(libraries)
    )
}
