//! `weft-user`: safe Rust wrappers over weft's native system calls (docs/abi.md) for
//! programs running on weft: processes ([`spawn`], [`Command`], and [`Child`], the handle
//! through which a process is waited for and killed; [`proc_list`]), channels ([`Channel`], [`send`], [`recv`]) and handles ([`Handle`],
//! [`close`]), plus the few WASI helpers std lacks ([`is_terminal`], [`preopens`],
//! [`init_cwd`]).
//!
//! Design:
//! - All `unsafe` code (the FFI) lives in the private `sys` module; every public item is safe.
//! - Errors are [`Errno`]s, WASI's numbering (the kernel uses it for both APIs), wrapped in
//!   `std::io::Error` so `?` works in ordinary std code; [`Errno::from_io`] gets the number
//!   back and [`describe`] gives a message like `no such file or directory (ENOENT)`.
//! - A handle is a WASI file descriptor: [`Handle`] converts to and from `File`/`OwnedFd`,
//!   and anything `AsFd` can be passed to a child with [`Command`].
//!
//! The crate builds for `wasm32-wasip1`; on other targets it compiles (so the pure parts can
//! be unit-tested on the host) but its system calls are not linked.

#![deny(unsafe_code)]

mod channel;
mod errno;
mod fd;
mod process;
#[expect(
    unsafe_code,
    reason = "the FFI boundary with the kernel; see the module docs"
)]
mod sys;

pub use channel::{
    Channel, Handle, MAX_MESSAGE_BYTES, MAX_MESSAGE_HANDLES, close, recv, send, try_recv,
};
pub use errno::{Errno, describe};
pub use fd::{init_cwd, is_broken_pipe, is_terminal, preopens};
pub use process::{
    Child, Command, ExitStatus, Pid, ProcInfo, ProcState, Slot, getpid, proc_list, spawn,
};
pub use sys::{RIGHT_KILL, RIGHT_READ, RIGHT_TRANSFER, RIGHT_WRITE};

/// A handle's number in the caller's handle table (equal to its WASI fd number).
pub type RawHandle = u32;

/// In a [`spawn`] handle list: leave this slot of the child empty.
pub const EMPTY_SLOT: RawHandle = weft_abi::syscall::EMPTY_SLOT;
