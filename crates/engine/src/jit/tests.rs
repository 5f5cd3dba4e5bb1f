//! Tests of the JIT runtime with hand-written x86_64 machine code (SysV ABI): code memory,
//! fibers, the fault handler. Cases that must crash run in a child process (the test binary
//! itself, selected by an environment variable).
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

extern crate std;

use alloc::vec;
use alloc::vec::Vec;
use core::ptr;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use super::code::{self, CodeBuilder, HOSTED_CODE_MEMORY, PublishedCode, TrapEntry};
use super::fiber::{self, Fiber, FiberConfig, FiberOutcome, ResumeValue, SuspendReason};
use crate::TrapCode;

// Functions of the form `extern "C" fn(vmctx: rdi, values: rsi)`.
/// `values[0] = 42`
const STORE_42: &[u8] = &[0x48, 0xc7, 0x06, 0x2a, 0, 0, 0, 0xc3];
/// `nop; ud2` (the ud2 at offset 1)
const UD2_AT_1: &[u8] = &[0x90, 0x0f, 0x0b];
/// `mov rax, [rdi]; ret`: loads from the vmctx pointer
const LOAD_RDI: &[u8] = &[0x48, 0x8b, 0x07, 0xc3];
/// `counter = 0; while counter < values[1] { counter += values[0](counter) }; values[0] =
/// counter` (callee-saved rbx, r12, r13; the call is 16-byte aligned)
const SUSPEND_LOOP: &[u8] = &[
    0x53, 0x41, 0x54, 0x41, 0x55, 0x48, 0x89, 0xf3, 0x4c, 0x8b, 0x26, 0x45, 0x31, 0xed, 0x4c, 0x89,
    0xef, 0x41, 0xff, 0xd4, 0x49, 0x01, 0xc5, 0x4c, 0x3b, 0x6b, 0x08, 0x72, 0xf1, 0x4c, 0x89, 0x2b,
    0x41, 0x5d, 0x41, 0x5c, 0x5b, 0xc3,
];
/// `sub rsp, 8; call [rsi]; add rsp, 8; ret`: calls `values[0](vmctx, values)`
const CALL_VALUES_0: &[u8] = &[
    0x48, 0x83, 0xec, 0x08, 0xff, 0x16, 0x48, 0x83, 0xc4, 0x08, 0xc3,
];
/// `f: call f`: unbounded recursion, no limit check
const RECURSE: &[u8] = &[0xe8, 0xfb, 0xff, 0xff, 0xff];
/// `f: cmp rsp, [rdi]; jb trap; call f; ret; trap: ud2` (ud2 at offset 11): recursion with a
/// stack-limit check against `vmctx[0]`
const CHECKED_RECURSE: &[u8] = &[
    0x48, 0x3b, 0x27, 0x72, 0x06, 0xe8, 0xf6, 0xff, 0xff, 0xff, 0xc3, 0x0f, 0x0b,
];

/// `xor ecx, ecx; mov eax, 1; cdq; idiv ecx; ret` (the idiv at offset 8)
const DIV_BY_ZERO: &[u8] = &[0x31, 0xc9, 0xb8, 1, 0, 0, 0, 0x99, 0xf7, 0xf9, 0xc3];

fn publish(bytes: &[u8], traps: Vec<TrapEntry>) -> PublishedCode {
    let mut b = CodeBuilder::new(&HOSTED_CODE_MEMORY, bytes.len()).unwrap();
    b.as_mut_slice()[..bytes.len()].copy_from_slice(bytes);
    b.publish(traps, 0).unwrap()
}

fn entry_of(code: &PublishedCode) -> fiber::ArrayCallFn {
    // SAFETY: every test code region starts with a complete function of this signature.
    unsafe { core::mem::transmute::<*const u8, fiber::ArrayCallFn>(code.base()) }
}

