//! `weft`: the command-line front end of the weft WebAssembly microkernel OS.
//!
//! Commands:
//!
//! - `weft run [OPTIONS] PROG.wasm [ARGS...]` runs a WASI preview1 program as a weft process
//!   (with `--dir HOST[::GUEST]`, `--env NAME[=VALUE]`, `--fuel N`) and exits with its exit
//!   code, like `wasmtime run`. Only options before the module are weft's: everything after
//!   it is the program's, even `--help`.
//! - `weft boot` boots the hosted OS from the built-in initrd into `init` and the shell.
//! - `weft run --invoke NAME FILE [ARGS...]` runs a `.wasm` or `.wat` module the same way but
//!   calls its export NAME with ARGS instead of `_start` (after `_initialize`, if it has
//!   one), printing the results one per line, as `wasmtime run --invoke` does.
//! - `weft wast FILE...` runs `.wast` spec scripts and prints pass/fail counts.
//!
//! Exit status: a WASI program's or the booted system's own exit code; 134 when it, or the
//! function `--invoke` called, trapped (with the trap and a Wasm backtrace on stderr); 1,
//! with an error, when a program's `proc_exit` status is 126 or more (refused as `wasmtime
//! run` refuses it) or init's does not fit in 8 bits; `wast` gives 0 on success and 1 when
//! an assertion failed; 2 for usage errors and for modules that cannot be read, compiled
//! or linked.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};
use weft_engine::{Config, Strategy, Val, ValType};
use weft_kernel::vfs::{Vfs, path as vpath};
use weft_kernel::{Kernel, KernelConfig, Program, SpawnRequest};

/// Exit status when a `.wast` assertion failed, or a program's exit status was invalid.
const EXIT_FAILURE: u8 = 1;
/// Exit status for usage, load, compile and link errors.
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "weft: a WebAssembly microkernel OS",
    after_help = "Exit status: a program's own exit code, 134 if it (or the --invoke'd function) \
                  trapped, 1 if it called proc_exit with 126 or more (invalid, as in \
                  wasmtime); wast: 0 success, 1 failed assertion; 2 usage/load/link error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a WASI program as a weft process, or call one function of a module (--invoke).
    Run(RunArgs),
    /// Boot the hosted weft OS from the built-in initrd into init and the shell.
    Boot(BootArgs),

    /// Run .wast spec test scripts.
    Wast {
        #[command(flatten)]
        tier: TierArgs,
        /// The scripts to run.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// `weft run`'s options. Only what comes before the module is parsed as options: the module
/// and everything after it are collected in `module_and_args` (clap's trailing var arg), so
/// `weft run prog.wasm --help` passes `--help` to the program, as `wasmtime run` does.
#[derive(Args)]
#[command(
    after_help = "Everything after MODULE is the program's (or, with --invoke, the \
                  function's): weft's options go before MODULE, and `--` also ends them."
)]
struct RunArgs {
    /// Call this exported function instead of `_start` (after `_initialize`, if the module
    /// exports it) and print its results; the arguments after MODULE are its arguments,
    /// parsed by its parameter types: integers in decimal or 0x hex, floats in Rust syntax
    /// (including nan and inf), `null` for references.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,

    /// Stop with a trap after consuming N units of fuel (the whole program, children
    /// included in each one's own count).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,

    /// Map host directory HOST into the program, preopened under the name GUEST (`--dir
    /// HOST` uses HOST as given as the name). The program sees exactly these directories.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,

    /// Set environment variable NAME for the program; `--env NAME` passes on weft's own
    /// value of NAME (nothing if it is unset).
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    envs: Vec<String>,

    #[command(flatten)]
    tier: TierArgs,

    /// The module (WebAssembly binary or text), then the program's arguments (after
    /// argv[0], which is MODULE as given).
    #[arg(
        value_names = ["MODULE", "ARGS"],
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    module_and_args: Vec<String>,
}

impl RunArgs {
    /// The module's path.
    fn file(&self) -> &Path {
        Path::new(&self.module_and_args[0])
    }

    /// What follows the module: the program's or the function's arguments.
    fn args(&self) -> &[String] {
        &self.module_and_args[1..]
    }
}

