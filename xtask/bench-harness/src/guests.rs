//! The workloads: the guest crates under `bench/guests/`, their input sizes, their native
//! entry points, and building them: the Rust guests with Cargo for
//! `wasm32-unknown-unknown`, the C one (`sqlite`) with clang for wasm32-wasi
//! ([`crate::clang`]).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The language of a guest, which decides how its Wasm binary is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// A Rust crate built by Cargo for `wasm32-unknown-unknown` (all at once, [`build`]).
    Rust,
    /// C compiled by clang against wasi-libc ([`crate::clang`]), only when it runs.
    C,
}

/// One benchmark workload: a guest crate exporting `run(n) -> checksum`.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Its name, also the guest crate's (`bench-<name>`).
    pub name: &'static str,
    /// What shape of work it is.
    pub what: &'static str,
    /// The size parameter `n` in quick mode.
    pub quick: u32,
    /// The size parameter `n` in a full run.
    pub full: u32,
    /// The same `run` compiled natively.
    pub native: fn(u32) -> u64,
    /// Whether the guest imports `env.host_mix`.
    pub imports_host: bool,
    /// What it is written in.
    pub language: Language,
}

impl Workload {
    /// The size parameter for this mode.
    pub fn n(&self, quick: bool) -> u32 {
        if quick { self.quick } else { self.full }
    }
}

/// Every workload, in the order they run and are reported.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "fib",
        what: "recursive calls: fib(n)",
        quick: 15,
        full: 35,
        native: bench_fib::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "collatz",
        what: "tight integer loop in registers: Collatz lengths of 1..=n",
        quick: 1_000,
        full: 500_000,
        native: bench_collatz::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "sieve",
        what: "tight loop over memory: primes below n",
        quick: 10_000,
        full: 20_000_000,
        native: bench_sieve::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "sort",
        what: "std sort_unstable and stable sort of n elements",
        quick: 1_000,
        full: 1_000_000,
        native: bench_sort::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "matmul",
        what: "f64 matrix multiply, n x n",
        quick: 16,
        full: 400,
        native: bench_matmul::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "nbody",
        what: "f64 n-body simulation, n steps",
        quick: 100,
        full: 300_000,
        native: bench_nbody::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "sha256",
        what: "SHA-256 over n MiB",
        quick: 1,
        full: 8,
        native: bench_sha256::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "deflate",
        what: "miniz_oxide compress + decompress n KiB of text",
        quick: 16,
        full: 1_024,
        native: bench_deflate::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "json",
        what: "serde_json parse (typed + Value) of n records",
        quick: 100,
        full: 30_000,
        native: bench_json::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "interp",
        what: "bytecode interpreter loop: trial-division primes below n",
        quick: 1_000,
        full: 150_000,
        native: bench_interp::run,
        imports_host: false,
        language: Language::Rust,
    },
    Workload {
        name: "hostcall",
        what: "n calls of the host function env.host_mix",
        quick: 10_000,
        full: 10_000_000,
        native: bench_hostcall::run,
        imports_host: true,
        language: Language::Rust,
    },
    Workload {
        name: "sqlite",
        what: "SQLite 3.50 (C, clang -O2): inserts, indexes, GROUP BY, join, lookups",
        quick: 200,
        full: 5_000,
        native: bench_sqlite::run,
        imports_host: false,
        language: Language::C,
    },
];

/// The host function every runtime provides as `env.host_mix`.
pub fn host_mix(x: i32) -> i32 {
    bench_hostcall::host_mix_impl(x)
}

/// The module of the call-cost measurement: one exported function that does nothing.
pub const NOP_WAT: &str = r#"(module (func (export "nop")))"#;

/// The repository root (the harness lives in `<root>/xtask/bench-harness`).
pub fn repo_root() -> PathBuf {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR"));
    harness.ancestors().nth(2).unwrap_or(harness).to_path_buf()
}

const TARGET: &str = "wasm32-unknown-unknown";

/// Fails with the command to run if the toolchain cannot build for `wasm32-unknown-unknown`.
fn check_target() -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .context("running `rustc --print sysroot`")?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let lib = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
    if !out.status.success() || !lib.is_dir() {
        bail!(
            "the Rust target `{TARGET}` is not installed (no {}); install it with:\n\n    \
             rustup target add {TARGET}\n",
            lib.display()
        );
    }
    Ok(())
}

/// Builds every guest for `wasm32-unknown-unknown` (release, into `target/bench-guests`)
/// and returns the directory holding the `.wasm` files.
pub fn build() -> Result<PathBuf> {
    check_target()?;
    let root = repo_root();
    let target_dir = root.join("target/bench-guests");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .arg("build")
        .arg("--release")
        .args(["--target", TARGET])
        .arg("--manifest-path")
        .arg(root.join("bench/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--workspace")
        .status()
        .context("running cargo to build the guests")?;
    if !status.success() {
        bail!("building the guests for {TARGET} failed ({status})");
    }
    Ok(target_dir.join(TARGET).join("release"))
}

/// The Wasm binary of the Rust guest `workload`, built by [`build`] into `dir`.
pub fn load(dir: &Path, workload: &Workload) -> Result<Vec<u8>> {
    let path = dir.join(format!("bench_{}.wasm", workload.name));
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// Builds the C guest `workload` with clang for wasm32-wasi (into `target/bench-guests/c`)
/// and returns its binary.
pub fn build_c(workload: &Workload) -> Result<Vec<u8>> {
    let out_dir = repo_root().join("target/bench-guests/c");
    let path = match workload.name {
        "sqlite" => crate::clang::build_sqlite(&out_dir)?,
        other => bail!("no C build for the workload `{other}`"),
    };
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}
