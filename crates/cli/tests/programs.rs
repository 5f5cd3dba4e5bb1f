//! End-to-end tests of `weft run` with real programs built by real toolchains.
//!
//! The C programs in `tests/programs/c` are compiled with clang against wasi-libc, and the
//! Rust programs in `tests/programs/rust` with rustc for `wasm32-wasip1`, once per test
//! binary. Each test runs one program as `weft run [OPTIONS] PROG.wasm [ARGS]` and checks
//! its stdout, its stderr (where the program's own messages make it exact) and its exit
//! code exactly; the file tests then look at what the program left in the host directory
//! it was given. Every program's expected output was checked by running it natively.
//!
//! The WAT modules at the end hand each WASI function family out-of-bounds and wrapping
//! pointers and lengths. Each call must return `EFAULT`, which the module passes to
//! `proc_exit`, so the exit code says what the call returned; weft must not crash, and a
//! call that faults must have no other effect (docs/abi.md, "Conventions").
//!
//! Needs clang, wasm-ld and wasi-libc (Debian: `clang lld wasi-libc`, and on Debian 12
//! also the wasm32 compiler-rt builtins, `libclang-rt-14-dev-wasm32`) and the rustup
//! target `wasm32-wasip1`. A missing toolchain fails the tests with a message naming
//! them. The environment variables `CLANG` (the compiler) and `WASI_SYSROOT` (the
//! wasi-libc sysroot) override where they are looked for.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// A single `weft run` that takes longer than this is taken to hang.
const TIMEOUT: Duration = Duration::from_secs(120);

/// WASI `errno` values the tests expect (preview1 numbering).
const EFAULT: i32 = 21;
const ENOSYS: i32 = 52;
/// Exit code of a program that trapped (128 + SIGABRT).
const TRAPPED: i32 = 134;
/// Exit code of `weft run` for usage and load errors.
const USAGE: i32 = 2;

const TOOLCHAIN_HINT: &str = "the C test programs need clang, wasm-ld and wasi-libc: install \
     the Debian packages `clang lld wasi-libc` (on Debian 12 also `libclang-rt-14-dev-wasm32`, \
     the wasm32 compiler-rt builtins; the number follows the clang version), or set \
     WASI_SYSROOT to a wasi-libc sysroot";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the built programs go: under cargo's scratch directory for integration tests.
fn build_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("programs")
}

// ---------------------------------------------------------------------------------------
// Building the programs
// ---------------------------------------------------------------------------------------

/// The `.wasm` file of the C program `name` (built on first use).
fn c_program(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build_c_programs) {
        Ok(dir) => dir.join(format!("{name}.wasm")),
        Err(e) => panic!("{e}"),
    }
}

/// The `.wasm` file of the Rust program `name` (built on first use).
fn rust_program(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build_rust_programs) {
        Ok(dir) => dir.join(format!("{name}.wasm")),
        Err(e) => panic!("{e}"),
    }
}

