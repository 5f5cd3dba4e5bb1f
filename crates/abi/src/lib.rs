//! weft's system-call ABI, in one place for the kernel and for userland: error numbers,
//! handle rights, WASI preview1's constants, message limits, exit statuses and the calls
//! of the native `weft` import module. `docs/abi.md` describes the same ABI; a test
//! checks the two agree.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod errno;
pub mod rights;
pub mod wasi;

pub use errno::Errno;

/// The most bytes one channel message carries (`channel_send`; a byte-stream write of
/// more is a short write).
pub const MAX_MESSAGE_BYTES: usize = 65536;

/// The most handles one channel message carries.
pub const MAX_MESSAGE_HANDLES: usize = 16;

/// Exit status of a process that was killed (128 + SIGKILL).
pub const STATUS_KILLED: u32 = 137;

/// Exit status of a process that trapped or broke a limit (128 + SIGABRT).
pub const STATUS_TRAPPED: u32 = 134;

/// The native `weft` import module: its name and its calls, in `docs/abi.md`'s order.
pub mod syscall {
    /// The import module's name.
    pub const MODULE: &str = "weft";

    /// Every call the module provides.
    pub const NAMES: &[&str] = &[
        "spawn",
        "wait",
        "kill",
        "proc_pid",
        "getpid",
        "proc_list",
        "handle_dup",
        "channel_create",
        "channel_send",
        "channel_recv",
    ];

    /// `wait` flag: return `EAGAIN` instead of waiting.
    pub const WAIT_NOHANG: u32 = 1;
    /// `channel_recv` flag: return `EAGAIN` instead of waiting.
    pub const RECV_NONBLOCK: u32 = 1;
    /// A slot of `spawn`'s handle list that passes nothing (the child's fd stays empty).
    pub const EMPTY_SLOT: u32 = u32::MAX;
    /// The size of one `proc_list` record, in bytes.
    pub const PROC_RECORD_SIZE: usize = 64;
}
