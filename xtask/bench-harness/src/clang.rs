//! Building the C workload (`sqlite`) for wasm32-wasi: clang, wasm-ld and wasi-libc, found
//! as weft's own C tests find them (`crates/cli/tests/programs.rs`), checked by compiling
//! a tiny program first so that a missing piece is named instead of surfacing as an
//! obscure error in the middle of SQLite's build.
//!
//! The module is a library: no `_start` (`-nostartfiles`, `--no-entry`), one export
//! (`run`, by `export_name` in the driver) and the memory, and no imports, since the driver
//! gives SQLite a VFS that needs no operating system (see `bench/guests/sqlite/driver.c`).

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to install, in every message about a missing piece.
pub const TOOLCHAIN_HINT: &str = "the sqlite workload is C compiled for wasm32-wasi: it needs \
     clang, wasm-ld and wasi-libc. On Debian install them with\n\n    \
     apt-get install clang lld wasi-libc libclang-rt-dev-wasm32\n\n(on Debian 12 the last \
     is `libclang-rt-14-dev-wasm32`, the wasm32 compiler-rt builtins; the number follows \
     clang's version), or set CLANG to a clang and WASI_SYSROOT to a wasi-libc sysroot \
     (e.g. wasi-sdk's share/wasi-sysroot). `--workloads` without sqlite skips it.";

/// The clang target: accepted by clang 14 (Debian 12) and by later releases.
const TARGET: &str = "--target=wasm32-wasi";

/// Bytes of the module's shadow stack (in its linear memory). SQLite needs far less.
const STACK_BYTES: u32 = 1 << 20;

/// A clang that can compile and link for wasm32-wasi.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The clang command.
    pub clang: OsString,
    /// `--sysroot` for wasi-libc, if it is not where clang finds it by itself (Debian's
    /// multiarch paths `/usr/include/wasm32-wasi`, `/usr/lib/wasm32-wasi`).
    pub sysroot: Option<PathBuf>,
    /// The first line of `clang --version`.
    pub version: String,
}

impl Toolchain {
    /// The toolchain of this machine: `CLANG` (default `clang`), and `WASI_SYSROOT` or
    /// `/usr/share/wasi-sysroot` (the wasi-sdk's layout) if either is set or present.
    ///
    /// # Errors
    /// If clang does not run or cannot build a small program for wasm32-wasi, naming what
    /// is missing and the packages to install.
    pub fn find() -> Result<Toolchain> {
        let clang = std::env::var_os("CLANG").unwrap_or_else(|| "clang".into());
        let sysroot = std::env::var_os("WASI_SYSROOT")
            .map(PathBuf::from)
            .or_else(|| {
                let sdk = Path::new("/usr/share/wasi-sysroot");
                sdk.is_dir().then(|| sdk.to_path_buf())
            });
        let scratch = crate::guests::repo_root().join("target/bench-guests/c");
        Toolchain::probe(clang, sysroot, &scratch)
    }