/// Runs `code` on a new fiber until it does not suspend.
fn run(code: &PublishedCode, vmctx: *mut u8, values: &mut [u64]) -> FiberOutcome {
    // SAFETY: the test code is a valid array-call function for `vmctx` and `values`, which
    // outlive the fiber (dropped at the end of this function).
    let mut f = unsafe {
        Fiber::new(
            &FiberConfig::default(),
            entry_of(code),
            vmctx,
            values.as_mut_ptr(),
        )
    }
    .unwrap();
    f.resume(ResumeValue(0))
}

#[test]
fn finishes_with_results() {
    let code = publish(STORE_42, vec![]);
    let mut values = [0u64; 1];
    assert_eq!(
        run(&code, ptr::null_mut(), &mut values),
        FiberOutcome::Finished
    );
    assert_eq!(values[0], 42);
}

#[test]
fn ud2_at_a_registered_offset_is_its_trap_code() {
    let code = publish(
        UD2_AT_1,
        vec![TrapEntry {
            offset: 1,
            code: TrapCode::Unreachable,
        }],
    );
    for _ in 0..3 {
        assert_eq!(
            run(&code, ptr::null_mut(), &mut [0]),
            FiberOutcome::Trapped {
                code: TrapCode::Unreachable,
                pc: code.base() as usize + 1
            }
        );
    }
    // The thread runs fibers normally afterwards.
    let ok = publish(STORE_42, vec![]);
    let mut values = [0u64; 1];
    assert_eq!(
        run(&ok, ptr::null_mut(), &mut values),
        FiberOutcome::Finished
    );
    assert_eq!(values[0], 42);
}

#[test]
fn a_hardware_division_by_zero_is_its_trap_code() {
    let code = publish(
        DIV_BY_ZERO,
        vec![TrapEntry {
            offset: 8,
            code: TrapCode::IntegerDivisionByZero,
        }],
    );
    assert_eq!(
        run(&code, ptr::null_mut(), &mut [0]),
        FiberOutcome::Trapped {
            code: TrapCode::IntegerDivisionByZero,
            pc: code.base() as usize + 8
        }
    );
}

#[test]
fn a_trap_leaves_a_suspended_fiber_usable() {
    let looping = publish(SUSPEND_LOOP, vec![]);
    let trapping = publish(
        UD2_AT_1,
        vec![TrapEntry {
            offset: 1,
            code: TrapCode::Unreachable,
        }],
    );
    let mut values = [0u64; 2];
    let mut a = suspend_loop_fiber(&looping, &mut values, 3);
    assert_eq!(
        a.resume(ResumeValue(0)),
        FiberOutcome::Suspended(SuspendReason::HostYield(0))
    );
    assert!(matches!(
        run(&trapping, ptr::null_mut(), &mut [0]),
        FiberOutcome::Trapped { .. }
    ));
    assert_eq!(
        a.resume(ResumeValue(1)),
        FiberOutcome::Suspended(SuspendReason::HostYield(1))
    );
    assert!(matches!(
        run(&trapping, ptr::null_mut(), &mut [0]),
        FiberOutcome::Trapped { .. }
    ));
    assert_eq!(
        a.resume(ResumeValue(1)),
        FiberOutcome::Suspended(SuspendReason::HostYield(2))
    );
    assert_eq!(a.resume(ResumeValue(1)), FiberOutcome::Finished);
    drop(a);
    assert_eq!(values[0], 3);
}

/// An inaccessible region standing for a linear memory's guard.
struct Guard {
    ptr: *mut core::ffi::c_void,
    len: usize,
}

impl Guard {
    fn new(len: usize) -> Self {
        // SAFETY: a fresh anonymous PROT_NONE mapping aliases nothing.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::empty(),
                rustix::mm::MapFlags::PRIVATE,
            )
        }
        .unwrap();
        Self { ptr, len }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used.
        unsafe { rustix::mm::munmap(self.ptr, self.len) }.unwrap();
    }
}

