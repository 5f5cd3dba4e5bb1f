//! The Cranelift JIT tier (feature `jit`).
//!
//! This part holds the tier's runtime support:
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
    reason = "the code generator, in another module, is the user"
)]

pub mod code;
pub mod fiber;
pub mod traps;

#[cfg(test)]
mod tests;
