//! Process handles, the lifetime of kernel objects, and fault containment under load.
//!
//! - `kill` and `wait` act only through a process handle; handles travel over channels and
//!   carry rights; closing one does not end the process.
//! - No kernel object outlives every way to reach it: a channel's ends may not travel
//!   through it, cycles of ends in flight are collected, long chains are freed without
//!   recursion, and [`weft_kernel::Kernel::stats`] returns to zero afterwards.
//! - 1,000 processes, 40% of them misbehaving, leave the other 60% unharmed.

mod common;

use common::system;
use weft_kernel::{KernelConfig, KernelStats};

/// The system calls the programs use, a 64 KiB memory, and `$send`/`$recv` shorthands.
const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "weft" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "weft" "wait" (func $wait (param i32 i32 i32) (result i32)))
  (import "weft" "kill" (func $kill (param i32) (result i32)))
  (import "weft" "proc_pid" (func $proc_pid (param i32 i32) (result i32)))
  (import "weft" "proc_list" (func $proc_list (param i32 i32 i32) (result i32)))
  (import "weft" "handle_dup" (func $handle_dup (param i32 i32 i32) (result i32)))
  (import "weft" "channel_create" (func $channel_create (param i32 i32) (result i32)))
  (import "weft" "channel_send" (func $channel_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "weft" "channel_recv" (func $channel_recv (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; Sends `len` bytes at 512 with `n` handles from 768 on `h`.
  (func $send (param $h i32) (param $len i32) (param $n i32) (result i32)
    (call $channel_send (local.get $h) (i32.const 512) (local.get $len) (i32.const 768) (local.get $n)))
  ;; Receives (waiting) on `h`: bytes to 512 (up to 256), handles to 768 (up to 16).
  (func $recv (param $h i32) (result i32)
    (call $channel_recv (local.get $h) (i32.const 512) (i32.const 256) (i32.const 768) (i32.const 16)
                        (i32.const 0) (i32.const 1024) (i32.const 1028)))
  ;; Ends the process with `code` unless `got` is `want`.
  (func $expect (param $got i32) (param $want i32) (param $code i32)
    (if (i32.ne (local.get $got) (local.get $want)) (then (call $proc_exit (local.get $code)))))
"#;

fn program(body: &str) -> String {
    format!("(module {PRELUDE} {body})")
}

/// Loops forever.
const SPIN: &str = r#"(func (export "_start") (loop $l (br $l)))"#;
/// Does nothing: started first, it is pid 1, so that the programs under test are not
/// init (whose end ends its descendants).
const TRUE: &str = r#"(func (export "_start"))"#;

/// Spawns the program whose NUL-terminated path `/bin/NAME` is at 256 (`len` bytes without
/// the NUL) with no stdin, our stdout and stderr, and `extra` more handles from 780;
/// returns its handle (also left at 1040).
const SPAWN_HELPER: &str = r#"
  (func $start (param $len i32) (param $extra i32) (result i32)
    (i32.store (i32.const 768) (i32.const -1))
    (i32.store (i32.const 772) (i32.const 1))
    (i32.store (i32.const 776) (i32.const 2))
    (call $expect
      (call $spawn (i32.const 256) (local.get $len) (i32.const 261) (i32.sub (local.get $len) (i32.const 4))
                   (i32.const 0) (i32.const 0) (i32.const 768) (i32.add (i32.const 3) (local.get $extra))
                   (i32.const 1040))
      (i32.const 0) (i32.const 90))
    (i32.load (i32.const 1040)))
"#;

fn empty_stats() -> KernelStats {
    KernelStats::default()
}

/// The default configuration with a fuel limit, so that a failing test ends instead of
/// leaving a spinner running.
fn config() -> KernelConfig {
    let mut config = KernelConfig {
        quantum: 10_000,
        ..KernelConfig::default()
    };
    config.limits.fuel = Some(20_000_000);
    config
}

#[test]
fn kill_and_wait_need_a_handle_to_the_process() {
    // `probe` has no handle to the spinner its parent started: whatever number it tries
    // (its stdio, free slots, the spinner's pid, forged generations) names no process.
    let probe = program(
        r#"(func (export "_start") (local $h i32)
             (loop $each
               (call $expect (call $kill (local.get $h)) (i32.const 8) (i32.const 1))
               (call $expect (call $wait (local.get $h) (i32.const 0) (i32.const 0)) (i32.const 8) (i32.const 2))
               (local.set $h (i32.add (local.get $h) (i32.const 1)))
               (br_if $each (i32.lt_u (local.get $h) (i32.const 16))))
             (call $expect (call $kill (i32.const 0x00100003)) (i32.const 8) (i32.const 3))
             (call $expect (call $kill (i32.const -1)) (i32.const 8) (i32.const 4)))"#,
    );
    // The parent starts the spinner, then the probe; the spinner survives the probe, then
    // the parent ends it through its handle.
    let parent = program(&format!(
        r#"{SPAWN_HELPER}
           (data (i32.const 256) "/bin/spin\00")
           (data (i32.const 300) "/bin/probe\00")
           (func (export "_start") (local $spin i32) (local $probe i32)
             (local.set $spin (call $start (i32.const 9) (i32.const 0)))
             (memory.copy (i32.const 256) (i32.const 300) (i32.const 11))
             (local.set $probe (call $start (i32.const 10) (i32.const 0)))
             (call $expect (call $wait (local.get $probe) (i32.const 0) (i32.const 1044)) (i32.const 0) (i32.const 10))
             ;; The probe's own failure, if any, shows as 100 + its code.
             (call $expect (i32.load (i32.const 1044)) (i32.const 0)
                           (i32.add (i32.const 100) (i32.load (i32.const 1044))))
             ;; Still running.
             (call $expect (call $wait (local.get $spin) (i32.const 1) (i32.const 1044)) (i32.const 6) (i32.const 12))
             ;; A process handle is no stream (it has no WRITE right), and a stream is no
             ;; process.
             (i32.store (i32.const 0) (i32.const 512))
             (i32.store (i32.const 4) (i32.const 1))
             (call $expect (call $fd_write (local.get $spin) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 76) (i32.const 13))
             (call $expect (call $kill (i32.const 1)) (i32.const 8) (i32.const 14))
             (call $expect (call $kill (local.get $spin)) (i32.const 0) (i32.const 15))
             (call $expect (call $wait (local.get $spin) (i32.const 0) (i32.const 1044)) (i32.const 0) (i32.const 16))
             (call $expect (i32.load (i32.const 1044)) (i32.const 137) (i32.const 17))
             ;; The status stays readable while the handle is held; killing again: ESRCH.
             (call $expect (call $wait (local.get $spin) (i32.const 1) (i32.const 1044)) (i32.const 0) (i32.const 18))
             (call $expect (call $kill (local.get $spin)) (i32.const 71) (i32.const 19)))"#
    ));
    let mut s = system(
        &[
            ("true", TRUE),
            ("spin", &program(SPIN)),
            ("probe", &probe),
            ("parent", &parent),
        ],
        config(),
    );
    let before = s.kernel.stats();
    let init = s.spawn("true", &[]);
    let p = s.spawn("parent", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.exit_status(p), Some(0), "{}", s.err());
    assert_eq!(s.kernel.release(p), Some(0));
    assert_eq!(s.kernel.release(init), Some(0));
    assert_eq!(s.kernel.stats(), before);
}

#[test]
fn a_process_handle_sent_over_a_channel_works_within_its_rights() {
    // `killer` receives two handles to the spinner on handle 3: one with READ and
    // TRANSFER only, then one with every right.
    let killer = program(
        r#"(func (export "_start") (local $ro i32) (local $full i32)
             (call $expect (call $recv (i32.const 3)) (i32.const 0) (i32.const 1))
             (call $expect (i32.load (i32.const 1028)) (i32.const 2) (i32.const 2))
             (local.set $ro (i32.load (i32.const 768)))
             (local.set $full (i32.load (i32.const 772)))
             (call $expect (call $proc_pid (local.get $ro) (i32.const 1044)) (i32.const 0) (i32.const 3))
             (call $expect (call $proc_pid (local.get $full) (i32.const 1048)) (i32.const 0) (i32.const 4))
             (call $expect (i32.load (i32.const 1044)) (i32.load (i32.const 1048)) (i32.const 5))
             (call $expect (i32.load (i32.const 1044)) (i32.load (i32.const 512)) (i32.const 6))
             (call $expect (call $kill (local.get $ro)) (i32.const 76) (i32.const 7))
             (call $expect (call $wait (local.get $ro) (i32.const 1) (i32.const 1044)) (i32.const 6) (i32.const 8))
             ;; Rights only shrink.
             (call $expect (call $handle_dup (local.get $ro) (i32.const 13) (i32.const 1044)) (i32.const 76) (i32.const 9))
             (call $expect (call $handle_dup (local.get $ro) (i32.const 16) (i32.const 1044)) (i32.const 28) (i32.const 10))
             (call $expect (call $kill (local.get $full)) (i32.const 0) (i32.const 11))
             (call $expect (call $wait (local.get $ro) (i32.const 0) (i32.const 1044)) (i32.const 0) (i32.const 12))
             (call $proc_exit (i32.load (i32.const 1044))))"#,
    );
    let parent = program(&format!(
        r#"{SPAWN_HELPER}
           (data (i32.const 256) "/bin/spin\00")
           (data (i32.const 300) "/bin/killer\00")
           (func (export "_start") (local $spin i32) (local $killer i32) (local $a i32) (local $b i32)
             (local.set $spin (call $start (i32.const 9) (i32.const 0)))
             (drop (call $channel_create (i32.const 1056) (i32.const 1060)))
             (local.set $a (i32.load (i32.const 1056)))
             (local.set $b (i32.load (i32.const 1060)))
             (memory.copy (i32.const 256) (i32.const 300) (i32.const 12))
             (i32.store (i32.const 780) (local.get $b))
             (local.set $killer (call $start (i32.const 11) (i32.const 1)))
             ;; The message: the spinner's pid, a READ|TRANSFER handle and a full one.
             (call $expect (call $proc_pid (local.get $spin) (i32.const 512)) (i32.const 0) (i32.const 20))
             (call $expect (call $handle_dup (local.get $spin) (i32.const 5) (i32.const 768)) (i32.const 0) (i32.const 21))
             (call $expect (call $handle_dup (local.get $spin) (i32.const 13) (i32.const 772)) (i32.const 0) (i32.const 22))
             ;; Without TRANSFER a handle cannot travel.
             (call $expect (call $handle_dup (local.get $spin) (i32.const 1) (i32.const 1064)) (i32.const 0) (i32.const 23))
             (i32.store (i32.const 776) (i32.load (i32.const 1064)))
             (call $expect (call $channel_send (local.get $a) (i32.const 512) (i32.const 4) (i32.const 776) (i32.const 1))
                           (i32.const 76) (i32.const 24))
             (call $expect (call $send (local.get $a) (i32.const 4) (i32.const 2)) (i32.const 0) (i32.const 25))
             (call $expect (call $wait (local.get $killer) (i32.const 0) (i32.const 1044)) (i32.const 0) (i32.const 26))
             (call $expect (i32.load (i32.const 1044)) (i32.const 137) (i32.const 27))
             ;; Our own handle sees the same end.
             (call $expect (call $wait (local.get $spin) (i32.const 0) (i32.const 1044)) (i32.const 0) (i32.const 28))
             (call $expect (i32.load (i32.const 1044)) (i32.const 137) (i32.const 29)))"#
    ));
    let mut s = system(
        &[
            ("true", TRUE),
            ("spin", &program(SPIN)),
            ("killer", &killer),
            ("parent", &parent),
        ],
        config(),
    );
    let before = s.kernel.stats();
    let init = s.spawn("true", &[]);
    let p = s.spawn("parent", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.exit_status(p), Some(0), "{}", s.err());
    s.kernel.release(p);
    s.kernel.release(init);
    assert_eq!(s.kernel.stats(), before);
}

#[test]
fn closing_a_process_handle_does_not_end_the_process() {
    // `late` works a while, then prints; its parent closes the handle to it at once, checks
    // that `ps` still lists it, and exits first.
    let late = program(
        r#"(data (i32.const 512) "late\n")
           (func (export "_start") (local $i i32)
             (loop $busy
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $busy (i32.lt_u (local.get $i) (i32.const 300000))))
             (i32.store (i32.const 0) (i32.const 512))
             (i32.store (i32.const 4) (i32.const 5))
             (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))"#,
    );
    let parent = program(&format!(
        r#"{SPAWN_HELPER}
           (data (i32.const 256) "/bin/late\00")
           (func (export "_start") (local $late i32)
             (local.set $late (call $start (i32.const 9) (i32.const 0)))
             (call $expect (call $fd_close (local.get $late)) (i32.const 0) (i32.const 1))
             (call $expect (call $kill (local.get $late)) (i32.const 8) (i32.const 2))
             ;; true (pid 1), us and late.
             (call $expect (call $proc_list (i32.const 2048) (i32.const 4096) (i32.const 1044)) (i32.const 0) (i32.const 3))
             (call $expect (i32.load (i32.const 1044)) (i32.const 3) (i32.const 4)))"#
    ));
    let mut config = KernelConfig {
        quantum: 10_000,
        ..KernelConfig::default()
    };
    config.limits.fuel = Some(50_000_000);
    let mut s = system(
        &[("true", TRUE), ("late", &late), ("parent", &parent)],
        config,
    );
    let before = s.kernel.stats();
    // The parent is not init, whose end would end `late` too.
    let init = s.spawn("true", &[]);
    let p = s.spawn("parent", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.exit_status(p), Some(0), "{}", s.err());
    assert_eq!(s.out(), "late\n");
    s.kernel.release(p);
    s.kernel.release(init);
    assert_eq!(s.kernel.stats(), before);
}

#[test]
fn when_init_ends_its_descendants_end() {
    // pid 1 starts a spinner and exits without waiting: nothing could end the spinner any
    // more, so the kernel does.
    let init = program(&format!(
        r#"{SPAWN_HELPER}
           (data (i32.const 256) "/bin/spin\00")
           (func (export "_start") (drop (call $start (i32.const 9) (i32.const 0))))"#
    ));
    let mut s = system(&[("spin", &program(SPIN)), ("init", &init)], config());
    let before = s.kernel.stats();
    let p = s.spawn("init", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.release(p), Some(0));
    assert_eq!(s.kernel.stats(), before);
}

#[test]
fn a_channel_end_may_not_travel_through_its_own_channel() {
    let p = program(
        r#"(func (export "_start") (local $a i32) (local $b i32)
             (drop (call $channel_create (i32.const 1056) (i32.const 1060)))
             (local.set $a (i32.load (i32.const 1056)))
             (local.set $b (i32.load (i32.const 1060)))
             (i32.store (i32.const 768) (local.get $b))
             (call $expect (call $send (local.get $a) (i32.const 1) (i32.const 1)) (i32.const 28) (i32.const 1))
             (i32.store (i32.const 768) (local.get $a))
             (call $expect (call $send (local.get $a) (i32.const 1) (i32.const 1)) (i32.const 28) (i32.const 2))
             ;; Nothing moved.
             (call $expect (call $fd_close (local.get $a)) (i32.const 0) (i32.const 3))
             (call $expect (call $fd_close (local.get $b)) (i32.const 0) (i32.const 4)))"#,
    );
    let mut s = system(&[("p", &p)], KernelConfig::default());
    let pid = s.spawn("p", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.release(pid), Some(0), "{}", s.err());
    assert_eq!(s.kernel.stats(), empty_stats());
}

