//! Error numbers, as WASI preview1 defines them (`wasi_snapshot_preview1` `errno`), from
//! the ABI crate (`weft-abi`).
//!
//! The kernel uses these everywhere a guest can see an error, the native `weft` API too,
//! so userland has one error space.

pub use weft_abi::Errno;

/// A kernel result whose error a guest sees as an errno.
pub type SysResult<T> = Result<T, Errno>;
