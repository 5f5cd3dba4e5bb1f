//! weft booted under QEMU: shell sessions over the serial console, exit statuses, the
//! fault report. `cargo xtask test` (or `cargo xtask test-metal`) builds the kernels and
//! runs these with `WEFT_X86_64_KERNEL` and `WEFT_X86_64_FAULT_KERNEL` naming them.
//!
//! Every step has a timeout, generous enough for TCG on a loaded machine (the boot
//! compiles init and the shell in the interpreter); nothing is timed except `sleep 1`,
//! which must take about a second, and the preemption test, which needs only that the
//! shell answers while a process spins.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use weft_x86_64_image::{
    Accel, BANNER, FAULT_STATUS, Firmware, Machine, PROMPT, Session, build_image, decode_status,
};

/// Boot to the first prompt.
const BOOT: Duration = Duration::from_secs(120);
/// One command.
const STEP: Duration = Duration::from_secs(60);

/// The image built from the kernel in environment variable `var`, once per test run.
fn image(var: &str, cell: &'static OnceLock<PathBuf>) -> PathBuf {
    cell.get_or_init(|| {
        let kernel = std::env::var_os(var).unwrap_or_else(|| {
            panic!("{var} is not set: run these tests with `cargo xtask test-metal`")
        });
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{var}.img"));
        build_image(&PathBuf::from(kernel), &out, firmware()).expect("the disk image builds");
        out
    })
    .clone()
}

fn kernel_image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    image("WEFT_X86_64_KERNEL", &IMAGE)
}

fn fault_image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    image("WEFT_X86_64_FAULT_KERNEL", &IMAGE)
}

/// The firmware the images are built for.
fn firmware() -> Firmware {
    Firmware::from_env()
}

/// KVM or TCG, decided once per test run (by a trial boot).
fn accel() -> Accel {
    static ACCEL: OnceLock<Accel> = OnceLock::new();
    *ACCEL.get_or_init(|| {
        let accel = Accel::detect(&kernel_image(), firmware());
        // Straight to stderr, past the test harness's capture, so every run's log says it.
        let _ = writeln!(
            std::io::stderr(),
            "the machines run under {accel}, {} firmware",
            firmware()
        );
        accel
    })
}

/// Boots `image` and waits for the shell's first prompt.
fn boot(image: PathBuf) -> Session {
    boot_with(image, "512M")
}

/// Boots `image` with `memory` of RAM and waits for the shell's first prompt.
fn boot_with(image: PathBuf, memory: &str) -> Session {
    let mut machine = Machine::new(&image, accel(), firmware());
    machine.memory = memory.to_string();
    boot_machine(&machine)
}

/// Boots `machine` and waits for the shell's first prompt.
fn boot_machine(machine: &Machine) -> Session {
    let mut session = Session::start(machine).expect("QEMU starts");
    let banner = session.expect(PROMPT, BOOT).expect("the shell prompts");
    assert!(banner.contains(BANNER), "{banner}");
    assert!(banner.contains("Welcome to weft"), "no motd: {banner}");
    session
}

/// Types `line` and returns what it printed.
fn run(session: &mut Session, line: &str) -> Vec<String> {
    session
        .run(line, STEP)
        .unwrap_or_else(|e| panic!("{line}: {e:#}"))
}

/// The words of `lines`.
fn words(lines: Vec<String>) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .map(str::to_string)
        .collect()
}

/// Ends the shell with `exit CODE` and returns what the machine passed on.
fn exit(mut session: Session, code: u8) -> Option<u8> {
    session
        .send(format!("exit {code}\r").as_bytes())
        .expect("typing exit");
    let status = session.wait(STEP).expect("the machine powers off");
    decode_status(status)
}

#[test]
fn pipeline_through_channels() {
    let mut s = boot(kernel_image());
    assert_eq!(run(&mut s, "echo hello | wc -c"), ["6"]);
    assert_eq!(run(&mut s, "echo one two three | wc -w"), ["3"]);
    assert_eq!(run(&mut s, "hello | cat | cat"), ["Hello from weft!"]);
    assert_eq!(exit(s, 0), Some(0));
}

#[test]
fn redirection_to_tmp_and_back() {
    let mut s = boot(kernel_image());
    assert!(run(&mut s, "echo first > /tmp/f").is_empty());
    assert!(run(&mut s, "echo second >> /tmp/f").is_empty());
    assert_eq!(run(&mut s, "cat < /tmp/f"), ["first", "second"]);
    assert_eq!(run(&mut s, "wc -l < /tmp/f"), ["2"]);
    assert!(run(&mut s, "cd /tmp").is_empty());
    assert_eq!(run(&mut s, "pwd"), ["/tmp"]);
    assert!(run(&mut s, "mkdir d").is_empty());
    // On a terminal, ls prints names in columns.
    assert_eq!(words(run(&mut s, "ls")), ["d", "f"]);
    assert!(run(&mut s, "rm f").is_empty());
    assert_eq!(words(run(&mut s, "ls")), ["d"]);
    assert_eq!(exit(s, 0), Some(0));
}

