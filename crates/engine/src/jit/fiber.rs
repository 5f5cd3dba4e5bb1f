//! Fibers: each running JIT call gets a native stack of its own, so it can suspend (fuel out,
//! host yield) in the middle of generated code and be resumed later.
//!
//! A [`Fiber`] runs array-call trampolines `entry(vmctx, values)` on a stack taken from a
//! small per-thread pool, one call at a time. [`Fiber::ready`] gives a fiber for the next call
//! (this thread's cached one, or a new one), [`Fiber::start`] gives it its call, and
//! [`Fiber::resume`] runs the call until it finishes, suspends or traps:
//! - from inside (a libcall called by JIT code on the fiber), [`suspend`] gives control back to
//!   whoever called `resume`, which returns [`FiberOutcome::Suspended`]; the next `resume(v)`
//!   makes that `suspend` return `v`;
//! - [`raise_trap`] (from a libcall) and the fault handler (`traps`) end the call with
//!   [`FiberOutcome::Trapped`];
//! - dropping a fiber that has not finished frees its stack without running any code on it.
//!
//! A fiber outlives its calls: its coroutine is a loop that runs a call, reports it finished
//! and waits, suspended at the top of the loop, for the next one. [`Fiber::recycle`] keeps a
//! fiber whose call finished as this thread's ready fiber, so the next call needs no stack,
//! allocation or coroutine setup, only the two context switches of `resume`. A fiber whose
//! call trapped is not reused (its coroutine has ended; it is dropped and its stack pooled).
//!
//! Fibers are `!Send`: a fiber is resumed on the thread that created it. Generated code and
//! libcalls may keep thread-local addresses (the current fiber, the compiler's TLS caches) in
//! their frames across a suspension, so moving a suspended stack to another thread would not
//! be sound without auditing every libcall for that.
//!
//! # Invariants (cited as `fiber.N` from SAFETY comments)
//! 1. **Nothing that must be dropped lives on a fiber's stack across a suspension or a trap.**
//!    The frames on a suspended fiber are: corosensei's entry frame (it holds our entry closure,
//!    whose captures are `Copy`, and an abort-on-unwind guard whose destructor only aborts and
//!    which a normal return forgets anyway), the entry closure (no locals with drop glue), JIT
//!    frames (no Rust values), libcall frames (the contract of [`suspend`] and [`raise_trap`]:
//!    they hold nothing with a destructor when they call it) and [`suspend`] itself (only
//!    `Copy` values). So discarding the stack (corosensei's `force_reset`, or the fault
//!    handler's reset of the stack) leaks nothing and skips no destructor, and no JIT frame is
//!    ever unwound (they have no unwind info). A panic cannot cross the libcall boundary
//!    either: libcalls are `extern "C"` (a panic out of one aborts), and [`catch_host_panic`]
//!    turns a caught panic into a trap and re-raises it on the caller's side.
//! 2. `CURRENT` (this thread's innermost running fiber) is set by [`Fiber::resume`] for exactly
//!    as long as the fiber's code runs and is restored to the previous value (nested fibers)
//!    when the fiber gives control back. It points at the fiber's boxed [`FiberState`], which
//!    outlives the run.
//! 3. A stack is in use by at most one fiber; it returns to the pool only after its coroutine
//!    is done (finished, reset or never started), so no code runs on it any more.
//! 4. A fiber runs at most one call at a time: [`Fiber::start`] is called only on a fiber
//!    without a call (new, or its last call finished), and the coroutine's loop reads the
//!    call from the fiber's state when it is resumed at its top, so between two calls nothing
//!    but the loop's `Copy` locals is on its stack (`fiber.1` holds for the idle fiber too).
#![allow(unsafe_code)]

extern crate std;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::cell::{Cell, RefCell};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};

use corosensei::stack::{Stack, StackPointer};
use corosensei::trap::CoroutineTrapHandler;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::code::CodeError;
use crate::TrapCode;

/// The signature of an array-call trampoline: arguments in, results out through `values`.
pub type ArrayCallFn = unsafe extern "C" fn(vmctx: *mut u8, values: *mut u64);

/// Why a fiber suspended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuspendReason {
    /// Generated code ran out of fuel (the `out_of_fuel` libcall).
    OutOfFuel,
    /// A host function yielded with a tag (a blocking system call).
    HostYield(u64),
}

