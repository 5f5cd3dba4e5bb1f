//! Sets `weft_tail_calls` when handlers of the threaded interpreter can dispatch by tail
//! calls (see `src/interp/exec.rs`): the build optimizes (LLVM turns calls in tail position into
//! jumps only then) and the target architecture is one whose LLVM backend does so for
//! these handlers' signature. Otherwise the interpreter runs its handlers from a loop.
//!
//! With the feature `jit`, also sets `WEFT_ENGINE_SOURCE_HASH`: a hash of the engine's
//! sources, its manifest and the workspace's lock file, part of the code cache's
//! fingerprint (`src/jit/cache.rs`), so that code cached by one build of weft is never
//! loaded by a build whose code generator, layouts or Cranelift differ, even at the same
//! version number.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=OPT_LEVEL");
    println!("cargo::rustc-check-cfg=cfg(weft_tail_calls)");
    let optimizing = matches!(env::var("OPT_LEVEL").as_deref(), Ok("2" | "3" | "s" | "z"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let sibling_calls = matches!(arch.as_str(), "x86_64" | "aarch64" | "riscv64");
    if optimizing && sibling_calls {
        println!("cargo::rustc-cfg=weft_tail_calls");
    }
    if env::var_os("CARGO_FEATURE_JIT").is_some() {
        source_hash();
    }
}

/// FNV-1a over the paths and contents of the files that decide the generated code.
fn source_hash() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut files = Vec::new();
    collect(&dir.join("src"), &mut files);
    files.push(dir.join("Cargo.toml"));
    let lock = dir.join("../../Cargo.lock");
    if lock.exists() {
        files.push(lock);
    }
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in &files {
        println!("cargo::rerun-if-changed={}", f.display());
        let name = f
            .strip_prefix(&dir)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        for b in name.bytes().chain(std::fs::read(f).unwrap_or_default()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    println!("cargo::rerun-if-changed={}", dir.join("src").display());
    println!("cargo::rustc-env=WEFT_ENGINE_SOURCE_HASH={h:016x}");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
