//! The parts of weft's fuzz targets (`fuzz/fuzz_targets`) that are more than a few lines,
//! kept in a library so that they have tests of their own (`cargo test --manifest-path
//! fuzz/Cargo.toml -p weft-fuzz-harness`), which the fuzz targets (built only by
//! cargo-fuzz) cannot have.
//!
//! - [`syscalls`]: the `syscalls` target's guest, generated from the fuzz input, and the
//!   kernel it runs in, with the checks that the kernel stayed consistent.
#![forbid(unsafe_code)]

pub mod syscalls;