/// The value a suspended [`suspend`] returns when the fiber is resumed (new fuel, a status:
/// the libcall and the embedder agree on its meaning).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ResumeValue(pub u64);

/// How a run of a fiber ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FiberOutcome {
    /// The entry returned; its results are in `values`. The fiber has no call now: give it
    /// another ([`Fiber::start`]) or keep it for the thread's next call ([`Fiber::recycle`]).
    Finished,
    /// The call is suspended; [`Fiber::resume`] continues it.
    Suspended(SuspendReason),
    /// The call ended with a trap. `pc` is the faulting instruction, 0 for a trap raised by a
    /// libcall ([`raise_trap`]). The stack is back in the pool.
    Trapped {
        /// The trap.
        code: TrapCode,
        /// Where it happened.
        pc: usize,
    },
}

/// The most callers a trap's backtrace records (see [`TrapCallers`]).
pub const MAX_TRAP_CALLERS: usize = 256;

/// Where the callers of a faulting instruction were, innermost first: one PC inside each
/// JIT frame's call instruction (its return address minus one), found by the fault handler
/// from the frame-pointer chain. At most [`MAX_TRAP_CALLERS`]; deeper frames are left out.
#[derive(Clone, Copy)]
pub struct TrapCallers {
    pcs: [usize; MAX_TRAP_CALLERS],
    len: usize,
}

impl TrapCallers {
    /// No callers.
    pub const EMPTY: TrapCallers = TrapCallers {
        pcs: [0; MAX_TRAP_CALLERS],
        len: 0,
    };

    /// Appends `pc`; false (and nothing changes) when full.
    pub fn push(&mut self, pc: usize) -> bool {
        match self.pcs.get_mut(self.len) {
            Some(slot) => {
                *slot = pc;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The PCs, innermost first.
    pub fn as_slice(&self) -> &[usize] {
        &self.pcs[..self.len]
    }
}

/// The sizes of a fiber's stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FiberConfig {
    /// Usable bytes of stack (JIT frames plus libcalls and host functions), rounded up to pages.
    pub stack_size: usize,
    /// Bytes at the bottom of the usable stack that generated code leaves to the libcalls and
    /// host functions it calls: [`Fiber::stack_limit`] is this far above the guard.
    pub host_reserve: usize,
    /// Inaccessible bytes below the stack (rounded up to pages, at least one page).
    pub guard_size: usize,
}

impl Default for FiberConfig {
    fn default() -> Self {
        Self {
            stack_size: 2 << 20,
            host_reserve: 256 << 10,
            guard_size: 64 << 10,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stacks

/// Stacks mapped and not yet unmapped, in this process.
static STACKS_MAPPED: AtomicUsize = AtomicUsize::new(0);

/// How many fiber stacks are mapped in this process (in use or pooled).
pub fn stacks_mapped() -> usize {
    STACKS_MAPPED.load(Ordering::Relaxed)
}

/// A fiber stack: `[guard | usable]`, mapped with `mmap`, the guard `PROT_NONE`.
pub struct FiberStack {
    /// Lowest address of the mapping (the guard starts here).
    low: NonNull<u8>,
    guard: usize,
    usable: usize,
}

impl FiberStack {
    fn new(usable: usize, guard: usize) -> Result<Self, CodeError> {
        let page = rustix::param::page_size();
        let round = |n: usize| n.max(page).checked_add(page - 1).map(|n| n & !(page - 1));
        let err = CodeError {
            op: "stack size overflow",
            errno: 0,
        };
        let (usable, guard) = (round(usable).ok_or(err)?, round(guard).ok_or(err)?);
        let total = usable.checked_add(guard).ok_or(err)?;
        // SAFETY: a fresh anonymous mapping at an address the kernel picks aliases nothing.
        let low = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                total,
                rustix::mm::ProtFlags::empty(),
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
            )
        }
        .map_err(|e| CodeError {
            op: "mmap (stack)",
            errno: e.raw_os_error(),
        })?;
        let stack = Self {
            low: NonNull::new(low.cast()).ok_or(err)?,
            guard,
            usable,
        };
        STACKS_MAPPED.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `[low + guard, low + total)` lies inside the mapping just made and owned by
        // `stack` (dropped, hence unmapped, if this fails).
        unsafe {
            rustix::mm::mprotect(
                low.cast::<u8>().add(guard).cast(),
                usable,
                rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::WRITE,
            )
        }
        .map_err(|e| CodeError {
            op: "mprotect (stack)",
            errno: e.raw_os_error(),
        })?;
        Ok(stack)
    }

    /// The guard's address range.
    fn guard_range(&self) -> (usize, usize) {
        let low = self.low.as_ptr() as usize;
        (low, low + self.guard)
    }

    /// The lowest usable address.
    fn usable_low(&self) -> usize {
        self.low.as_ptr() as usize + self.guard
    }
}

impl Drop for FiberStack {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by this stack and no code runs on it (`fiber.3`).
        let r = unsafe { rustix::mm::munmap(self.low.as_ptr().cast(), self.guard + self.usable) };
        debug_assert!(r.is_ok());
        STACKS_MAPPED.fetch_sub(1, Ordering::Relaxed);
    }
}

// SAFETY: `base` is the top of the mapping and `limit` its bottom (including the guard page,
// as the trait asks); both are page-aligned, hence aligned to STACK_ALIGNMENT; the guard of at
// least one page catches overflow and the usable part is at least one page (>= MIN_STACK_SIZE
// on every page size Linux uses).
unsafe impl Stack for FiberStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.low.as_ptr() as usize + self.guard + self.usable)
            .expect("a mapping does not end at 0")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.low.as_ptr() as usize).expect("mmap never returns 0")
    }
}

