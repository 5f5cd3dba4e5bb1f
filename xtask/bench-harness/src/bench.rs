//! `cargo xtask bench`: runs the workloads on every runtime and natively, checks checksums,
//! measures translation, instantiation and call costs, measures weft's kernel against
//! Linux, and reports.

use crate::guests::{self, Language, WORKLOADS, Workload};
use crate::os::{self, OsResults};
use crate::runtimes::{self, Runtime};
use crate::{BenchArgs, chart, report};
use anyhow::{Context, Result, bail};
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

/// The name of the native baseline in results.
pub const NATIVE: &str = "native";

/// The workload whose module is large (about 1 MiB of code): its translation and its time
/// to a first result are reported apart from the small guests'.
pub const LARGE_MODULE: &str = "sqlite";

/// Everything one `bench` run measured.
#[derive(Debug)]
pub struct Results {
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// Runs per (workload, runtime).
    pub runs: usize,
    /// The machine and toolchain.
    pub machine: Machine,
    /// The runtimes in table order (weft first, native last).
    pub runtimes: Vec<&'static str>,
    /// One entry per workload.
    pub workloads: Vec<WorkloadResult>,
    /// Translation, instantiation and call costs.
    pub startup: Startup,
    /// weft's kernel against Linux, unless skipped (`--no-os`).
    pub os: Option<OsResults>,
}

/// Where the benchmark ran.
#[derive(Debug)]
pub struct Machine {
    /// The CPU model.
    pub cpu: String,
    /// Logical cores available.
    pub cores: usize,
    /// `rustc -V`.
    pub rustc: String,
    /// Operating system and architecture.
    pub os: String,
}

