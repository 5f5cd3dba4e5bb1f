//! The hosted platform's console, clocks and random numbers.
//!
//! Console tests run this test binary again as a child (`WEFT_HOSTED_CHILD` selects what
//! it does), so that its standard streams are real pipes the test controls.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weft_hosted::HostedPlatform;
use weft_kernel::platform::{ConsoleStream, Platform};

const CHILD: &str = "WEFT_HOSTED_CHILD";

/// Runs the test `name` of this binary as a child with `input` on its standard input.
fn run_child(name: &str, mode: &str, input: &[u8]) -> std::process::Output {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        // Slowly, so that the child sees input arrive in pieces.
        for piece in input.chunks(100_000) {
            stdin.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// The child's side: copies console input to console output, the way the kernel drives
/// the platform (non-blocking reads, waiting in between), then reports on stderr.
fn echo_console() {
    let mut p = HostedPlatform::new(vec![]).unwrap();
    let mut buf = [0u8; 4096];
    let mut total = 0usize;
    let mut waits = 0usize;
    loop {
        match p.console_read(&mut buf) {
            Some(0) => break,
            Some(n) => {
                total += n;
                p.console_write(ConsoleStream::Out, &buf[..n]);
            }
            None => {
                waits += 1;
                let deadline = p.monotonic_ns() + 1_000_000_000;
                p.wait(Some(deadline), true);
            }
        }
    }
    // Input stays ended.
    assert_eq!(p.console_read(&mut buf), Some(0));
    p.wait(None, true);
    let report = format!("read {total} bytes, waited {waits} times\n");
    p.console_write(ConsoleStream::Err, report.as_bytes());
}

#[test]
fn console_copies_input_to_output() {
    if std::env::var(CHILD).as_deref() == Ok("echo") {
        echo_console();
        return;
    }
    let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let out = run_child("console_copies_input_to_output", "echo", &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child's stdout also carries the test harness's own lines; the copy is the
    // part between them.
    let start = out
        .stdout
        .windows(input.len())
        .position(|w| w == input)
        .expect("all input copied, in order");
    assert!(start < 200);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("read 300000 bytes"), "{stderr}");
}

#[test]
fn console_end_of_empty_input() {
    if std::env::var(CHILD).as_deref() == Ok("empty") {
        echo_console();
        return;
    }
    let out = run_child("console_end_of_empty_input", "empty", b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("read 0 bytes"));
}

#[test]
fn console_not_a_terminal_in_tests() {
    let p = HostedPlatform::new(vec![]).unwrap();
    use std::io::IsTerminal;
    assert_eq!(p.console_is_terminal(), std::io::stdin().is_terminal());
}

#[test]
fn clocks_and_waiting() {
    let mut p = HostedPlatform::new(vec![]).unwrap();
    let t0 = p.monotonic_ns();
    // Neither a deadline nor console: returns at once.
    let started = Instant::now();
    p.wait(None, false);
    assert!(started.elapsed() < Duration::from_millis(100));
    // A deadline: sleeps until it.
    p.wait(Some(t0 + 20_000_000), false);
    let t1 = p.monotonic_ns();
    assert!(t1 >= t0 + 20_000_000, "{t0} {t1}");
    // A deadline in the past: returns at once.
    let started = Instant::now();
    p.wait(Some(0), false);
    assert!(started.elapsed() < Duration::from_millis(100));

    let wall = p.wall_clock_ns();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(now.abs_diff(wall) < 5_000_000_000);
}

#[test]
fn random_bytes() {
    let mut p = HostedPlatform::new(vec![]).unwrap();
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    p.random(&mut a);
    p.random(&mut b);
    assert_ne!(a, b);
    assert_ne!(a, [0; 32]);
    p.random(&mut []);
}