fn build_c_programs() -> Result<PathBuf, String> {
    let clang = std::env::var_os("CLANG").unwrap_or_else(|| "clang".into());
    match Command::new(&clang).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return Err(format!(
                "`{} --version` failed: {}\n{TOOLCHAIN_HINT}",
                clang.to_string_lossy(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Err(e) => {
            return Err(format!(
                "cannot run `{}`: {e}\n{TOOLCHAIN_HINT}",
                clang.to_string_lossy()
            ));
        }
    }
    // A sysroot at /usr/share/wasi-sysroot (the wasi-sdk's layout) is passed as --sysroot;
    // Debian 12's wasi-libc lives in the multiarch paths (/usr/include/wasm32-wasi,
    // /usr/lib/wasm32-wasi), where clang finds it with no --sysroot.
    let sysroot = std::env::var_os("WASI_SYSROOT")
        .map(PathBuf::from)
        .or_else(|| {
            let debian = Path::new("/usr/share/wasi-sysroot");
            debian.is_dir().then(|| debian.to_path_buf())
        });

    let source_dir = repo_root().join("tests/programs/c");
    let out_dir = build_root().join("c");
    fs::create_dir_all(&out_dir).map_err(|e| format!("create {}: {e}", out_dir.display()))?;
    let mut sources: Vec<PathBuf> = fs::read_dir(&source_dir)
        .map_err(|e| format!("read {}: {e}", source_dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension() == Some(OsStr::new("c")))
        .collect();
    sources.sort();
    if sources.is_empty() {
        return Err(format!("no C programs in {}", source_dir.display()));
    }

    // Every program is linked with weft's start-up file for C, as docs/wasi.md tells C
    // programmers to: it changes into `PWD` before `main`.
    let start_in_pwd = repo_root().join("user/c/pwd.c");

    // Compile them all at once: each is one small file.
    let mut jobs = Vec::new();
    for source in &sources {
        let stem = source.file_stem().expect("a .c file has a stem").to_owned();
        let mut output = out_dir.join(&stem);
        output.set_extension("wasm");
        let mut cmd = Command::new(&clang);
        cmd.arg("--target=wasm32-wasi");
        if let Some(sysroot) = &sysroot {
            cmd.arg(format!("--sysroot={}", sysroot.display()));
        }
        cmd.args(["-O2", "-Wall", "-Wextra", "-o"])
            .arg(&output)
            .arg(source)
            .arg(&start_in_pwd);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run clang: {e}\n{TOOLCHAIN_HINT}"))?;
        jobs.push((source, child));
    }
    let mut failures = String::new();
    for (source, child) in jobs {
        let out = child
            .wait_with_output()
            .map_err(|e| format!("wait for clang: {e}"))?;
        if !out.status.success() {
            failures += &format!(
                "clang failed on {}:\n{}\n",
                source.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    if !failures.is_empty() {
        return Err(format!("{failures}{TOOLCHAIN_HINT}"));
    }
    Ok(out_dir)
}

fn build_rust_programs() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let target_dir = build_root().join("rust");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip1",
        "--manifest-path",
    ])
    .arg(repo_root().join("tests/programs/rust/Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir);
    // The outer cargo's settings are for the host build of weft, not for these programs.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building tests/programs/rust for wasm32-wasip1 failed (is the target installed? \
             `rustup target add wasm32-wasip1`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(target_dir.join("wasm32-wasip1/release"))
}

// ---------------------------------------------------------------------------------------
// Running weft
// ---------------------------------------------------------------------------------------

/// What one `weft run` did.
struct Run {
    /// The exit code, or -1 if weft was killed by a signal (it crashed).
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// The command line, for failure messages.
    command: String,
}

impl Run {
    /// Asserts the exit code and the exact stdout and stderr.
    #[track_caller]
    fn expect(&self, code: i32, stdout: &str, stderr: &str) {
        assert!(
            self.code == code && self.stdout == stdout && self.stderr == stderr,
            "{}\nexpected exit code {code}, stdout {stdout:?}, stderr {stderr:?}",
            self.describe()
        );
    }

    /// Asserts the exit code and the exact stdout; stderr is not looked at.
    #[track_caller]
    fn expect_out(&self, code: i32, stdout: &str) {
        assert!(
            self.code == code && self.stdout == stdout,
            "{}\nexpected exit code {code}, stdout {stdout:?}",
            self.describe()
        );
    }

    fn describe(&self) -> String {
        format!(
            "`{}` exited with {} after {:?}\n--- stdout\n{}\n--- stderr\n{}\n---",
            self.command, self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A `weft run` command line being put together.
#[derive(Default)]
struct Weft {
    args: Vec<OsString>,
    stdin: Vec<u8>,
}

fn weft() -> Weft {
    Weft::default()
}

impl Weft {
    fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Maps host directory `host` into the program as `guest`.
    fn dir(self, host: &Path, guest: &str) -> Self {
        let mut spec = host.as_os_str().to_owned();
        spec.push("::");
        spec.push(guest);
        self.arg("--dir").arg(spec)
    }

    fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// Runs `weft run ARGS`, feeding it the stdin bytes, and waits at most `TIMEOUT`.
    #[track_caller]
    fn run(self) -> Run {
        let command = std::iter::once(OsStr::new("weft run"))
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let start = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
            .arg("run")
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weft");
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = self.stdin;
        // A program that stops reading early closes the pipe: not an error here.
        let feeder = thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let stdout = reader(child.stdout.take().expect("piped stdout"));
        let stderr = reader(child.stderr.take().expect("piped stderr"));
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for weft") {
                break status;
            }
            if start.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`{command}` did not finish within {TIMEOUT:?}\n--- stdout\n{}\n--- stderr\n{}",
                    String::from_utf8_lossy(&stdout.join().unwrap_or_default()),
                    String::from_utf8_lossy(&stderr.join().unwrap_or_default())
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        let elapsed = start.elapsed();
        let _ = feeder.join();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout.join().expect("stdout reader")).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned(),
            elapsed,
            command,
        }
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temp dir")
}

// ---------------------------------------------------------------------------------------
// Exit codes, stdout and stderr
// ---------------------------------------------------------------------------------------

#[test]
fn c_return_zero_from_main_exits_0() {
    weft()
        .arg(c_program("exit"))
        .args(["return", "0"])
        .run()
        .expect(0, "stdout before return\n", "stderr before return\n");
}

#[test]
fn c_exit_call_sets_exit_code_3_after_atexit_and_flush() {
    // stdout is a buffered stdio stream: it only shows if exit() flushed it before
    // proc_exit, and the atexit handler's line after it.
    weft()
        .arg(c_program("exit"))
        .args(["exit", "3"])
        .run()
        .expect(
            3,
            "stdout before exit\natexit handler ran\n",
            "stderr before exit\n",
        );
}

#[test]
fn c_return_42_from_main_exits_42() {
    weft()
        .arg(c_program("exit"))
        .args(["return", "42"])
        .run()
        .expect(42, "stdout before return\n", "stderr before return\n");
}

#[test]
fn c_abort_is_a_trap_exit_134() {
    // wasi-libc's abort() is `unreachable`.
    let run = weft().arg(c_program("exit")).arg("abort").run();
    run.expect_out(TRAPPED, "stdout before abort\n");
    assert!(
        run.stderr.starts_with("stderr before abort\n") && run.stderr.contains("unreachable"),
        "the trap must be reported on stderr, naming it\n{}",
        run.describe()
    );
    // clang's name section names the frames: abort() innermost, main, and `_start`
    // (wasm-ld's `_start.command_export` wrapper) outermost.
    let backtrace = run.stderr.split("wasm backtrace:\n").nth(1).unwrap_or("");
    let frames: Vec<&str> = backtrace
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, name)| name))
        .collect();
    assert!(
        frames.first() == Some(&"abort")
            && frames.contains(&"main")
            && frames.last().is_some_and(|f| f.starts_with("_start")),
        "a backtrace from abort to _start\n{}",
        run.describe()
    );
}

#[test]
fn rust_exit_codes_0_3_42() {
    let exit = rust_program("exit");
    weft().arg(&exit).args(["return", "0"]).run().expect(
        0,
        "stdout before return\n",
        "stderr before return\n",
    );
    weft().arg(&exit).args(["exit", "3"]).run().expect(
        3,
        "stdout before exit\n",
        "stderr before exit\n",
    );
    weft().arg(&exit).args(["return", "42"]).run().expect(
        42,
        "stdout before return\n",
        "stderr before return\n",
    );
}

#[test]
fn rust_panic_aborts_with_trap_exit_134() {
    let run = weft().arg(rust_program("panic")).run();
    run.expect_out(TRAPPED, "before panic\n");
    assert!(
        run.stderr.contains("deliberate panic with 1 argument(s)"),
        "the guest's panic message must reach stderr\n{}",
        run.describe()
    );
    let after_panic = run.stderr.split("deliberate panic").nth(1).unwrap_or("");
    assert!(
        after_panic.contains("unreachable"),
        "weft must report the `unreachable` trap after the panic message\n{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------------------
// Arguments and environment
// ---------------------------------------------------------------------------------------

/// The output of the `args` programs (C and Rust print the same).
fn args_output(argv: &[&str], environ: &[&str], greeting: Option<&str>) -> String {
    let mut out = format!("argc={}\n", argv.len());
    for (i, arg) in argv.iter().enumerate() {
        out += &format!("argv[{i}]=[{arg}]\n");
    }
    out += &format!("environ count={}\n", environ.len());
    for (i, var) in environ.iter().enumerate() {
        out += &format!("environ[{i}]=[{var}]\n");
    }
    match greeting {
        Some(g) => out += &format!("getenv(WEFT_GREETING)=[{g}]\n"),
        None => out += "getenv(WEFT_GREETING)=(null)\n",
    }
    out + "getenv(PATH)=(null)\n"
}

/// Arguments with spaces, an empty one, non-ASCII, and ones that look like weft's own
/// options: everything after the program path is the program's.
const ODD_ARGS: [&str; 7] = ["hello world", "", "héllo", "--env", "X=1", "--dir", "-h"];

fn check_args(prog: &Path) {
    let prog_arg = path_str(prog);
    let run = weft().arg(prog).args(ODD_ARGS).run();
    let mut argv = vec![prog_arg];
    argv.extend(ODD_ARGS);
    // Nothing of the test's own environment (PATH is surely set here) reaches the guest.
    assert!(std::env::var_os("PATH").is_some());
    run.expect(0, &args_output(&argv, &[], None), "");
}

fn check_env(prog: &Path) {
    let run = weft()
        .args([
            "--env",
            "WEFT_GREETING=hi there",
            "--env",
            "EMPTY=",
            "--env",
            "EQ=a=b",
        ])
        .arg(prog)
        .arg("one")
        .run();
    let environ = ["EMPTY=", "EQ=a=b", "WEFT_GREETING=hi there"];
    run.expect(
        0,
        &args_output(&[path_str(prog), "one"], &environ, Some("hi there")),
        "",
    );
}

#[test]
fn c_args_are_passed_exactly_argv0_is_the_path() {
    check_args(&c_program("args"));
}

#[test]
fn c_environment_is_only_what_env_gives() {
    check_env(&c_program("args"));
}

#[test]
fn rust_args_are_passed_exactly_argv0_is_the_path() {
    check_args(&rust_program("args"));
}

#[test]
fn rust_environment_is_only_what_env_gives() {
    check_env(&rust_program("args"));
}

// ---------------------------------------------------------------------------------------
// stdin
// ---------------------------------------------------------------------------------------

/// About 300 KB of lines, more than any one pipe buffer or read.
fn big_text() -> String {
    (0..6000)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect()
}

#[test]
fn c_stdin_is_read_to_end_and_transformed_to_stdout() {
    let text = big_text() + "no newline at the end";
    let lines = text.matches('\n').count();
    weft()
        .arg(c_program("upper"))
        .stdin(text.clone())
        .run()
        .expect(
            0,
            &text.to_ascii_uppercase(),
            &format!("bytes={} lines={lines}\n", text.len()),
        );
}

#[test]
fn c_empty_stdin_is_end_of_file() {
    weft()
        .arg(c_program("upper"))
        .run()
        .expect(0, "", "bytes=0 lines=0\n");
}

#[test]
fn rust_stdin_read_to_string_is_transformed_to_stdout() {
    let text = big_text() + "déjà vu, straße\n";
    let lines = text.matches('\n').count();
    weft()
        .arg(rust_program("upper"))
        .stdin(text.clone())
        .run()
        .expect(
            0,
            &text.to_uppercase(),
            &format!("bytes={} lines={lines}\n", text.len()),
        );
}

// ---------------------------------------------------------------------------------------
// Files in a mapped directory
// ---------------------------------------------------------------------------------------

/// What the `files` programs print; only the missing-file line differs between C
/// (strerror) and Rust (the `ErrorKind`).
fn files_output(missing: &str) -> String {
    format!(
        "input: line one
input: line two
mkdir ok
stat size 10000
ftell 5000
ftell after read 5100
ftell end 10000
fstat size 10006
read back 10006 bytes checksum 3358a38d
O_EXCL existing: EEXIST
O_EXCL new: created
entry a.txt file
entry b.txt file
entry c.txt file
entry data.bin file
entry note.txt file
entry zdir dir
ftruncate ok
rename ok
unlink ok
rmdir non-empty: ENOTEMPTY
rmdir ok
missing: {missing}
entry a.txt file
entry c.txt file
entry note.txt file
entry renamed.bin file
done
"
    )
}

/// Runs a `files` program in a fresh directory mapped as `/sandbox` and checks, on the
/// host, what it created, changed, renamed and deleted.
fn check_files(prog: &Path, missing: &str) {
    let root = temp_dir();
    fs::write(root.path().join("input.txt"), "line one\nline two\n").expect("write input");
    let run = weft()
        .dir(root.path(), "/sandbox")
        .arg(prog)
        .arg("/sandbox")
        .run();
    run.expect(0, &files_output(missing), "");

    let work = root.path().join("work");
    let mut names: Vec<String> = fs::read_dir(&work)
        .expect("the program made work/")
        .map(|e| {
            e.expect("read work/")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["a.txt", "c.txt", "note.txt", "renamed.bin"],
        "files left in work/"
    );

    let mut expected: Vec<u8> = (0..9990usize)
        .map(|i| ((i * 7 + i / 251) % 251) as u8)
        .collect();
    expected.extend_from_slice(b"0123456789ABCDEF");
    let renamed = fs::read(work.join("renamed.bin")).expect("read renamed.bin");
    assert!(
        renamed == expected,
        "renamed.bin has {} bytes, not the expected 10006",
        renamed.len()
    );
    let text =
        |name: &str| fs::read_to_string(work.join(name)).expect("read a file the guest made");
    assert_eq!(text("note.txt"), "created by guest\n");
    assert_eq!(text("a.txt"), "alpha\n");
    assert_eq!(text("c.txt"), "gamma", "c.txt truncated to 5 bytes");
    assert_eq!(
        fs::read_to_string(root.path().join("input.txt")).expect("read input"),
        "line one\nline two\n",
        "the program only read input.txt"
    );
}

#[test]
fn c_file_io_round_trip_in_mapped_dir() {
    check_files(&c_program("files"), "No such file or directory");
}

#[test]
fn rust_std_fs_round_trip_in_mapped_dir() {
    check_files(&rust_program("files"), "NotFound");
}

/// What `links` prints when every step behaves as POSIX and wasmtime say.
const LINKS_OUTPUT: &str = "\
symlink: readlink file, reads hello, stat regular, lstat link
open O_NOFOLLOW: ELOOP
symlink over a link: EEXIST
readlink of a file: EINVAL
directory link: write through it, .. inside a target
open a loop: ELOOP
stat a two-link loop: ELOOP
open a dangling link: ENOENT
link over a name: EEXIST
link a directory: EPERM
the link now dangles: ENOENT
hard link: same inode, survives unlinking the other name
times: file, link itself, descriptor
readdir: 6 links
absolute symlink: EPERM
open through it: ENOTCAPABLE
stat through it: ENOTCAPABLE
open beneath it: ENOTCAPABLE
mkdir beneath it: ENOTCAPABLE
create through it: ENOTCAPABLE
cleaned up
";

#[test]
fn c_links_and_times_in_a_host_directory() {
    let root = temp_dir();
    let data = root.path().join("data");
    fs::create_dir(&data).expect("mkdir data");
    fs::write(root.path().join("secret"), "outside\n").expect("write secret");
    weft()
        .dir(&data, "/data")
        .arg(c_program("links"))
        .arg("/data")
        .run()
        .expect(0, LINKS_OUTPUT, "");
    assert_eq!(
        fs::read_dir(&data).expect("read data").count(),
        0,
        "left empty"
    );
    assert_eq!(
        fs::read_to_string(root.path().join("secret")).expect("read secret"),
        "outside\n"
    );
}

/// Boots weft with `progs` mapped at `/progs`, types `script` into its shell and returns
/// what the session printed on stdout.
fn boot_session(progs: &Path, script: &str) -> String {
    let mut spec = progs.as_os_str().to_owned();
    spec.push("::/progs");
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("boot")
        .arg("--dir")
        .arg(spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .expect("run weft boot");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "weft boot failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn c_links_and_times_in_tmpfs() {
    // The booted system's /tmp is tmpfs; the program comes from a mapped directory.
    let progs = temp_dir();
    fs::copy(c_program("links"), progs.path().join("links.wasm")).expect("copy links");
    let stdout = boot_session(
        progs.path(),
        "mkdir /tmp/t\n/progs/links.wasm /tmp/t\necho status $?\nexit\n",
    );
    assert!(
        stdout.contains(&format!("{LINKS_OUTPUT}status 0\n")),
        "stdout:\n{stdout}"
    );
}

#[test]
fn c_program_started_by_sh_runs_in_its_directory() {
    let progs = temp_dir();
    fs::copy(c_program("cwd"), progs.path().join("cwd.wasm")).expect("copy cwd");
    let stdout = boot_session(
        progs.path(),
        "mkdir /tmp/d\ncd /tmp/d\necho here > f\n/progs/cwd.wasm f ../d/f\n\
         cd /\n/progs/cwd.wasm tmp/d/f\nexit\n",
    );
    assert!(
        stdout.contains("cwd /tmp/d\nf: here\n../d/f: here\ncwd /\ntmp/d/f: here\n"),
        "stdout:\n{stdout}"
    );
}

#[test]
fn c_program_follows_pwd_under_run() {
    let root = temp_dir();
    fs::create_dir(root.path().join("sub")).expect("mkdir sub");
    fs::write(root.path().join("sub/f"), "in sub\n").expect("write f");
    weft()
        .dir(root.path(), "/sandbox")
        .args(["--env", "PWD=/sandbox/sub"])
        .arg(c_program("cwd"))
        .arg("f")
        .run()
        .expect(0, "cwd /sandbox/sub\nf: in sub\n", "");
    // Without PWD a program starts in `/`, as under wasmtime.
    weft()
        .dir(root.path(), "/sandbox")
        .arg(c_program("cwd"))
        .arg("sandbox/sub/f")
        .run()
        .expect(0, "cwd /\nsandbox/sub/f: in sub\n", "");
    // A PWD it cannot enter leaves it in `/`, with a warning.
    weft()
        .dir(root.path(), "/sandbox")
        .args(["--env", "PWD=/nowhere"])
        .arg(c_program("cwd"))
        .run()
        .expect(
            0,
            "cwd /\n",
            "warning: cannot change to PWD=/nowhere: No such file or directory\n",
        );
}

#[test]
fn c_missing_file_gives_enoent_and_strerror() {
    let root = temp_dir();
    fs::write(root.path().join("hello.txt"), "hello\n").expect("write hello.txt");
    weft()
        .dir(root.path(), "/sandbox")
        .arg(c_program("cat"))
        .args([
            "/sandbox/hello.txt",
            "/sandbox/nope.txt",
            "/sandbox/hello.txt",
        ])
        .run()
        .expect(
            1,
            "hello\nhello\n",
            "cat: /sandbox/nope.txt: No such file or directory\ncat: errno is ENOENT\n",
        );
}

#[test]
fn dir_without_guest_name_maps_under_its_own_path() {
    let root = temp_dir();
    fs::write(root.path().join("hello.txt"), "hello from the host\n").expect("write hello.txt");
    weft()
        .arg("--dir")
        .arg(root.path())
        .arg(c_program("cat"))
        .arg(root.path().join("hello.txt"))
        .run()
        .expect(0, "hello from the host\n", "");
}

#[test]
fn files_outside_mapped_dirs_are_out_of_reach() {
    let root = temp_dir();
    let inner = root.path().join("inner");
    fs::create_dir(&inner).expect("mkdir inner");
    let secret = root.path().join("secret.txt");
    fs::write(&secret, "SECRET\n").expect("write secret");
    let cat = c_program("cat");
    let escapes = [
        "/sandbox/../secret.txt".to_owned(),
        "/sandbox/./../../secret.txt".to_owned(),
        path_str(&secret).to_owned(),
    ];
    for path in &escapes {
        let run = weft().dir(&inner, "/sandbox").arg(&cat).arg(path).run();
        assert!(
            run.code == 1
                && run.stdout.is_empty()
                && run.stderr.starts_with(&format!("cat: {path}: ")),
            "reading {path} must fail with an error from the guest's libc\n{}",
            run.describe()
        );
    }
    // And with no directory at all, not even the host's absolute path.
    let run = weft().arg(&cat).arg(&secret).run();
    assert!(
        run.code == 1 && run.stdout.is_empty(),
        "no --dir, no files\n{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------------------
// Clocks, sleeping, randomness, memory
// ---------------------------------------------------------------------------------------

#[test]
fn c_clocks_monotonic_and_realtime() {
    weft().arg(c_program("clocks")).run().expect(
        0,
        "monotonic ok
realtime ok
clock_gettime realtime agrees with time ok
gettimeofday agrees with time ok
monotonic resolution ok
realtime resolution ok
cputime advances across work ok
cputime excludes sleep ok
",
        "",
    );
}

#[test]
fn rust_instant_and_system_time() {
    weft()
        .arg(rust_program("clocks"))
        .run()
        .expect(0, "monotonic ok\nrealtime ok\n", "");
}

#[test]
fn c_nanosleep_usleep_poll_wait_at_least_as_asked() {
    let run = weft().arg(c_program("sleep")).arg("100").run();
    run.expect(0, "nanosleep ok\nusleep ok\npoll timeout ok\n", "");
    assert!(
        run.elapsed >= Duration::from_millis(300),
        "three 100 ms sleeps\n{}",
        run.describe()
    );
}

#[test]
fn rust_thread_sleep_waits_at_least_as_asked() {
    let run = weft().arg(rust_program("sleep")).arg("200").run();
    run.expect(0, "sleep ok\n", "");
    assert!(
        run.elapsed >= Duration::from_millis(200),
        "{}",
        run.describe()
    );
}

#[test]
fn c_getentropy_fills_random_bytes() {
    weft().arg(c_program("random")).run().expect(
        0,
        "filled ok\nnonzero ok\ndistinct ok\nspread ok\n",
        "",
    );
}

#[test]
fn c_malloc_heavy_work_grows_memory() {
    weft().arg(c_program("heap")).run().expect(
        0,
        "blocks ok\ntable 10000 4dfc32f8\nbig ok\nmemory grew ok\n",
        "",
    );
}

#[test]
fn rust_collections_grow_memory() {
    weft().arg(rust_program("heap")).run().expect(
        0,
        "vectors 267357 sum 2183746523
maps 10000 first key-0-0 last key-9999-3100252255
big ok
memory grew ok
",
        "",
    );
}

// ---------------------------------------------------------------------------------------
// Traps and load errors (hand-written modules)
// ---------------------------------------------------------------------------------------

/// Writes the module `wat` to `dir/name.wasm`.
fn module_file(dir: &Path, name: &str, wat: &str) -> PathBuf {
    let bytes = wat::parse_str(wat).unwrap_or_else(|e| panic!("test module {name}: {e}\n{wat}"));
    let path = dir.join(format!("{name}.wasm"));
    fs::write(&path, bytes).expect("write module");
    path
}

/// A module that prints `partial\n`, then runs `body` in `_start`.
fn trapping_module(body: &str) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "partial\n")
  (func $zero (result i32) (i32.const 0))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 8))
    (i32.store (i32.const 4) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    {body}))"#
    )
}

#[test]
fn traps_exit_134_and_are_named_on_stderr() {
    let dir = temp_dir();
    let cases = [
        ("unreachable", "(unreachable)", "unreachable"),
        (
            "oob",
            "(drop (i32.load (i32.const 65536)))",
            "out of bounds memory access",
        ),
        (
            "div",
            "(drop (i32.div_u (i32.const 1) (call $zero)))",
            "integer divide by zero",
        ),
    ];
    for (name, body, message) in cases {
        let module = module_file(dir.path(), name, &trapping_module(body));
        let run = weft().arg(&module).run();
        run.expect_out(TRAPPED, "partial\n");
        assert!(
            run.stderr.contains(message),
            "stderr must name the trap `{message}`\n{}",
            run.describe()
        );
    }
}

#[test]
fn load_errors_exit_2() {
    let dir = temp_dir();
    let garbage = dir.path().join("garbage.wasm");
    fs::write(&garbage, b"\0asm\x01\0\0\0this is not a module").expect("write garbage");
    let no_start = module_file(
        dir.path(),
        "no_start",
        r#"(module (memory (export "memory") 1))"#,
    );
    let foreign = module_file(
        dir.path(),
        "foreign",
        r#"(module
  (import "env" "frobnicate" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")))"#,
    );
    let cases: [(&str, Weft); 5] = [
        ("no program", weft()),
        ("missing file", weft().arg(dir.path().join("missing.wasm"))),
        ("invalid module", weft().arg(&garbage)),
        ("no _start", weft().arg(&no_start)),
        ("import from an unknown module", weft().arg(&foreign)),
    ];
    for (what, cmd) in cases {
        let run = cmd.run();
        assert!(
            run.code == USAGE && !run.stderr.is_empty() && run.stdout.is_empty(),
            "{what}: expected exit 2 with a message on stderr\n{}",
            run.describe()
        );
    }
}

/// Unknown WASI functions. weft's rule: a function of the preview1 spec that weft does not
/// implement is linked and returns `ENOSYS` when called; a name that preview1 does not
/// have at all is a link error (exit 2, naming the import). `proc_raise` stands for the
/// first kind: a Wasm process has no signals, so weft has no use for it.
#[test]
fn unknown_wasi_functions_enosys_or_link_error() {
    let dir = temp_dir();
    let unimplemented = module_file(
        dir.path(),
        "proc_raise",
        r#"(module
  (import "wasi_snapshot_preview1" "proc_raise" (func $proc_raise (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $proc_exit (call $proc_raise (i32.const 6)))))"#,
    );
    let run = weft().arg(&unimplemented).run();
    assert_eq!(
        run.code,
        ENOSYS,
        "proc_raise must return ENOSYS\n{}",
        run.describe()
    );

    let unknown = module_file(
        dir.path(),
        "not_in_preview1",
        r#"(module
  (import "wasi_snapshot_preview1" "fd_teleport" (func $f (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $f (i32.const 0)))))"#,
    );
    let run = weft().arg(&unknown).run();
    assert!(
        run.code == USAGE && run.stderr.contains("fd_teleport"),
        "importing a name preview1 does not have is a load error naming it\n{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------------------
// Bad pointers: every WASI family answers EFAULT
// ---------------------------------------------------------------------------------------

/// A WASI function: its name and parameter types (`i` for i32, `I` for i64). Each returns
/// an errno.
#[derive(Clone, Copy)]
struct Func {
    name: &'static str,
    params: &'static str,
}

const FD_WRITE: Func = Func {
    name: "fd_write",
    params: "iiii",
};
const FD_READ: Func = Func {
    name: "fd_read",
    params: "iiii",
};
const ARGS_GET: Func = Func {
    name: "args_get",
    params: "ii",
};
const ARGS_SIZES_GET: Func = Func {
    name: "args_sizes_get",
    params: "ii",
};
const ENVIRON_GET: Func = Func {
    name: "environ_get",
    params: "ii",
};
const ENVIRON_SIZES_GET: Func = Func {
    name: "environ_sizes_get",
    params: "ii",
};
const CLOCK_TIME_GET: Func = Func {
    name: "clock_time_get",
    params: "iIi",
};
const CLOCK_RES_GET: Func = Func {
    name: "clock_res_get",
    params: "ii",
};
const RANDOM_GET: Func = Func {
    name: "random_get",
    params: "ii",
};
/// fd, dirflags, path, path_len, oflags, rights_base, rights_inheriting, fdflags, fd_out.
const PATH_OPEN: Func = Func {
    name: "path_open",
    params: "iiiiiIIii",
};
/// fd, flags, path, path_len, filestat_out.
const PATH_FILESTAT_GET: Func = Func {
    name: "path_filestat_get",
    params: "iiiii",
};
const PATH_CREATE_DIRECTORY: Func = Func {
    name: "path_create_directory",
    params: "iii",
};
const FD_FILESTAT_GET: Func = Func {
    name: "fd_filestat_get",
    params: "ii",
};
const FD_FDSTAT_GET: Func = Func {
    name: "fd_fdstat_get",
    params: "ii",
};
/// fd, buf, buf_len, cookie, bufused_out.
const FD_READDIR: Func = Func {
    name: "fd_readdir",
    params: "iiiIi",
};
const FD_PRESTAT_GET: Func = Func {
    name: "fd_prestat_get",
    params: "ii",
};
const FD_PRESTAT_DIR_NAME: Func = Func {
    name: "fd_prestat_dir_name",
    params: "iii",
};
/// subscriptions, events, nsubscriptions, nevents_out.
const POLL_ONEOFF: Func = Func {
    name: "poll_oneoff",
    params: "iiii",
};

/// The name the bad-pointer tests map their scratch directory under: 8 bytes, so an 8-byte
/// `fd_prestat_dir_name` buffer at 65530 runs off the end of memory.
const SANDBOX: &str = "/sandbox";

/// Rights for `path_open`: `path_open | fd_readdir` (opening a directory to list it) and
/// `fd_read | fd_write` (a file to read and write).
const RIGHTS_DIR: i64 = 0x6000;
const RIGHTS_RW: i64 = 0x41;

/// One call with bad pointers, in a module with one page (65536 bytes) of memory that
/// holds `.` at 100, `leaked` at 200 and `created.txt` at 300. `stores` are `(address,
/// u32)` pairs written first (iovecs, a subscription); `args` are the call's arguments.
/// Negative and large arguments are the same 32-bit pattern: -4 is 0xFFFF_FFFC.
struct Case {
    name: &'static str,
    func: Func,
    stores: &'static [(u32, u32)],
    args: &'static [i64],
}

const fn case(
    name: &'static str,
    func: Func,
    stores: &'static [(u32, u32)],
    args: &'static [i64],
) -> Case {
    Case {
        name,
        func,
        stores,
        args,
    }
}

/// The module for `case`: `_start` makes the call and passes its errno to `proc_exit`.
fn errno_module(case: &Case) -> String {
    let Func { name, params } = case.func;
    assert_eq!(
        params.len(),
        case.args.len(),
        "{}: wrong argument count",
        case.name
    );
    let param_types: String = params
        .chars()
        .map(|p| if p == 'I' { " i64" } else { " i32" })
        .collect();
    let mut body = String::new();
    for (address, value) in case.stores {
        body += &format!("(i32.store (i32.const {address}) (i32.const {value}))\n    ");
    }
    body += &format!("(call $proc_exit (call ${name}");
    for (ty, arg) in params.chars().zip(case.args) {
        let ty = if ty == 'I' { "i64" } else { "i32" };
        body += &format!(" ({ty}.const {arg})");
    }
    body += "))";
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "{name}" (func ${name} (param{param_types}) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) ".")
  (data (i32.const 200) "leaked")
  (data (i32.const 300) "created.txt")
  (func (export "_start")
    {body}))"#
    )
}

/// What a bad-pointer run is given besides the module: arguments after it, environment,
/// stdin. A scratch directory is always mapped as `/sandbox`, so fd 3 is a preopen.
#[derive(Default)]
struct Setup {
    args: &'static [&'static str],
    env: &'static [&'static str],
    stdin: &'static str,
}

