//! Operating-system measurements: weft's kernel next to Linux on the same machine, in the
//! same run.
//!
//! - IPC round trip: two processes ping-pong one byte N times. On weft, a parent creates a
//!   channel, spawns an echo child holding the other end as its handle 3, and sends and
//!   receives one-byte messages; on Linux, the harness spawns itself as the echo child
//!   ([`echo`]) and ping-pongs one byte over its stdin and stdout pipes.
//! - Spawn and exit: a parent starts a child that exits at once and waits for it, N times.
//!   On weft the child is a module whose `_start` returns; on Linux it is a static C
//!   program whose `main` returns 0, started with `std::process::Command` (`posix_spawn`).
//! - fd_write: N writes of one byte to a sink that discards them. On weft, WASI `fd_write`
//!   to stdout on a platform whose console discards output; on Linux, `write(2)` to
//!   `/dev/null` through `std::fs::File`.
//!
//! Each weft figure is the wall time of the whole kernel run (kernel creation, spawning the
//! first process, every process to its end) divided by N, with nothing subtracted. Each
//! Linux figure is likewise the whole sequence divided by N (for IPC, from spawning the
//! echo child to reaping it).

use crate::bench::{done, median, progress};
use anyhow::{Context, Result, anyhow, bail};
use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use weft_kernel::platform::{ConsoleStream, Platform};
use weft_kernel::vfs::{OpenOptions, Vfs};
use weft_kernel::{Kernel, KernelConfig, Program, SpawnRequest};

/// The hidden harness subcommand that makes it the echo child of the Linux IPC measurement.
pub const ECHO_COMMAND: &str = "__os-echo";

/// One measurement on both systems.
#[derive(Debug, Clone)]
pub struct OsResult {
    /// Its key in the JSON (`ipc_round_trip_ns`).
    pub key: &'static str,
    /// Its label in the table, with the unit.
    pub label: &'static str,
    /// Repetitions per run (round trips, spawns, writes).
    pub n: u32,
    /// weft's median, in the unit of the label.
    pub weft: f64,
    /// Linux's median, in the unit of the label.
    pub linux: f64,
}

/// The operating-system measurements of one run.
#[derive(Debug, Clone, Default)]
pub struct OsResults {
    /// IPC round trip, spawn and exit, fd_write, in that order.
    pub measures: Vec<OsResult>,
    /// What the Linux spawn measurement started.
    pub linux_spawn_binary: String,
}

/// What a measurement does.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Ping-pong of one byte between two processes.
    Ipc,
    /// A child that exits at once, spawned and waited for.
    Spawn,
    /// A one-byte write to a sink that discards it.
    Write,
}

/// One measurement's definition.
struct Measure {
    kind: Kind,
    key: &'static str,
    label: &'static str,
    /// The unit of the figures.
    unit: &'static str,
    /// Seconds to `unit`.
    scale: f64,
    quick: u32,
    full: u32,
}

const IPC: Measure = Measure {
    kind: Kind::Ipc,
    key: "ipc_round_trip_ns",
    label: "IPC round trip, ns",
    unit: "ns",
    scale: 1e9,
    quick: 1_000,
    full: 100_000,
};

const SPAWN: Measure = Measure {
    kind: Kind::Spawn,
    key: "spawn_exit_us",
    label: "spawn and exit, µs",
    unit: "µs",
    scale: 1e6,
    quick: 20,
    full: 2_000,
};

const WRITE: Measure = Measure {
    kind: Kind::Write,
    key: "fd_write_null_ns",
    label: "fd_write of 1 byte to a null sink, ns",
    unit: "ns",
    scale: 1e9,
    quick: 10_000,
    full: 1_000_000,
};

/// How many progress steps [`run`] reports.
pub const STEPS: usize = 6;

