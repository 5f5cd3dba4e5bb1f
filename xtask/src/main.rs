//! weft's project automation, run as `cargo xtask <command>` from the repository root.
//!
//! This package is only a dispatcher, light enough to build in seconds: it sets up what a
//! command needs (Rust targets, the C toolchain for Wasm) and runs cargo for the real work.
//! The benchmark harness, with the peer runtimes it compares weft with, is the package
//! `weft-bench` of this workspace (`xtask/bench-harness`); it is built only when
//! `cargo xtask bench` runs it. Child commands are started with `std::process::Command`
//! (which spawns with `posix_spawn` on Linux), so this crate needs no unsafe code.

mod metal;

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

const USAGE: &str = "\
usage: cargo xtask <COMMAND> [ARGS]

commands:
  bench [OPTIONS]      run the benchmark suite (weft against wasmi, wasm3, wasmtime,
                       native, and the operating-system measurements against Linux);
                       `cargo xtask bench --help` lists its options (see BENCHMARKS.md);
                       without --quick, then the boot section: weft booted under QEMU to
                       its shell prompt against Debian's Linux with a busybox initramfs
  bench --boot         only the boot section
  run [-- QEMU ARGS]   build weft for x86_64 and boot it under QEMU (KVM when /dev/kvm
                       works, else TCG), the serial console on this terminal; installs
                       what is missing (the Rust targets wasm32-wasip1 and
                       x86_64-unknown-none, the image builder's pinned nightly, and
                       qemu-system-x86 with apt-get)
  run --hosted [-- BOOT ARGS]
                       build weft and boot it hosted on this machine
                       (`weft boot [BOOT ARGS]`)
  test [ARGS]          test everything (`cargo test --workspace [ARGS]`, and without ARGS
                       also the engine's tests and the spec suite optimized, the JIT
                       tier's tests (feature jit), and the bare-metal tests under
                       QEMU), after making sure the Rust targets
                       wasm32-wasip1 and wasm32-unknown-unknown and the C toolchain for
                       Wasm (Debian packages clang, lld, wasi-libc, libclang-rt-dev-wasm32)
                       are installed, installing what is missing
  test-metal           only the bare-metal tests: boot the x86_64 image under QEMU and
                       drive shell sessions over its serial console
  fuzz [TARGET] [--seconds N]
                       run the fuzz targets (fuzz/, see docs/fuzzing.md): TARGET, or
                       each of compile_run, differential, syscalls and wast, for N
                       seconds (default 60) with cargo-fuzz and libFuzzer on nightly,
                       installing the nightly toolchain and cargo-fuzz if they are
                       missing
  help                 this text";

/// The fuzz targets of `fuzz/`, in the order `cargo xtask fuzz` runs them.
const FUZZ_TARGETS: &[&str] = &["compile_run", "differential", "syscalls", "wast"];

/// The Rust targets the root workspace builds for: userland and the initrd
/// (`wasm32-wasip1`), and Wasm test programs (`wasm32-unknown-unknown`).
const TEST_TARGETS: &[&str] = &["wasm32-wasip1", "wasm32-unknown-unknown"];

/// The Debian packages of the C toolchain for Wasm: clang, its Wasm linker (`wasm-ld`,
/// in lld), the C library for WASI and clang's runtime builtins for wasm32.
const C_PACKAGES: &str = "clang lld wasi-libc libclang-rt-dev-wasm32";

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let Some(command) = args.next() else {
        println!("{USAGE}");
        return Ok(());
    };
    let rest: Vec<OsString> = args.collect();
    match command.to_str() {
        Some("bench") => exit_with(bench(&rest)?),
        Some("run") => match rest.split_first() {
            Some((flag, boot_args)) if flag == "--hosted" => {
                exit_with(run_hosted(strip_separator(boot_args))?)
            }
            _ => exit_with(metal::run(strip_separator(&rest))?),
        },
        Some("test") => exit_with(test(&rest)?),
        Some("test-metal") => exit_with(metal::test()?),
        Some("fuzz") => exit_with(fuzz(&rest)?),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command `{}`\n\n{USAGE}", command.to_string_lossy()),
    }
}

/// Ends this process with `status`'s exit code (the child already reported its failure).
fn exit_with(status: ExitStatus) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        std::process::exit(status.code().unwrap_or(1))
    }
}

/// The arguments after an optional leading `--`.
fn strip_separator(args: &[OsString]) -> &[OsString] {
    match args.split_first() {
        Some((first, rest)) if first == "--" => rest,
        _ => args,
    }
}