#[derive(Args)]
struct BootArgs {
    /// Map host directory HOST into the file system at GUEST (`--dir DIR` means DIR::DIR).
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    dirs: Vec<String>,

    #[command(flatten)]
    tier: TierArgs,
}

/// Which of the engine's tiers runs the modules. Without either flag, `WEFT_STRATEGY`
/// (`auto`, `jit` or `interp`) decides, and without it the default: `auto` where the JIT
/// is available, which keeps compiled programs in a cache (`$XDG_CACHE_HOME/weft/jit`,
/// else `~/.cache/weft/jit`), compiles a program of up to 256 KiB before it starts and a
/// larger one in the background while the interpreter runs it.
#[derive(Args)]
struct TierArgs {
    /// Compile every function with the Cranelift JIT before anything runs (no cache).
    #[arg(long, conflicts_with = "interp")]
    jit: bool,

    /// Run on the interpreter only.
    #[arg(long)]
    interp: bool,
}

/// What `WEFT_STRATEGY` may say.
const STRATEGY_VAR: &str = "WEFT_STRATEGY";

impl TierArgs {
    /// The engine tier these flags (or `WEFT_STRATEGY`) ask for: an error, not a fallback,
    /// where the JIT is asked for and this build or host has none. The default is
    /// [`DEFAULT_STRATEGY`] where the JIT is available, else the interpreter.
    fn strategy(&self) -> Result<Strategy> {
        let (asked, source) = if self.jit {
            (Some(Strategy::Jit), "--jit")
        } else if self.interp {
            (Some(Strategy::Interpreter), "--interp")
        } else {
            match std::env::var(STRATEGY_VAR) {
                Ok(v) => (Some(parse_strategy(&v)?), STRATEGY_VAR),
                Err(std::env::VarError::NotPresent) => (None, ""),
                Err(std::env::VarError::NotUnicode(_)) => {
                    anyhow::bail!("{STRATEGY_VAR}: not valid UTF-8")
                }
            }
        };
        match asked {
            Some(Strategy::Interpreter) => Ok(Strategy::Interpreter),
            Some(s) if !Strategy::jit_available() => anyhow::bail!(
                "{source}: this weft has no JIT for this host, so it cannot run {s:?} (the \
                 JIT needs Linux on x86_64 or aarch64 and a build with the `jit` feature, \
                 which is the default); use --interp"
            ),
            Some(s) => Ok(s),
            None if Strategy::jit_available() => Ok(DEFAULT_STRATEGY),
            None => Ok(Strategy::Interpreter),
        }
    }
}

/// The tier where the JIT is available and nothing asks for another.
const DEFAULT_STRATEGY: Strategy = Strategy::Auto;

/// `WEFT_STRATEGY`'s value as a tier.
fn parse_strategy(value: &str) -> Result<Strategy> {
    match value {
        "auto" => Ok(Strategy::Auto),
        "jit" => Ok(Strategy::Jit),
        "interp" => Ok(Strategy::Interpreter),
        other => anyhow::bail!("{STRATEGY_VAR}={other}: expected `auto`, `jit` or `interp`"),
    }
}

/// The code cache `strategy` uses: the user's cache directory for `auto` (none if it has
/// no home to find it in), none otherwise.
fn code_cache(strategy: Strategy) -> Option<std::sync::Arc<dyn weft_engine::CodeCache>> {
    #[cfg(feature = "jit")]
    if strategy == Strategy::Auto {
        let dir = weft_engine::DirCodeCache::default_dir()?;
        return Some(std::sync::Arc::new(weft_engine::DirCodeCache::new(dir)));
    }
    let _ = strategy;
    None
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_program(args),
        Command::Boot(args) => boot(args),

        Command::Wast { tier, files } => tier.strategy().and_then(|s| wast(s, &files)),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(EXIT_USAGE)
    })
}

/// A file system ready to mount: the VFS, the host directories to map (in `HostFs` root
/// order) and the preopens `(guest name, VFS path)` they give.
struct FileSystem {
    vfs: Vfs,
    hosts: Vec<PathBuf>,
    preopens: Vec<(String, String)>,
}

/// A `--dir` option: `(host directory, guest name)`. `--dir DIR` is `DIR::DIR`.
fn parse_dir(spec: &str) -> Result<(&str, &str)> {
    let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
    if host.is_empty() || guest.is_empty() {
        bail!("--dir {spec}: expected HOST::GUEST or HOST");
    }
    Ok((host, guest))
}