/// Stacks kept per thread for reuse.
const POOL_MAX: usize = 16;

std::thread_local! {
    static POOL: RefCell<Vec<FiberStack>> = const { RefCell::new(Vec::new()) };
    /// Stacks of this thread's fibers that are in use (not pooled).
    static IN_USE: Cell<usize> = const { Cell::new(0) };
    /// `fiber.2`: this thread's innermost running fiber.
    static CURRENT: Cell<*const FiberState> = const { Cell::new(ptr::null()) };
    /// A fiber without a call, kept for this thread's next call ([`Fiber::recycle`]).
    static READY: Cell<Option<Fiber>> = const { Cell::new(None) };
}

std::thread_local! {
    /// How many fibers this thread made (not taken ready).
    static MADE: Cell<usize> = const { Cell::new(0) };
}

/// How many fibers this thread has made rather than reused (for tests of the reuse).
pub fn fibers_made() -> usize {
    MADE.with(Cell::get)
}

/// How many fiber stacks this thread's calls hold: fibers given a call ([`Fiber::start`]) that
/// has not finished, trapped or been dropped. Pooled stacks and the ready fiber don't count.
pub fn stacks_in_use() -> usize {
    IN_USE.with(Cell::get)
}

fn take_stack(config: &FiberConfig) -> Result<FiberStack, CodeError> {
    let page = rustix::param::page_size();
    let want = |n: usize| n.max(page).div_ceil(page) * page;
    let (usable, guard) = (want(config.stack_size), want(config.guard_size));
    let pooled = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let i = p
            .iter()
            .position(|s| s.usable == usable && s.guard == guard)?;
        Some(p.swap_remove(i))
    });
    match pooled {
        Some(s) => Ok(s),
        None => FiberStack::new(usable, guard),
    }
}

/// Returns a stack to the pool. After a stack overflow its pages are given back to the OS
/// first, so a pooled stack does not keep megabytes resident.
fn give_back_stack(stack: FiberStack, overflowed: bool) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if overflowed {
        // SAFETY: the usable part of a stack that no code runs on any more (`fiber.3`);
        // MADV_DONTNEED makes its pages read back as zeros, which nothing relies on.
        let _ = unsafe {
            rustix::mm::madvise(
                (stack.usable_low() as *mut u8).cast(),
                stack.usable,
                rustix::mm::Advice::LinuxDontNeed,
            )
        };
    }
    // `try_with`: during thread exit the pool may be gone; then the stack is just unmapped.
    let rest = POOL
        .try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push(stack);
                None
            } else {
                Some(stack)
            }
        })
        .ok()
        .flatten();
    drop(rest);
}

// ---------------------------------------------------------------------------------------------
// Fibers