/// The xtask workspace (`<root>/xtask`).
fn xtask_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root.
fn repo_root() -> PathBuf {
    let xtask = xtask_dir();
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// The cargo that runs us (cargo sets `CARGO` for the programs it runs).
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cmd` with inherited stdio and returns its status.
fn status(cmd: &mut Command, what: &str) -> Result<ExitStatus> {
    cmd.status()
        .with_context(|| format!("could not start {what}"))
}

/// `cargo xtask bench`: the harness, built in release mode and given the arguments as is;
/// then, unless `--quick`, the boot section (weft under QEMU against Linux). `--boot` runs
/// only the boot section.
fn bench(args: &[OsString]) -> Result<ExitStatus> {
    if args.iter().any(|a| a == "--boot") {
        return metal::bench_boot(BOOT_RUNS);
    }
    let harness = status(
        cargo()
            .args(["run", "--release", "--manifest-path"])
            .arg(xtask_dir().join("Cargo.toml"))
            .args(["-p", "weft-bench", "--"])
            .args(args),
        "cargo to run the benchmark harness",
    )?;
    let help = args.iter().any(|a| a == "--help" || a == "-h");
    if !harness.success() || help || args.iter().any(|a| a == "--quick") {
        return Ok(harness);
    }
    metal::bench_boot(BOOT_RUNS)
}

/// How many times the boot section boots each system.
const BOOT_RUNS: u32 = 3;

/// `cargo xtask run --hosted`: builds the `weft` CLI (which embeds the initrd built from
/// userland for `wasm32-wasip1`) and boots it.
fn run_hosted(boot_args: &[OsString]) -> Result<ExitStatus> {
    let root = repo_root();
    ensure_rust_target(&root, "wasm32-wasip1")?;
    status(
        cargo()
            .current_dir(&root)
            .args(["run", "--release", "-p", "weft", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .args(["--", "boot"])
            .args(boot_args),
        "cargo to build and boot weft",
    )
}

/// `cargo xtask test`: installs what the tests need, then runs every test of the root
/// workspace.
fn test(cargo_args: &[OsString]) -> Result<ExitStatus> {
    let root = repo_root();
    for target in TEST_TARGETS {
        ensure_rust_target(&root, target)?;
    }
    ensure_c_toolchain()?;
    let debug = status(
        cargo()
            .current_dir(&root)
            .args(["test", "--workspace", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .args(cargo_args),
        "cargo to run the tests",
    )?;
    if !debug.success() || !cargo_args.is_empty() {
        return Ok(debug);
    }
    // The CLI runs programs on the JIT by default; its tests (real programs, shell sessions,
    // the WASI suite) once more on the interpreter.
    let interp = status(
        cargo()
            .current_dir(&root)
            .env("WEFT_STRATEGY", "interp")
            .args(["test", "-p", "weft", "--manifest-path"])
            .arg(root.join("Cargo.toml")),
        "cargo to run the CLI's tests on the interpreter",
    )?;
    if !interp.success() {
        return Ok(interp);
    }
    // Optimized builds dispatch between the interpreter's handlers by tail calls (debug
    // builds by a loop): the engine's tests, among them the one that catches a handler
    // growing the host stack, and the spec suite run that way too. With the JIT built in,
    // so that the tests timed only in optimized builds (Cranelift's compile-time bounds)
    // run, and the spec suite runs on every tier optimized.
    let release = status(
        cargo()
            .current_dir(&root)
            .args(["test", "--release", "-p", "weft-engine", "-p", "weft-wast"])
            .args(["--features", "weft-wast/jit"])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml")),
        "cargo to run the engine's tests optimized",
    )?;
    if !release.success() {
        return Ok(release);
    }
    // The JIT tier (feature `jit`, Linux hosts): the code generator, its runtime support,
    // the resumable-call tests and the spec suite on generated code (the code generator's
    // own runner, then the engine's `.wast` runner with and without fuel).
    let jit = status(
        cargo()
            .current_dir(&root)
            .args([
                "test",
                "-p",
                "weft-engine",
                "-p",
                "weft-wast",
                "--features",
                "weft-wast/jit",
            ])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml")),
        "cargo to run the JIT tier's tests",
    )?;
    if !jit.success() {
        return Ok(jit);
    }
    // The engine's API tests and the kernel's tests once more, every engine on the JIT.
    let jit_api = status(
        cargo()
            .current_dir(&root)
            .env("WEFT_STRATEGY", "jit")
            .args([
                "test",
                "-p",
                "weft-engine",
                "-p",
                "weft-kernel",
                "--features",
            ])
            .args(["weft-kernel/jit", "--tests"])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml")),
        "cargo to run the engine's and the kernel's tests on the JIT",
    )?;
    if !jit_api.success() {
        return Ok(jit_api);
    }
    metal::test()
}

/// `cargo xtask fuzz [TARGET] [--seconds N]`: runs each fuzz target (or `TARGET`) for `N`
/// seconds with cargo-fuzz on nightly. Each starts from its seed corpus in
/// `fuzz/corpus/TARGET` (read only) and keeps what it finds in `target/fuzz-corpus/TARGET`;
/// a failing input lands in `fuzz/artifacts/TARGET` and stops the run.
fn fuzz(args: &[OsString]) -> Result<ExitStatus> {
    let mut targets: Vec<String> = Vec::new();
    let mut seconds: u64 = 60;
    let mut args = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let n = args.next().context("--seconds needs a number")?;
                seconds = n.parse().with_context(|| format!("--seconds {n}"))?;
            }
            name if FUZZ_TARGETS.contains(&name) => targets.push(name.to_string()),
            other => bail!(
                "unknown fuzz target or option `{other}` (targets: {})",
                FUZZ_TARGETS.join(", ")
            ),
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let root = repo_root();
    ensure_cargo_fuzz()?;
    let mut last = None;
    for target in &targets {
        let work = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&work)
            .with_context(|| format!("could not create {}", work.display()))?;
        println!("fuzzing {target} for {seconds} s");
        // AddressSanitizer checks the engine's unsafe code under arbitrary input
        // (`compile_run`, and `wast`, whose scripts make modules too). The differential
        // target is about semantics, and the syscalls target drives the kernel, which has
        // no unsafe code (and whose leaks of kernel objects the target counts itself):
        // they run without it, at several times the speed.
        let sanitizer = if matches!(target.as_str(), "compile_run" | "wast") {
            "address"
        } else {
            "none"
        };
        let run = status(
            nightly_cargo()
                .current_dir(&root)
                .args(["fuzz", "run", target, "--sanitizer", sanitizer])
                .arg("--target-dir")
                .arg(root.join("target/fuzz"))
                .arg(&work)
                .arg(root.join("fuzz/corpus").join(target))
                .arg("--")
                .arg(format!("-max_total_time={seconds}"))
                // An input that takes this long is a hang; translation and every call
                // are bounded far below it.
                .arg("-timeout=20")
                .arg("-print_final_stats=1")
                // The engine's allocations are fallible: let a failed one return null, as
                // the system allocator does, rather than have the sanitizer stop there.
                .env("ASAN_OPTIONS", "allocator_may_return_null=1"),
            "cargo-fuzz",
        )?;
        if !run.success() {
            return Ok(run);
        }
        last = Some(run);
    }
    last.context("no fuzz target to run")
}

/// cargo of the nightly toolchain (cargo-fuzz needs nightly for its sanitizer and coverage
/// flags), without the variables of the cargo that runs us, which would override it.
fn nightly_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// Installs the nightly toolchain and cargo-fuzz if they are missing.
fn ensure_cargo_fuzz() -> Result<()> {
    let quiet = |cmd: &mut Command| {
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !quiet(nightly_cargo().arg("--version")) {
        println!("installing the nightly toolchain with rustup");
        let ok = status(
            Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
            ]),
            "rustup",
        )?;
        if !ok.success() {
            bail!("could not install the nightly toolchain");
        }
    }
    if !quiet(nightly_cargo().args(["fuzz", "--version"])) {
        println!("installing cargo-fuzz");
        let ok = status(
            Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]),
            "cargo install",
        )?;
        if !ok.success() {
            bail!("could not install cargo-fuzz");
        }
    }
    Ok(())
}

/// The library directory of `target` for the toolchain that builds in `root` (it exists
/// only when the target is installed).
fn target_libdir(root: &Path, target: &str) -> Result<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .current_dir(root)
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .context("could not run `rustc --print target-libdir`")?;
    if !out.status.success() {
        bail!(
            "`rustc --print target-libdir --target {target}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// Installs the Rust target `target` with rustup unless it is installed already.
fn ensure_rust_target(root: &Path, target: &str) -> Result<()> {
    let libdir = target_libdir(root, target)?;
    if libdir.is_dir() {
        return Ok(());
    }
    eprintln!("xtask: the Rust target {target} is not installed; installing it with rustup");
    let added = match Command::new("rustup")
        .current_dir(root)
        .args(["target", "add", target])
        .status()
    {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "the Rust target {target} is not installed ({} does not exist) and rustup, \
             which would install it, is not on PATH. Install Rust with rustup \
             (https://rustup.rs), then run:\n\n    rustup target add {target}\n\n\
             or install {target}'s standard library for your toolchain by other means.",
            libdir.display()
        ),
        Err(e) => return Err(e).context("could not run rustup"),
    };
    if !added.success() || !target_libdir(root, target)?.is_dir() {
        bail!(
            "installing the Rust target {target} failed ({added}); run this yourself:\n\n    \
             rustup target add {target}"
        );
    }
    Ok(())
}