/// The file system of a `weft run` program: nothing but its `--dir` directories. Each is
/// mounted at a VFS path of its own (`/0`, `/1`, ..., in order) that no other mount nests
/// in, so no directory hides or adds to another, whatever their guest names (`/`, `.`,
/// `/data` inside `/`); the guest knows them only as preopens under the names given.
fn run_file_system(dirs: &[String]) -> Result<FileSystem> {
    map_dirs(Vfs::new(), dirs, |i, _| Ok(format!("/{i}")))
}

/// The file system of a booted system: the built-in initrd at `/`, an in-memory `/tmp`, and
/// the host directories of `--dir` options, each mounted at its guest path (and preopened
/// for init under its guest name).
fn boot_file_system(dirs: &[String]) -> Result<FileSystem> {
    let mut vfs = Vfs::new();
    vfs.mount_initrd("/", weft_initrd::INITRD)
        .map_err(|e| anyhow::anyhow!("the built-in initrd: {e}"))?;
    vfs.mount_tmpfs("/tmp", 256 << 20)
        .map_err(|e| anyhow::anyhow!("mounting /tmp: {e}"))?;
    map_dirs(vfs, dirs, |_, guest| {
        vpath::normalize(&format!("/{guest}")).map_err(|e| anyhow::anyhow!("bad guest path: {e}"))
    })
}

/// Mounts the host directory of each `--dir` spec in `vfs`, the `i`-th with guest name
/// `guest` at the VFS path `mount_at(i, guest)`, and preopens it under its guest name.
fn map_dirs(
    mut vfs: Vfs,
    dirs: &[String],
    mount_at: impl Fn(usize, &str) -> Result<String>,
) -> Result<FileSystem> {
    let mut hosts = Vec::new();
    let mut preopens = Vec::new();
    for spec in dirs {
        let (host, guest) = parse_dir(spec)?;
        let at = mount_at(hosts.len(), guest).with_context(|| format!("--dir {spec}"))?;
        vfs.mount_host(&at, hosts.len())
            .map_err(|e| anyhow::anyhow!("--dir {spec}: {e}"))?;
        hosts.push(PathBuf::from(host));
        preopens.push((guest.to_string(), at));
    }
    Ok(FileSystem {
        vfs,
        hosts,
        preopens,
    })
}

/// How the first process of a kernel ended.
struct Ending {
    /// Its exit status (`STATUS_KILLED` if it never ended, after a deadlock).
    status: u32,
    /// The status it passed to `proc_exit`, if it ended that way.
    exit_request: Option<u32>,
    /// With `--invoke`, what the function returned, if it did.
    results: Option<Vec<Val>>,
}

/// An export for the first process to call instead of `_start`, with its arguments as given.
struct Invoke<'a> {
    func: &'a str,
    args: &'a [String],
}