/// Runs the three measurements on weft and on Linux, `runs` times each, and returns the
/// medians, reporting progress as steps of `total` ([`STEPS`] of them).
///
/// # Errors
/// A guest or a Linux child that fails, or the harness cannot start a process.
pub fn run(quick: bool, runs: usize, (step, total): (&mut usize, usize)) -> Result<OsResults> {
    let (spawn_binary, spawn_note) = exit0_binary()?;
    let mut results = OsResults {
        linux_spawn_binary: spawn_note,
        ..OsResults::default()
    };
    for m in [IPC, SPAWN, WRITE] {
        let n = if quick { m.quick } else { m.full };
        let weft_system = weft_programs(m.kind, n)?;
        let mut measure = |system: &str, f: &mut dyn FnMut() -> Result<Duration>| {
            let what = m.label.split(',').next().unwrap_or(m.label);
            progress(step, total, &format!("{what} on {system}"));
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs {
                times.push(f()?.as_secs_f64() * m.scale / f64::from(n));
            }
            let mid = median(times);
            done(&format!("{mid:.1} {}", m.unit));
            Ok::<f64, anyhow::Error>(mid)
        };
        let weft = measure("weft", &mut || run_weft(&weft_system))
            .with_context(|| format!("measuring {} on weft", m.label))?;
        let linux = measure("linux", &mut || match m.kind {
            Kind::Ipc => linux_ipc(n),
            Kind::Spawn => linux_spawn(&spawn_binary, n),
            Kind::Write => linux_write(n),
        })
        .with_context(|| format!("measuring {} on Linux", m.label))?;
        results.measures.push(OsResult {
            key: m.key,
            label: m.label,
            n,
            weft,
            linux,
        });
    }
    Ok(results)
}

// ---------------------------------------------------------------------------------------
// weft