#[test]
fn a_load_from_a_registered_guard_region_is_out_of_bounds() {
    let guard = Guard::new(1 << 16);
    let reg = code::register_guard(guard.ptr as usize, guard.len, 9).unwrap();
    let code = publish(LOAD_RDI, vec![]);
    let at = guard.ptr.wrapping_byte_add(0x1234).cast::<u8>();
    assert_eq!(
        run(&code, at, &mut [0]),
        FiberOutcome::Trapped {
            code: TrapCode::MemoryOutOfBounds,
            pc: code.base() as usize
        }
    );
    // A trap-table entry for the instruction wins over the guard region.
    let tabled = publish(
        LOAD_RDI,
        vec![TrapEntry {
            offset: 0,
            code: TrapCode::TableOutOfBounds,
        }],
    );
    assert!(matches!(
        run(&tabled, at, &mut [0]),
        FiberOutcome::Trapped {
            code: TrapCode::TableOutOfBounds,
            ..
        }
    ));
    drop(reg);
}

extern "C" fn yield_counter(counter: u64) -> u64 {
    // SAFETY: nothing with a destructor is live in this frame or the JIT frames below it.
    unsafe { fiber::suspend(SuspendReason::HostYield(counter)) }.0
}

fn suspend_loop_fiber(code: &PublishedCode, values: &mut [u64; 2], n: u64) -> Fiber {
    values[0] = yield_counter as *const () as u64;
    values[1] = n;
    // SAFETY: SUSPEND_LOOP calls `values[0]` with a counter; `values` outlives the fiber in
    // every caller.
    unsafe {
        Fiber::new(
            &FiberConfig::default(),
            entry_of(code),
            ptr::null_mut(),
            values.as_mut_ptr(),
        )
    }
    .unwrap()
}

#[test]
fn suspends_and_resumes_ten_thousand_times() {
    let code = publish(SUSPEND_LOOP, vec![]);
    let mut values = [0u64; 2];
    let mut f = suspend_loop_fiber(&code, &mut values, 10_000);
    let mut seen = 0u64;
    let mut out = f.resume(ResumeValue(0));
    while let FiberOutcome::Suspended(SuspendReason::HostYield(c)) = out {
        assert_eq!(c, seen);
        seen += 1;
        out = f.resume(ResumeValue(1));
    }
    assert_eq!(out, FiberOutcome::Finished);
    assert!(f.is_done());
    drop(f);
    assert_eq!(seen, 10_000);
    assert_eq!(values[0], 10_000);
}

#[test]
fn dropping_suspended_or_unstarted_fibers_frees_their_stacks() {
    let code = publish(SUSPEND_LOOP, vec![]);
    let before = fiber::stacks_in_use();
    let mut values = [[0u64; 2]; 20];
    let mut fibers: Vec<Fiber> = values
        .iter_mut()
        .map(|v| suspend_loop_fiber(&code, v, 100))
        .collect();
    assert_eq!(fiber::stacks_in_use(), before + 20);
    for (i, f) in fibers.iter_mut().enumerate() {
        if i % 2 == 0 {
            assert_eq!(
                f.resume(ResumeValue(0)),
                FiberOutcome::Suspended(SuspendReason::HostYield(0))
            );
            assert_eq!(
                f.resume(ResumeValue(5)),
                FiberOutcome::Suspended(SuspendReason::HostYield(5))
            );
        }
    }
    drop(fibers);
    assert_eq!(fiber::stacks_in_use(), before);
    // Pooled stacks are reused rather than mapped anew.
    let mapped = fiber::stacks_mapped();
    for _ in 0..100 {
        let mut v = [0u64; 2];
        let mut f = suspend_loop_fiber(&code, &mut v, 1);
        assert!(matches!(
            f.resume(ResumeValue(0)),
            FiberOutcome::Suspended(_)
        ));
    }
    assert!(fiber::stacks_mapped() <= mapped + 1, "stacks are pooled");
}

#[test]
fn unbounded_recursion_in_jit_code_hits_the_guard_as_stack_overflow() {
    let code = publish(RECURSE, vec![]);
    // Twice: the second run reuses the pooled (and released) stack, guard intact.
    for _ in 0..2 {
        assert_eq!(
            run(&code, ptr::null_mut(), &mut [0]),
            FiberOutcome::Trapped {
                code: TrapCode::StackOverflow,
                pc: code.base() as usize
            }
        );
    }
    let ok = publish(STORE_42, vec![]);
    let mut values = [0u64; 1];
    assert_eq!(
        run(&ok, ptr::null_mut(), &mut values),
        FiberOutcome::Finished
    );
    assert_eq!(values[0], 42);
}