/// Builds the cycle: channels (a, b) and (c, d); `d` goes to `b`'s queue, then `b` to
/// `d`'s; returns `a` and `c`. With `child_len` > 0 it first starts the program named at
/// 256 with a copy of `b` as its handle 3.
const CYCLE: &str = r#"
  (func $cycle (param $child_len i32) (result i32 i32) (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (drop (call $channel_create (i32.const 1056) (i32.const 1060)))
    (drop (call $channel_create (i32.const 1064) (i32.const 1068)))
    (local.set $a (i32.load (i32.const 1056)))
    (local.set $b (i32.load (i32.const 1060)))
    (local.set $c (i32.load (i32.const 1064)))
    (local.set $d (i32.load (i32.const 1068)))
    (if (local.get $child_len)
      (then
        (i32.store (i32.const 780) (local.get $b))
        (drop (call $start (local.get $child_len) (i32.const 1)))))
    (i32.store (i32.const 768) (local.get $d))
    (call $expect (call $send (local.get $a) (i32.const 1) (i32.const 1)) (i32.const 0) (i32.const 40))
    (i32.store (i32.const 768) (local.get $b))
    (call $expect (call $send (local.get $c) (i32.const 1) (i32.const 1)) (i32.const 0) (i32.const 41))
    (local.get $a) (local.get $c))
"#;

#[test]
fn a_cycle_of_ends_in_flight_is_freed_and_the_peers_see_end_of_stream() {
    let p = program(&format!(
        r#"{SPAWN_HELPER} {CYCLE}
           (func (export "_start") (local $a i32) (local $c i32)
             (call $cycle (i32.const 0))
             (local.set $c) (local.set $a)
             ;; b and d are unreachable: the collector closes them.
             (call $expect (call $recv (local.get $a)) (i32.const 64) (i32.const 1))
             (i32.store (i32.const 0) (i32.const 512))
             (i32.store (i32.const 4) (i32.const 16))
             (call $expect (call $fd_read (local.get $c) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 0) (i32.const 2))
             (call $expect (i32.load (i32.const 8)) (i32.const 0) (i32.const 3)))"#
    ));
    let mut s = system(&[("p", &p)], KernelConfig::default());
    let pid = s.spawn("p", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.release(pid), Some(0), "{}", s.err());
    assert_eq!(s.kernel.stats(), empty_stats());
}

#[test]
fn a_cycle_reachable_from_a_child_goes_when_the_child_closes_or_ends() {
    // The child holds `b` (so the cycle is reachable) and either closes it and spins, or
    // ends after a while; either way the parent's receive on `a` then sees end of stream.
    let closer = program(
        r#"(func (export "_start")
             (call $expect (call $fd_close (i32.const 3)) (i32.const 0) (i32.const 1))
             (loop $l (br $l)))"#,
    );
    let ender = program(
        r#"(func (export "_start") (local $i i32)
             (loop $busy
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $busy (i32.lt_u (local.get $i) (i32.const 100000)))))"#,
    );
    for child in ["closer", "ender"] {
        let p = program(&format!(
            r#"{SPAWN_HELPER} {CYCLE}
               (data (i32.const 256) "/bin/{child}\00")
               (func (export "_start") (local $a i32) (local $c i32)
                 (call $cycle (i32.const {len}))
                 (local.set $c) (local.set $a)
                 (call $expect (call $recv (local.get $a)) (i32.const 64) (i32.const 1))
                 ;; The child's handle (the cycle kept it in slot 1040).
                 (drop (call $kill (i32.load (i32.const 1040)))))"#,
            len = child.len() + 5
        ));
        let mut config = KernelConfig {
            quantum: 10_000,
            ..KernelConfig::default()
        };
        config.limits.fuel = Some(20_000_000);
        let code = if child == "closer" { &closer } else { &ender };
        let mut s = system(&[("true", TRUE), (child, code), ("p", &p)], config);
        let init = s.spawn("true", &[]);
        let pid = s.spawn("p", &[]);
        s.kernel.run().unwrap();
        assert_eq!(s.kernel.release(pid), Some(0), "{child}: {}", s.err());
        s.kernel.release(init);
        assert_eq!(s.kernel.stats(), empty_stats(), "{child}");
    }
}

