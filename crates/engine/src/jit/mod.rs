//! The Cranelift JIT tier (feature `jit`).
//!
//! This module holds the tier's runtime support: executable memory and the registry of
//! published code (`code`). Each module states its invariants at its top; `unsafe` is
//! allowed here and only here among the tier's files, each block with a `// SAFETY:` comment.
#![allow(unsafe_code)]
#![allow(
    dead_code,
    reason = "the code generator, in another module, is the user"
)]

pub mod code;
