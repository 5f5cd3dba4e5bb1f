//! Calls on the caller's own stack: a JIT call that cannot suspend (a plain `call`) runs its
//! generated code right on the stack of the thread that makes it, with no fiber and no
//! context switch.
//!
//! A fiber exists so that a call can be suspended and resumed (fuel, host yields); a plain
//! call never suspends (its libcalls end it instead), so all it needs from a fiber is a
//! bounded stack and a way out when it traps. This module gives it both on the thread's
//! stack:
//! - **A way out.** [`call`] enters generated code through a small assembly stub, [`enter`],
//!   which saves the callee-saved registers and records its stack pointer in the running
//!   [`Activation`]. A fault in generated code (`traps`) or a host panic ([`catch_host_panic`])
//!   leaves by [`resume_at`], which puts that stack pointer back, restores the registers and
//!   returns from `enter` with a status, discarding the frames in between as a trapped
//!   fiber's stack is discarded.
//! - **A bound.** [`window`] finds how much of the thread's stack (its bounds from
//!   `pthread_getattr_np`, once per thread) is left below the caller and gives generated code
//!   a stack limit: at most the JIT-frame budget of a fiber ([`FiberConfig`]: `stack_size`
//!   less `host_reserve`), and never lower than `host_reserve` above the stack's guard, so the
//!   libcalls and host functions that generated code calls near its limit still have the room
//!   they have on a fiber. Deep recursion therefore ends in `StackOverflow` at about the same
//!   depth on both. When less than [`MIN_FRAMES`] would be left (a thread with a small stack,
//!   a caller deep in its own recursion), or the caller runs on a fiber or on a stack that is
//!   not its thread's, there is no window and the call runs on a fiber as before.
//!
//! Only x86_64 has the stub so far; elsewhere [`window`] is always `None`.
//!
//! # Invariants (cited as `native.N` from SAFETY comments)
//! 1. **Nothing to drop between `enter` and a way out.** The frames that [`resume_at`]
//!    discards are: generated code (no Rust values, no unwind info), the trampolines, and the
//!    libcall and host-entry frames that reach a way out only as `fiber.1` requires of a
//!    fiber's frames (nothing with a destructor is live in them: [`catch_host_panic`] runs
//!    after the host function's own values were dropped by the unwinding). Discarding them
//!    is therefore a return that skips no destructor.
//! 2. `ACTIVE` names this thread's innermost activation while its generated code runs (set
//!    by [`call`] before `enter`, restored to the outer one after it returns, whichever way).
//!    The activation lives in [`call`]'s frame, above `enter`'s, so it outlives every way out.
//!    It is used only when no fiber is running (`fiber::current_state_for_signal` is null):
//!    [`window`] refuses a caller on a fiber, and a fiber started from a host function resets
//!    `CURRENT` when it gives control back.
//! 3. `Activation::sp` is written by `enter` before any generated code runs, and the stack
//!    pointer it holds stays valid until `enter` returns: the frames above it (`enter`'s
//!    saved registers and return address, then [`call`]'s) are not popped before.
#![allow(unsafe_code)]

extern crate std;

use alloc::boxed::Box;
use core::any::Any;
use core::cell::Cell;
use core::ptr;

use super::fiber::{self, ArrayCallFn, FiberConfig, TrapCallers};
use crate::TrapCode;

/// The least stack, in bytes, that a window must leave generated code; with less, the call
/// runs on a fiber.
pub const MIN_FRAMES: usize = 128 << 10;

/// A window of the running thread's stack for a call ([`window`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// The stack limit for generated code (`VMStoreContext::stack_limit`).
    pub(crate) limit: usize,
    /// The lowest address of the thread's stack, for the fault handler's walk of frames.
    low: usize,
}

/// One call running on the thread's stack (`native.2`).
pub(crate) struct Activation {
    /// The stack pointer `enter` saved (`native.3`): where [`resume_at`] goes back to.
    sp: Cell<usize>,
    /// The lowest address of the thread's stack.
    low: usize,
    /// How a fault ended the call: its trap, PC and the pinned register (the fuel count).
    trap: Cell<Option<(TrapCode, usize, u64)>>,
    /// A host panic caught by [`catch_host_panic`], continued by [`call`]'s caller.
    panic: Cell<Option<Box<dyn Any + Send>>>,
    /// The activation this one is nested in (a host function's call), restored after.
    outer: *const Activation,
}

std::thread_local! {
    /// `native.2`: the innermost activation of this thread.
    static ACTIVE: Cell<*const Activation> = const { Cell::new(ptr::null()) };
    /// The thread's stack as `(low, high)`: `(0, 0)` until asked, `(1, 1)` if unknown.
    static BOUNDS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// The callers of the last faulting instruction of an activation, written by the fault
    /// handler, taken by [`call`].
    static CALLERS: Cell<TrapCallers> = const { Cell::new(TrapCallers::EMPTY) };
}

