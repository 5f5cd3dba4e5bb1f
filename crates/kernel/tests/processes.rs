//! Processes, scheduling, handles, channels and isolation, on a scripted test platform.
//!
//! Programs are small WAT modules using WASI and the native `weft` API directly, so each
//! test shows exactly which system calls it makes.

mod common;

use common::system;
use weft_kernel::KernelConfig;

#[test]
fn a_kernel_on_a_tier_the_engine_lacks_is_an_error() {
    let config = KernelConfig {
        strategy: weft_engine::Strategy::Jit,
        ..KernelConfig::default()
    };
    match common::bare_kernel(config) {
        Ok(kernel) => {
            // A build with the JIT on a host it supports runs on it.
            assert!(weft_engine::Strategy::jit_available());
            assert_eq!(kernel.strategy(), weft_engine::Strategy::Jit);
        }
        Err(e) => {
            assert!(!weft_engine::Strategy::jit_available());
            assert_eq!(e.errno, weft_kernel::Errno::NOTSUP, "{e}");
            assert!(e.message.contains("JIT"), "{e}");
        }
    }
}

/// WAT prelude: the system calls the test programs use, a 64 KiB memory, and `print`
/// (writes `len` bytes at `ptr` to stdout).
const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "weft" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "weft" "wait" (func $wait (param i32 i32 i32) (result i32)))
  (import "weft" "proc_pid" (func $proc_pid (param i32 i32) (result i32)))
  (import "weft" "handle_dup" (func $handle_dup (param i32 i32 i32) (result i32)))
  (import "weft" "kill" (func $kill (param i32) (result i32)))
  (import "weft" "channel_create" (func $channel_create (param i32 i32) (result i32)))
  (import "weft" "channel_send" (func $channel_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "weft" "channel_recv" (func $channel_recv (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
"#;

fn program(body: &str) -> String {
    format!("(module {PRELUDE} {body})")
}

#[test]
fn hello_and_exit_status() {
    let hello = program(
        r#"(data (i32.const 100) "hello\n")
           (func (export "_start") (call $print (i32.const 100) (i32.const 6)))"#,
    );
    let seven = program(r#"(func (export "_start") (call $proc_exit (i32.const 7)))"#);
    let mut s = system(
        &[("hello", &hello), ("seven", &seven)],
        KernelConfig::default(),
    );
    let a = s.spawn("hello", &[]);
    let b = s.spawn("seven", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.out(), "hello\n");
    assert_eq!(s.kernel.exit_status(a), Some(0));
    assert_eq!(s.kernel.exit_status(b), Some(7));
}

#[test]
fn a_looping_process_is_preempted_and_the_others_run() {
    // `spin` loops forever; `talk` prints three lines, yielding the processor between them
    // only by running out of fuel.
    let spin = program(r#"(func (export "_start") (loop $l (br $l)))"#);
    let talk = program(
        r#"(data (i32.const 100) "line\n")
           (func (export "_start") (local $i i32) (local $j i32)
             (loop $outer
               (call $print (i32.const 100) (i32.const 5))
               (local.set $j (i32.const 0))
               (loop $busy
                 (local.set $j (i32.add (local.get $j) (i32.const 1)))
                 (br_if $busy (i32.lt_u (local.get $j) (i32.const 100000))))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $outer (i32.lt_u (local.get $i) (i32.const 3)))))"#,
    );
    let mut config = KernelConfig {
        quantum: 10_000,
        ..KernelConfig::default()
    };
    config.limits.fuel = Some(5_000_000);
    let mut s = system(&[("spin", &spin), ("talk", &talk)], config);
    let spin = s.spawn("spin", &[]);
    let talk = s.spawn("talk", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.out(), "line\nline\nline\n");
    assert_eq!(s.kernel.exit_status(talk), Some(0));
    // The spinner ran until its fuel limit ended it.
    assert_eq!(s.kernel.exit_status(spin), Some(134));
    assert!(s.err().contains("fuel limit"), "{}", s.err());
}

#[test]
fn kill_ends_a_looping_child_and_wait_reports_it() {
    let spin = program(r#"(func (export "_start") (loop $l (br $l)))"#);
    // Spawns /bin/spin, yields by sleeping... simply kills it right away, waits, and
    // exits with the child's status.
    let parent = program(
        r#"(data (i32.const 100) "/bin/spin")
           (data (i32.const 120) "spin\00")
           (func (export "_start")
             (if (call $spawn (i32.const 100) (i32.const 9) (i32.const 120) (i32.const 5)
                              (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 200))
               (then unreachable))
             (if (call $kill (i32.load (i32.const 200))) (then unreachable))
             (if (call $wait (i32.load (i32.const 200)) (i32.const 0) (i32.const 208))
               (then unreachable))
             (call $proc_exit (i32.load (i32.const 208))))"#,
    );
    let mut s = system(
        &[("spin", &spin), ("parent", &parent)],
        KernelConfig::default(),
    );
    let p = s.spawn("parent", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.exit_status(p), Some(137));
}

#[test]
fn a_trap_or_memory_exhaustion_ends_only_that_process() {
    let trap = program(r#"(func (export "_start") unreachable)"#);
    // Grows memory until the limit refuses, then exits with the page count it reached.
    let hog = program(
        r#"(func (export "_start")
             (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
             (call $proc_exit (memory.size)))"#,
    );
    let hello = program(
        r#"(data (i32.const 100) "still here\n")
           (func (export "_start") (call $print (i32.const 100) (i32.const 11)))"#,
    );
    let mut config = KernelConfig::default();
    config.limits.memory_pages = 40;
    let mut s = system(&[("trap", &trap), ("hog", &hog), ("hello", &hello)], config);
    let t = s.spawn("trap", &[]);
    let h = s.spawn("hog", &[]);
    let ok = s.spawn("hello", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.exit_status(t), Some(134));
    assert!(s.err().contains("unreachable"), "{}", s.err());
    assert_eq!(s.kernel.exit_status(h), Some(40));
    assert_eq!(s.kernel.exit_status(ok), Some(0));
    assert_eq!(s.out(), "still here\n");
}

#[test]
fn handles_not_given_or_stale_fail_with_ebadf() {
    // fd 7 was never given; a forged handle with a generation; then a closed channel end
    // whose slot was reused must not name the new object.
    let probe = program(
        r#"(data (i32.const 100) "x")
           (func $w (param $fd i32) (result i32)
             (i32.store (i32.const 16) (i32.const 100))
             (i32.store (i32.const 20) (i32.const 1))
             (call $fd_write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24)))
           (func (export "_start") (local $old i32)
             (if (i32.ne (call $w (i32.const 7)) (i32.const 8)) (then unreachable))
             (if (i32.ne (call $w (i32.const 0x00100001)) (i32.const 8)) (then unreachable))
             (drop (call $channel_create (i32.const 40) (i32.const 44)))
             (local.set $old (i32.load (i32.const 40)))
             (drop (call $fd_close (local.get $old)))
             (drop (call $channel_create (i32.const 48) (i32.const 52)))
             ;; The new end reuses the slot, with a new generation.
             (if (i32.ne (i32.and (i32.load (i32.const 48)) (i32.const 0xfffff))
                         (i32.and (local.get $old) (i32.const 0xfffff))) (then unreachable))
             (if (i32.eq (i32.load (i32.const 48)) (local.get $old)) (then unreachable))
             (if (i32.ne (call $channel_send (local.get $old) (i32.const 100) (i32.const 1)
                                             (i32.const 0) (i32.const 0)) (i32.const 8))
               (then unreachable))
             (call $proc_exit (i32.const 0)))"#,
    );
    let mut s = system(&[("probe", &probe)], KernelConfig::default());
    let p = s.spawn("probe", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.exit_status(p), Some(0), "{}", s.err());
}

#[test]
fn messages_carry_bytes_and_handles_and_eof_follows_close() {
    // Sends "ping" with the other end of a second channel attached over channel A, receives
    // it on A's other end, then uses the received handle: writes "pong" through it and
    // reads it back from the second channel's first end. Closing the last handle to an end
    // makes a stream read on the other end return 0.
    let chat = program(
        r#"(data (i32.const 100) "ping")
           (data (i32.const 104) "pong")
           (func (export "_start") (local $a0 i32) (local $a1 i32) (local $b0 i32) (local $b1 i32)
             (drop (call $channel_create (i32.const 40) (i32.const 44)))
             (drop (call $channel_create (i32.const 48) (i32.const 52)))
             (local.set $a0 (i32.load (i32.const 40)))
             (local.set $a1 (i32.load (i32.const 44)))
             (local.set $b0 (i32.load (i32.const 48)))
             (local.set $b1 (i32.load (i32.const 52)))
             (i32.store (i32.const 56) (local.get $b1))
             (if (call $channel_send (local.get $a0) (i32.const 100) (i32.const 4) (i32.const 56) (i32.const 1))
               (then unreachable))
             ;; b1 moved into the message: it is gone from this table.
             (if (i32.ne (call $fd_close (local.get $b1)) (i32.const 8)) (then unreachable))
             ;; Too small a buffer: EMSGSIZE with the sizes needed, message kept.
             (if (i32.ne (call $channel_recv (local.get $a1) (i32.const 200) (i32.const 2) (i32.const 300)
                                             (i32.const 4) (i32.const 0) (i32.const 304) (i32.const 308))
                         (i32.const 35)) (then unreachable))
             (if (i32.ne (i32.load (i32.const 304)) (i32.const 4)) (then unreachable))
             (if (call $channel_recv (local.get $a1) (i32.const 200) (i32.const 16) (i32.const 300)
                                     (i32.const 4) (i32.const 0) (i32.const 304) (i32.const 308))
               (then unreachable))
             (if (i32.ne (i32.load (i32.const 308)) (i32.const 1)) (then unreachable))
             (if (i32.ne (i32.load (i32.const 200)) (i32.load (i32.const 100))) (then unreachable))
             ;; Write "pong" through the received handle, read it from b0 as a stream.
             (i32.store (i32.const 0) (i32.const 104))
             (i32.store (i32.const 4) (i32.const 4))
             (if (call $fd_write (i32.load (i32.const 300)) (i32.const 0) (i32.const 1) (i32.const 8))
               (then unreachable))
             (if (call $fd_close (i32.load (i32.const 300))) (then unreachable))
             (i32.store (i32.const 0) (i32.const 400))
             (i32.store (i32.const 4) (i32.const 16))
             (if (call $fd_read (local.get $b0) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
             (if (i32.ne (i32.load (i32.const 8)) (i32.const 4)) (then unreachable))
             (call $print (i32.const 400) (i32.const 4))
             ;; The writer is closed: end of stream.
             (if (call $fd_read (local.get $b0) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
             (if (i32.ne (i32.load (i32.const 8)) (i32.const 0)) (then unreachable))
             ;; Nonblocking receive on an empty channel: EAGAIN; send to a closed end: EPIPE.
             (if (i32.ne (call $channel_recv (local.get $a1) (i32.const 200) (i32.const 16) (i32.const 300)
                                             (i32.const 4) (i32.const 1) (i32.const 304) (i32.const 308))
                         (i32.const 6)) (then unreachable))
             (drop (call $fd_close (local.get $a1)))
             (if (i32.ne (call $channel_send (local.get $a0) (i32.const 100) (i32.const 4) (i32.const 0) (i32.const 0))
                         (i32.const 64)) (then unreachable)))"#,
    );
    let mut s = system(&[("chat", &chat)], KernelConfig::default());
    let p = s.spawn("chat", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.exit_status(p), Some(0), "{}", s.err());
    assert_eq!(s.out(), "pong");
}

/// Child of the load test: sends 10,000 messages `[id, seq]` on handle 3, then exits.
const SENDER: &str = r#"
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 64) (i32.const 0))
    (loop $l
      (i32.store (i32.const 68) (local.get $i))
      (if (call $channel_send (i32.const 3) (i32.const 64) (i32.const 8) (i32.const 0) (i32.const 0))
        (then unreachable))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10000)))))
"#;

/// Parent of the load test: spawns 100 senders, each with one end of its own channel as
/// handle 3, then receives from all of them in turn, checking that every message arrives
/// in order; exits 0 when all 1,000,000 arrived, 1 on a gap or reordering.
const COLLECTOR: &str = r#"
  (data (i32.const 1000) "/bin/sender")
  (data (i32.const 1020) "sender\00")
  (func (export "_start") (local $c i32) (local $got i32) (local $total i32)
    ;; Spawn: handles [NONE, 1, 2, child-end]; remember our end at 2000 + 4*c and the
    ;; child's process handle at 4000 + 4*c.
    (loop $spawn
      (drop (call $channel_create (i32.const 40) (i32.const 44)))
      (i32.store (i32.add (i32.const 2000) (i32.mul (local.get $c) (i32.const 4))) (i32.load (i32.const 40)))
      (i32.store (i32.const 80) (i32.const -1))
      (i32.store (i32.const 84) (i32.const 1))
      (i32.store (i32.const 88) (i32.const 2))
      (i32.store (i32.const 92) (i32.load (i32.const 44)))
      (if (call $spawn (i32.const 1000) (i32.const 11) (i32.const 1020) (i32.const 7)
                       (i32.const 0) (i32.const 0) (i32.const 80) (i32.const 4)
                       (i32.add (i32.const 4000) (i32.mul (local.get $c) (i32.const 4))))
        (then unreachable))
      ;; Close our copy of the child's end so its exit is visible.
      (drop (call $fd_close (i32.load (i32.const 44))))
      ;; Tag the child's id into its slot of the expected-sequence table at 3000.
      (i32.store (i32.add (i32.const 3000) (i32.mul (local.get $c) (i32.const 4))) (i32.const 0))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $spawn (i32.lt_u (local.get $c) (i32.const 100))))
    ;; Receive round-robin until every channel has delivered 10,000 messages.
    (loop $round
      (local.set $c (i32.const 0))
      (loop $each
        (if (i32.lt_u (i32.load (i32.add (i32.const 3000) (i32.mul (local.get $c) (i32.const 4))))
                      (i32.const 10000))
          (then
            (if (call $channel_recv (i32.load (i32.add (i32.const 2000) (i32.mul (local.get $c) (i32.const 4))))
                                    (i32.const 64) (i32.const 8) (i32.const 0) (i32.const 0) (i32.const 0)
                                    (i32.const 72) (i32.const 76))
              (then (call $proc_exit (i32.const 2))))
            (if (i32.ne (i32.load (i32.const 72)) (i32.const 8)) (then (call $proc_exit (i32.const 3))))
            (if (i32.ne (i32.load (i32.const 68))
                        (i32.load (i32.add (i32.const 3000) (i32.mul (local.get $c) (i32.const 4)))))
              (then (call $proc_exit (i32.const 1))))
            (i32.store (i32.add (i32.const 3000) (i32.mul (local.get $c) (i32.const 4)))
                       (i32.add (i32.load (i32.const 68)) (i32.const 1)))
            (local.set $total (i32.add (local.get $total) (i32.const 1)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $each (i32.lt_u (local.get $c) (i32.const 100))))
      (br_if $round (i32.lt_u (local.get $total) (i32.const 1000000))))
    ;; Wait for every child.
    (local.set $c (i32.const 0))
    (loop $reap
      (if (call $wait (i32.load (i32.add (i32.const 4000) (i32.mul (local.get $c) (i32.const 4))))
                      (i32.const 0) (i32.const 100))
        (then unreachable))
      (if (i32.load (i32.const 100)) (then (call $proc_exit (i32.const 4))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $reap (i32.lt_u (local.get $c) (i32.const 100))))
    (call $proc_exit (i32.const 0)))
"#;

#[test]
fn load_100_processes_10000_messages_each_none_lost_or_reordered() {
    let sender = program(SENDER);
    let collector = program(COLLECTOR);
    let mut s = system(
        &[("sender", &sender), ("collector", &collector)],
        KernelConfig::default(),
    );
    let p = s.spawn("collector", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.exit_status(p), Some(0), "{}", s.err());
}