    /// Checks that `clang` runs, that `sysroot` (if given) holds wasi-libc's headers, and
    /// that a small C program using wasi-libc compiles and links in `scratch`.
    fn probe(clang: OsString, sysroot: Option<PathBuf>, scratch: &Path) -> Result<Toolchain> {
        let name = clang.to_string_lossy().into_owned();
        let version = match Command::new(&clang).arg("--version").output() {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            Ok(out) => bail!(
                "`{name} --version` failed: {}\n{TOOLCHAIN_HINT}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => bail!("cannot run `{name}` ({e})\n{TOOLCHAIN_HINT}"),
        };
        if let Some(dir) = &sysroot {
            let headers = ["include/stdlib.h", "include/wasm32-wasi/stdlib.h"];
            if !headers.iter().any(|h| dir.join(h).is_file()) {
                bail!(
                    "the wasi-libc sysroot {} (WASI_SYSROOT, or /usr/share/wasi-sysroot) has \
                     no include/stdlib.h\n{TOOLCHAIN_HINT}",
                    dir.display()
                );
            }
        }
        let toolchain = Toolchain {
            clang,
            sysroot,
            version,
        };

        // A program that needs the headers, libc (malloc, memcpy) and the builtins (long
        // double arithmetic is compiler-rt's on wasm32), linked like the workload.
        std::fs::create_dir_all(scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        let source = scratch.join("probe.c");
        std::fs::write(
            &source,
            "#include <stdlib.h>\n#include <string.h>\n\
             __attribute__((export_name(\"run\"))) unsigned long long run(unsigned n) {\n\
             char *p = malloc(n + 1); memset(p, 1, n + 1);\n\
             long double x = (long double)p[n] * n; free(p); return (unsigned long long)x; }\n",
        )
        .with_context(|| format!("writing {}", source.display()))?;
        let out = toolchain
            .command(std::slice::from_ref(&source), &scratch.join("probe.wasm"))
            .output()
            .with_context(|| format!("running {name}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!(
                "{name} cannot build a small C program for wasm32-wasi: {}\n\n{}\n{TOOLCHAIN_HINT}",
                diagnose(&stderr),
                stderr.trim()
            );
        }
        Ok(toolchain)
    }

    /// The clang command that compiles and links `sources` into the module `output`.
    fn command(&self, sources: &[PathBuf], output: &Path) -> Command {
        let mut cmd = Command::new(&self.clang);
        cmd.arg(TARGET);
        if let Some(sysroot) = &self.sysroot {
            cmd.arg(format!("--sysroot={}", sysroot.display()));
        }
        cmd.args(["-O2", "-mexec-model=reactor", "-nostartfiles"])
            .args(["-Wl,--no-entry", "-Wl,--strip-all"])
            .arg(format!("-Wl,-z,stack-size={STACK_BYTES}"))
            .arg("-o")
            .arg(output)
            .args(sources)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }
}

/// Which piece of the toolchain clang's error output `stderr` says is missing.
pub fn diagnose(stderr: &str) -> &'static str {
    if stderr.contains("libclang_rt.builtins") {
        "clang's wasm32 builtins (compiler-rt) are missing"
    } else if stderr.contains("wasm-ld") && !stderr.contains("wasm-ld: error") {
        "the linker wasm-ld (package lld) is missing"
    } else if stderr.contains(".h' file not found")
        || stderr.contains("cannot find -lc")
        || stderr.contains("unable to find library -lc")
        || stderr.contains("crt1")
    {
        "wasi-libc (its headers or libc.a) is missing"
    } else if stderr.contains("unknown target") || stderr.contains("No available targets") {
        "this clang was built without the WebAssembly target"
    } else {
        "see clang's output"
    }
}

/// Builds `bench/guests/sqlite/driver.c` (which includes SQLite's amalgamation) into
/// `out_dir/bench_sqlite.wasm`, unless the module there was built by the same command
/// from sources no newer than it; returns its path.
///
/// # Errors
/// If the toolchain is missing (see [`Toolchain::find`]) or clang fails.
pub fn build_sqlite(out_dir: &Path) -> Result<PathBuf> {
    let toolchain = Toolchain::find()?;
    let amalgamation = Path::new(bench_sqlite::AMALGAMATION);
    let driver = PathBuf::from(bench_sqlite::DRIVER);
    let output = out_dir.join("bench_sqlite.wasm");
    let stamp = out_dir.join("bench_sqlite.cmd");

    let mut cmd = toolchain.command(std::slice::from_ref(&driver), &output);
    let dir = amalgamation
        .parent()
        .context("the amalgamation's path has no directory")?;
    cmd.arg(format!("-I{}", dir.display()));
    let described = format!(
        "{} ({})\n{cmd:?}\n",
        toolchain.version,
        toolchain.clang.display()
    );

    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = std::fs::read_to_string(&stamp).is_ok_and(|s| s == described)
        && modified(&output).is_some_and(|built| {
            [amalgamation, driver.as_path()]
                .iter()
                .all(|src| modified(src).is_some_and(|m| m <= built))
        });
    if fresh {
        return Ok(output);
    }

    eprintln!(
        "building the sqlite guest with {} for wasm32-wasi (about half a minute) ...",
        toolchain.version
    );
    let out = cmd
        .output()
        .with_context(|| format!("running {}", toolchain.clang.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!(
            "clang failed to build the sqlite guest ({}):\n{}\n{TOOLCHAIN_HINT}",
            diagnose(&stderr),
            stderr.trim()
        );
    }
    std::fs::write(&stamp, described).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("weft-bench-clang-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_clang_names_the_packages() {
        let dir = scratch("missing");
        let e = Toolchain::probe("/nonexistent/clang".into(), None, &dir).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("cannot run `/nonexistent/clang`"), "{msg}");
        assert!(
            msg.contains("apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"),
            "{msg}"
        );
    }

    #[test]
    fn a_sysroot_without_headers_is_named() {
        let dir = scratch("empty-sysroot");
        let e = Toolchain::probe("true".into(), Some(dir.clone()), &dir).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains(&format!("sysroot {}", dir.display())), "{msg}");
        assert!(msg.contains("no include/stdlib.h"), "{msg}");
        assert!(msg.contains("wasi-libc"), "{msg}");
    }

