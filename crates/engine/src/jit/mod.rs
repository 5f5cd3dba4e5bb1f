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
//! - `traps`: the fault handler that turns a fault in JIT code into a trap of its fiber and
//!   lets every other fault crash as it would have.
//!
//! Each module states its invariants at its top; `unsafe` is allowed in the tier's files, each
//! block with a `// SAFETY:` comment.
#![allow(unsafe_code)]
#![allow(
    dead_code,
    reason = "the engine is wired to the tier after the reshape lands"
)]

pub mod code;
pub mod compile;
pub mod fiber;
pub mod libcalls;
mod translate;
pub mod traps;
pub mod vmctx;

#[cfg(test)]
mod codegen_tests;
#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod tests;