#[test]
fn exit_status_in_dollar_question_and_from_qemu() {
    let mut s = boot(kernel_image());
    assert!(run(&mut s, "false").is_empty());
    assert_eq!(run(&mut s, "echo $?"), ["1"]);
    assert!(run(&mut s, "true").is_empty());
    assert_eq!(run(&mut s, "echo $?"), ["0"]);
    assert_eq!(run(&mut s, "nosuch"), ["sh: nosuch: not found"]);
    assert_eq!(run(&mut s, "echo $?"), ["127"]);
    // init exits with the shell's status, and the machine passes it on to QEMU's.
    assert_eq!(exit(s, 3), Some(3));
}

#[test]
fn ps_while_a_child_sleeps_then_kill_it() {
    let mut s = boot(kernel_image());
    run(&mut s, "sleep 30 &");
    let ps = run(&mut s, "ps");
    assert!(ps.iter().any(|l| l.contains("PID")), "{ps:?}");
    let sleep = ps
        .iter()
        .find(|l| l.ends_with(" sleep"))
        .unwrap_or_else(|| panic!("no sleep in ps: {ps:?}"));
    assert!(sleep.contains("wait"), "{sleep}");
    for name in ["init", "sh", "ps"] {
        assert!(
            ps.iter().any(|l| l.ends_with(&format!(" {name}"))),
            "no {name} in {ps:?}"
        );
    }
    let started = Instant::now();
    run(&mut s, "kill $!");
    run(&mut s, "wait $!");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the sleeping child was not killed"
    );
    // Killed: 128 + 9.
    assert_eq!(
        run(&mut s, "echo $?").last().map(String::as_str),
        Some("137")
    );
    assert_eq!(exit(s, 0), Some(0));
}

#[test]
fn shared_library_gives_each_process_its_own_data() {
    let mut s = boot(kernel_image());
    run(&mut s, "libdemo a 3000 & libdemo b 5");
    run(&mut s, "wait");
    // The background one may finish after the prompt, so its line can follow a `$ `.
    let transcript = s.transcript();
    let line = |label: &str| {
        let start = format!("{label}: counter at ");
        transcript
            .lines()
            .find_map(|l| l.find(&start).map(|at| l[at..].to_string()))
            .unwrap_or_else(|| panic!("no line from libdemo {label}:\n{transcript}"))
    };
    let (a, b) = (line("a"), line("b"));
    assert!(a.ends_with(" = 3000"), "{a}");
    assert!(b.ends_with(" = 5"), "{b}");
    let addr = |l: &str| l.split_whitespace().nth(3).map(str::to_string);
    assert_eq!(
        addr(&a),
        addr(&b),
        "the library runs at one address in both"
    );
    assert_eq!(exit(s, 0), Some(0));
}

#[test]
fn a_spinning_process_is_preempted() {
    let mut s = boot(kernel_image());
    // Billions of rounds without a system call: minutes of work, so it is still spinning
    // while the shell and the other commands run; only fuel preemption lets them.
    run(&mut s, "spin 100000000000 &");
    assert_eq!(run(&mut s, "echo one two | wc -w"), ["2"]);
    let ps = run(&mut s, "ps");
    let spin = ps
        .iter()
        .find(|l| l.ends_with(" spin"))
        .unwrap_or_else(|| panic!("no spin in ps: {ps:?}"));
    assert!(spin.contains("run"), "{spin}");
    run(&mut s, "kill $!");
    run(&mut s, "wait $!");
    assert_eq!(
        run(&mut s, "echo $?").last().map(String::as_str),
        Some("137")
    );
    assert_eq!(exit(s, 0), Some(0));
}

#[test]
fn sleep_one_takes_about_a_second() {
    let mut s = boot(kernel_image());
    // Warm up: the first run of a program compiles it.
    run(&mut s, "sleep 0");
    let started = Instant::now();
    run(&mut s, "sleep 1");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(5),
        "sleep 1 took {took:?}"
    );
    assert_eq!(exit(s, 0), Some(0));
}

