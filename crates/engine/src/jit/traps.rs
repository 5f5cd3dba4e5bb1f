//! The fault handler: turns a hardware fault inside JIT code on a fiber, or in a plain call
//! on the thread's own stack (`native`), into a trap.
//!
//! [`init`] installs one handler for SIGSEGV, SIGBUS, SIGILL and SIGFPE (once per process,
//! `SA_ONSTACK`), and [`ensure_thread_signal_stack`] gives each thread that runs fibers an
//! alternate signal stack, so a fault on a fiber's stack guard can be handled at all.
//!
//! On a fault the handler asks, without allocating or locking:
//! 1. Was it raised by the hardware (`si_code > 0`), not sent by `kill`/`raise`?
//! 2. Is this thread running a fiber, with the stack pointer inside that fiber's stack? Or,
//!    with no fiber running, a plain call on its own stack (`native`), with the stack pointer
//!    below that call's entry stub?
//! 3. Is the PC inside registered JIT code (`code::lookup_pc`)?
//! 4. Which trap? A fault address in the fiber's stack guard is `StackOverflow`; else the trap
//!    table's entry for the PC (an access fault whose entry is `MemoryOutOfBounds` only if
//!    the address is in a registered memory guard region); else a fault address in a
//!    registered memory guard region is `MemoryOutOfBounds`.
//!
//! If all hold, it records the callers of the faulting instruction for the backtrace (the
//! code generator keeps frame pointers, so each JIT frame links to its caller's; see
//! [`callers`]) and rewrites the interrupted context so that, when the handler returns, the
//! fiber's stack is reset and the fiber returns `Trapped { code, pc }` to its resumer
//! (corosensei's `setup_trap_handler`), or, for a call on the thread's stack, so that the
//! entry stub returns with the trap recorded (`native::landing`). Otherwise the fault is not ours — a bug in Rust code,
//! a fault on another thread, or an unexpected fault in generated code — and the handler
//! chains to the handler installed before it, or restores the default action so that the
//! fault kills the process as it would have without weft. A real crash is never swallowed.
//!
//! # Invariants (cited as `traps.N` from SAFETY comments)
//! 1. `PREV[i]` is written once, inside [`init`], before the handler for that signal is
//!    installed, and only read afterwards (by the handler); `READY[i]` (Release/Acquire) says
//!    that it has been written.
//! 2. A trap is produced only for a PC inside JIT code that this thread runs on a fiber whose
//!    stack holds the interrupted stack pointer, or in the innermost call on the thread's
//!    stack below its entry stub. Discarding that fiber's stack, or the frames below the
//!    stub, is sound by `fiber.1` and `native.1` (nothing to drop on them); the JIT frames
//!    have no unwind info and are not unwound.
//! 3. Everything the handler calls is async-signal-safe: atomics, `const` thread locals without
//!    destructors, reading the registry (`code`: no lock, no allocation), `sigaction`, `raise`,
//!    `write`.
#![allow(unsafe_code)]

extern crate std;

use core::cell::{Cell, UnsafeCell};
use core::ffi::{c_int, c_void};
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use super::code::{self, CodeError};
use super::fiber::{self, Exit};
use super::native;
use crate::TrapCode;

const SIGNALS: [c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The handlers installed before ours, one per signal in `SIGNALS` (`traps.1`).
struct Prev(UnsafeCell<MaybeUninit<libc::sigaction>>);
// SAFETY: written once before it can be read, then only read (`traps.1`).
unsafe impl Sync for Prev {}

static PREV: [Prev; 4] = [const { Prev(UnsafeCell::new(MaybeUninit::uninit())) }; 4];
static READY: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];

fn errno_error(op: &'static str) -> CodeError {
    CodeError {
        op,
        errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    }
}

/// Installs the fault handlers, once per process.
///
/// # Errors
/// `sigaction` failed (then JIT code must not run: its faults would not become traps).
pub fn init() -> Result<(), CodeError> {
    static RESULT: OnceLock<Result<(), CodeError>> = OnceLock::new();
    *RESULT.get_or_init(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: querying the current action writes only into our `PREV[i]`, which
            // nobody reads before `READY[i]` is set (`traps.1`), and this runs once.
            if unsafe { libc::sigaction(sig, ptr::null(), (*PREV[i].0.get()).as_mut_ptr()) } != 0 {
                return Err(errno_error("sigaction (query)"));
            }
            READY[i].store(true, Ordering::Release);
            // SAFETY: a zeroed `sigaction` is a valid value (empty mask, no flags) that we
            // then fill in; `handler` has the SA_SIGINFO signature.
            let mut act: libc::sigaction = unsafe { core::mem::zeroed() };
            act.sa_sigaction = handler as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `act.sa_mask` is a valid sigset to initialise.
            unsafe { libc::sigemptyset(&mut act.sa_mask) };
            // SAFETY: installs a handler that is async-signal-safe (`traps.3`).
            if unsafe { libc::sigaction(sig, &act, ptr::null_mut()) } != 0 {
                return Err(errno_error("sigaction (install)"));
            }
        }
        Ok(())
    })
}