#[test]
fn a_long_chain_of_nested_ends_is_freed_without_recursion() {
    // Each new channel's second end gets the previous chain in its queue: 20,000 ends,
    // each reachable only through the next. Closing the last frees them all, without
    // recursing 20,000 deep on the host stack.
    let p = program(
        r#"(func (export "_start") (local $head i32) (local $i i32) (local $a i32)
             (drop (call $channel_create (i32.const 1056) (i32.const 1060)))
             (drop (call $fd_close (i32.load (i32.const 1056))))
             (local.set $head (i32.load (i32.const 1060)))
             (loop $grow
               (call $expect (call $channel_create (i32.const 1056) (i32.const 1060)) (i32.const 0) (i32.const 1))
               (local.set $a (i32.load (i32.const 1056)))
               (i32.store (i32.const 768) (local.get $head))
               (call $expect (call $send (local.get $a) (i32.const 0) (i32.const 1)) (i32.const 0) (i32.const 2))
               (drop (call $fd_close (local.get $a)))
               (local.set $head (i32.load (i32.const 1060)))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $grow (i32.lt_u (local.get $i) (i32.const 20000))))
             (call $expect (call $fd_close (local.get $head)) (i32.const 0) (i32.const 3)))"#,
    );
    let mut s = system(&[("p", &p)], KernelConfig::default());
    let pid = s.spawn("p", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.release(pid), Some(0), "{}", s.err());
    assert_eq!(s.kernel.stats(), empty_stats());
}