/// Starts a kernel on the hosted platform with file system `fs`, runs `request` as its
/// first process (calling `invoke` if given) until every process has ended, and says how
/// that process ended.
fn boot_kernel(
    fs: FileSystem,
    config: KernelConfig,
    invoke: Option<Invoke<'_>>,
    request: impl FnOnce(Vec<(String, String)>) -> SpawnRequest,
) -> Result<Ending> {
    let FileSystem {
        vfs,
        hosts,
        preopens,
    } = fs;
    let platform = weft_hosted::HostedPlatform::new(hosts).context("mapping --dir")?;
    let mut kernel =
        Kernel::new(Box::new(platform), vfs, config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let request = request(preopens);
    let pid = match invoke {
        None => kernel.spawn(request),
        Some(Invoke { func, args }) => kernel.spawn_invoke(request, func, |ty| {
            parse_args(func, ty.params(), args).map_err(|e| format!("{e:#}"))
        }),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Err(e) = kernel.run() {
        eprintln!("weft: {e}");
    }
    Ok(Ending {
        status: kernel
            .exit_status(pid)
            .unwrap_or(weft_kernel::kernel::STATUS_KILLED),
        exit_request: kernel.exit_request(pid),
        results: kernel.results(pid),
    })
}

/// The program's environment from `--env` options, in order: `NAME=VALUE` as given, and
/// `NAME` with weft's own value of `NAME`, or nothing if weft has none (as `wasmtime run`).
fn environment(envs: &[String]) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for spec in envs {
        let name = spec.split_once('=').map_or(spec.as_str(), |(name, _)| name);
        if name.is_empty() {
            bail!("--env {spec}: expected NAME=VALUE or NAME");
        }
        if spec.contains('=') {
            env.push(spec.clone());
            continue;
        }
        match std::env::var_os(name) {
            None => {}
            Some(value) => {
                let value = value.into_string().map_err(|v| {
                    anyhow::anyhow!("--env {name}: weft's value {v:?} is not UTF-8")
                })?;
                env.push(format!("{name}={value}"));
            }
        }
    }
    Ok(env)
}

/// `weft run [--invoke NAME] PROG.wasm [ARGS...]`: the program as a process, like
/// `wasmtime run`: from `_start`, or calling export NAME with ARGS as its arguments (after
/// `_initialize`, if the module has one) and printing its results one per line.
fn run_program(args: RunArgs) -> Result<ExitCode> {
    let file = args.file();
    let bytes = wat::parse_file(file).with_context(|| format!("loading {}", file.display()))?;
    let env = environment(&args.envs)?;
    let fs = run_file_system(&args.dirs)?;
    let mut config = KernelConfig::default();
    config.limits.fuel = args.fuel;
    config.strategy = args.tier.strategy()?;
    config.code_cache = code_cache(config.strategy);
    let name = file.display().to_string();
    let invoke = args.invoke.as_deref().map(|func| Invoke {
        func,
        args: args.args(),
    });
    let ending = boot_kernel(fs, config, invoke, |preopens| SpawnRequest {
        program: Program::Bytes {
            name: name.clone(),
            bytes,
        },
        args: args.module_and_args.clone(),
        env,
        preopens,
    })?;
    // WASI exit statuses are 0..126, as wasmtime checks in its `proc_exit`: higher ones
    // would read as "not executable", "not found" or a signal to a Unix shell, and Unix
    // keeps only 8 bits. wasmtime refuses them with an error and exits 1; so does weft.
    if let Some(code) = ending.exit_request
        && code >= 126
    {
        eprintln!(
            "error: {name} called proc_exit with status {code}, an invalid exit status \
             outside [0, 126)"
        );
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    for value in ending.results.iter().flatten() {
        println!("{}", format_val(value));
    }
    Ok(ExitCode::from(ending.status.min(255) as u8))
}

/// `weft boot`: init from the initrd, with the whole file system preopened as `/`.
fn boot(args: BootArgs) -> Result<ExitCode> {
    let fs = boot_file_system(&args.dirs)?;
    let strategy = args.tier.strategy()?;
    let config = KernelConfig {
        strategy,
        code_cache: code_cache(strategy),
        ..KernelConfig::default()
    };
    let ending = boot_kernel(fs, config, None, |mut preopens| {
        preopens.insert(0, ("/".to_string(), "/".to_string()));
        SpawnRequest {
            program: Program::Path("/bin/init".to_string()),
            args: vec!["init".to_string()],
            env: Vec::new(),
            preopens,
        }
    })?;
    match u8::try_from(ending.status) {
        Ok(status) => Ok(ExitCode::from(status)),
        Err(_) => {
            eprintln!(
                "error: init ended with status {}, which an exit status cannot carry",
                ending.status
            );
            Ok(ExitCode::from(EXIT_FAILURE))
        }
    }
}

fn parse_args(func: &str, params: &[ValType], args: &[String]) -> Result<Vec<Val>> {
    if params.len() != args.len() {
        let types: Vec<String> = params.iter().map(ValType::to_string).collect();
        let hint = if args.iter().any(|a| a.starts_with("--")) {
            " (weft's options such as --fuel go before the module)"
        } else {
            ""
        };
        bail!(
            "`{func}` takes {} argument(s) ({}), but {} were given{hint}",
            params.len(),
            types.join(", "),
            args.len()
        );
    }
    params
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (&ty, arg))| {
            parse_val(ty, arg).with_context(|| {
                format!(
                    "argument {} of `{func}`: `{arg}` is not a valid {}",
                    i + 1,
                    ty
                )
            })
        })
        .collect()
}