/// Size of the alternate signal stacks we map (the handler itself needs little; the rest is
/// for the kernel's signal frame with the full vector state, and for a chained handler).
const SIGNAL_STACK_SIZE: usize = 64 << 10;

/// The alternate signal stack this thread got from us; unmapped when the thread exits.
struct SignalStack {
    low: *mut c_void,
    len: usize,
    /// The stack that was configured before, restored on drop.
    prev: libc::stack_t,
}

impl Drop for SignalStack {
    fn drop(&mut self) {
        let page = rustix::param::page_size();
        // SAFETY: reading the current alternate stack writes only `now`.
        let mut now: libc::stack_t = unsafe { core::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::sigaltstack(ptr::null(), &mut now) };
        if now.ss_sp == self.low.wrapping_byte_add(page) {
            // SAFETY: this thread is not handling a signal (we are in a thread-local
            // destructor), so switching its alternate stack back is allowed.
            unsafe { libc::sigaltstack(&self.prev, ptr::null_mut()) };
        }
        // SAFETY: the mapping is ours and no longer the thread's signal stack.
        unsafe { libc::munmap(self.low, self.len) };
    }
}

std::thread_local! {
    static HAS_SIGNAL_STACK: Cell<bool> = const { Cell::new(false) };
    static OUR_SIGNAL_STACK: Cell<Option<SignalStack>> = const { Cell::new(None) };
}

/// Makes sure this thread has an alternate signal stack of at least 64 KiB (keeps one that
/// is big enough, e.g. the one Rust's runtime sets up; otherwise maps one with a guard page).
///
/// # Errors
/// The stack could not be mapped or installed.
pub fn ensure_thread_signal_stack() -> Result<(), CodeError> {
    if HAS_SIGNAL_STACK.with(Cell::get) {
        return Ok(());
    }
    // SAFETY: a zeroed stack_t is valid; sigaltstack with a null new stack only reads the
    // current one into `old`.
    let mut old: libc::stack_t = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaltstack(ptr::null(), &mut old) } != 0 {
        return Err(errno_error("sigaltstack (query)"));
    }
    if old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size >= SIGNAL_STACK_SIZE {
        HAS_SIGNAL_STACK.with(|h| h.set(true));
        return Ok(());
    }
    let page = rustix::param::page_size();
    let len = SIGNAL_STACK_SIZE + page;
    // SAFETY: a fresh anonymous mapping aliases nothing.
    let low = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if low == libc::MAP_FAILED {
        return Err(errno_error("mmap (signal stack)"));
    }
    let stack = SignalStack {
        low,
        len,
        prev: old,
    };
    let sp = low.wrapping_byte_add(page);
    // SAFETY: `[low + page, low + len)` is inside the mapping just made (the first page stays
    // a guard).
    if unsafe { libc::mprotect(sp, SIGNAL_STACK_SIZE, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
        return Err(errno_error("mprotect (signal stack)"));
    }
    let new = libc::stack_t {
        ss_sp: sp,
        ss_flags: 0,
        ss_size: SIGNAL_STACK_SIZE,
    };
    // SAFETY: the new stack is mapped read+write and stays mapped until this thread's
    // `OUR_SIGNAL_STACK` is destroyed, which switches back first.
    if unsafe { libc::sigaltstack(&new, ptr::null_mut()) } != 0 {
        return Err(errno_error("sigaltstack (install)"));
    }
    OUR_SIGNAL_STACK.with(|s| s.set(Some(stack)));
    HAS_SIGNAL_STACK.with(|h| h.set(true));
    Ok(())
}