#[test]
fn ctrl_d_ends_the_shell_and_ctrl_c_the_machine() {
    // Ctrl-D on an empty line is end of input: the shell ends, then init, with status 0.
    let mut s = boot(kernel_image());
    s.send(b"\x04").expect("typing Ctrl-D");
    s.expect("weft: init exited with status 0", STEP)
        .expect("init exits");
    assert_eq!(decode_status(s.wait(STEP).expect("powers off")), Some(0));
    // Ctrl-C stops the machine as it stops a hosted weft: status 130, passed on as 126.
    let mut s = boot(kernel_image());
    s.send(b"\x03").expect("typing Ctrl-C");
    s.expect("weft: interrupted (status 130)", STEP)
        .expect("the machine says why it stops");
    assert_eq!(decode_status(s.wait(STEP).expect("powers off")), Some(126));
}

#[test]
fn without_rdrand_random_numbers_come_from_a_seeded_generator() {
    // QEMU's qemu64 model has no RDRAND (under TCG; a KVM host CPU may, so this runs the
    // emulator either way).
    let mut machine = Machine::new(&kernel_image(), Accel::Tcg, firmware());
    machine.cpu = Some("qemu64".to_string());
    let mut s = boot_machine(&machine);
    let banner = s.transcript();
    assert!(
        banner.contains("this CPU has no RDRAND") && banner.contains("weak seed"),
        "{banner}"
    );
    assert_eq!(run(&mut s, "echo one two | wc -w"), ["2"]);
    assert_eq!(exit(s, 0), Some(0));
}

#[test]
fn the_heap_is_all_of_ram() {
    for (memory, least, most) in [("128M", 100, 128), ("2G", 1900, 2048)] {
        let mut s = boot_with(kernel_image(), memory);
        let banner = s.transcript();
        let mib: u64 = banner
            .split("x86_64, ")
            .nth(1)
            .and_then(|rest| rest.split(" MiB").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no heap size in {banner}"));
        assert!((least..=most).contains(&mib), "{memory}: {mib} MiB of heap");
        assert_eq!(run(&mut s, "echo one two | wc -w"), ["2"], "{memory}");
        assert_eq!(exit(s, 0), Some(0), "{memory}");
    }
}

#[test]
fn a_process_that_wants_more_than_ram_fails_and_the_kernel_goes_on() {
    // sort holds all of its input; yes never ends, so sort asks for memory until none is
    // left: its memory.grow fails, it says so and exits 2, and the kernel, which keeps a
    // reserve that no process may take, runs the next command.
    let mut s = boot_with(kernel_image(), "128M");
    let line = "0123456789".repeat(10);
    let out = run(&mut s, &format!("yes {line} | sort; echo status $?"));
    assert!(
        out.iter()
            .any(|l| l.contains("sort: not enough memory to hold the input")),
        "{out:?}"
    );
    assert_eq!(out.last().map(String::as_str), Some("status 2"), "{out:?}");
    assert_eq!(run(&mut s, "echo one two | wc -w"), ["2"]);
    assert_eq!(exit(s, 0), Some(0));
}

/// The CPU time (user + system, in clock ticks) process `pid` has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("QEMU's stat");
    // Fields after the command name (which is in parentheses): state is the 3rd field,
    // utime the 14th and stime the 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
}

#[test]
fn an_idle_machine_takes_no_host_cpu() {
    let mut s = boot(kernel_image());
    s.send(b"sleep 8\r").expect("typing the command");
    s.expect("sleep 8\r\n", STEP).expect("the echo");
    std::thread::sleep(Duration::from_secs(1));
    let (before, started) = (cpu_ticks(s.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(4));
    let used = cpu_ticks(s.pid()) - before;
    // `hlt` with a one-shot timer: a few wake-ups a second, not a busy loop (which would
    // be about 100 ticks a second).
    let per_second = used as f64 / started.elapsed().as_secs_f64();
    assert!(
        per_second < 30.0,
        "QEMU used {per_second:.1} ticks/s while weft slept"
    );
    s.expect(PROMPT, STEP).expect("the prompt after sleep");
    assert_eq!(exit(s, 0), Some(0));
}

#[test]
fn a_kernel_fault_is_reported_and_fails_the_machine() {
    let mut s = boot(fault_image());
    // Ctrl-\ is the test build's fault trigger: a read of the unmapped address 0x8.
    s.send(b"\x1c").expect("typing the trigger");
    let report = s
        .expect("weft: powering off after the fault", STEP)
        .expect("a fault report");
    assert!(
        report.contains("kernel fault: page fault (vector 14"),
        "{report}"
    );
    assert!(report.contains("cr2 0x0000000000000008"), "{report}");
    assert!(report.contains("return addresses:"), "{report}");
    let status = s.wait(STEP).expect("the machine powers off");
    assert_eq!(decode_status(status), Some(FAULT_STATUS), "{status}");
}