fn parse_val(ty: ValType, text: &str) -> Result<Val> {
    Ok(match ty {
        ValType::I32 => {
            let v = parse_int(text, i32::MIN.into(), u32::MAX.into())?;
            // Values above i32::MAX are taken as unsigned bit patterns.
            Val::I32(v as u32 as i32)
        }
        ValType::I64 => {
            let v = parse_int(text, i64::MIN.into(), u64::MAX.into())?;
            Val::I64(v as u64 as i64)
        }
        ValType::F32 => Val::F32(text.parse::<f32>()?.to_bits()),
        ValType::F64 => Val::F64(text.parse::<f64>()?.to_bits()),
        ValType::FuncRef | ValType::ExternRef => {
            if text != "null" {
                bail!("only `null` can be passed for a reference");
            }
            Val::default_for(ty)
        }
    })
}

/// Parses a decimal or `0x` hexadecimal integer, optionally negative, within `min..=max`.
fn parse_int(text: &str, min: i128, max: i128) -> Result<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits = digits.replace('_', "");
    let (radix, body) = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => (16, hex),
        None => (10, digits.as_str()),
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        bail!("invalid integer");
    }
    let magnitude = i128::from_str_radix(body, radix)?;
    let value = if negative { -magnitude } else { magnitude };
    if !(min..=max).contains(&value) {
        bail!("out of range");
    }
    Ok(value)
}

fn format_val(value: &Val) -> String {
    match value {
        Val::I32(v) => v.to_string(),
        Val::I64(v) => v.to_string(),
        Val::F32(bits) => f32::from_bits(*bits).to_string(),
        Val::F64(bits) => f64::from_bits(*bits).to_string(),
        Val::FuncRef(None) | Val::ExternRef(None) => "null".to_string(),
        Val::FuncRef(Some(_)) => "ref.func".to_string(),
        Val::ExternRef(Some(_)) => "ref.extern".to_string(),
    }
}

/// `weft wast`: runs each script, prints its counts and failures, then the totals.
fn wast(strategy: Strategy, files: &[PathBuf]) -> Result<ExitCode> {
    let mut config = Config::default();
    config.strategy(strategy)?;
    let (mut passed, mut failed) = (0, 0);
    for path in files {
        let name = path.display().to_string();
        let report = match std::fs::read_to_string(path) {
            Ok(source) => weft_wast::run_script(&config, &name, &source),
            Err(e) => weft_wast::WastReport {
                passed: 0,
                failed: 1,
                failures: vec![format!("{name}: cannot read script: {e}")],
            },
        };
        println!("{name}: {} passed, {} failed", report.passed, report.failed);
        for failure in &report.failures {
            println!("    {failure}");
        }
        passed += report.passed;
        failed += report.failed;
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn integers() {
        assert_eq!(parse_int("42", -10, 100).unwrap(), 42);
        assert_eq!(parse_int("-0x10", -100, 100).unwrap(), -16);
        assert_eq!(parse_int("0xff", 0, 255).unwrap(), 255);
        assert!(parse_int("256", 0, 255).is_err());
        assert!(parse_int("--5", -10, 10).is_err());
        assert!(parse_int("0x-5", -10, 10).is_err());
        assert!(parse_int("abc", -10, 10).is_err());
    }

    #[test]
    fn values() {
        assert!(matches!(
            parse_val(ValType::I32, "4294967295").unwrap(),
            Val::I32(-1)
        ));
        assert!(matches!(
            parse_val(ValType::I64, "-1").unwrap(),
            Val::I64(-1)
        ));
        let Val::F32(bits) = parse_val(ValType::F32, "nan").unwrap() else {
            panic!("not f32");
        };
        assert!(f32::from_bits(bits).is_nan());
        let Val::F64(bits) = parse_val(ValType::F64, "-inf").unwrap() else {
            panic!("not f64");
        };
        assert_eq!(f64::from_bits(bits), f64::NEG_INFINITY);
        assert!(matches!(
            parse_val(ValType::FuncRef, "null").unwrap(),
            Val::FuncRef(None)
        ));
        assert!(parse_val(ValType::ExternRef, "1").is_err());
    }
}