/// The imports the guests use, from WASI and from weft's native API (docs/abi.md).
const IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "weft" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "weft" "wait" (func $wait (param i32 i32 i32) (result i32)))
  (import "weft" "channel_create" (func $channel_create (param i32 i32) (result i32)))
  (import "weft" "channel_send" (func $channel_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "weft" "channel_recv" (func $channel_recv (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
"#;

/// The guests' exit codes when a system call fails, and what failed.
const GUEST_FAILURES: &[(u32, &str)] = &[
    (10, "channel_create failed"),
    (11, "spawn failed"),
    (12, "channel_send failed"),
    (13, "channel_recv failed"),
    (14, "the echo came back wrong"),
    (15, "wait failed"),
    (16, "the child exited with a nonzero status"),
    (17, "fd_write failed"),
    (18, "fd_write wrote other than 1 byte"),
];

/// The IPC parent: creates a channel, spawns `/bin/echo` with the other end as its handle
/// 3 (and no stdio), sends one-byte messages and checks each echo, `n` times; then closes
/// its end, which ends the echo loop, and reaps the child.
fn ipc_parent(n: u32) -> String {
    format!(
        r#"(module {IMPORTS}
  (data (i32.const 1000) "/bin/echo")
  (data (i32.const 1020) "echo\00")
  (func (export "_start") (local $end i32) (local $i i32)
    (if (call $channel_create (i32.const 40) (i32.const 44))
      (then (call $proc_exit (i32.const 10))))
    (local.set $end (i32.load (i32.const 40)))
    (i32.store (i32.const 80) (i32.const -1))
    (i32.store (i32.const 84) (i32.const -1))
    (i32.store (i32.const 88) (i32.const -1))
    (i32.store (i32.const 92) (i32.load (i32.const 44)))
    (if (call $spawn (i32.const 1000) (i32.const 9) (i32.const 1020) (i32.const 5)
                     (i32.const 0) (i32.const 0) (i32.const 80) (i32.const 4) (i32.const 96))
      (then (call $proc_exit (i32.const 11))))
    (drop (call $fd_close (i32.load (i32.const 44))))
    (loop $trip
      (i32.store8 (i32.const 64) (local.get $i))
      (if (call $channel_send (local.get $end) (i32.const 64) (i32.const 1) (i32.const 0) (i32.const 0))
        (then (call $proc_exit (i32.const 12))))
      (if (call $channel_recv (local.get $end) (i32.const 68) (i32.const 4) (i32.const 0)
                              (i32.const 0) (i32.const 0) (i32.const 72) (i32.const 76))
        (then (call $proc_exit (i32.const 13))))
      (if (i32.or (i32.ne (i32.load (i32.const 72)) (i32.const 1))
                  (i32.ne (i32.load8_u (i32.const 68)) (i32.and (local.get $i) (i32.const 255))))
        (then (call $proc_exit (i32.const 14))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $trip (i32.lt_u (local.get $i) (i32.const {n}))))
    (drop (call $fd_close (local.get $end)))
    (if (call $wait (i32.load (i32.const 96)) (i32.const 0) (i32.const 104))
      (then (call $proc_exit (i32.const 15))))
    (drop (call $fd_close (i32.load (i32.const 96))))
    (if (i32.load (i32.const 104)) (then (call $proc_exit (i32.const 16))))))"#
    )
}

/// The IPC child: receives a message on handle 3 and sends it back, until the parent
/// closes its end (`EPIPE`, 64).
const IPC_ECHO: &str = r#"
  (func (export "_start") (local $r i32)
    (loop $echo
      (local.set $r (call $channel_recv (i32.const 3) (i32.const 64) (i32.const 64) (i32.const 0)
                                        (i32.const 0) (i32.const 0) (i32.const 72) (i32.const 76)))
      (if (i32.eq (local.get $r) (i32.const 64)) (then (return)))
      (if (local.get $r) (then unreachable))
      (if (call $channel_send (i32.const 3) (i32.const 64) (i32.load (i32.const 72))
                              (i32.const 0) (i32.const 0))
        (then unreachable))
      (br $echo)))"#;

/// The spawn parent: spawns `/bin/exit0` (no handles) and waits for it, `n` times.
fn spawn_parent(n: u32) -> String {
    format!(
        r#"(module {IMPORTS}
  (data (i32.const 1000) "/bin/exit0")
  (data (i32.const 1020) "exit0\00")
  (func (export "_start") (local $i i32)
    (loop $again
      (if (call $spawn (i32.const 1000) (i32.const 10) (i32.const 1020) (i32.const 6)
                       (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 96))
        (then (call $proc_exit (i32.const 11))))
      (if (call $wait (i32.load (i32.const 96)) (i32.const 0) (i32.const 104))
        (then (call $proc_exit (i32.const 15))))
      (drop (call $fd_close (i32.load (i32.const 96))))
      (if (i32.load (i32.const 104)) (then (call $proc_exit (i32.const 16))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const {n}))))))"#
    )
}

/// The spawned child: the smallest process, whose `_start` returns.
const EXIT0: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

/// The writer: `n` WASI `fd_write`s of one byte to stdout, checking each.
fn writer(n: u32) -> String {
    format!(
        r#"(module {IMPORTS}
  (data (i32.const 100) "x")
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 1))
    (loop $write
      (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
        (then (call $proc_exit (i32.const 17))))
      (if (i32.ne (i32.load (i32.const 8)) (i32.const 1)) (then (call $proc_exit (i32.const 18))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $write (i32.lt_u (local.get $i) (i32.const {n}))))))"#
    )
}

