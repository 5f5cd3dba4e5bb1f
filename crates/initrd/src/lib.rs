//! weft's initial RAM disk: the userland, built and packed at compile time.
//!
//! The build script builds the `user/` workspace (init, the shell, the coreutils, ...) for
//! `wasm32-wasip1` with a nested cargo, assembles the shared libraries in `user/lib/*.wat`,
//! and packs a ustar archive, mounted read-only at `/` by the kernel:
//!
//! ```text
//! bin/<program>        one Wasm module per program (no `.wasm` suffix): bin/sh, bin/ls, ...
//! lib/<name>.wasm      shared libraries (import `env.memory`, own no memory)
//! etc/init.conf        init's configuration
//! etc/motd             the greeting on an interactive console
//! ```
//!
//! Entries come in a fixed order (directories first, then names sorted) with mtime 0, owner
//! root and fixed modes, so the archive depends only on the programs' bytes.
//!
//! The crate holds data only and is `no_std`, so every platform (hosted or bare metal) can
//! embed it. Building it needs the `wasm32-wasip1` target (`rustup target add wasm32-wasip1`).

#![no_std]

/// The archive (ustar).
pub static INITRD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/initrd.tar"));

/// The directory holding the built programs as `<name>.wasm` (the files packed as
/// `bin/<name>`), for tests that run one program with `weft run`.
pub const BIN_DIR: &str = env!("WEFT_USER_BIN_DIR");

// `PROGRAMS` and `LIBRARIES`, written by the build script.
include!(concat!(env!("OUT_DIR"), "/contents.rs"));
