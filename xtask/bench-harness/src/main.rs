//! weft's benchmark harness, run as `cargo xtask bench [OPTIONS]` from the repository root
//! (the `xtask` dispatcher runs this package, `weft-bench`).
//!
//! It builds the guest programs under `bench/` (the Rust ones for `wasm32-unknown-unknown`
//! with Cargo, the C one, SQLite, for wasm32-wasi with clang), runs every workload on
//! weft's interpreter and JIT, its peers (wasmi, wasm3, wasmtime) and natively, checks
//! every checksum against the native one, measures translation, instantiation and call
//! costs, measures weft's kernel against Linux (IPC, spawn, fd_write), and prints a table
//! (optionally writing JSON and an SVG chart). See BENCHMARKS.md.

mod bench;
mod chart;
mod clang;
mod guests;
mod os;
mod report;
mod runtimes;

use anyhow::{Result, bail};
use std::path::PathBuf;

const USAGE: &str = "\
usage: cargo xtask bench [OPTIONS]

Runs the benchmark suite (see BENCHMARKS.md).

options:
  --quick              tiny inputs and 3 runs each: checks that everything runs and agrees
  --json PATH          write the results as JSON to PATH, and the ratio chart next to it
                       (ratios.svg in the same directory)
  --svg PATH           write the ratio chart to PATH instead
  --runs N             runs per (workload, runtime) and per operating-system
                       measurement; the median is reported (default 5, quick 3)
  --workloads A,B,..   only these workloads
  --runtimes A,B,..    only these runtimes (weft, weft-jit, weft-jit-fuel, weft-auto, wasmi,
                       wasm3, wasmtime, native);
                       native always runs, since it provides the expected checksums
  --no-os              skip the operating-system measurements (weft's kernel against
                       Linux: IPC round trip, spawn and exit, fd_write)
  --os-only            only the operating-system measurements
  -h, --help           this text";

/// The options of `cargo xtask bench`.
#[derive(Debug, Default)]
pub struct BenchArgs {
    /// Tiny inputs only.
    pub quick: bool,
    /// Where to write the JSON results.
    pub json: Option<PathBuf>,
    /// Where to write the SVG chart.
    pub svg: Option<PathBuf>,
    /// Runs per (workload, runtime).
    pub runs: Option<usize>,
    /// Workload filter.
    pub workloads: Option<Vec<String>>,
    /// Runtime filter.
    pub runtimes: Option<Vec<String>>,
    /// Skip the operating-system measurements.
    pub no_os: bool,
    /// Only the operating-system measurements.
    pub os_only: bool,
}

fn parse_bench_args(mut args: impl Iterator<Item = String>) -> Result<Option<BenchArgs>> {
    let mut out = BenchArgs::default();
    let list = |v: String| v.split(',').map(|s| s.trim().to_string()).collect();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| match args.next() {
            Some(v) => Ok(v),
            None => bail!("{name} needs a value\n\n{USAGE}"),
        };
        match arg.as_str() {
            "--quick" => out.quick = true,
            "--json" => out.json = Some(value("--json")?.into()),
            "--svg" => out.svg = Some(value("--svg")?.into()),
            "--runs" => {
                let runs: usize = value("--runs")?.parse()?;
                if runs == 0 {
                    bail!("--runs must be at least 1");
                }
                out.runs = Some(runs);
            }
            "--workloads" => out.workloads = Some(list(value("--workloads")?)),
            "--runtimes" => out.runtimes = Some(list(value("--runtimes")?)),
            "--no-os" => out.no_os = true,
            "--os-only" => out.os_only = true,
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown option `{other}`\n\n{USAGE}"),
        }
    }
    if out.no_os && out.os_only {
        bail!("--no-os and --os-only exclude each other");
    }
    if out.svg.is_none() && !out.os_only {
        out.svg = out.json.as_ref().map(|j| j.with_file_name("ratios.svg"));
    }
    Ok(Some(out))
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some(os::ECHO_COMMAND) {
        return os::echo();
    }
    match parse_bench_args(args)? {
        Some(opts) => bench::run(&opts),
        None => {
            println!("{USAGE}");
            Ok(())
        }
    }
}