    #[test]
    fn clang_errors_are_diagnosed() {
        let cases = [
            (
                "wasm-ld: error: cannot open /usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/\
                 libclang_rt.builtins-wasm32.a: No such file or directory",
                "builtins",
            ),
            (
                "clang: error: unable to execute command: Executable \"wasm-ld\" doesn't exist!",
                "wasm-ld (package lld)",
            ),
            (
                "probe.c:1:10: fatal error: 'stdlib.h' file not found",
                "wasi-libc",
            ),
            ("wasm-ld: error: unable to find library -lc", "wasi-libc"),
            (
                "error: unable to create target: 'No available targets are compatible with \
                 triple \"wasm32-unknown-wasi\"'",
                "without the WebAssembly target",
            ),
            ("something else", "see clang's output"),
        ];
        for (stderr, expected) in cases {
            assert!(
                diagnose(stderr).contains(expected),
                "{stderr} -> {}",
                diagnose(stderr)
            );
        }
    }

    /// With the toolchain installed (`.ci/run` installs it; without it this fails, naming the
    /// packages, as weft's C tests do), the probe passes and the sqlite guest
    /// builds into a module that imports nothing, exports `run` and gives the native
    /// checksums.
    #[test]
    fn the_toolchain_builds_an_import_free_sqlite() {
        let toolchain = Toolchain::find().unwrap_or_else(|e| panic!("{e:#}"));
        assert!(!toolchain.version.is_empty());
        let path = build_sqlite(&crate::guests::repo_root().join("target/bench-guests/c")).unwrap();
        let wasm = std::fs::read(path).unwrap();
        let mut exports = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
            match payload.unwrap() {
                wasmparser::Payload::ImportSection(imports) => {
                    assert_eq!(imports.count(), 0, "the sqlite guest imports something");
                }
                wasmparser::Payload::ExportSection(reader) => {
                    for export in reader {
                        exports.push(export.unwrap().name.to_string());
                    }
                }
                _ => {}
            }
        }
        assert!(exports.iter().any(|e| e == "run"), "exports: {exports:?}");

        // And it computes what the native build does (on weft's interpreter).
        use weft_engine::{Config, Engine, Linker, Module, Store, Strategy};
        let mut config = Config::default();
        config.strategy(Strategy::Interpreter).unwrap();
        let engine = Engine::new(&config);
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine)
            .instantiate(&mut store, &module)
            .unwrap();
        let run = instance.get_typed_func::<u32, u64>(&store, "run").unwrap();
        for n in [0, 200] {
            assert_eq!(
                run.call(&mut store, n).unwrap(),
                bench_sqlite::run(n),
                "run({n})"
            );
        }
    }
}