/// The programs of one weft measurement: `(name in /bin, module)`, the first one started.
type WeftSystem = Vec<(&'static str, Vec<u8>)>;

fn weft_programs(kind: Kind, n: u32) -> Result<WeftSystem> {
    let wat = match kind {
        Kind::Ipc => vec![
            ("ipc", ipc_parent(n)),
            ("echo", format!("(module {IMPORTS} {IPC_ECHO})")),
        ],
        Kind::Spawn => vec![("spawner", spawn_parent(n)), ("exit0", EXIT0.into())],
        Kind::Write => vec![("writer", writer(n))],
    };
    wat.into_iter()
        .map(|(name, text)| {
            let bytes = wat::parse_str(&text).with_context(|| format!("assembling {name}"))?;
            Ok((name, bytes))
        })
        .collect()
}

/// What the guests write to stderr (kernel messages about traps too), kept for errors.
type ErrLog = Rc<RefCell<Vec<u8>>>;

/// A platform whose console discards output (stderr is kept, up to 4 KiB, to explain a
/// failure), has no input, and never has to idle: the guests only compute and talk to
/// each other.
struct NullPlatform {
    start: Instant,
    err: ErrLog,
    seed: u64,
}

impl Platform for NullPlatform {
    fn console_write(&mut self, stream: ConsoleStream, bytes: &[u8]) {
        if stream == ConsoleStream::Err {
            let mut err = self.err.borrow_mut();
            let room = 4096usize.saturating_sub(err.len());
            err.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    fn console_read(&mut self, _buf: &mut [u8]) -> Option<usize> {
        Some(0)
    }

    fn console_is_terminal(&self) -> bool {
        false
    }

    fn monotonic_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn wall_clock_ns(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// A xorshift sequence: the benchmark guests ask for no random numbers, and nothing
    /// here needs them to be unpredictable.
    fn random(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            *b = self.seed as u8;
        }
    }

    fn wait(&mut self, deadline: Option<u64>, _console: bool) {
        if let Some(deadline) = deadline {
            let now = self.monotonic_ns();
            if deadline > now {
                std::thread::sleep(Duration::from_nanos(deadline - now));
            }
        }
    }
}

/// Runs one weft measurement: puts the programs in `/bin`, then times a kernel running the
/// first one until every process has ended. Fails unless it exits 0.
fn run_weft(system: &WeftSystem) -> Result<Duration> {
    let err = ErrLog::default();
    let mut platform = NullPlatform {
        start: Instant::now(),
        err: err.clone(),
        seed: 0x9e37_79b9_7f4a_7c15,
    };
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/bin", 64 << 20)
        .map_err(|e| anyhow!("mounting /bin: {e}"))?;
    for (name, bytes) in system {
        let path = format!("/bin/{name}");
        let how = OpenOptions {
            write: true,
            create: true,
            ..OpenOptions::default()
        };
        let node = vfs
            .open(&mut platform, &path, &how)
            .map_err(|e| anyhow!("creating {path}: {e}"))?;
        let written = vfs.write(&mut platform, &node, 0, bytes);
        vfs.close(&mut platform, node);
        match written {
            Ok(n) if n == bytes.len() => {}
            Ok(n) => bail!("writing {path}: {n} of {} bytes written", bytes.len()),
            Err(e) => bail!("writing {path}: {e}"),
        }
    }
    let main = system.first().map_or("", |(name, _)| name);

    let start = Instant::now();
    let mut kernel = Kernel::new(Box::new(platform), vfs, KernelConfig::default())
        .expect("the interpreter is always there");
    let pid = kernel
        .spawn(SpawnRequest {
            program: Program::Path(format!("/bin/{main}")),
            args: vec![main.to_string()],
            env: vec![],
            preopens: vec![],
        })
        .map_err(|e| anyhow!("starting /bin/{main}: {e}"))?;
    kernel
        .run()
        .map_err(|e| anyhow!("running /bin/{main}: {e}"))?;
    let elapsed = start.elapsed();

    match kernel.exit_status(pid) {
        Some(0) => Ok(elapsed),
        Some(status) => {
            let why = GUEST_FAILURES
                .iter()
                .find(|(code, _)| *code == status)
                .map_or(String::new(), |(_, why)| format!(" ({why})"));
            let err = err.borrow();
            let stderr = if err.is_empty() {
                "nothing on stderr".to_string()
            } else {
                format!("stderr: {}", String::from_utf8_lossy(&err).trim())
            };
            bail!("/bin/{main} exited with status {status}{why}; {stderr}")
        }
        None => bail!("/bin/{main} did not end although the kernel stopped"),
    }
}

// ---------------------------------------------------------------------------------------
// Linux

/// The echo child of the Linux IPC measurement (`weft-bench __os-echo`): copies stdin to
/// stdout as bytes arrive, one `read` and one `write` per message, until end of input.
///
/// # Errors
/// Reading or writing fails.
pub fn echo() -> Result<()> {
    // Unbuffered handles on the same pipes (duplicates of fds 0 and 1), so that every
    // message is one read(2) and one write(2), as on the parent's side.
    let mut input = File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let mut output = File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    let mut buf = [0u8; 64];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        output.write_all(&buf[..n])?;
    }
}

/// Two processes ping-pong one byte over two pipes `n` times: this harness and itself as
/// the echo child. Timed from spawning the child to reaping it.
fn linux_ipc(n: u32) -> Result<Duration> {
    let exe = std::env::current_exe().context("finding the harness binary")?;
    let start = Instant::now();
    let mut child = Command::new(&exe)
        .arg(ECHO_COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {} {ECHO_COMMAND}", exe.display()))?;
    let (Some(mut to), Some(mut from)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("the echo child has no pipes");
    };
    let mut byte = [0u8];
    for i in 0..n {
        let sent = i as u8;
        to.write_all(&[sent])?;
        from.read_exact(&mut byte)
            .context("reading the echo (did the child fail?)")?;
        if byte[0] != sent {
            bail!("the echo child sent {} for {sent}", byte[0]);
        }
    }
    drop(to);
    let status = child.wait()?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("the echo child failed ({status})");
    }
    Ok(elapsed)
}

/// Where the harness builds the Linux spawn measurement's child.
fn os_dir() -> PathBuf {
    crate::guests::repo_root().join("target/bench-os")
}

/// Builds the child of the Linux spawn measurement: a static C program whose `main`
/// returns 0 (`cc -static -O2`). Falls back to `/bin/true` (dynamically linked, so slower
/// to start) if that fails. Returns the binary and a description of it.
fn exit0_binary() -> Result<(PathBuf, String)> {
    let dir = os_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let source = dir.join("exit0.c");
    std::fs::write(&source, "int main(void) { return 0; }\n")
        .with_context(|| format!("writing {}", source.display()))?;
    let binary = dir.join("exit0");
    let built = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&binary)
        .arg(&source)
        .output();
    let failure = match built {
        Ok(out) if out.status.success() => {
            return Ok((
                binary.clone(),
                format!("{} (`cc -static -O2`, returns 0)", binary.display()),
            ));
        }
        Ok(out) => format!(
            "`cc -static -O2` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("could not run cc: {e}"),
    };
    let fallback = Path::new("/bin/true");
    if !fallback.is_file() {
        bail!("no child for the spawn measurement: {failure}, and there is no /bin/true");
    }
    eprintln!(
        "warning: building a static child for the Linux spawn measurement failed \
         ({failure}); spawning /bin/true (dynamically linked) instead"
    );
    Ok((
        fallback.to_path_buf(),
        format!("/bin/true (dynamically linked: static linking failed: {failure})"),
    ))
}

/// Spawns `binary` and waits for it, `n` times.
fn linux_spawn(binary: &Path, n: u32) -> Result<Duration> {
    let start = Instant::now();
    for _ in 0..n {
        let status = Command::new(binary)
            .status()
            .with_context(|| format!("spawning {}", binary.display()))?;
        if !status.success() {
            bail!("{} failed ({status})", binary.display());
        }
    }
    Ok(start.elapsed())
}

/// `n` one-byte writes to `/dev/null`.
fn linux_write(n: u32) -> Result<Duration> {
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .context("opening /dev/null")?;
    let start = Instant::now();
    for _ in 0..n {
        if null.write(b"x")? != 1 {
            bail!("a write to /dev/null wrote other than 1 byte");
        }
    }
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weft_guests_run_to_a_clean_exit() {
        for kind in [Kind::Ipc, Kind::Spawn, Kind::Write] {
            let system = weft_programs(kind, 3).unwrap();
            if let Err(e) = run_weft(&system) {
                panic!("{kind:?}: {e:#}");
            }
        }
    }

    #[test]
    fn a_failing_guest_is_an_error_that_says_what_failed() {
        // The IPC parent with a child that exits instead of echoing: the parent's receive
        // finds the channel closed.
        let mut system = weft_programs(Kind::Ipc, 3).unwrap();
        system[1].1 = wat::parse_str(EXIT0).unwrap();
        let e = run_weft(&system).unwrap_err().to_string();
        assert!(
            e.contains("exited with status 13 (channel_recv failed)"),
            "{e}"
        );
    }
}