/// How a call on the thread's stack ended.
pub(crate) enum Ended {
    /// The entry returned; its results are in the values buffer.
    Returned,
    /// A fault in generated code: the trap, its PC and the pinned register; the callers
    /// are kept for [`take_trap_callers`].
    Trapped {
        code: TrapCode,
        pc: usize,
        pinned: u64,
    },
    /// A host function panicked; continue the panic once the call's state is restored.
    Panicked(Box<dyn Any + Send>),
}

/// The stack of this thread, from `pthread_getattr_np`, asked once per thread. Also makes
/// sure the fault handler and this thread's signal stack are installed (`None` if not).
fn thread_stack() -> Option<(usize, usize)> {
    let cached = BOUNDS.with(Cell::get);
    if cached.0 > 1 {
        return Some(cached);
    }
    if cached.0 == 1 {
        return None;
    }
    let found = query_thread_stack().filter(|_| {
        super::traps::init().is_ok() && super::traps::ensure_thread_signal_stack().is_ok()
    });
    BOUNDS.with(|b| b.set(found.unwrap_or((1, 1))));
    found
}

#[cfg(target_os = "linux")]
fn query_thread_stack() -> Option<(usize, usize)> {
    // SAFETY: a zeroed attribute object is only written by pthread_getattr_np, which
    // initialises it; it is destroyed once read.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut core::ffi::c_void = ptr::null_mut();
        let mut size = 0usize;
        let r = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        let low = addr as usize;
        (r == 0 && low > 1 && size > 0).then(|| (low, low.saturating_add(size)))
    }
}

#[cfg(not(target_os = "linux"))]
fn query_thread_stack() -> Option<(usize, usize)> {
    None
}

/// The window for a plain call made here, or `None` if it must run on a fiber (see the
/// module docs).
#[inline]
pub(crate) fn window(config: &FiberConfig) -> Option<Window> {
    if !cfg!(target_arch = "x86_64") || !fiber::current_state_for_signal().is_null() {
        return None;
    }
    let (low, high) = thread_stack()?;
    let here = 0u8;
    let sp = ptr::from_ref(&here) as usize;
    // The lowest limit this thread's stack allows, and the most generated code may use.
    let floor = low
        .saturating_add(config.guard_size)
        .saturating_add(config.host_reserve);
    let budget = config.stack_size.saturating_sub(config.host_reserve);
    // Not on the thread's stack (a stack of someone else's making), or too little left.
    if sp >= high || sp < floor || sp - floor < MIN_FRAMES {
        return None;
    }
    let limit = if sp - floor > budget {
        sp - budget
    } else {
        floor
    };
    Some(Window { limit, low })
}

/// Runs `entry(vmctx, values)` on this thread's stack, which `window` describes, until it
/// returns, traps or a host function panics.
///
/// # Safety
/// `window` was just made by [`window`] on this thread, below this caller's frame, and the
/// caller has put `window.limit` in the store context the code checks its frames against.
/// Calling `entry(vmctx, values)` must be sound (as for [`fiber::Fiber::start`]), the call
/// cannot suspend (its libcalls never call `fiber::suspend` or `fiber::raise_trap`), and every
/// libcall and host entry it runs keeps `native.1`.
#[inline]
pub(crate) unsafe fn call(
    window: Window,
    entry: ArrayCallFn,
    vmctx: *mut u8,
    values: *mut u64,
) -> Ended {
    let act = Activation {
        sp: Cell::new(0),
        low: window.low,
        trap: Cell::new(None),
        panic: Cell::new(None),
        outer: ACTIVE.with(Cell::get),
    };
    ACTIVE.with(|a| a.set(&act));
    // SAFETY: the caller's contract; `enter` writes `act.sp` before it calls `entry`
    // (`native.3`), and every way out of the generated code returns here (`native.1`).
    let status = unsafe { enter(entry, vmctx, values, act.sp.as_ptr()) };
    ACTIVE.with(|a| a.set(act.outer));
    match status {
        0 => Ended::Returned,
        _ => match (act.panic.take(), act.trap.get()) {
            (Some(p), _) => Ended::Panicked(p),
            (None, Some((code, pc, pinned))) => Ended::Trapped { code, pc, pinned },
            // `resume_at` is reached only with one of the two recorded.
            (None, None) => std::process::abort(),
        },
    }
}

/// After [`Ended::Trapped`], the callers of the faulting instruction (empty once taken).
pub(crate) fn take_trap_callers() -> TrapCallers {
    CALLERS.with(|c| c.replace(TrapCallers::EMPTY))
}