/// Whether an executable `name` is on `PATH`.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// Whether WASI's C library is installed: `/usr/share/wasi-sysroot` (Debian 13 and later)
/// or the multiarch layout of Debian 12's `wasi-libc` (`/usr/lib/wasm32-wasi`), which
/// clang finds by itself.
fn has_wasi_libc() -> bool {
    Path::new("/usr/share/wasi-sysroot").is_dir()
        || Path::new("/usr/lib/wasm32-wasi/libc.a").is_file()
}

/// Whether clang's compiler-rt builtins for wasm32 are installed (clang links every WASI
/// program against them).
fn has_wasm_builtins() -> bool {
    Command::new("clang")
        .args(["--target=wasm32-wasi", "-print-libgcc-file-name"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .is_some_and(|path| Path::new(path.trim()).is_file())
}

/// What of the C toolchain for Wasm is missing.
fn missing_c_toolchain() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !on_path("clang") {
        missing.push("clang");
    }
    if !on_path("wasm-ld") {
        missing.push("wasm-ld (lld)");
    }
    if !has_wasi_libc() {
        missing.push("wasi-libc (/usr/share/wasi-sysroot)");
    }
    if on_path("clang") && !has_wasm_builtins() {
        missing.push("clang's wasm32 builtins (libclang_rt.builtins-wasm32.a)");
    }
    missing
}

/// Makes sure clang, wasm-ld and wasi-libc are installed (the tests build C programs for
/// WASI), installing them with apt-get if not.
fn ensure_c_toolchain() -> Result<()> {
    let missing = missing_c_toolchain();
    if missing.is_empty() {
        return Ok(());
    }
    ensure_debian_packages(&missing.join(", "), C_PACKAGES)?;
    let still = missing_c_toolchain();
    if !still.is_empty() {
        bail!(
            "after installing {C_PACKAGES} this is still missing: {}. On Debian or Ubuntu \
             the packages are installed with:\n\n    sudo apt-get install {C_PACKAGES}",
            still.join(", ")
        );
    }
    Ok(())
}

/// Installs the Debian `packages` (space-separated) with apt-get, because `missing` is
/// missing; says how to do it by hand when that cannot work.
fn ensure_debian_packages(missing: &str, packages: &str) -> Result<()> {
    let root = is_root();
    let sudo = if root { "" } else { "sudo " };
    let by_hand = format!(
        "{sudo}apt-get update -qq && {sudo}env DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -qq {packages}"
    );
    if !on_path("apt-get") {
        bail!(
            "this is missing: {missing}, and there is no apt-get here to install it: install \
             the equivalent of the Debian packages `{packages}` with your system's package \
             manager. On Debian or Ubuntu:\n\n    {by_hand}"
        );
    }
    if !root && !on_path("sudo") {
        bail!(
            "this is missing: {missing}. Install it as root (there is no sudo here):\n\n    \
             apt-get update -qq && env DEBIAN_FRONTEND=noninteractive apt-get install -y \
             -qq {packages}"
        );
    }
    eprintln!("xtask: missing {missing}; installing {packages} with apt-get");
    let apt = |args: &[&str]| -> Result<bool> {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            c
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        Ok(status(&mut cmd, "apt-get")?.success())
    };
    let mut install = vec!["install", "-y", "-qq"];
    install.extend(packages.split(' '));
    if !apt(&["update", "-qq"])? || !apt(&install)? {
        bail!("installing {packages} failed; run this yourself:\n\n    {by_hand}");
    }
    Ok(())
}

/// Whether we run as root (then apt-get needs no sudo): the effective uid in
/// `/proc/self/status`, or else what `id -u` says.
fn is_root() -> bool {
    let from_proc = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            uids.split_whitespace().nth(1).map(|euid| euid == "0")
        });
    from_proc.unwrap_or_else(|| {
        Command::new("id").arg("-u").output().is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0"
        })
    })
}