/// What the fiber's side sends back when it gives control up without finishing.
#[derive(Clone, Copy)]
enum Message {
    /// The call returned; the coroutine waits at the top of its loop for the next one.
    Finished,
    Suspend(SuspendReason),
    Trap(TrapCode),
    Panicked,
}

/// How the coroutine's entry function ends: only through the fault handler (it loops over
/// calls otherwise).
#[derive(Clone, Copy)]
pub(crate) enum Exit {
    /// `pinned`: the value of Cranelift's pinned register at the fault (the fuel count, in
    /// code compiled with fuel; see `translate`).
    Trapped {
        code: TrapCode,
        pc: usize,
        pinned: u64,
    },
}

/// A call for a fiber: `entry(vmctx, values)`.
#[derive(Clone, Copy)]
struct Job {
    entry: ArrayCallFn,
    vmctx: *mut u8,
    values: *mut u64,
}

type Co = Coroutine<ResumeValue, Message, Exit, FiberStack>;
type FiberYielder = Yielder<ResumeValue, Message>;

/// What the fault handler and the libcalls need to know about the running fiber.
pub(crate) struct FiberState {
    /// Set by the entry closure when the fiber first runs; stable afterwards (it is the
    /// parent link at the top of the fiber's stack).
    yielder: Cell<*const FiberYielder>,
    /// Set once the coroutine (which owns the stack) exists, before it first runs.
    pub(crate) trap_handler: Cell<Option<CoroutineTrapHandler<Exit>>>,
    /// `[lo, hi)` of the stack's guard.
    pub(crate) guard: (usize, usize),
    /// `[lo, hi)` of the usable stack.
    pub(crate) usable: (usize, usize),
    /// A panic caught by [`catch_host_panic`], re-raised by `resume`.
    panic: RefCell<Option<Box<dyn Any + Send>>>,
    /// The call [`Fiber::start`] gave, taken by the coroutine's loop when it runs it.
    job: Cell<Option<Job>>,
    /// The callers of the last faulting instruction, written by the fault handler and taken
    /// by [`Fiber::take_trap_callers`].
    pub(crate) trap_callers: Cell<TrapCallers>,
}

/// A JIT call on a stack of its own. See the module docs.
pub struct Fiber {
    /// Boxed, so that moving a fiber (into and out of the thread's ready slot, into a call)
    /// moves a pointer.
    inner: Box<FiberInner>,
}

struct FiberInner {
    /// `None` once a call has trapped (its stack went back to the pool).
    co: Option<Co>,
    /// Whether the fiber has a call that has not finished or trapped (`fiber.4`).
    busy: bool,
    config: FiberConfig,
    /// From `Box::into_raw`, freed in `drop` after the coroutine is gone. A raw pointer (not a
    /// `Box`) because the coroutine and CURRENT alias it while the fiber moves around.
    state: NonNull<FiberState>,
    stack_limit: usize,
    /// The pinned register at a fault in generated code ([`Fiber::pinned_at_fault`]).
    pinned_at_fault: Option<u64>,
}

impl Fiber {
    /// Prepares `entry(vmctx, values)` to run on a fiber ([`Fiber::ready`] then
    /// [`Fiber::start`]); the first [`Fiber::resume`] starts it (its value is ignored).
    ///
    /// # Errors
    /// As [`Fiber::ready`].
    ///
    /// # Safety
    /// As [`Fiber::start`].
    pub unsafe fn new(
        config: &FiberConfig,
        entry: ArrayCallFn,
        vmctx: *mut u8,
        values: *mut u64,
    ) -> Result<Self, CodeError> {
        let mut fiber = Self::ready(config)?;
        // SAFETY: the caller keeps `start`'s contract; the fiber is new or idle.
        unsafe { fiber.start(entry, vmctx, values) };
        Ok(fiber)
    }