#[test]
fn the_stack_limit_check_fires_above_the_guard() {
    let code = publish(
        CHECKED_RECURSE,
        vec![TrapEntry {
            offset: 11,
            code: TrapCode::StackOverflow,
        }],
    );
    let config = FiberConfig::default();
    let mut vmctx = [0u64; 1];
    let vmctx = vmctx.as_mut_ptr();
    let mut values = [0u64; 1];
    // SAFETY: the code reads `vmctx[0]` only; both arrays outlive the fiber.
    let mut f =
        unsafe { Fiber::new(&config, entry_of(&code), vmctx.cast(), values.as_mut_ptr()) }.unwrap();
    // SAFETY: `vmctx` points at a live u64 that nothing else accesses now.
    unsafe { vmctx.write(f.stack_limit() as u64) };
    assert_eq!(
        f.resume(ResumeValue(0)),
        FiberOutcome::Trapped {
            code: TrapCode::StackOverflow,
            pc: code.base() as usize + 11
        }
    );
}

extern "C" fn raise_oob(_vmctx: *mut u8, _values: *mut u64) {
    // SAFETY: nothing with a destructor is live here or in the JIT frame below.
    unsafe { fiber::raise_trap(TrapCode::MemoryOutOfBounds) }
}

#[test]
fn a_libcall_can_end_the_call_with_a_trap() {
    let code = publish(CALL_VALUES_0, vec![]);
    let before = fiber::stacks_in_use();
    let mut values = [raise_oob as *const () as u64];
    assert_eq!(
        run(&code, ptr::null_mut(), &mut values),
        FiberOutcome::Trapped {
            code: TrapCode::MemoryOutOfBounds,
            pc: 0
        }
    );
    assert_eq!(fiber::stacks_in_use(), before);
}

extern "C" fn panicking_host(_vmctx: *mut u8, _values: *mut u64) {
    // SAFETY: nothing with a destructor is live outside the closure.
    unsafe {
        fiber::catch_host_panic(|| {
            let _owned: Vec<u8> = (0..10).collect();
            panic!("host function failed");
        })
    }
}

#[test]
fn a_host_panic_is_carried_to_the_resumer() {
    let code = publish(CALL_VALUES_0, vec![]);
    let mut values = [panicking_host as *const () as u64];
    let before = fiber::stacks_in_use();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&code, ptr::null_mut(), &mut values)
    }));
    let payload = r.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"host function failed")
    );
    assert_eq!(fiber::stacks_in_use(), before);
}

extern "C" fn nested_call(vmctx: *mut u8, values: *mut u64) {
    // `vmctx` is the inner code's address. A host function that calls back into JIT code.
    // SAFETY: `vmctx` is a published STORE_42 and `values` has a slot for its result.
    let entry = unsafe { core::mem::transmute::<*mut u8, fiber::ArrayCallFn>(vmctx) };
    let mut inner = [0u64; 1];
    // SAFETY: STORE_42 writes `inner[0]`, which outlives the fiber.
    let mut f = unsafe {
        Fiber::new(
            &FiberConfig::default(),
            entry,
            ptr::null_mut(),
            inner.as_mut_ptr(),
        )
    }
    .unwrap();
    let r = f.resume(ResumeValue(0));
    drop(f);
    assert_eq!(r, FiberOutcome::Finished);
    // SAFETY: the caller's values array has one slot.
    unsafe { *values = inner[0] + 1 };
    // The outer fiber is current again: a suspension here reaches its resumer.
    // SAFETY: nothing with a destructor is live (`f` and `inner` are gone or `Copy`).
    let v = unsafe { fiber::suspend(SuspendReason::OutOfFuel) };
    // SAFETY: as above.
    unsafe { *values += v.0 };
}