/// Runs every case and checks that each exits with `EFAULT`; reports all failures at once.
fn check_efault(setup: Setup, cases: &[Case]) {
    let scratch = temp_dir();
    let sandbox = scratch.path().join("sandbox");
    fs::create_dir(&sandbox).expect("mkdir sandbox");
    let mut failures = Vec::new();
    for case in cases {
        let module = module_file(scratch.path(), case.name, &errno_module(case));
        let mut cmd = weft().dir(&sandbox, SANDBOX);
        for var in setup.env {
            cmd = cmd.arg("--env").arg(var);
        }
        let run = cmd.arg(&module).args(setup.args).stdin(setup.stdin).run();
        if run.code != EFAULT {
            failures.push(format!(
                "{} ({}): expected EFAULT ({EFAULT})\n{}",
                case.name,
                case.func.name,
                run.describe()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// An iovec at 0 for the 6 bytes `leaked` at 200.
const IOV_LEAKED: &[(u32, u32)] = &[(0, 200), (4, 6)];

#[test]
fn efault_fd_write() {
    check_efault(
        Setup::default(),
        &[
            case("iovs_past_end", FD_WRITE, &[], &[1, 65536, 1, 16]),
            case("iovs_straddle_end", FD_WRITE, &[], &[1, 65532, 1, 16]),
            case("iovs_wrap", FD_WRITE, &[], &[1, -4, 1, 16]),
            // 0x2000_0000 iovecs of 8 bytes are 2^32 bytes: 0 if the size is taken in u32.
            case(
                "iovs_len_wraps",
                FD_WRITE,
                IOV_LEAKED,
                &[1, 0, 0x2000_0000, 16],
            ),
            case(
                "buf_past_end",
                FD_WRITE,
                &[(0, 65000), (4, 1000)],
                &[1, 0, 1, 16],
            ),
            case(
                "buf_wraps",
                FD_WRITE,
                &[(0, 0xFFFF_FFF0), (4, 0x20)],
                &[1, 0, 1, 16],
            ),
            case("nwritten_past_end", FD_WRITE, IOV_LEAKED, &[1, 0, 1, 65534]),
        ],
    );
}

#[test]
fn efault_fd_read() {
    check_efault(
        Setup {
            stdin: "hello, bad pointers\n",
            ..Setup::default()
        },
        &[
            case("iovs_past_end", FD_READ, &[], &[0, 65536, 1, 16]),
            case("iovs_wrap", FD_READ, &[], &[0, -4, 1, 16]),
            case(
                "buf_past_end",
                FD_READ,
                &[(0, 65000), (4, 1000)],
                &[0, 0, 1, 16],
            ),
            case(
                "buf_wraps",
                FD_READ,
                &[(0, 0xFFFF_FF00), (4, 0x200)],
                &[0, 0, 1, 16],
            ),
            case(
                "nread_past_end",
                FD_READ,
                &[(0, 1000), (4, 10)],
                &[0, 0, 1, 65535],
            ),
        ],
    );
}

#[test]
fn efault_args() {
    // argv is the module path, "one", "two": 3 pointers, more than 6 bytes of strings.
    check_efault(
        Setup {
            args: &["one", "two"],
            ..Setup::default()
        },
        &[
            case("argc_out_straddles", ARGS_SIZES_GET, &[], &[65535, 0]),
            case("buf_size_out_wraps", ARGS_SIZES_GET, &[], &[0, -1]),
            case("argv_straddles", ARGS_GET, &[], &[65532, 100]),
            case("argv_buf_straddles", ARGS_GET, &[], &[0, 65530]),
            case("argv_wraps", ARGS_GET, &[], &[-8, 100]),
            case("argv_buf_wraps", ARGS_GET, &[], &[0, -4]),
        ],
    );
}

#[test]
fn efault_environ() {
    // Two pointers (8 bytes) and "A=1\0B=2\0" (8 bytes).
    check_efault(
        Setup {
            env: &["A=1", "B=2"],
            ..Setup::default()
        },
        &[
            case("size_out_straddles", ENVIRON_SIZES_GET, &[], &[0, 65533]),
            case("count_out_past_end", ENVIRON_SIZES_GET, &[], &[65536, 0]),
            case("environ_straddles", ENVIRON_GET, &[], &[65533, 100]),
            case("buf_straddles", ENVIRON_GET, &[], &[0, 65532]),
            case("buf_wraps", ENVIRON_GET, &[], &[0, -4]),
        ],
    );
}

#[test]
fn efault_clocks() {
    // Clock 0 is realtime, 1 monotonic; a timestamp is 8 bytes.
    check_efault(
        Setup::default(),
        &[
            case("realtime_straddles", CLOCK_TIME_GET, &[], &[0, 1, 65532]),
            case("monotonic_past_end", CLOCK_TIME_GET, &[], &[1, 1, 65536]),
            case("monotonic_wraps", CLOCK_TIME_GET, &[], &[1, 1, -4]),
            case("res_straddles", CLOCK_RES_GET, &[], &[1, 65535]),
        ],
    );
}

#[test]
fn efault_random_get() {
    check_efault(
        Setup::default(),
        &[
            case("straddles", RANDOM_GET, &[], &[65000, 1000]),
            case("past_end", RANDOM_GET, &[], &[65536, 1]),
            case("wraps", RANDOM_GET, &[], &[-16, 32]),
        ],
    );
}

#[test]
fn efault_path_and_fd_calls() {
    // Opening "." (O_DIRECTORY = 2) with RIGHTS_DIR would succeed; in the fd_out cases
    // only the result pointer is bad. A filestat is 64 bytes, a fdstat 24.
    check_efault(
        Setup::default(),
        &[
            case(
                "open_path_straddles",
                PATH_OPEN,
                &[],
                &[3, 0, 65530, 100, 0, RIGHTS_DIR, 0, 0, 16],
            ),
            case(
                "open_path_wraps",
                PATH_OPEN,
                &[],
                &[3, 0, -4, 8, 0, RIGHTS_DIR, 0, 0, 16],
            ),
            case(
                "open_fd_out_straddles",
                PATH_OPEN,
                &[],
                &[3, 0, 100, 1, 2, RIGHTS_DIR, 0, 0, 65534],
            ),
            case(
                "filestat_path_straddles",
                PATH_FILESTAT_GET,
                &[],
                &[3, 0, 65530, 100, 1000],
            ),
            case(
                "filestat_out_straddles",
                PATH_FILESTAT_GET,
                &[],
                &[3, 0, 100, 1, 65500],
            ),
            case(
                "mkdir_path_straddles",
                PATH_CREATE_DIRECTORY,
                &[],
                &[3, 65530, 100],
            ),
            case("fd_filestat_straddles", FD_FILESTAT_GET, &[], &[3, 65500]),
            case("fd_fdstat_straddles", FD_FDSTAT_GET, &[], &[1, 65520]),
            case(
                "readdir_buf_straddles",
                FD_READDIR,
                &[],
                &[3, 65000, 1000, 0, 16],
            ),
            case(
                "readdir_bufused_past_end",
                FD_READDIR,
                &[],
                &[3, 1000, 1000, 0, 65536],
            ),
        ],
    );
}

#[test]
fn efault_prestat() {
    // A prestat is 8 bytes; the directory name "/sandbox" 8 bytes.
    check_efault(
        Setup::default(),
        &[
            case("prestat_straddles", FD_PRESTAT_GET, &[], &[3, 65532]),
            case(
                "dir_name_straddles",
                FD_PRESTAT_DIR_NAME,
                &[],
                &[3, 65530, 8],
            ),
            case("dir_name_wraps", FD_PRESTAT_DIR_NAME, &[], &[3, -4, 8]),
        ],
    );
}

/// A valid subscription at 0: userdata 0, tag 0 (clock), clock id 1 (monotonic) at 16,
/// relative timeout 0 at 24, precision 0, flags 0. Memory starts zeroed.
const CLOCK_SUBSCRIPTION: &[(u32, u32)] = &[(16, 1)];

#[test]
fn efault_poll_oneoff() {
    // A subscription is 48 bytes, an event 32.
    check_efault(
        Setup::default(),
        &[
            case(
                "subscriptions_straddle",
                POLL_ONEOFF,
                &[],
                &[65500, 1000, 1, 2000],
            ),
            case(
                "subscriptions_wrap",
                POLL_ONEOFF,
                &[],
                &[-16, 1000, 1, 2000],
            ),
            // 0x1000_0000 subscriptions are 3 * 2^32 bytes: 0 if the size is taken in u32.
            case(
                "nsubscriptions_wraps",
                POLL_ONEOFF,
                CLOCK_SUBSCRIPTION,
                &[0, 1000, 0x1000_0000, 2000],
            ),
            case(
                "events_straddle",
                POLL_ONEOFF,
                CLOCK_SUBSCRIPTION,
                &[0, 65520, 1, 2000],
            ),
            case(
                "nevents_past_end",
                POLL_ONEOFF,
                CLOCK_SUBSCRIPTION,
                &[0, 1000, 1, 65536],
            ),
        ],
    );
}

/// A call that faults has no other effect (docs/abi.md, "Conventions"): nothing is
/// written and nothing created, even when the only bad pointer is where the result goes.
#[test]
fn efault_calls_have_no_effect() {
    let scratch = temp_dir();
    let sandbox = scratch.path().join("sandbox");
    fs::create_dir(&sandbox).expect("mkdir sandbox");
    let cases = [
        case(
            "write_then_bad_nwritten",
            FD_WRITE,
            IOV_LEAKED,
            &[1, 0, 1, 65534],
        ),
        // A good iovec, then one running off the end of memory.
        case(
            "good_iovec_then_bad_iovec",
            FD_WRITE,
            &[(0, 200), (4, 6), (8, 65534), (12, 10)],
            &[1, 0, 2, 16],
        ),
        // O_CREAT (1) of "created.txt" with the new fd's pointer out of bounds.
        case(
            "create_then_bad_fd_out",
            PATH_OPEN,
            &[],
            &[3, 0, 300, 11, 1, RIGHTS_RW, 0, 0, 65534],
        ),
    ];
    for case in &cases {
        let module = module_file(scratch.path(), case.name, &errno_module(case));
        let run = weft().dir(&sandbox, SANDBOX).arg(&module).run();
        run.expect(EFAULT, "", "");
        assert!(
            !sandbox.join("created.txt").exists(),
            "{}: a path_open that returned EFAULT created the file",
            case.name
        );
    }
}
