//! The Cranelift JIT tier (feature `jit`).
//!
//! The code generator: `translate` turns one validated function body into CLIF, `compile`
//! drives Cranelift and lays a module's code out in one blob with its trap table, `vmctx`
//! is the layout generated code reads, and `libcalls` the runtime functions it calls.
//! `unsafe` is allowed in this tier only; each block carries a `// SAFETY:` comment.
#![allow(unsafe_code)]
#![allow(
    dead_code,
    reason = "the engine is wired to the tier after the reshape lands"
)]

pub mod compile;
pub mod libcalls;
#[cfg(test)]
mod tests;
mod translate;
pub mod vmctx;