    /// A fiber without a call, for `config`: this thread's ready fiber if it has that
    /// configuration ([`Fiber::recycle`]), else a new one. A new one installs the fault
    /// handlers (once per process) and an alternate signal stack for this thread (once per
    /// thread) first; a ready fiber was made on this thread, after both.
    ///
    /// # Errors
    /// A stack or the signal stack could not be mapped, or the handlers could not be installed.
    pub fn ready(config: &FiberConfig) -> Result<Self, CodeError> {
        if let Some(f) = READY.try_with(Cell::take).ok().flatten() {
            if f.inner.config == *config {
                return Ok(f);
            }
            drop(f);
        }
        super::traps::init()?;
        super::traps::ensure_thread_signal_stack()?;
        let stack = take_stack(config)?;
        MADE.with(|n| n.set(n.get() + 1));
        let guard = stack.guard_range();
        let low = stack.usable_low();
        let high = low + stack.usable;
        let stack_limit = low + config.host_reserve.min(stack.usable / 2);
        let state = NonNull::from(Box::leak(Box::new(FiberState {
            yielder: Cell::new(ptr::null()),
            trap_handler: Cell::new(None),
            guard,
            usable: (low, high),
            panic: RefCell::new(None),
            job: Cell::new(None),
            trap_callers: Cell::new(TrapCallers::EMPTY),
        })));
        let state_ptr: *const FiberState = state.as_ptr();
        // The closure captures only `Copy` values and creates no locals with drop glue
        // (`fiber.1`): between calls it holds only `Copy` values too (`fiber.4`).
        let co = Co::with_stack(stack, move |y: &FiberYielder, _first: ResumeValue| {
            // SAFETY: `state_ptr` points at the fiber's state, which outlives every run of
            // this coroutine (it is freed after the coroutine in `Fiber::drop`).
            let state = unsafe { &*state_ptr };
            state.yielder.set(y);
            loop {
                // `start` set the job before the `resume` that got here (`fiber.4`).
                let Some(job) = state.job.take() else {
                    std::process::abort()
                };
                // SAFETY: the caller of `Fiber::start` promised that this call is sound on
                // this stack and that `vmctx` and `values` stay valid while it runs.
                unsafe { (job.entry)(job.vmctx, job.values) };
                y.suspend(Message::Finished);
            }
        });
        // SAFETY: just allocated above and not freed before the fiber is dropped.
        unsafe { state.as_ref() }
            .trap_handler
            .set(Some(co.trap_handler()));
        Ok(Self {
            inner: Box::new(FiberInner {
                co: Some(co),
                busy: false,
                config: *config,
                state,
                stack_limit,
                pinned_at_fault: None,
            }),
        })
    }

    /// Gives the fiber its call, `entry(vmctx, values)`; the next [`Fiber::resume`] runs it.
    ///
    /// # Panics
    /// If the fiber has a call already, or its last call trapped.
    ///
    /// # Safety
    /// Calling `entry(vmctx, values)` on a fiber stack of the configured size must be sound,
    /// and `vmctx`, `values` and the code `entry` runs (every [`PublishedCode`] it may
    /// execute) must stay valid until the call has finished or trapped or the fiber has been
    /// dropped: a suspended fiber still has return addresses into that code. Generated code
    /// in `entry` checks its stack pointer against [`Fiber::stack_limit`] (set it in the
    /// vmctx before the first resume). Every libcall it makes keeps the contract of
    /// [`suspend`]. Nothing that runs on the fiber resumes, recycles or drops this same
    /// `Fiber`.
    ///
    /// [`PublishedCode`]: super::code::PublishedCode
    pub unsafe fn start(&mut self, entry: ArrayCallFn, vmctx: *mut u8, values: *mut u64) {
        assert!(
            !self.inner.busy && self.inner.co.is_some(),
            "a fiber runs one call at a time"
        );
        // SAFETY: the state lives until `drop`; the fiber's code is not running now.
        unsafe { self.inner.state.as_ref() }.job.set(Some(Job {
            entry,
            vmctx,
            values,
        }));
        self.inner.busy = true;
        IN_USE.with(|n| n.set(n.get() + 1));
    }

    /// The lowest stack address generated code may use: above the guard by
    /// [`FiberConfig::host_reserve`], so a stack-limit check in generated code fires
    /// (`StackOverflow`) while the libcalls it calls still have room.
    pub fn stack_limit(&self) -> usize {
        self.inner.stack_limit
    }

    /// After [`FiberOutcome::Trapped`] from a fault (a nonzero `pc`), the callers of the
    /// faulting instruction; empty otherwise, and once taken.
    pub fn take_trap_callers(&self) -> TrapCallers {
        // SAFETY: the state lives until `drop`; the fiber's code is not running now, so the
        // fault handler cannot be writing it.
        unsafe { self.inner.state.as_ref() }
            .trap_callers
            .replace(TrapCallers::EMPTY)
    }