#[test]
fn channels_are_limited() {
    let p = program(
        r#"(func (export "_start") (local $i i32)
             (loop $l
               (call $expect (call $channel_create (i32.const 1056) (i32.const 1060)) (i32.const 0) (i32.const 1))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
             (call $expect (call $channel_create (i32.const 1056) (i32.const 1060)) (i32.const 48) (i32.const 2)))"#,
    );
    let config = KernelConfig {
        max_channels: 10,
        ..KernelConfig::default()
    };
    let mut s = system(&[("p", &p)], config);
    let pid = s.spawn("p", &[]);
    s.kernel.run().unwrap();
    assert_eq!(s.kernel.release(pid), Some(0), "{}", s.err());
    assert_eq!(s.kernel.stats(), empty_stats());
}

/// The load test's work: a worker sums 0, 1, ..., 4(n + 1) - 1 in a loop; the driver
/// checks the answer with the closed form (`$expected`).
const SUM: &str = r#"
  (func $sum (param $n i32) (result i32) (local $k i32) (local $sum i32) (local $m i32)
    (local.set $m (i32.mul (i32.add (local.get $n) (i32.const 1)) (i32.const 4)))
    (loop $l
      (local.set $sum (i32.add (local.get $sum) (local.get $k)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (local.get $m))))
    (local.get $sum))