/// The results of one workload.
#[derive(Debug)]
pub struct WorkloadResult {
    /// The workload.
    pub workload: Workload,
    /// Its size parameter in this run.
    pub n: u32,
    /// The checksum every runtime produced (the native one).
    pub checksum: u64,
    /// Median seconds of `run(n)` per runtime that could run it.
    pub median_s: Vec<(&'static str, f64)>,
    /// Runtimes that could not run it, and why.
    pub failures: Vec<(&'static str, String)>,
}

impl WorkloadResult {
    /// The median time of `runtime`, if it ran.
    pub fn time(&self, runtime: &str) -> Option<f64> {
        self.median_s
            .iter()
            .find(|(r, _)| *r == runtime)
            .map(|(_, t)| *t)
    }
}

/// Costs outside the workloads.
#[derive(Debug, Default)]
pub struct Startup {
    /// Bytes of function code (code sections) over the small (Rust) guest binaries.
    pub code_bytes: usize,
    /// Bytes of the small guest binaries.
    pub total_bytes: usize,
    /// Milliseconds of translation per MiB of code, per runtime that translates ahead.
    pub translate_ms_per_mib: Vec<(&'static str, f64)>,
    /// The guest used for the instantiation measurement.
    pub instantiate_guest: &'static str,
    /// Median microseconds of one instantiation, per runtime.
    pub instantiate_us: Vec<(&'static str, f64)>,
    /// Median nanoseconds of one call of an empty exported function from the host.
    pub host_to_wasm_ns: Vec<(&'static str, f64)>,
    /// Nanoseconds per iteration of the `hostcall` workload (one Wasm-to-host call and the
    /// loop around it).
    pub wasm_to_host_ns: Vec<(&'static str, f64)>,
    /// The large module, if its workload ran.
    pub large: Option<LargeModule>,
}

/// Start-up of the large module ([`LARGE_MODULE`]).
#[derive(Debug)]
pub struct LargeModule {
    /// Its workload's name.
    pub name: &'static str,
    /// Bytes of its code section.
    pub code_bytes: usize,
    /// Bytes of its binary.
    pub total_bytes: usize,
    /// The `n` of the first call.
    pub n: u32,
    /// Milliseconds of translation per MiB of its code, per runtime that translates ahead.
    pub translate_ms_per_mib: Vec<(&'static str, f64)>,
    /// Median milliseconds from its bytes in memory to the result of `run(n)`: translation
    /// (or loading), instantiation and the first call.
    pub first_result_ms: Vec<(&'static str, f64)>,
}

/// Prints a progress line start (finished by [`done`]).
pub fn progress(step: &mut usize, total: usize, what: &str) {
    *step += 1;
    eprint!("[{step}/{total}] {what} ... ");
    let _ = std::io::stderr().flush();
}

pub fn done(msg: &str) {
    eprintln!("{msg}");
}

/// The median of `values` (which must not be empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn median_duration(durations: &[Duration]) -> f64 {
    median(durations.iter().map(Duration::as_secs_f64).collect())
}

/// Runs the whole suite as `opts` says.
pub fn run(opts: &BenchArgs) -> Result<()> {
    let quick = opts.quick;
    let runs = opts.runs.unwrap_or(if quick { 3 } else { 5 });
    let started = Instant::now();

    let workloads: Vec<Workload> = match &opts.workloads {
        _ if opts.os_only => Vec::new(),
        None => WORKLOADS.to_vec(),
        Some(names) => {
            for name in names {
                if !WORKLOADS.iter().any(|w| w.name == name) {
                    bail!("unknown workload `{name}`");
                }
            }
            WORKLOADS
                .iter()
                .filter(|w| names.iter().any(|n| n == w.name))
                .copied()
                .collect()
        }
    };
    let mut all = runtimes::all()?;
    if let Some(names) = &opts.runtimes {
        for name in names {
            if name != NATIVE && !all.iter().any(|r| r.name() == name) {
                bail!("unknown runtime `{name}`");
            }
        }
        all.retain(|r| names.iter().any(|n| n == r.name()));
    }
    if opts.os_only {
        all.clear();
    }

    // Every Rust guest (the startup measurements translate them all); a C guest only if it
    // runs, since it needs a C toolchain for wasm32-wasi.
    let binaries: Vec<(Workload, Vec<u8>)> = if opts.os_only {
        Vec::new()
    } else {
        eprintln!("building the guests for wasm32-unknown-unknown ...");
        let dir = guests::build()?;
        let mut binaries = Vec::new();
        for w in WORKLOADS {
            match w.language {
                Language::Rust => binaries.push((*w, guests::load(&dir, w)?)),
                Language::C if workloads.iter().any(|x| x.name == w.name) => {
                    binaries.push((*w, guests::build_c(w)?));
                }
                Language::C => {}
            }
        }
        binaries
    };
    let binary = |w: &Workload| {
        binaries
            .iter()
            .find(|(x, _)| x.name == w.name)
            .map(|(_, b)| b.as_slice())
            .expect("every workload that runs has been built")
    };
    let large = binaries.iter().any(|(w, _)| w.name == LARGE_MODULE);

    let startup_steps = all.len() * if large { 5 } else { 3 };
    let os_steps = if opts.no_os { 0 } else { os::STEPS };
    let total = workloads.len() * (all.len() + 1) + startup_steps + os_steps;
    let mut step = 0;
    let mode = if quick { "quick" } else { "full" };
    if opts.os_only {
        eprintln!("operating-system measurements only ({mode} mode, median of {runs} runs)");
    } else {
        eprintln!(
            "running {} workloads on {} runtimes and natively ({mode} mode, median of {runs} \
             runs)",
            workloads.len(),
            all.len(),
        );
    }

    let mut results = Vec::new();
    for w in &workloads {
        let n = w.n(quick);
        let mut result = WorkloadResult {
            workload: *w,
            n,
            checksum: 0,
            median_s: Vec::new(),
            failures: Vec::new(),
        };

        progress(&mut step, total, &format!("{} on {NATIVE}", w.name));
        let mut times = Vec::with_capacity(runs);
        let mut expected = None;
        for _ in 0..runs {
            let start = Instant::now();
            let sum = black_box((w.native)(black_box(n)));
            times.push(start.elapsed().as_secs_f64());
            if *expected.get_or_insert(sum) != sum {
                bail!("{}: the native build is not deterministic", w.name);
            }
        }
        let expected = expected.unwrap_or_default();
        result.checksum = expected;
        let native = median(times);
        done(&format!("{native:.4}s  (checksum {expected:#018x})"));

        for rt in &all {
            progress(&mut step, total, &format!("{} on {}", w.name, rt.name()));
            match time_runtime(rt.as_ref(), w, binary(w), n, runs, expected) {
                Ok(t) => {
                    done(&format!("{t:.4}s"));
                    result.median_s.push((rt.name(), t));
                }
                Err(e) if e.is::<Mismatch>() => return Err(e),
                Err(e) if rt.name() == "weft" => {
                    return Err(e.context(format!("weft could not run {}", w.name)));
                }
                Err(e) => {
                    let reason = format!("{e:#}");
                    done(&format!("FAILED: {reason}"));
                    result.failures.push((rt.name(), reason));
                }
            }
        }
        result.median_s.push((NATIVE, native));
        results.push(result);
    }

    let startup = if opts.os_only {
        Startup::default()
    } else {
        measure_startup(&all, &binaries, &results, quick, runs, (&mut step, total))?
    };

    let os = if opts.no_os {
        None
    } else {
        Some(os::run(quick, runs, (&mut step, total))?)
    };

    let mut names: Vec<&'static str> = all.iter().map(|r| r.name()).collect();
    names.push(NATIVE);
    let results = Results {
        quick,
        runs,
        machine: machine()?,
        runtimes: names,
        workloads: results,
        startup,
        os,
    };

    println!();
    print!("{}", report::table(&results));
    if let Some(path) = &opts.json {
        report::write_json(&results, path)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &opts.svg {
        if results.workloads.is_empty() {
            eprintln!("no workloads ran: not writing {}", path.display());
        } else {
            chart::write_svg(&results, path)?;
            eprintln!("wrote {}", path.display());
        }
    }
    eprintln!("total time {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A runtime returned a different checksum than the native build: always a hard error.
#[derive(Debug)]
struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}

/// The median seconds of `runs` calls of `run(n)` of `w` on `rt`, checking each checksum.
fn time_runtime(
    rt: &dyn Runtime,
    w: &Workload,
    wasm: &[u8],
    n: u32,
    runs: usize,
    expected: u64,
) -> Result<f64> {
    let mut times = Vec::with_capacity(runs);
    rt.with_run(wasm, w.imports_host, &mut |run| {
        for _ in 0..runs {
            let start = Instant::now();
            let sum = run(n)?;
            times.push(start.elapsed().as_secs_f64());
            if sum != expected {
                return Err(Mismatch(format!(
                    "checksum mismatch: {} on {} returned {sum:#018x}, native returned \
                     {expected:#018x} (n = {n})",
                    w.name,
                    rt.name()
                ))
                .into());
            }
        }
        Ok(())
    })?;
    Ok(median(times))
}

/// The size of the code sections of `wasm`.
fn code_bytes(wasm: &[u8]) -> Result<usize> {
    let mut size = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CodeSectionStart { size: s, .. } = payload? {
            size += s as usize;
        }
    }
    Ok(size)
}

#[inline(never)]
fn native_nop() {}

const MIB: f64 = 1024.0 * 1024.0;

/// The sum over `binaries` of the median of `runs` translations of each, in seconds, or
/// `None` if `rt` does not translate ahead of the first call.
fn translation_s(rt: &dyn Runtime, binaries: &[&[u8]], runs: usize) -> Result<Option<f64>> {
    let mut sum = 0.0;
    for wasm in binaries {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            match rt.translate(wasm)? {
                Some(t) => times.push(t.as_secs_f64()),
                None => return Ok(None),
            }
        }
        sum += median(times);
    }
    Ok(Some(sum))
}

/// Translation time, instantiation time and call costs, and the large module's start-up.
fn measure_startup(
    all: &[Box<dyn Runtime>],
    binaries: &[(Workload, Vec<u8>)],
    results: &[WorkloadResult],
    quick: bool,
    runs: usize,
    (step, total): (&mut usize, usize),
) -> Result<Startup> {
    // The small guests (the Rust ones) make the translation aggregate; the large module
    // has rows of its own, so that its 1 MiB does not swamp the eleven small guests' 240
    // KiB and the aggregate stays comparable with earlier runs.
    let small: Vec<&[u8]> = binaries
        .iter()
        .filter(|(w, _)| w.language == Language::Rust)
        .map(|(_, b)| b.as_slice())
        .collect();
    let mut s = Startup {
        code_bytes: small.iter().map(|b| code_bytes(b)).sum::<Result<_>>()?,
        total_bytes: small.iter().map(|b| b.len()).sum(),
        instantiate_guest: "json",
        ..Startup::default()
    };

    // Translation: the median of `runs` translations of each binary, summed.
    for rt in all {
        progress(step, total, &format!("translation on {}", rt.name()));
        match translation_s(rt.as_ref(), &small, runs)? {
            Some(sum) => {
                let per_mib = sum * 1e3 / (s.code_bytes as f64 / MIB);
                done(&format!("{per_mib:.1} ms/MiB of code"));
                s.translate_ms_per_mib.push((rt.name(), per_mib));
            }
            None => done("not measured (translates lazily)"),
        }
    }

    if let Some((w, wasm)) = binaries.iter().find(|(w, _)| w.name == LARGE_MODULE) {
        // Compiling 1 MiB takes seconds on the JITs: `--quick` (CI) checks it once.
        let large_runs = if quick { 1 } else { runs };
        s.large = Some(measure_large(
            all,
            w,
            wasm,
            results,
            large_runs,
            (step, total),
        )?);
    }

    // Instantiation of one guest with a memory and data segments.
    let (_, json) = binaries
        .iter()
        .find(|(w, _)| w.name == s.instantiate_guest)
        .context("the instantiation guest is missing")?;
    let times = if quick { 5 } else { 50 };
    for rt in all {
        progress(step, total, &format!("instantiation on {}", rt.name()));
        match rt.instantiate(json, times) {
            Ok(d) => {
                let us = median_duration(&d) * 1e6;
                done(&format!("{us:.1} µs"));
                s.instantiate_us.push((rt.name(), us));
            }
            Err(e) => done(&format!("FAILED: {e:#}")),
        }
    }

    // Host-to-Wasm calls of an empty function.
    let nop = wat::parse_str(guests::NOP_WAT)?;
    let calls: u64 = if quick { 10_000 } else { 1_000_000 };
    for rt in all {
        progress(step, total, &format!("host-to-wasm calls on {}", rt.name()));
        match rt.call_nop(&nop, calls, runs) {
            Ok(d) => {
                let ns = median_duration(&d) * 1e9 / calls as f64;
                done(&format!("{ns:.1} ns/call"));
                s.host_to_wasm_ns.push((rt.name(), ns));
            }
            Err(e) => done(&format!("FAILED: {e:#}")),
        }
    }
    let f: fn() = black_box(native_nop);
    let batches: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                black_box(f)();
            }
            start.elapsed()
        })
        .collect();
    s.host_to_wasm_ns
        .push((NATIVE, median_duration(&batches) * 1e9 / calls as f64));

    // Wasm-to-host calls: the hostcall workload's time per iteration.
    if let Some(r) = results.iter().find(|r| r.workload.imports_host) {
        for (name, t) in &r.median_s {
            s.wasm_to_host_ns.push((name, t * 1e9 / f64::from(r.n)));
        }
    }
    Ok(s)
}

/// The large module's translation per MiB of code and its time to a first result: from
/// its bytes in memory to the result of `run(quick n)`, checked against the native one.
fn measure_large(
    all: &[Box<dyn Runtime>],
    w: &Workload,
    wasm: &[u8],
    results: &[WorkloadResult],
    runs: usize,
    (step, total): (&mut usize, usize),
) -> Result<LargeModule> {
    let mut large = LargeModule {
        name: w.name,
        code_bytes: code_bytes(wasm)?,
        total_bytes: wasm.len(),
        n: w.quick,
        translate_ms_per_mib: Vec::new(),
        first_result_ms: Vec::new(),
    };
    let mib = large.code_bytes as f64 / MIB;
    let expected = (w.native)(large.n);
    // A runtime that could not run the workload is not asked again.
    let failed = |rt: &str| {
        results
            .iter()
            .any(|r| r.workload.name == w.name && r.failures.iter().any(|(f, _)| *f == rt))
    };
    for rt in all {
        progress(
            step,
            total,
            &format!("translation of {} on {}", w.name, rt.name()),
        );
        if failed(rt.name()) {
            done("not measured (cannot run it)");
            continue;
        }
        match translation_s(rt.as_ref(), &[wasm], runs) {
            Ok(Some(t)) => {
                let per_mib = t * 1e3 / mib;
                done(&format!("{:.1} ms ({per_mib:.1} ms/MiB of code)", t * 1e3));
                large.translate_ms_per_mib.push((rt.name(), per_mib));
            }
            Ok(None) => done("not measured (translates lazily)"),
            Err(e) => done(&format!("FAILED: {e:#}")),
        }
    }
    for rt in all {
        progress(
            step,
            total,
            &format!("{} to its first result on {}", w.name, rt.name()),
        );
        if failed(rt.name()) {
            done("not measured (cannot run it)");
            continue;
        }
        let mut times = Vec::with_capacity(runs);
        let measured: Result<()> = (0..runs).try_for_each(|_| {
            let (t, sum) = rt.first_result(wasm, w.imports_host, large.n)?;
            if sum != expected {
                return Err(Mismatch(format!(
                    "checksum mismatch: the first run({}) of {} on {} returned {sum:#018x}, \
                     native returned {expected:#018x}",
                    large.n,
                    w.name,
                    rt.name()
                ))
                .into());
            }
            times.push(t.as_secs_f64());
            Ok(())
        });
        match measured {
            Ok(()) => {
                let ms = median(times) * 1e3;
                done(&format!("{ms:.1} ms"));
                large.first_result_ms.push((rt.name(), ms));
            }
            Err(e) if e.is::<Mismatch>() || rt.name() == "weft" => return Err(e),
            Err(e) => done(&format!("FAILED: {e:#}")),
        }
    }
    Ok(large)
}

/// Describes this machine.
fn machine() -> Result<Machine> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc).arg("-V").output()?;
    Ok(Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rustc: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    })
}