    /// After a `Trapped` outcome raised by a fault in generated code (not by a libcall's
    /// [`raise_trap`]): the value Cranelift's pinned register had at the fault.
    pub fn pinned_at_fault(&self) -> Option<u64> {
        self.inner.pinned_at_fault
    }

    /// Whether the fiber has no call in progress (its call finished or trapped, or it never
    /// had one).
    pub fn is_done(&self) -> bool {
        !self.inner.busy
    }

    /// Runs the call (starts it on the first call) until it finishes, suspends or traps.
    /// `value` is what the pending [`suspend`] returns (ignored on the first call).
    ///
    /// # Panics
    /// If the fiber has no call. A panic caught by [`catch_host_panic`] on the fiber is
    /// re-raised here (the call has trapped by then and the fiber is done).
    pub fn resume(&mut self, value: ResumeValue) -> FiberOutcome {
        assert!(self.inner.busy, "resume of a fiber without a call");
        let Some(co) = self.inner.co.as_mut() else {
            unreachable!("a busy fiber has its coroutine")
        };
        let prev = CURRENT.with(|c| c.replace(self.inner.state.as_ptr()));
        let r = co.resume(value);
        CURRENT.with(|c| c.set(prev));
        let outcome = match r {
            CoroutineResult::Yield(Message::Suspend(reason)) => {
                return FiberOutcome::Suspended(reason);
            }
            CoroutineResult::Yield(Message::Finished) => {
                self.end_call();
                return FiberOutcome::Finished;
            }
            CoroutineResult::Yield(Message::Trap(code)) => FiberOutcome::Trapped { code, pc: 0 },
            CoroutineResult::Yield(Message::Panicked) => FiberOutcome::Trapped {
                code: TrapCode::Host,
                pc: 0,
            },
            CoroutineResult::Return(Exit::Trapped { code, pc, pinned }) => {
                self.inner.pinned_at_fault = Some(pinned);
                FiberOutcome::Trapped { code, pc }
            }
        };
        self.retire(matches!(
            outcome,
            FiberOutcome::Trapped {
                code: TrapCode::StackOverflow,
                ..
            }
        ));
        // SAFETY: the state lives until `drop`; the fiber's code is not running now.
        let panic = unsafe { self.inner.state.as_ref() }
            .panic
            .borrow_mut()
            .take();
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
        outcome
    }

    /// Keeps a fiber whose call finished as this thread's ready fiber for the next
    /// [`Fiber::ready`] (if there is none yet); otherwise drops it.
    pub fn recycle(self) {
        if self.inner.busy || self.inner.co.is_none() {
            return;
        }
        // `try_with`: during thread exit the slot may be gone; then the fiber is just dropped.
        let rest = READY.try_with(|r| match r.take() {
            None => {
                r.set(Some(self));
                None
            }
            Some(other) => {
                r.set(Some(other));
                Some(self)
            }
        });
        drop(rest);
    }

    /// The call is over: the fiber holds no call's stack any more.
    fn end_call(&mut self) {
        if self.inner.busy {
            self.inner.busy = false;
            IN_USE.with(|n| n.set(n.get() - 1));
        }
    }

    /// Ends the coroutine without running code on it and gives its stack back.
    fn retire(&mut self, overflowed: bool) {
        self.end_call();
        let Some(mut co) = self.inner.co.take() else {
            return;
        };
        if !co.started() {
            // Drops the initial closure (all `Copy`): no code runs on the stack.
            co.force_unwind();
        } else if !co.done() {
            // SAFETY: the fiber is suspended (in `suspend`, `raise_trap` or
            // `catch_host_panic`, or at the top of its loop between calls) and, by `fiber.1`
            // and `fiber.4`, nothing on its stack needs to be dropped, so discarding the stack
            // is equivalent to a return that leaks nothing.
            unsafe { co.force_reset() };
        }
        give_back_stack(co.into_stack(), overflowed);
    }
}

impl Drop for Fiber {
    fn drop(&mut self) {
        self.retire(false);
        // SAFETY: from `Box::leak` in `ready`; the coroutine that pointed at it is gone and
        // CURRENT points at it only during `resume`, which has returned.
        drop(unsafe { Box::from_raw(self.inner.state.as_ptr()) });
    }
}