/// The interrupted PC, stack pointer and frame pointer.
///
/// # Safety
/// `uctx` is the `ucontext_t` the kernel passed to the handler.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn pc_sp_fp(uctx: *mut c_void) -> (usize, usize, usize) {
    // SAFETY: the caller passes the handler's ucontext.
    let g = unsafe { &(*uctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    (
        g[libc::REG_RIP as usize] as usize,
        g[libc::REG_RSP as usize] as usize,
        g[libc::REG_RBP as usize] as usize,
    )
}

/// The interrupted value of Cranelift's pinned register (r15), where fuel-metered code keeps
/// its fuel count.
///
/// # Safety
/// `uctx` is the `ucontext_t` the kernel passed to the handler.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn pinned_reg(uctx: *mut c_void) -> u64 {
    // SAFETY: the caller passes the handler's ucontext.
    let g = unsafe { &(*uctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    g[libc::REG_R15 as usize] as u64
}

/// Makes the interrupted context continue as corosensei's trap trampoline asks.
///
/// # Safety
/// `uctx` is the `ucontext_t` the kernel passed to the handler.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn redirect(uctx: *mut c_void, regs: corosensei::trap::TrapHandlerRegs) {
    let corosensei::trap::TrapHandlerRegs {
        rip,
        rsp,
        rbp,
        rdi,
        rsi,
    } = regs;
    // SAFETY: the caller passes the handler's ucontext, which the kernel restores on return.
    let g = unsafe { &mut (*uctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    g[libc::REG_RIP as usize] = rip as i64;
    g[libc::REG_RSP as usize] = rsp as i64;
    g[libc::REG_RBP as usize] = rbp as i64;
    g[libc::REG_RDI as usize] = rdi as i64;
    g[libc::REG_RSI as usize] = rsi as i64;
}

/// Makes the interrupted context call `pc(arg0, arg1)` (a function that never returns).
///
/// # Safety
/// `uctx` is the `ucontext_t` the kernel passed to the handler.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn redirect_to(uctx: *mut c_void, pc: usize, arg0: usize, arg1: usize) {
    // SAFETY: the caller passes the handler's ucontext, which the kernel restores on return.
    let g = unsafe { &mut (*uctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    g[libc::REG_RIP as usize] = pc as i64;
    g[libc::REG_RDI as usize] = arg0 as i64;
    g[libc::REG_RSI as usize] = arg1 as i64;
}

/// The interrupted PC, stack pointer and frame pointer (x29).
///
/// # Safety
/// `uctx` is the `ucontext_t` the kernel passed to the handler.
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn pc_sp_fp(uctx: *mut c_void) -> (usize, usize, usize) {
    // SAFETY: the caller passes the handler's ucontext.
    let m = unsafe { &(*uctx.cast::<libc::ucontext_t>()).uc_mcontext };
    (m.pc as usize, m.sp as usize, m.regs[29] as usize)
}

/// The interrupted value of Cranelift's pinned register (x21), where fuel-metered code keeps
/// its fuel count.
///
/// # Safety
/// `uctx` is the `ucontext_t` the kernel passed to the handler.
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn pinned_reg(uctx: *mut c_void) -> u64 {
    // SAFETY: the caller passes the handler's ucontext.
    let m = unsafe { &(*uctx.cast::<libc::ucontext_t>()).uc_mcontext };
    m.regs[21]
}

/// Makes the interrupted context continue as corosensei's trap trampoline asks.
///
/// # Safety
/// `uctx` is the `ucontext_t` the kernel passed to the handler.
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn redirect(uctx: *mut c_void, regs: corosensei::trap::TrapHandlerRegs) {
    let corosensei::trap::TrapHandlerRegs {
        pc,
        sp,
        x0,
        x1,
        x29,
        lr,
    } = regs;
    // SAFETY: the caller passes the handler's ucontext, which the kernel restores on return.
    let m = unsafe { &mut (*uctx.cast::<libc::ucontext_t>()).uc_mcontext };
    m.pc = pc;
    m.sp = sp;
    m.regs[0] = x0;
    m.regs[1] = x1;
    m.regs[29] = x29;
    m.regs[30] = lr;
}

/// Makes the interrupted context call `pc(arg0, arg1)` (a function that never returns).
///
/// # Safety
/// `uctx` is the `ucontext_t` the kernel passed to the handler.
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn redirect_to(uctx: *mut c_void, pc: usize, arg0: usize, arg1: usize) {
    // SAFETY: the caller passes the handler's ucontext, which the kernel restores on return.
    let m = unsafe { &mut (*uctx.cast::<libc::ucontext_t>()).uc_mcontext };
    m.pc = pc as u64;
    m.regs[0] = arg0 as u64;
    m.regs[1] = arg1 as u64;
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("the JIT's fault handler supports Linux on x86_64 and aarch64 only");

fn write_stderr(msg: &str) {
    // SAFETY: write(2) on fd 2 with a valid buffer is async-signal-safe.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// The signal handler (`traps.3`: async-signal-safe throughout).
extern "C" fn handler(sig: c_int, info: *mut libc::siginfo_t, uctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    if unsafe { handle_jit_fault(sig, info, uctx) } {
        return;
    }
    // SAFETY: as above.
    unsafe { chain(sig, info, uctx) }
}

/// Turns the fault into a trap of the running fiber if it is one (`traps.2`).
///
/// # Safety
/// `info` and `uctx` are the handler's arguments.
unsafe fn handle_jit_fault(sig: c_int, info: *mut libc::siginfo_t, uctx: *mut c_void) -> bool {
    // SAFETY: the kernel's siginfo.
    let info = unsafe { &*info };
    if info.si_code <= 0 {
        return false; // sent by a process (kill, raise, sigqueue), not a fault
    }
    // SAFETY: for these four signals `si_addr` is the union member the kernel filled in.
    let addr = unsafe { info.si_addr() } as usize;
    // SAFETY: the handler's ucontext.
    let (pc, sp, fp) = unsafe { pc_sp_fp(uctx) };
    // SAFETY: as above.
    let pinned = unsafe { pinned_reg(uctx) };
    let state = fiber::current_state_for_signal();
    if state.is_null() {
        // SAFETY: the handler's ucontext.
        return unsafe { handle_native_fault(sig, addr, (pc, sp, fp), pinned, uctx) };
    }
    // SAFETY: `fiber.2`: a non-null CURRENT is the state of the fiber this thread is running,
    // alive while the thread is interrupted inside it.
    let state = unsafe { &*state };
    let Some(th) = state.trap_handler.get() else {
        return false;
    };
    if !th.stack_ptr_in_bounds(sp) {
        return false;
    }
    let in_stack_guard = state.guard.0 <= addr && addr < state.guard.1;
    // SAFETY: `pc` is the PC this handler interrupted on its own thread: if it is in
    // published code, that code is being executed and so not freed (`code.3`).
    let Some(hit) = (unsafe { code::lookup_pc(pc) }) else {
        if in_stack_guard && (sig == libc::SIGSEGV || sig == libc::SIGBUS) {
            write_stderr(
                "weft: a JIT fiber's stack overflowed in host (Rust) code, not in generated code; \
                 this cannot be turned into a trap\n",
            );
        }
        return false;
    };
    let Some(code) = classify(sig, addr, hit.trap, in_stack_guard) else {
        return false;
    };
    state.trap_callers.set(callers(sp, fp, state.usable));
    // SAFETY: the stack pointer is inside the fiber (checked above), and the fiber's stack
    // can be discarded (`traps.2`, `fiber.1`); we update exactly the registers that the
    // returned `TrapHandlerRegs` names. The closure only returns `Copy` values.
    let regs = unsafe { th.setup_trap_handler(move || Exit::Trapped { code, pc, pinned }) };
    // SAFETY: the handler's ucontext.
    unsafe { redirect(uctx, regs) };
    true
}

/// The trap a fault at a PC inside generated code stands for, if it is one: `trap` is the
/// PC's trap-table entry, `in_stack_guard` whether the address is in the running fiber's
/// stack guard.
fn classify(
    sig: c_int,
    addr: usize,
    trap: Option<TrapCode>,
    in_stack_guard: bool,
) -> Option<TrapCode> {
    let is_access = sig == libc::SIGSEGV || sig == libc::SIGBUS;
    if is_access && in_stack_guard {
        Some(TrapCode::StackOverflow)
    } else if let Some(code) = trap {
        // A guard-region access (the only faulting access with this code) faults inside a
        // registered reservation; a fault anywhere else is a wild address, a bug to crash on.
        if is_access && code == TrapCode::MemoryOutOfBounds && code::lookup_guard(addr).is_none() {
            return None;
        }
        Some(code)
    } else if is_access && code::lookup_guard(addr).is_some() {
        Some(TrapCode::MemoryOutOfBounds)
    } else {
        None // an unexpected fault in generated code: a bug, let it crash
    }
}

/// Turns the fault into a trap of the call running on this thread's own stack (`native`),
/// if it is one: the PC is in generated code and the stack pointer inside the innermost
/// activation (`traps.2` for that activation: its frames are discarded by `native.1`).
///
/// # Safety
/// `uctx` is the handler's ucontext; `pc_sp_fp` and `pinned` were read from it.
unsafe fn handle_native_fault(
    sig: c_int,
    addr: usize,
    (pc, sp, fp): (usize, usize, usize),
    pinned: u64,
    uctx: *mut c_void,
) -> bool {
    // SAFETY: as in `handle_jit_fault`: code being executed is not freed (`code.3`).
    let Some(hit) = (unsafe { code::lookup_pc(pc) }) else {
        return false;
    };
    // Generated code on the thread's stack never reaches a guard: its stack limit is above
    // the host reserve (`native::window`).
    let Some(code) = classify(sig, addr, hit.trap, false) else {
        return false;
    };
    let Some(saved) =
        native::trap_for_signal(sp, (code, pc, pinned), |usable| callers(sp, fp, usable))
    else {
        return false;
    };
    // SAFETY: the handler's ucontext; `saved` is the running activation's saved stack
    // pointer, and `landing` takes it and the status in the first two argument registers.
    unsafe { redirect_to(uctx, native::landing(), saved, 1) };
    true
}

/// The callers of a faulting JIT instruction, innermost first, from the frame-pointer chain
/// that starts at `fp` (the interrupted frame pointer) on the fiber stack `usable` whose
/// interrupted stack pointer is `sp`.
///
/// Every frame of generated code (functions and trampolines alike) keeps Cranelift's frame
/// record: the caller's frame pointer at `[fp]` and the return address at `[fp + 8]` (x86_64
/// and aarch64 alike). The walk reads a record only if it lies inside the usable stack,
/// above `sp` and above the record before it, so it never reads outside mapped memory and
/// always ends; it stops at the first return address outside published code (the fiber's
/// entry, or a host frame on the way). A fault in a function's prologue, before its frame
/// record exists, leaves out its caller (the walk starts at the caller's record). Signal-safe:
/// reads of the fiber's own stack and of the code registry.
fn callers(sp: usize, mut fp: usize, usable: (usize, usize)) -> fiber::TrapCallers {
    let mut out = fiber::TrapCallers::EMPTY;
    let mut low = sp.max(usable.0);
    while fp.is_multiple_of(8) && low <= fp && fp.checked_add(16).is_some_and(|end| end <= usable.1)
    {
        // SAFETY: `[fp, fp + 16)` is inside the fiber's usable stack (checked above), which
        // is mapped read/write for as long as the fiber lives, and this thread runs it.
        let (next, ret) = unsafe {
            (
                ptr::read(fp as *const usize),
                ptr::read((fp + 8) as *const usize),
            )
        };
        if ret == 0 || code::lookup_pc_range(ret - 1).is_none() || !out.push(ret - 1) {
            break;
        }
        low = fp + 16;
        fp = next;
    }
    out
}

/// Passes a fault that is not ours to the previous handler, or to the default action.
///
/// # Safety
/// `info` and `uctx` are the handler's arguments.
unsafe fn chain(sig: c_int, info: *mut libc::siginfo_t, uctx: *mut c_void) {
    let i = SIGNALS
        .iter()
        .position(|&s| s == sig)
        .expect("one of our signals");
    let prev = if READY[i].load(Ordering::Acquire) {
        // SAFETY: written before READY was set and never written again (`traps.1`).
        Some(unsafe { (*PREV[i].0.get()).assume_init_ref() })
    } else {
        None
    };
    match prev {
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            if p.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this
                // signature; we pass it the kernel's own arguments.
                let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                    unsafe { core::mem::transmute(p.sa_sigaction) };
                f(sig, info, uctx);
            } else {
                // SAFETY: without SA_SIGINFO the field holds a one-argument handler.
                let f: extern "C" fn(c_int) = unsafe { core::mem::transmute(p.sa_sigaction) };
                f(sig);
            }
        }
        _ => {
            // Default (or ignore, which for a synchronous fault would loop forever): restore
            // the default action. A hardware fault then happens again when we return and
            // kills the process; a signal that was sent is raised again (it is blocked until
            // this handler returns).
            // SAFETY: a zeroed sigaction with SIG_DFL is valid.
            let mut dfl: libc::sigaction = unsafe { core::mem::zeroed() };
            dfl.sa_sigaction = libc::SIG_DFL;
            // SAFETY: sigaction and raise are async-signal-safe.
            unsafe {
                libc::sigaction(sig, &dfl, ptr::null_mut());
                if (*info).si_code <= 0 {
                    libc::raise(sig);
                }
            }
        }
    }
}