"#;

/// The driver of the load test: starts 1,000 processes; the kinds repeat every ten: six
/// workers (each gets a number over a channel and must answer its `$sum`), then one that
/// traps, one that spins, one that grows its memory past the limit, one that floods a
/// channel nobody reads. Checks every worker's answer and status and the faults'
/// statuses, sleeps until a deadline, then kills the spinners and flooders. Exits with a
/// code naming the first check that failed.
const DRIVER: &str = r#"
  (data (i32.const 2048) "/bin/worker\00")
  (data (i32.const 2080) "/bin/trapper\00")
  (data (i32.const 2112) "/bin/spinner\00")
  (data (i32.const 2144) "/bin/hog\00")
  (data (i32.const 2176) "/bin/flooder\00")
  (data (i32.const 2240) "\0b\00\00\00\0c\00\00\00\0c\00\00\00\08\00\00\00\0c\00\00\00")
  (func $expected (param $n i32) (result i32) (local $m i32)
    (local.set $m (i32.mul (i32.add (local.get $n) (i32.const 1)) (i32.const 4)))
    (i32.div_u (i32.mul (local.get $m) (i32.sub (local.get $m) (i32.const 1))) (i32.const 2)))
  (func $kind (param $i i32) (result i32) (local $k i32)
    (local.set $k (i32.rem_u (local.get $i) (i32.const 10)))
    (if (result i32) (i32.lt_u (local.get $k) (i32.const 6))
      (then (i32.const 0))
      (else (i32.sub (local.get $k) (i32.const 5)))))
  ;; Process handles at 4096 + 4i, our channel ends at 8192 + 4i.
  (func $proc (param $i i32) (result i32)
    (i32.load (i32.add (i32.const 4096) (i32.shl (local.get $i) (i32.const 2)))))
  (func $chan (param $i i32) (result i32)
    (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $i) (i32.const 2)))))
  (func $status (param $i i32) (param $flags i32) (param $want i32) (param $code i32)
    (call $expect (call $wait (call $proc (local.get $i)) (local.get $flags) (i32.const 1044))
                  (i32.const 0) (local.get $code))
    (call $expect (i32.load (i32.const 1044)) (local.get $want) (i32.add (local.get $code) (i32.const 1))))
  (func (export "_start") (local $i i32) (local $k i32) (local $extra i32)
    (loop $spawn
      (local.set $k (call $kind (local.get $i)))
      (memory.copy (i32.const 256) (i32.add (i32.const 2048) (i32.shl (local.get $k) (i32.const 5))) (i32.const 32))
      (local.set $extra (i32.const 0))
      (if (i32.or (i32.eqz (local.get $k)) (i32.eq (local.get $k) (i32.const 4)))
        (then
          (call $expect (call $channel_create (i32.const 1056) (i32.const 1060)) (i32.const 0) (i32.const 1))
          (i32.store (i32.add (i32.const 8192) (i32.shl (local.get $i) (i32.const 2))) (i32.load (i32.const 1056)))
          (i32.store (i32.const 780) (i32.load (i32.const 1060)))
          (local.set $extra (i32.const 1))))
      (i32.store (i32.add (i32.const 4096) (i32.shl (local.get $i) (i32.const 2)))
                 (call $start (i32.load (i32.add (i32.const 2240) (i32.shl (local.get $k) (i32.const 2))))
                              (local.get $extra)))
      (if (local.get $extra) (then (drop (call $fd_close (i32.load (i32.const 1060))))))
      (if (i32.eqz (local.get $k))
        (then
          (i32.store (i32.const 512) (local.get $i))
          (call $expect (call $send (call $chan (local.get $i)) (i32.const 4) (i32.const 0)) (i32.const 0) (i32.const 2))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spawn (i32.lt_u (local.get $i) (i32.const 1000))))
    ;; Workers answer right and end well; the faulty end with 134.
    (local.set $i (i32.const 0))
    (loop $check
      (local.set $k (call $kind (local.get $i)))
      (if (i32.eqz (local.get $k))
        (then
          (call $expect (call $recv (call $chan (local.get $i))) (i32.const 0) (i32.const 3))
          (call $expect (i32.load (i32.const 1024)) (i32.const 4) (i32.const 4))
          (call $expect (i32.load (i32.const 512)) (call $expected (local.get $i)) (i32.const 5))
          (call $status (local.get $i) (i32.const 0) (i32.const 0) (i32.const 6))))
      (if (i32.or (i32.eq (local.get $k) (i32.const 1)) (i32.eq (local.get $k) (i32.const 3)))
        (then (call $status (local.get $i) (i32.const 0) (i32.const 134) (i32.const 8))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $check (i32.lt_u (local.get $i) (i32.const 1000))))
    ;; Sleep 10 ms (monotonic clock, relative).
    (i32.store (i32.const 1552) (i32.const 1))
    (i64.store (i32.const 1560) (i64.const 10000000))
    (call $expect (call $poll_oneoff (i32.const 1536) (i32.const 1600) (i32.const 1) (i32.const 1640))
                  (i32.const 0) (i32.const 10))
    ;; The deadline is past: spinners still spin and flooders still wait; end them.
    (local.set $i (i32.const 0))
    (loop $kill
      (local.set $k (call $kind (local.get $i)))
      (if (i32.or (i32.eq (local.get $k) (i32.const 2)) (i32.eq (local.get $k) (i32.const 4)))
        (then
          (call $expect (call $wait (call $proc (local.get $i)) (i32.const 1) (i32.const 1044)) (i32.const 6) (i32.const 11))
          (call $expect (call $kill (call $proc (local.get $i))) (i32.const 0) (i32.const 12))
          (call $status (local.get $i) (i32.const 0) (i32.const 137) (i32.const 13))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $kill (i32.lt_u (local.get $i) (i32.const 1000)))))
"#;

#[test]
fn load_1000_processes_40_percent_faulty_the_rest_unharmed_and_nothing_left() {
    let worker = program(&format!(
        r#"{SUM}
           (func (export "_start")
             (call $expect (call $recv (i32.const 3)) (i32.const 0) (i32.const 1))
             (i32.store (i32.const 512) (call $sum (i32.load (i32.const 512))))
             (call $expect (call $send (i32.const 3) (i32.const 4) (i32.const 0)) (i32.const 0) (i32.const 2)))"#
    ));
    let trapper =
        program(r#"(func (export "_start") (drop (i32.div_u (i32.const 1) (i32.const 0))))"#);
    let hog = program(
        r#"(func (export "_start")
             (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
             unreachable)"#,
    );
    let flooder = program(
        r#"(func (export "_start")
             (loop $l
               (drop (call $channel_send (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const 0) (i32.const 0)))
               (br $l)))"#,
    );
    let driver = program(&format!("{SPAWN_HELPER} {DRIVER}"));
    let mut config = KernelConfig {
        quantum: 10_000,
        ..KernelConfig::default()
    };
    config.limits.memory_pages = 8;
    config.limits.handles = 2048;
    // Far more than a spinner burns before the deadline; it ends a spinner only if the
    // driver failed to.
    config.limits.fuel = Some(5_000_000);
    let mut s = system(
        &[
            ("worker", &worker),
            ("trapper", &trapper),
            ("spinner", &program(SPIN)),
            ("hog", &hog),
            ("flooder", &flooder),
            ("driver", &driver),
        ],
        config,
    );
    // Time passes as processes run: 0.1 ms each time the kernel reads the clock.
    s.shared.borrow_mut().tick = 100_000;
    let before = s.kernel.stats();
    let p = s.spawn("driver", &[]);
    s.kernel.run().unwrap();
    let err = s.err();
    assert_eq!(s.kernel.release(p), Some(0), "{err}");
    assert_eq!(err.matches("trapped").count(), 200, "{err}");
    assert!(!err.contains("fuel limit"), "{err}");
    assert_eq!(s.kernel.stats(), before);
}