/// The fiber running on this thread and its yielder.
///
/// # Panics
/// If no fiber is running on this thread, or the caller is not on its stack.
fn current() -> (&'static FiberState, &'static FiberYielder) {
    let state = CURRENT.with(Cell::get);
    assert!(!state.is_null(), "not running on a JIT fiber");
    // SAFETY: `fiber.2`: a non-null CURRENT points at the boxed state of the fiber that is
    // running now, which lives at least until that run gives control back, which cannot
    // happen before the caller (running on it) returns or suspends; the `'static` lifetime
    // is only used within this module's functions, for that span.
    let state = unsafe { &*state };
    let here = &state as *const _ as usize;
    assert!(
        state.usable.0 <= here && here < state.usable.1,
        "suspend called off the fiber's stack"
    );
    let y = state.yielder.get();
    // SAFETY: the entry closure set the yielder before running any code that can call this;
    // it lives at the top of the fiber's stack, which is mapped while the fiber runs.
    (state, unsafe { &*y })
}

/// Suspends the running fiber: [`Fiber::resume`] returns `Suspended(reason)`, and this returns
/// the value of the next `resume`. Called by libcalls (on the fiber's stack).
///
/// # Panics
/// If the caller is not running on a fiber (in a libcall this aborts: libcalls are
/// `extern "C"`).
///
/// # Safety
/// Every frame between the fiber's entry and this call holds nothing whose destructor must
/// run: the fiber may be dropped instead of resumed, and then its stack is discarded
/// (`fiber.1`). (A value with a destructor would leak; one that others rely on being dropped,
/// like a lock guard, would break them.)
pub unsafe fn suspend(reason: SuspendReason) -> ResumeValue {
    let (_, y) = current();
    y.suspend(Message::Suspend(reason))
}

/// Ends the running fiber's call with `code`: [`Fiber::resume`] returns `Trapped { code, pc:
/// 0 }`. Called by libcalls that find a trap (an out-of-bounds `memory.copy` ...).
///
/// # Panics
/// If the caller is not running on a fiber.
///
/// # Safety
/// The same as [`suspend`]: the stack is discarded without dropping anything on it.
pub unsafe fn raise_trap(code: TrapCode) -> ! {
    let (_, y) = current();
    y.suspend(Message::Trap(code));
    // `resume` never continues a fiber that sent `Trap`: it resets it at once.
    std::process::abort()
}

/// Runs `f` (a host function, called from a libcall on the fiber). If it panics, the call
/// ends as a trap and the panic continues on the caller's side of [`Fiber::resume`], so a
/// panic never unwinds through JIT frames.
///
/// # Safety
/// The same as [`suspend`] for the frames outside `f` (the values `f` owns are dropped by the
/// unwinding before the fiber is discarded).
#[inline(always)]
pub unsafe fn catch_host_panic<R>(f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        // SAFETY: the caller's contract, passed on.
        Err(payload) => unsafe { end_with_panic(payload) },
    }
}

/// Ends the running fiber's call with the host panic `payload`, which [`Fiber::resume`]
/// re-raises on the caller's side.
///
/// # Panics
/// If the caller is not running on a fiber.
///
/// # Safety
/// As [`catch_host_panic`], once the panic has been caught.
pub(crate) unsafe fn end_with_panic(payload: Box<dyn Any + Send>) -> ! {
    let (state, y) = current();
    *state.panic.borrow_mut() = Some(payload);
    y.suspend(Message::Panicked);
    std::process::abort()
}

/// Runs `f` on the stack of whoever resumed the running fiber (the thread's own stack, or the
/// parent fiber's), e.g. a host function that needs more stack than the fiber's host reserve.
///
/// # Panics
/// If the caller is not running on a fiber; panics in `f` propagate to the caller.
pub fn on_parent_stack<R>(f: impl FnOnce() -> R + Send) -> R {
    let (_, y) = current();
    y.on_parent_stack(f)
}

/// The running fiber's state, for the fault handler: no allocation, no lock.
pub(crate) fn current_state_for_signal() -> *const FiberState {
    // A `const`-initialised thread local without a destructor is a plain TLS load.
    CURRENT.try_with(Cell::get).unwrap_or(ptr::null())
}