/// Runs `f` (a host function called by generated code). A panic ends the running call: on a
/// fiber as `fiber::catch_host_panic` does, on the thread's stack by going back to [`call`],
/// which hands the panic to its caller; either way it never unwinds through JIT frames.
///
/// # Safety
/// As `fiber::catch_host_panic`: the frames outside `f` hold nothing to drop (`native.1`).
#[inline(always)]
pub(crate) unsafe fn catch_host_panic<R>(f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        // SAFETY: the caller's contract, passed on.
        Err(payload) => unsafe { end_with_panic(payload) },
    }
}

/// The way out of [`catch_host_panic`].
///
/// # Safety
/// As [`catch_host_panic`].
#[cold]
#[inline(never)]
unsafe fn end_with_panic(payload: Box<dyn Any + Send>) -> ! {
    if !fiber::current_state_for_signal().is_null() {
        // SAFETY: the caller's contract, which is `fiber::catch_host_panic`'s.
        unsafe { fiber::end_with_panic(payload) }
    }
    let act = ACTIVE.with(Cell::get);
    if act.is_null() {
        std::process::abort();
    }
    // SAFETY: `native.2`: with no fiber running, a non-null ACTIVE is the activation whose
    // generated code called this host function; it lives in `call`'s frame.
    let act = unsafe { &*act };
    act.panic.set(Some(payload));
    // SAFETY: `act.sp` is `enter`'s saved stack pointer (`native.3`) and the frames below it
    // hold nothing to drop (`native.1`).
    unsafe { resume_at(act.sp.get(), 2) }
}

/// For the fault handler: if this thread runs generated code on its own stack with `sp`
/// inside the running activation, records the trap and the callers and returns the stack
/// pointer to go back to with [`resume_at`] (`traps` sets the interrupted context's PC to it,
/// with that stack pointer and status 1). Called only when no fiber is running (`traps`
/// asks that first). Async-signal-safe: thread-local reads and writes.
pub(crate) fn trap_for_signal(
    sp: usize,
    trap: (TrapCode, usize, u64),
    callers: impl FnOnce((usize, usize)) -> TrapCallers,
) -> Option<usize> {
    let act = ACTIVE.try_with(Cell::get).ok()?;
    if act.is_null() {
        return None;
    }
    // SAFETY: `native.2`: the innermost activation of this thread, alive while its code
    // runs, which is what this handler interrupted.
    let act = unsafe { &*act };
    let saved = act.sp.get();
    if !(act.low <= sp && sp < saved) {
        return None;
    }
    act.trap.set(Some(trap));
    let _ = CALLERS.try_with(|c| c.set(callers((act.low, saved))));
    Some(saved)
}

/// The address the fault handler makes the interrupted context continue at: [`resume_at`],
/// entered with the saved stack pointer as its first argument and 1 as its second.
pub(crate) fn landing() -> usize {
    resume_at as *const () as usize
}

/// Calls `entry(vmctx, values)` after saving the callee-saved registers and writing the
/// stack pointer below them to `*saved_sp`; returns 0 when `entry` returns, or the status
/// [`resume_at`] was given (both ways leave through `resume_at`).
///
/// # Safety
/// As [`call`]; `saved_sp` is valid for writes until this returns.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
unsafe extern "C" fn enter(
    entry: ArrayCallFn,
    vmctx: *mut u8,
    values: *mut u64,
    saved_sp: *mut usize,
) -> u32 {
    // System V: entry in rdi, vmctx in rsi, values in rdx, saved_sp in rcx. The frame record
    // (rbp) makes the frame-pointer chain of the generated code end here; after the five
    // pushes and the padding the stack is 16-byte aligned again for the call.
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "mov [rcx], rsp",
        "mov rax, rdi",
        "mov rdi, rsi",
        "mov rsi, rdx",
        "call rax",
        // The way back is `resume_at`'s, with the stack pointer where it was saved (the
        // callee restored it) and status 0.
        "mov rdi, rsp",
        "xor esi, esi",
        "jmp {resume}",
        resume = sym resume_at,
    )
}

/// Makes the [`enter`] whose saved stack pointer is `sp` return `status`: restores that
/// stack pointer and the registers `enter` saved, and returns to `enter`'s caller.
///
/// # Safety
/// `sp` is the saved stack pointer of an `enter` that has not returned, on this thread's
/// stack, and the frames below it hold nothing to drop (`native.1`).
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
unsafe extern "C" fn resume_at(sp: usize, status: u32) -> ! {
    core::arch::naked_asm!(
        "mov rsp, rdi",
        "mov eax, esi",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// No stub elsewhere: [`window`] is always `None`, so these are never called.
#[cfg(not(target_arch = "x86_64"))]
unsafe extern "C" fn enter(_: ArrayCallFn, _: *mut u8, _: *mut u64, _: *mut usize) -> u32 {
    std::process::abort()
}

#[cfg(not(target_arch = "x86_64"))]
unsafe extern "C" fn resume_at(_: usize, _: u32) -> ! {
    std::process::abort()
}
