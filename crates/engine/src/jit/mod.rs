//! The Cranelift JIT tier (feature `jit`).
//!
//! The code generator:
//! - `translate`: one validated function body into CLIF;
//! - `compile`: drives Cranelift and lays a module's code out in one blob with its
//!   trampolines, relocations applied and its trap table;
//! - `vmctx`: the layout generated code reads; `libcalls`: the runtime functions it calls.
//!
//! The runtime support:
//! - `code`: executable memory (write, then publish read+execute; never both) and the
//!   process-wide registry of published code with trap tables, readable from a signal handler;
//! - `fiber`: a native stack per running call (corosensei), so a call can suspend (fuel, host
//!   yield) and resume, or be dropped while suspended;
//! - `native`: plain calls (which cannot suspend) on the caller's own stack, entered and left
//!   through an assembly stub (x86_64), so they need no fiber and no context switch;
//! - `traps`: the fault handler that turns a fault in JIT code into a trap of its fiber (or
//!   of its call on the thread's stack) and lets every other fault crash as it would have.
//!
//! # How the code generator and the tier use it
//! 1. `code::CodeBuilder::new(&code::HOSTED_CODE_MEMORY, len)`, write the machine code into
//!    `as_mut_slice()`, then `publish(trap_table, owner)`: a `PublishedCode`, executable and
//!    registered with its trap table (offset from the region's start -> `TrapCode`) and an
//!    opaque owner tag (e.g. the module's id, to map a PC back to a function). Keep it alive
//!    while any fiber may run or be suspended in it.
//! 2. Guard regions of linear memories: `code::register_guard(start, len, owner)` for as long as
//!    the reservation lives; a fault there from JIT code is `MemoryOutOfBounds`. `memory`'s
//!    `GuardedMemory` (4 GiB + 2 GiB reserved, grown in place) does this for the engine.
//! 3. A call: `fiber::Fiber::new(&FiberConfig::default(), trampoline, vmctx, values)`
//!    (`Fiber::ready` — the thread's ready fiber, or a new one — then `Fiber::start`), store
//!    `fiber.stack_limit()` in the vmctx (the stack-limit check compares the stack pointer with
//!    it and traps `StackOverflow`), then `fiber.resume(ResumeValue(0))` and again after every
//!    `Suspended`: the outcome is `Finished` (results in `values`), `Suspended(OutOfFuel |
//!    HostYield(tag))` or `Trapped { code, pc }`. After `Finished`, `Fiber::recycle` keeps
//!    the fiber for the thread's next call.
//! 4. Libcalls (`extern "C"`, on the fiber): `out_of_fuel` calls
//!    `fiber::suspend(SuspendReason::OutOfFuel)` and reads the new fuel (or the value passed to
//!    `resume`) when it returns; a host call runs the host function inside
//!    `fiber::catch_host_panic`, and if it yielded, calls `suspend(HostYield(tag))` after the
//!    host function has returned (so none of its values is on the stack); a libcall that finds
//!    a trap (an out-of-bounds `memory.copy`) calls `fiber::raise_trap(code)`. Before any of
//!    these three, a libcall drops everything it owns (see `fiber`'s invariant 1): a suspended
//!    fiber may be dropped instead of resumed, and then its stack is discarded.
//!
//! 5. On the code generator's side (`compile`, `vmctx`): the stack limit goes into
//!    `VMStoreContext::stack_limit` (the vmctx's `store`); the trap table is
//!    `CompiledModule::traps`; a fallible libcall of `VMLibcalls` may also just return a
//!    nonzero status, and the generated code then traps with that operation's code (its
//!    trap instruction is in the table), which needs no `raise_trap`.
//!
//! 6. The engine uses all this through `tier` (see its docs): `Module::new` with
//!    `Strategy::Jit` compiles and publishes a module's code, instantiation builds each
//!    instance's `VMContext` from the runtime's entities, and calls run with the libcalls
//!    implemented against the store core: resumable ones on fibers, plain ones on the
//!    caller's stack (`native`) when it has room, else on fibers. `codegen_tests` keeps
//!    a small runtime of its own for testing the code generator in isolation.
//!
//! 7. `Strategy::Auto` (`auto`): a module's code compiled in the background or loaded from
//!    the code cache (`cache`), and stores switching from the interpreter to the JIT.
//!
//! Each module states its invariants at its top; `unsafe` is allowed in the tier's files, each
//! block with a `// SAFETY:` comment.
#![allow(unsafe_code)]
#![allow(
    dead_code,
    reason = "parts for the next steps of issue 11 (lazy compilation, backtraces by \
              owner) are not used by the engine yet"
)]

pub(crate) mod auto;
pub mod cache;
pub mod code;
pub mod compile;
pub mod fiber;
pub mod libcalls;
pub(crate) mod memory;
pub(crate) mod native;
pub(crate) mod tier;
mod translate;
pub mod traps;
pub mod vmctx;

#[cfg(test)]
mod auto_tests;
#[cfg(test)]
mod codegen_tests;
#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tier_tests;
