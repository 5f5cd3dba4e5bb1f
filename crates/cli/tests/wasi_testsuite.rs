//! The official WASI preview1 conformance suite (`WebAssembly/wasi-testsuite`), run through
//! `weft run` exactly as its runner drives a runtime: for each test, a fresh writable copy
//! of its `root` mapped as the guest's `/` preopen, its `--env` variables and arguments,
//! empty standard input and a 60 s limit; it passes when the exit status (and, where the
//! test gives one, standard output) match. Every test runs; none is skipped.
//!
//! The suite lives outside the repository, in `../shared/wasi-testsuite` beside the
//! checkout (or wherever `WEFT_WASI_TESTSUITE` points).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// The suite's directory.
fn suite() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEFT_WASI_TESTSUITE") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/wasi-testsuite")
}

/// One test: its module and what its JSON file says.
struct Case {
    wasm: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    root: Option<PathBuf>,
    exit_code: i32,
    stdout: Option<String>,
}

impl Case {
    fn load(wasm: PathBuf) -> Case {
        let json = wasm.with_extension("json");
        let spec: serde_json::Value = match fs::read_to_string(&json) {
            Ok(text) => {
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", json.display()))
            }
            Err(_) => serde_json::Value::Null,
        };
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let env = spec["env"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let dir = wasm.parent().unwrap().to_path_buf();
        Case {
            args: strings(&spec["args"]),
            env,
            root: spec["root"].as_str().map(|r| dir.join(r)),
            exit_code: spec["exit_code"].as_i64().unwrap_or(0) as i32,
            stdout: spec["stdout"].as_str().map(String::from),
            wasm,
        }
    }

    /// Runs the test; `Err` says why it failed.
    fn run(&self) -> Result<(), String> {
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft"));
        cmd.arg("run");
        for (k, v) in &self.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        if let Some(root) = &self.root {
            let copy = scratch.path().join("root");
            copy_tree(root, &copy).map_err(|e| format!("copying {}: {e}", root.display()))?;
            cmd.arg("--dir").arg(format!("{}::/", copy.display()));
        }
        cmd.arg(&self.wasm).args(&self.args);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting weft: {e}"))?;
        // Drain the pipes while waiting, so a chatty test cannot block on a full pipe.
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if start.elapsed() > LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no exit within {} s", LIMIT.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
        let tail = |s: &str| {
            let s = s.trim_end();
            let start = s.len().saturating_sub(400);
            let start = (start..s.len())
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(0);
            s[start..].replace('\n', " | ")
        };
        let code = status.code().unwrap_or(-1);
        if code != self.exit_code {
            return Err(format!(
                "exit status {code}, expected {}; stderr: {}",
                self.exit_code,
                tail(&stderr)
            ));
        }
        if let Some(expected) = &self.stdout
            && stdout != *expected
        {
            return Err(format!("stdout {stdout:?}, expected {expected:?}"));
        }
        Ok(())
    }
}

/// Copies a directory tree, keeping symbolic links as links and making everything
/// writable (the suite's folder may be read-only).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let dst = to.join(entry.file_name());
        if ty.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &dst)?;
        } else if ty.is_dir() {
            copy_tree(&entry.path(), &dst)?;
        } else {
            fs::write(&dst, fs::read(entry.path())?)?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(0o644))?;
        }
    }
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))
}

#[test]
fn wasi_preview1_conformance_suite() {
    let suite = suite();
    let mut cases = Vec::new();
    for lang in ["assemblyscript", "c", "rust"] {
        let dir = suite
            .join("tests")
            .join(lang)
            .join("testsuite/wasm32-wasip1");
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "the WASI test suite is missing at {} ({e}); it comes with ../shared, or set \
                 WEFT_WASI_TESTSUITE",
                dir.display()
            )
        });
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wasm") {
                cases.push(Case::load(path));
            }
        }
    }
    cases.sort_by(|a, b| a.wasm.cmp(&b.wasm));
    assert_eq!(cases.len(), 72, "the suite has 72 preview1 tests");

    // Two at a time: the tests are independent processes.
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(case) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(why) = case.run() {
                        let name = case.wasm.strip_prefix(&suite).unwrap_or(&case.wasm);
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("FAIL {}: {why}", name.display()));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    for f in &failures {
        println!("{f}");
    }
    println!(
        "{} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of the suite's tests failed",
        failures.len()
    );
}