#[test]
fn fibers_nest() {
    let inner = publish(STORE_42, vec![]);
    let outer = publish(CALL_VALUES_0, vec![]);
    let mut values = [nested_call as *const () as u64];
    // SAFETY: `nested_call` gets the inner code as its vmctx; `values` outlives the fiber.
    let mut f = unsafe {
        Fiber::new(
            &FiberConfig::default(),
            entry_of(&outer),
            inner.base().cast_mut(),
            values.as_mut_ptr(),
        )
    }
    .unwrap();
    assert_eq!(
        f.resume(ResumeValue(0)),
        FiberOutcome::Suspended(SuspendReason::OutOfFuel)
    );
    assert_eq!(values[0], 43);
    assert_eq!(f.resume(ResumeValue(100)), FiberOutcome::Finished);
    assert_eq!(values[0], 143);
}

#[test]
fn threads_trap_independently() {
    let handles: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                let code = publish(
                    UD2_AT_1,
                    vec![TrapEntry {
                        offset: 1,
                        code: TrapCode::Unreachable,
                    }],
                );
                let ok = publish(STORE_42, vec![]);
                for _ in 0..200 {
                    assert!(matches!(
                        run(&code, ptr::null_mut(), &mut [0]),
                        FiberOutcome::Trapped {
                            code: TrapCode::Unreachable,
                            ..
                        }
                    ));
                    let mut v = [0u64];
                    assert_eq!(run(&ok, ptr::null_mut(), &mut v), FiberOutcome::Finished);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn traps_are_found_while_other_threads_publish_and_free_code() {
    let stop = std::sync::Arc::new(core::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(core::sync::atomic::Ordering::Relaxed) || n < 100 {
                let a = publish(STORE_42, vec![]);
                let b = publish(UD2_AT_1, vec![]);
                drop(a);
                drop(b);
                n += 1;
            }
        })
    };
    let code = publish(
        UD2_AT_1,
        vec![TrapEntry {
            offset: 1,
            code: TrapCode::Unreachable,
        }],
    );
    for _ in 0..2000 {
        assert!(matches!(
            run(&code, ptr::null_mut(), &mut [0]),
            FiberOutcome::Trapped {
                code: TrapCode::Unreachable,
                ..
            }
        ));
    }
    stop.store(true, core::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Cases that must kill the process: run in a child.

const CHILD_VAR: &str = "WEFT_JIT_TEST_CHILD";

/// In the parent: runs test `name` in a child and returns its output. In the child: runs `body`
/// (which must not return).
fn in_child(name: &str, body: fn()) -> Option<std::process::Output> {
    if std::env::var(CHILD_VAR).as_deref() == Ok(name) {
        body();
        std::eprintln!("child body returned");
        std::process::exit(0);
    }
    let test = std::format!("jit::tests::{name}");
    Some(
        Command::new(std::env::current_exe().unwrap())
            .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_VAR, name)
            .output()
            .unwrap(),
    )
}

fn assert_killed_by(out: &std::process::Output, sig: i32) {
    assert_eq!(
        out.status.signal(),
        Some(sig),
        "status {:?}, stderr:\n{}",
        out.status,
        std::string::String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_null_read_outside_jit_code_still_crashes() {
    let Some(out) = in_child("a_null_read_outside_jit_code_still_crashes", || {
        super::traps::init().unwrap();
        let p: *const u64 = core::hint::black_box(ptr::null());
        // SAFETY: not safe at all: this is the crash under test, in a child process.
        let v = unsafe { ptr::read_volatile(p) };
        std::println!("{v}");
    }) else {
        return;
    };
    assert_killed_by(&out, libc::SIGSEGV);
}

extern "C" fn null_read_libcall(_vmctx: *mut u8, values: *mut u64) {
    let p: *const u64 = core::hint::black_box(ptr::null());
    // SAFETY: not safe at all: this is the crash under test, in a child process.
    unsafe { *values = ptr::read_volatile(p) };
}

#[test]
fn a_null_read_in_rust_code_on_a_fiber_still_crashes() {
    let Some(out) = in_child("a_null_read_in_rust_code_on_a_fiber_still_crashes", || {
        let code = publish(CALL_VALUES_0, vec![]);
        let mut values = [null_read_libcall as *const () as u64];
        run(&code, ptr::null_mut(), &mut values);
    }) else {
        return;
    };
    assert_killed_by(&out, libc::SIGSEGV);
}

/// Reads the `u64` at address `vmctx` (a libcall for `CALL_VALUES_0`).
extern "C" fn read_vmctx_libcall(vmctx: *mut u8, values: *mut u64) {
    // SAFETY: not safe at all: this is the crash under test, in a child process.
    unsafe { *values = ptr::read_volatile(core::hint::black_box(vmctx).cast::<u64>()) };
}

#[test]
fn a_guard_region_read_outside_jit_code_still_crashes() {
    // A linear memory's guard region is a trap only for generated code: the same fault in
    // Rust code, on the main thread or on a fiber, is a bug and kills the process.
    let Some(out) = in_child("a_guard_region_read_outside_jit_code_still_crashes", || {
        super::traps::init().unwrap();
        let m = super::memory::GuardedMemory::new(65536, None).unwrap();
        let past = crate::runtime::memory::LinearMemory::base(&m).wrapping_add(65536);
        assert!(code::lookup_guard(past as usize).is_some());
        // SAFETY: not safe at all: this is the crash under test, in a child process.
        let v = unsafe { ptr::read_volatile(past.cast::<u64>()) };
        std::println!("{v}");
    }) else {
        return;
    };
    assert_killed_by(&out, libc::SIGSEGV);
}

#[test]
fn a_guard_region_read_in_rust_code_on_a_fiber_still_crashes() {
    let Some(out) = in_child(
        "a_guard_region_read_in_rust_code_on_a_fiber_still_crashes",
        || {
            let m = super::memory::GuardedMemory::new(65536, None).unwrap();
            let past = crate::runtime::memory::LinearMemory::base(&m).wrapping_add(65536);
            let code = publish(CALL_VALUES_0, vec![]);
            let mut values = [read_vmctx_libcall as *const () as u64];
            run(&code, past, &mut values);
        },
    ) else {
        return;
    };
    assert_killed_by(&out, libc::SIGSEGV);
}

#[test]
fn a_memory_access_fault_outside_any_guard_region_still_crashes() {
    // The load has a `MemoryOutOfBounds` entry (as a guard-region access does), but the
    // address is in no memory's reservation: a wild address from a bug, not a trap.
    let Some(out) = in_child(
        "a_memory_access_fault_outside_any_guard_region_still_crashes",
        || {
            let code = publish(
                LOAD_RDI,
                vec![TrapEntry {
                    offset: 0,
                    code: TrapCode::MemoryOutOfBounds,
                }],
            );
            run(&code, ptr::null_mut(), &mut [0]);
        },
    ) else {
        return;
    };
    assert_killed_by(&out, libc::SIGSEGV);
}

#[test]
fn an_unexpected_fault_in_jit_code_still_crashes() {
    // A ud2 without a trap-table entry is a code-generator bug, not a trap.
    let Some(out) = in_child("an_unexpected_fault_in_jit_code_still_crashes", || {
        let code = publish(UD2_AT_1, vec![]);
        run(&code, ptr::null_mut(), &mut [0]);
    }) else {
        return;
    };
    assert_killed_by(&out, libc::SIGILL);
}

#[inline(never)]
fn recurse_forever(depth: u64) -> u64 {
    if core::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    let buf = core::hint::black_box([depth; 64]);
    recurse_forever(depth + 1) + buf[3]
}

extern "C" fn rust_recursion(_vmctx: *mut u8, values: *mut u64) {
    // SAFETY: `values` has a slot.
    unsafe { *values = recurse_forever(0) };
}

#[test]
fn a_stack_overflow_in_rust_code_on_a_fiber_is_reported_and_crashes() {
    // Rust frames cannot be discarded (their destructors, locks, pins), so host code that
    // overflows a fiber's stack is a crash, with a message; generated code's own limit check
    // (`the_stack_limit_check_fires_above_the_guard`) keeps host_reserve bytes for libcalls.
    let Some(out) = in_child(
        "a_stack_overflow_in_rust_code_on_a_fiber_is_reported_and_crashes",
        || {
            let code = publish(CALL_VALUES_0, vec![]);
            let mut values = [rust_recursion as *const () as u64];
            run(&code, ptr::null_mut(), &mut values);
        },
    ) else {
        return;
    };
    assert_killed_by(&out, libc::SIGSEGV);
    let err = std::string::String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stack overflowed in host (Rust) code"),
        "{err}"
    );
}

#[test]
fn published_code_cannot_be_written() {
    let Some(out) = in_child("published_code_cannot_be_written", || {
        super::traps::init().unwrap();
        let code = publish(STORE_42, vec![]);
        // SAFETY: not safe at all: a write to read+execute memory, the crash under test.
        unsafe { ptr::write_volatile(code.base().cast_mut(), 0xcc) };
    }) else {
        return;
    };
    assert_killed_by(&out, libc::SIGSEGV);
}

#[test]
fn a_signal_sent_by_kill_is_not_a_trap() {
    // SIGSEGV sent by a process (si_code <= 0) while JIT code runs on a fiber goes to the
    // previous handler as if weft were not there: Rust's runtime handler (installed in test
    // binaries) restores the default action and returns, the default action kills. Either
    // way the call must not end as a trap.
    let Some(out) = in_child("a_signal_sent_by_kill_is_not_a_trap", || {
        extern "C" fn send_segv(_vmctx: *mut u8, _values: *mut u64) {
            // SAFETY: raise(3) is always safe to call; what happens next is under test.
            unsafe { libc::raise(libc::SIGSEGV) };
        }
        let code = publish(CALL_VALUES_0, vec![]);
        let mut values = [send_segv as *const () as u64];
        let outcome = run(&code, ptr::null_mut(), &mut values);
        std::eprintln!("outcome {outcome:?}");
    }) else {
        return;
    };
    let err = std::string::String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.signal() == Some(libc::SIGSEGV) || err.contains("outcome Finished"),
        "status {:?}, stderr:\n{err}",
        out.status
    );
}

// ---------------------------------------------------------------------------------------------
// Costs (not a timed test: run with `--ignored --nocapture`, preferably `--release`).

#[test]
#[ignore = "a measurement, not a test"]
fn fiber_costs() {
    use std::time::Instant;
    let ret = publish(&[0xc3], vec![]);
    let n = 100_000u32;
    // Warm the pool.
    run(&ret, ptr::null_mut(), &mut [0]);
    let t = Instant::now();
    for _ in 0..n {
        assert_eq!(run(&ret, ptr::null_mut(), &mut [0]), FiberOutcome::Finished);
    }
    let start_finish = t.elapsed().as_nanos() as f64 / f64::from(n);

    let code = publish(SUSPEND_LOOP, vec![]);
    let mut values = [0u64; 2];
    let mut f = suspend_loop_fiber(&code, &mut values, u64::from(n) + 1);
    f.resume(ResumeValue(0));
    let t = Instant::now();
    for _ in 0..n {
        assert!(matches!(
            f.resume(ResumeValue(1)),
            FiberOutcome::Suspended(_)
        ));
    }
    let round_trip = t.elapsed().as_nanos() as f64 / f64::from(n);
    drop(f);

    let trap = publish(
        UD2_AT_1,
        vec![TrapEntry {
            offset: 1,
            code: TrapCode::Unreachable,
        }],
    );
    let m = 10_000u32;
    let t = Instant::now();
    for _ in 0..m {
        assert!(matches!(
            run(&trap, ptr::null_mut(), &mut [0]),
            FiberOutcome::Trapped { .. }
        ));
    }
    let trapped = t.elapsed().as_nanos() as f64 / f64::from(m);
    std::println!(
        "fiber start+finish of an empty call: {start_finish:.0} ns; suspend+resume round trip: \
         {round_trip:.0} ns; start + trap (signal) + finish: {trapped:.0} ns"
    );
}
